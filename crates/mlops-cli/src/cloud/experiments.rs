//! `mlops experiment run` in nprod/prod: each finished run is logged to Vertex AI Experiments
//! (`mlops_gcp`'s `log_experiment_run`, as the Python SDK writes runs).

use mlops_core::experiment::RunRecord;
use mlops_domain::Settings;
use mlops_gcp::vertex::ExperimentRunLog;
use mlops_gcp::Gcp;

use crate::context::BoxError;

/// A connection that logs runs to Vertex AI Experiments.
pub struct ExperimentLogger {
    gcp: Gcp,
}

impl ExperimentLogger {
    /// Connect to the settings' project (nprod/prod); made before training, so a missing
    /// setting fails before any work.
    pub fn connect(settings: &Settings, dry_run: bool) -> Result<Self, BoxError> {
        Ok(Self {
            gcp: super::connect(settings, dry_run)?,
        })
    }

    /// Log a finished run: its logged parameters and every metric; returns the run context's
    /// resource name.
    pub fn log_run(&self, record: &RunRecord) -> Result<String, BoxError> {
        let log = ExperimentRunLog {
            experiment: record.experiment.clone(),
            run: record.run_id.clone(),
            params: record.logged_params(),
            metrics: record.metrics.clone(),
        };
        Ok(self.gcp.log_experiment_run(&log)?)
    }
}
