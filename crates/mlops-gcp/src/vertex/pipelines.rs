//! Vertex AI Pipelines: submit a compiled KFP IR as a PipelineJob and follow it.

use std::collections::BTreeMap;

use google_cloud_aiplatform_v1::client::PipelineService;
use google_cloud_aiplatform_v1::model::{
    pipeline_job::RuntimeConfig, CreatePipelineJobRequest, PipelineJob, PipelineState,
};
use serde_json::{Map, Value};

use super::{check_id, full_name, vertex_client};
use google_cloud_gax::options::RequestOptionsBuilder;

use crate::client::{api_error, Gcp};
use crate::error::Result;
use crate::DryRun;

/// What to run: the compiled IR and how to run it.
#[derive(Debug, Clone, Default)]
pub struct PipelineJobRequest {
    /// Job id (`training-20261203-101500`); Vertex names the job `.../pipelineJobs/{id}`.
    pub job_id: String,
    /// Shown in the console.
    pub display_name: String,
    /// The compiled KFP v2 IR (`PipelineSpec` JSON object).
    pub pipeline_spec: Map<String, Value>,
    /// Values of the root DAG's input parameters (`runtimeConfig.parameterValues`).
    pub parameter_values: BTreeMap<String, Value>,
    /// Pipeline root (`runtimeConfig.gcsOutputDirectory`): `gs://bucket/pipeline_root`.
    pub gcs_output_directory: String,
    /// Service account the steps run as.
    pub service_account: String,
    /// Labels (lowercase keys and values, ≤ 63 characters).
    pub labels: BTreeMap<String, String>,
}

impl PipelineJobRequest {
    /// The client message (also used inside schedules).
    pub(crate) fn to_message(&self, parent: &str) -> CreatePipelineJobRequest {
        let mut runtime = RuntimeConfig::default();
        runtime.gcs_output_directory = self.gcs_output_directory.clone();
        runtime.parameter_values = self
            .parameter_values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut job = PipelineJob::default();
        job.display_name = self.display_name.clone();
        job.pipeline_spec = Some(self.pipeline_spec.clone());
        job.runtime_config = Some(runtime);
        job.service_account = self.service_account.clone();
        job.labels = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut request = CreatePipelineJobRequest::default();
        request.parent = parent.to_string();
        request.pipeline_job = Some(job);
        request.pipeline_job_id = self.job_id.clone();
        request
    }
}

/// One task's state in a running job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// Task name as in the IR (`train`).
    pub task: String,
    /// Vertex's state name (`RUNNING`, `SUCCEEDED`, `FAILED`, `SKIPPED`, ...).
    pub state: String,
    /// The task's error message, when it failed.
    pub error: Option<String>,
}

/// A pipeline job's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// Resource name.
    pub name: String,
    /// `PIPELINE_STATE_RUNNING`, ...
    pub state: String,
    /// Finished (succeeded, failed or cancelled).
    pub done: bool,
    /// Finished successfully.
    pub succeeded: bool,
    /// Task states, in the job's order.
    pub tasks: Vec<TaskState>,
    /// The job's error message, when it failed.
    pub error: Option<String>,
}

impl JobStatus {
    fn from_job(job: &PipelineJob) -> JobStatus {
        let state = job
            .state
            .name()
            .unwrap_or("PIPELINE_STATE_UNSPECIFIED")
            .to_string();
        let done = matches!(
            job.state,
            PipelineState::Succeeded | PipelineState::Failed | PipelineState::Cancelled
        );
        let tasks = job
            .job_detail
            .as_ref()
            .map(|d| {
                d.task_details
                    .iter()
                    .filter(|t| t.parent_task_id != 0 || !t.task_name.is_empty())
                    .map(|t| TaskState {
                        task: t.task_name.clone(),
                        state: t.state.name().unwrap_or("STATE_UNSPECIFIED").to_string(),
                        error: t
                            .error
                            .as_ref()
                            .filter(|e| !e.message.is_empty())
                            .map(|e| e.message.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        JobStatus {
            name: job.name.clone(),
            state,
            done,
            succeeded: job.state == PipelineState::Succeeded,
            tasks,
            error: job
                .error
                .as_ref()
                .filter(|e| !e.message.is_empty())
                .map(|e| e.message.clone()),
        }
    }
}

impl Gcp {
    fn pipelines(&self) -> Result<&PipelineService> {
        vertex_client!(self, pipelines, PipelineService, "Vertex AI pipelines")
    }

    /// Create a PipelineJob (`pipelineJobs.create`); in dry-run, print it and return a
    /// status named after the would-be job.
    pub fn submit_pipeline_job(&self, request: &PipelineJobRequest) -> Result<JobStatus> {
        check_id("pipeline job id", &request.job_id)?;
        let parent = self.config.location();
        let message = request.to_message(&parent);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.pipelineJobs.create",
                format!("{parent}/pipelineJobs?pipelineJobId={}", request.job_id),
                &message.pipeline_job,
            )
            .print();
            return Ok(JobStatus {
                name: full_name(self, "pipelineJobs", &request.job_id),
                state: "DRY_RUN".into(),
                done: true,
                succeeded: true,
                tasks: Vec::new(),
                error: None,
            });
        }
        let client = self.pipelines()?;
        let job = self
            .block(
                self.options(client.create_pipeline_job())
                    .with_request(message)
                    // The job id is ours: a retried create finds ALREADY_EXISTS, never a twin.
                    .with_idempotency(true)
                    .send(),
            )
            .map_err(|e| api_error("create pipeline job", &parent, e))?;
        Ok(JobStatus::from_job(&job))
    }

    /// A pipeline job's current state (`pipelineJobs.get`).
    pub fn pipeline_job(&self, name_or_id: &str) -> Result<JobStatus> {
        let name = full_name(self, "pipelineJobs", name_or_id);
        let client = self.pipelines()?;
        let job = self
            .block(
                self.options(client.get_pipeline_job())
                    .set_name(&name)
                    .send(),
            )
            .map_err(|e| api_error("get pipeline job", &name, e))?;
        Ok(JobStatus::from_job(&job))
    }
}
