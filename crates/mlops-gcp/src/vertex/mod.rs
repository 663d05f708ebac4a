//! Vertex AI: pipeline jobs, schedules, the model registry, endpoints and Experiments (runs
//! in the Metadata store).

mod endpoints;
mod experiments;
mod models;
mod pipelines;
mod schedules;

pub use endpoints::DeployedModelInfo;
pub use experiments::{ExperimentRunLog, EXPERIMENT_RUN_SCHEMA, EXPERIMENT_SCHEMA, SCHEMA_VERSION};
pub use models::{ModelUpload, ModelVersion};
pub use pipelines::{JobStatus, PipelineJobRequest, TaskState};
pub use schedules::{ScheduleInfo, ScheduleRequest};

use crate::client::Gcp;
use crate::error::{GcpError, Result};

/// Builds one Vertex AI client on first use, with the handle's endpoint, credentials and
/// retry policy. A macro because each service has its own builder type.
macro_rules! vertex_client {
    ($gcp:expr, $cell:ident, $client:ty, $what:literal) => {{
        if let Some(client) = $gcp.clients.$cell.get() {
            Ok::<_, $crate::error::GcpError>(client)
        } else {
            let built = $gcp
                .block(
                    <$client>::builder()
                        .with_endpoint(&$gcp.config.vertex_endpoint)
                        .with_credentials($gcp.credentials.clone())
                        .with_retry_policy($gcp.retry_policy())
                        .with_backoff_policy($gcp.backoff_policy())
                        .build(),
                )
                .map_err(|e| $crate::error::GcpError::Client {
                    client: $what,
                    detail: e.to_string(),
                })?;
            Ok($gcp.clients.$cell.get_or_init(|| built))
        }
    }};
}
pub(crate) use vertex_client;

/// The resource name of a Vertex resource under the handle's location, or the name itself
/// when it is one already (`projects/...`).
pub(crate) fn full_name(gcp: &Gcp, collection: &str, id: &str) -> String {
    if id.starts_with("projects/") {
        id.to_string()
    } else {
        format!("{}/{collection}/{id}", gcp.config.location())
    }
}

/// Resource ids Vertex accepts for pipeline jobs and schedules: `[a-z0-9-]{1,128}`, starting
/// with a letter.
pub(crate) fn check_id(field: &'static str, id: &str) -> Result<()> {
    let ok = (1..=128).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(GcpError::Invalid {
            field,
            value: id.to_string(),
            expected: "1-128 characters of a-z, 0-9 and '-', starting with a letter",
        })
    }
}
