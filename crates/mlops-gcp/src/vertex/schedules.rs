//! Vertex AI Schedules: cron-triggered pipeline jobs.

use google_cloud_aiplatform_v1::client::ScheduleService;
use google_cloud_aiplatform_v1::model::{schedule, Schedule};
use google_cloud_wkt::FieldMask;

use super::{full_name, vertex_client, PipelineJobRequest};

use crate::client::{api_error, Gcp};
use crate::error::Result;
use crate::DryRun;

/// A schedule to create or update.
#[derive(Debug, Clone)]
pub struct ScheduleRequest {
    /// Display name (how schedules are matched to pipelines).
    pub display_name: String,
    /// Cron with its time zone: `TZ=Pacific/Auckland 0 3 * * 1`.
    pub cron: String,
    /// At most this many runs at once.
    pub max_concurrent_run_count: i64,
    /// The job each run creates (its `job_id` is ignored: Vertex names scheduled runs).
    pub job: PipelineJobRequest,
}

/// A schedule as Vertex holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleInfo {
    /// Resource name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Cron with time zone.
    pub cron: String,
    /// `ACTIVE`, `PAUSED`, `COMPLETED`.
    pub state: String,
    /// Concurrency limit.
    pub max_concurrent_run_count: i64,
    /// Labels of the job it creates (the template marks its own schedules with them).
    pub job_labels: std::collections::BTreeMap<String, String>,
}

impl ScheduleInfo {
    fn from_message(s: &Schedule) -> ScheduleInfo {
        let cron = match &s.time_specification {
            Some(schedule::TimeSpecification::Cron(c)) => c.clone(),
            _ => String::new(),
        };
        let job_labels = match &s.request {
            Some(schedule::Request::CreatePipelineJobRequest(r)) => r
                .pipeline_job
                .as_ref()
                .map(|j| {
                    j.labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Default::default(),
        };
        ScheduleInfo {
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            cron,
            state: s.state.name().unwrap_or("STATE_UNSPECIFIED").to_string(),
            max_concurrent_run_count: s.max_concurrent_run_count,
            job_labels,
        }
    }
}

impl ScheduleRequest {
    fn to_message(&self, parent: &str) -> Schedule {
        let mut job = self.job.to_message(parent);
        job.pipeline_job_id.clear();
        let mut s = Schedule::default();
        s.display_name = self.display_name.clone();
        s.max_concurrent_run_count = self.max_concurrent_run_count;
        s.time_specification = Some(schedule::TimeSpecification::Cron(self.cron.clone()));
        s.request = Some(schedule::Request::CreatePipelineJobRequest(Box::new(job)));
        s
    }
}

impl Gcp {
    fn schedules(&self) -> Result<&ScheduleService> {
        vertex_client!(self, schedules, ScheduleService, "Vertex AI schedules")
    }

    /// Every schedule in the location (all pages).
    pub fn list_schedules(&self) -> Result<Vec<ScheduleInfo>> {
        let parent = self.config.location();
        let client = self.schedules()?;
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .block(
                    self.options(client.list_schedules())
                        .set_parent(&parent)
                        .set_page_token(&token)
                        .send(),
                )
                .map_err(|e| api_error("list schedules", &parent, e))?;
            out.extend(page.schedules.iter().map(ScheduleInfo::from_message));
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    /// Create a schedule.
    pub fn create_schedule(&self, request: &ScheduleRequest) -> Result<ScheduleInfo> {
        let parent = self.config.location();
        let message = request.to_message(&parent);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.schedules.create",
                format!("{parent}/schedules"),
                &message,
            )
            .print();
            return Ok(ScheduleInfo::from_message(&message));
        }
        let client = self.schedules()?;
        let created = self
            .block(
                self.options(client.create_schedule())
                    .set_parent(&parent)
                    .set_schedule(message)
                    .send(),
            )
            .map_err(|e| api_error("create schedule", &parent, e))?;
        Ok(ScheduleInfo::from_message(&created))
    }

    /// Replace an existing schedule's cron, concurrency and job (`schedules.patch`).
    pub fn update_schedule(&self, name: &str, request: &ScheduleRequest) -> Result<ScheduleInfo> {
        let name = full_name(self, "schedules", name);
        let mut message = request.to_message(&self.config.location());
        message.name = name.clone();
        let mask = FieldMask::default().set_paths([
            "cron",
            "max_concurrent_run_count",
            "create_pipeline_job_request",
        ]);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.schedules.patch",
                format!("{name}?updateMask=cron,maxConcurrentRunCount,createPipelineJobRequest"),
                &message,
            )
            .print();
            return Ok(ScheduleInfo::from_message(&message));
        }
        let client = self.schedules()?;
        let updated = self
            .block(
                self.options(client.update_schedule())
                    .set_schedule(message)
                    .set_update_mask(mask)
                    .send(),
            )
            .map_err(|e| api_error("update schedule", &name, e))?;
        Ok(ScheduleInfo::from_message(&updated))
    }

    /// Pause a schedule (its runs stop; it can be resumed).
    pub fn pause_schedule(&self, name: &str) -> Result<()> {
        let name = full_name(self, "schedules", name);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.schedules.pause",
                &name,
                &serde_json::json!({}),
            )
            .print();
            return Ok(());
        }
        let client = self.schedules()?;
        self.block(self.options(client.pause_schedule()).set_name(&name).send())
            .map_err(|e| api_error("pause schedule", &name, e))
    }

    /// Resume a paused schedule (without catching up missed runs).
    pub fn resume_schedule(&self, name: &str) -> Result<()> {
        let name = full_name(self, "schedules", name);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.schedules.resume",
                &name,
                &serde_json::json!({"catchUp": false}),
            )
            .print();
            return Ok(());
        }
        let client = self.schedules()?;
        self.block(
            self.options(client.resume_schedule())
                .set_name(&name)
                .set_catch_up(false)
                .send(),
        )
        .map_err(|e| api_error("resume schedule", &name, e))
    }

    /// Delete a schedule and wait for the operation.
    pub fn delete_schedule(&self, name: &str) -> Result<()> {
        use google_cloud_lro::Poller;
        let name = full_name(self, "schedules", name);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.schedules.delete",
                &name,
                &serde_json::Value::Null,
            )
            .print();
            return Ok(());
        }
        let client = self.schedules()?;
        self.block(
            self.options(client.delete_schedule())
                .set_name(&name)
                .poller()
                .until_done(),
        )
        .map_err(|e| api_error("delete schedule", &name, e))
    }
}
