//! Without the cargo feature `gcp`: the commands that call Google Cloud say how to get them.

use mlops_domain::Settings;

use crate::args::{EndpointsCommand, ModelsCommand, PipelinesCommand};
use crate::context::BoxError;

const NO_GCP: &str = "this build has no Google Cloud support: build with `cargo build --release \
                      --features gcp` (the container image and `cargo xtask ci` do)";

/// `mlops pipelines upload|submit|schedule`.
pub fn pipelines(_: &Settings, _: bool, _: PipelinesCommand) -> Result<(), BoxError> {
    Err(NO_GCP.into())
}

/// `mlops endpoints ...`.
pub fn endpoints(_: &Settings, _: bool, _: EndpointsCommand) -> Result<(), BoxError> {
    Err(NO_GCP.into())
}

/// `mlops models ...` in nprod/prod.
pub fn models(_: &Settings, _: bool, _: ModelsCommand) -> Result<(), BoxError> {
    Err(NO_GCP.into())
}

/// `--dry-run` of a command that reads a Google Cloud table.
pub fn print_fetch(_: &Settings, _: &mlops_core::source::TableSource) -> Result<(), BoxError> {
    Err(NO_GCP.into())
}

/// The store behind `mlops pipelines run --pipeline-root gs://…`.
pub fn artifact_store(
    _: &Settings,
) -> Result<std::sync::Arc<dyn mlops_pipeline::runner::ArtifactStore>, BoxError> {
    Err(format!("a gs:// pipeline root needs Cloud Storage, and {NO_GCP}").into())
}

/// `mlops alerting apply`.
pub fn alerting_apply(
    _: &Settings,
    _: bool,
    _: &mlops_monitoring::thresholds::MonitoringConfig,
) -> Result<(), BoxError> {
    Err(NO_GCP.into())
}

/// `mlops experiment run` in nprod/prod logs to Vertex AI Experiments, which needs the feature.
pub struct ExperimentLogger;

impl ExperimentLogger {
    /// Always an error naming the feature.
    pub fn connect(_: &Settings, _: bool) -> Result<Self, BoxError> {
        Err(
            format!("logging runs to Vertex AI Experiments (ENVIRONMENT nprod/prod): {NO_GCP}")
                .into(),
        )
    }

    /// Never reached: [`ExperimentLogger::connect`] fails.
    pub fn log_run(&self, _: &mlops_core::experiment::RunRecord) -> Result<String, BoxError> {
        Err(NO_GCP.into())
    }
}
