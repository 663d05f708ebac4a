//! The commands that call Google Cloud (cargo feature `gcp`): upload, submit and schedule
//! pipelines on Vertex AI, the Vertex AI Model Registry behind `mlops models`, and endpoints.
//! Every call goes through `mlops_gcp::Gcp`, so editing this module never recompiles Google's
//! clients; `--dry-run` prints each request instead of sending it.

mod alerting;
mod endpoints;
mod experiments;
mod models;
mod pipelines;
mod schedules;
mod storage;

pub use alerting::apply as alerting_apply;
pub use endpoints::run as endpoints;
pub use experiments::ExperimentLogger;
pub use models::run as models;
pub use pipelines::run as pipelines;
pub use schedules::{plan as schedule_plan, Action as ScheduleAction, Desired as DesiredSchedule};
pub use storage::{artifact_store, GcsArtifacts};

use mlops_domain::settings::GcpAuth;
use mlops_domain::Settings;
use mlops_gcp::{Auth, Gcp, GcpConfig};

use crate::context::BoxError;

/// A connection to the settings' project, with the settings' endpoints and credentials.
pub fn connect(settings: &Settings, dry_run: bool) -> Result<Gcp, BoxError> {
    require_cloud(settings)?;
    let project = settings
        .project_id
        .clone()
        .ok_or("GCP_PROJECT_ID is not set")?;
    gcp(settings, project, dry_run)
}

/// A connection for Cloud Storage alone, in any environment: a local run
/// (`mlops pipelines run --pipeline-root gs://…`) keeps its artifacts in a bucket without
/// being a cloud environment. Endpoints and credentials as [`connect`].
pub fn connect_storage(settings: &Settings) -> Result<Gcp, BoxError> {
    let project = settings.project_id.clone().ok_or(
        "a gs:// pipeline root needs GCP_PROJECT_ID (the project the bucket's requests are \
         billed to), in .env or the environment",
    )?;
    gcp(settings, project, false)
}

/// A connection to `project` with the settings' endpoints and credentials.
pub(crate) fn gcp(settings: &Settings, project: String, dry_run: bool) -> Result<Gcp, BoxError> {
    let mut config = GcpConfig::new(project, &settings.region);
    config.vertex_endpoint = settings.vertex_endpoint();
    config.storage_endpoint = settings.storage_endpoint();
    config.bigquery_endpoint = settings.bigquery_endpoint();
    config.monitoring_endpoint = settings.monitoring_endpoint();
    config.auth = match settings.gcp_auth {
        GcpAuth::Anonymous => Auth::Anonymous,
        GcpAuth::Adc => Auth::ApplicationDefault,
    };
    config.dry_run = dry_run;
    Ok(Gcp::new(config)?)
}

/// `--dry-run` of a command that reads `source` (`--data gs://…|bq://…|SELECT …`): print the
/// read it would send (`storage.objects.get` or `bigquery.jobs.query`) and send nothing.
pub fn print_fetch(
    settings: &Settings,
    source: &mlops_core::source::TableSource,
) -> Result<(), BoxError> {
    use mlops_core::source::TableSource;
    let project = || {
        source
            .project(settings.project_id.as_deref())
            .map(str::to_string)
            .ok_or_else(|| {
                format!("GCP_PROJECT_ID is not set, and it names the project that reads `{source}`")
            })
    };
    match source {
        TableSource::Local(_) => {}
        TableSource::Gcs { bucket, object } => mlops_gcp::DryRun::new(
            "storage.objects.get",
            format!("gs://{bucket}/{object}"),
            &serde_json::Value::Null,
        )
        .print(),
        TableSource::BigQueryTable { .. } | TableSource::Query(_) => mlops_gcp::DryRun::new(
            "bigquery.jobs.query",
            format!("projects/{}", project()?),
            &serde_json::json!({"query": source.sql(), "useLegacySql": false}),
        )
        .print(),
    }
    Ok(())
}

/// Vertex AI commands need a cloud environment: say which variables make one.
pub fn require_cloud(settings: &Settings) -> Result<(), BoxError> {
    if settings.environment.is_cloud() {
        Ok(())
    } else {
        Err(
            "this command calls Google Cloud, and ENVIRONMENT is local: set ENVIRONMENT=nprod \
             or prod with GCP_PROJECT_ID and PIPELINE_BUCKET (in .env or the environment)"
                .into(),
        )
    }
}

/// `gs://bucket/prefix` of the settings' pipeline bucket, split.
pub(crate) fn bucket(settings: &Settings) -> Result<(String, String), BoxError> {
    match &settings.pipeline_bucket {
        Some(mlops_domain::ArtifactLocation::Gcs { bucket, object }) => {
            Ok((bucket.clone(), object.trim_end_matches('/').to_string()))
        }
        _ => Err("PIPELINE_BUCKET is not a gs:// bucket".into()),
    }
}

/// `prefix/name` (or `name` with no prefix).
pub(crate) fn under(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A Vertex label value: lowercase letters, digits, `-` and `_`, at most 63 characters.
pub(crate) fn label_value(value: &str) -> String {
    value
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect()
}
