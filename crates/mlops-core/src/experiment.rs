//! Experiment tracking, locally: a run trains one configuration with K-fold cross-validation
//! and records its parameters, metrics, data fingerprint, model bundle and out-of-fold ROC
//! curve in a folder store; [`compare`] ranks an experiment's runs and [`report`] draws them.
//!
//! The store (`--store`, `MLOPS_EXPERIMENTS_DIR`, default `{MLOPS_LOCAL_ROOT}/experiments`):
//!
//! ```text
//! <store>/<experiment>/<run id>/run.json       RunRecord: params, metrics, data, times
//!                              /roc.json       RocCurve of the out-of-fold probabilities
//!                              /model/         the bundle (model.json + metadata.json)
//! <store>/<experiment>/report.html             written by `mlops experiment compare`
//! ```
//!
//! A run appears whole: it is written into a hidden temporary folder which is renamed to its
//! run id. Reading fails closed: a run folder whose `run.json` or `roc.json` is missing or does
//! not parse is an error naming the file, never a silently shorter ranking. Names follow
//! Vertex AI Experiments (`[a-z0-9][a-z0-9-]*`), so a local run can be logged there as is.

mod params;
pub mod report;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlops_domain::{ModelConfig, ModelType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use params::{accepted_params, apply_params, hyperparameters, parse_param};
pub use store::{compare, ExperimentStore, RankedRun};

use crate::error::CoreError;
use crate::metrics::{roc_auc, roc_curve};
use crate::train::{cross_validate_with_predictions, prepare, train, TrainOptions};

/// Version of `run.json`'s layout.
pub const RUN_FORMAT_VERSION: u32 = 1;
/// The run record's file name.
pub const RUN_FILE: &str = "run.json";
/// The ROC curve's file name.
pub const ROC_FILE: &str = "roc.json";
/// The model bundle's folder name inside a run.
pub const MODEL_DIR: &str = "model";
/// Vertex AI limits `{experiment}-{run}` (the run context's id) to this many characters.
pub const MAX_CONTEXT_ID: usize = 128;
/// Thresholds of the stored ROC curve (evenly spaced in [0, 1]).
const ROC_STEPS: usize = 100;

/// A problem running, storing or reading an experiment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// An experiment name Vertex AI would refuse.
    #[error("experiment name `{name}` is not accepted: expected 1 to 64 characters from a-z, 0-9 and `-`, starting with a letter or digit")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A `--param` without `=`.
    #[error("--param `{text}` is not key=value")]
    MalformedParam {
        /// The argument.
        text: String,
    },
    /// A `--param` key the model type does not have.
    #[error("--param `{key}` (value `{value}`) is not a hyperparameter of {model_type}: expected one of {accepted}")]
    UnknownParam {
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// The model type.
        model_type: &'static str,
        /// The keys that are accepted.
        accepted: String,
    },
    /// A `--param` value that does not parse as its hyperparameter's type.
    #[error("--param {key}={value}: `{value}` is not {expected}")]
    InvalidParamValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// Parameters that parse but that the config's checks refuse.
    #[error("--param {params}: the model config refuses them:\n  - {}", .problems.join("\n  - "))]
    InvalidParams {
        /// The parameters, as given.
        params: String,
        /// The config's problems.
        problems: Vec<String>,
    },
    /// A file-system operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stored run file that is missing, unreadable or not what this version writes.
    #[error("corrupt experiment run `{path}`: {message}")]
    CorruptRun {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `compare` of an experiment without runs.
    #[error("experiment `{experiment}` has no runs in `{store}`: run `mlops experiment run --experiment {experiment}` first")]
    NoRuns {
        /// The experiment.
        experiment: String,
        /// The store folder.
        store: PathBuf,
    },
    /// Training failed.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Result alias of this module.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;

/// Check an experiment or run name: what Vertex AI accepts as a metadata context id.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ExperimentError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// The table a run was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFingerprint {
    /// The source as given (a path, `gs://…`, `bq://…`, a query).
    pub source: String,
    /// `sha256:<hex>` of the table file as read.
    pub sha256: String,
    /// Data rows.
    pub rows: usize,
    /// Columns of the table (the config's and any ignored ones).
    pub columns: usize,
}

/// `run.json`: everything a run logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// [`RUN_FORMAT_VERSION`].
    pub format_version: u32,
    /// The experiment.
    pub experiment: String,
    /// The run id (its folder name): `{UTC yyyymmdd-hhmmss}-{model type}`, `-2`… on a clash.
    pub run_id: String,
    /// The model type trained.
    pub model_type: ModelType,
    /// The `--param` overrides, typed.
    pub params: BTreeMap<String, Value>,
    /// Every effective hyperparameter of the model type.
    pub hyperparameters: BTreeMap<String, Value>,
    /// Cross-validation folds.
    pub cv_folds: usize,
    /// Training seed.
    pub seed: u64,
    /// `cv_<metric>_mean|std` (K-fold on the whole table), `test_<metric>` (the model in
    /// `model/` on its held-out test rows) and `oof_auc` (AUC of all out-of-fold scores).
    pub metrics: BTreeMap<String, f64>,
    /// The table.
    pub data: DataFingerprint,
    /// The bundle's folder, relative to the run folder.
    pub model_dir: String,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub ended_at: String,
    /// The `mlops` version that ran it.
    pub mlops_version: String,
}

impl RunRecord {
    /// A metric, NaN when absent.
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(f64::NAN)
    }

    /// What is logged as the run's parameters elsewhere (Vertex AI Experiments): model type,
    /// folds, seed and every effective hyperparameter, as strings or numbers.
    pub fn logged_params(&self) -> BTreeMap<String, Value> {
        let mut out = self.hyperparameters.clone();
        out.insert("model_type".into(), Value::from(self.model_type.as_str()));
        out.insert("cv_folds".into(), Value::from(self.cv_folds as u64));
        out.insert("seed".into(), Value::from(self.seed));
        out.insert("data_sha256".into(), Value::from(self.data.sha256.clone()));
        out
    }
}

/// `roc.json`: the ROC curve of a run's out-of-fold probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocCurve {
    /// False positive rates, one per threshold (thresholds 0, 0.01, …, 1).
    pub false_positive_rate: Vec<f64>,
    /// True positive rates, same thresholds.
    pub true_positive_rate: Vec<f64>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The experiment (created on first use).
    pub experiment: String,
    /// The table, as a local file.
    pub data_path: PathBuf,
    /// The table as the user named it (recorded).
    pub data_source: String,
    /// Model type; the config's when `None`.
    pub model_type: Option<ModelType>,
    /// `--param` overrides.
    pub params: Vec<(String, String)>,
    /// Cross-validation folds (≥ 2).
    pub cv_folds: usize,
    /// Training seed; the config's `split.seed` when `None`.
    pub seed: Option<u64>,
}

/// A finished run: its record and where it is.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// The record.
    pub record: RunRecord,
    /// The run folder.
    pub dir: PathBuf,
}

/// The config a run will train, with its overrides applied; fails on any bad parameter
/// (before a table is read).
pub fn resolve_config(
    config: &ModelConfig,
    spec: &RunSpec,
) -> Result<(ModelConfig, BTreeMap<String, Value>)> {
    check_name(&spec.experiment)?;
    let mut config = config.clone();
    let model_type = spec.model_type.unwrap_or(config.model.model_type);
    let applied = apply_params(&mut config, model_type, &spec.params)?;
    Ok((config, applied))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Train `spec` in `store`: resolve the config (every bad `--param` before anything is
/// read), read and encode the table, fit the model on the hash split's train rows (metrics on
/// its test rows), cross-validate on the whole table, and write the run.
pub fn run(store: &ExperimentStore, config: &ModelConfig, spec: &RunSpec) -> Result<FinishedRun> {
    let (config, params) = resolve_config(config, spec)?;
    let started_at = now();
    let started = chrono::Utc::now();
    let data = prepare(&config, &spec.data_path)?;
    let seed = spec.seed.unwrap_or(config.split.seed);
    let options = TrainOptions {
        seed: Some(seed),
        cv_folds: None,
        git_sha: None,
    };
    let mut outcome = train(
        &config,
        &data,
        &options,
        &mut |_: &mlops_booster::RoundReport| {},
    )?;
    let cv = cross_validate_with_predictions(&config, &data, spec.cv_folds, seed)?;
    outcome.bundle.metadata.training.cv_metrics = cv.metrics.clone();
    let mut metrics = cv.metrics;
    for (name, value) in outcome.test_metrics.scalars() {
        metrics.insert(format!("test_{name}"), value);
    }
    metrics.insert("oof_auc".into(), roc_auc(&data.y, &cv.out_of_fold));
    // JSON has no NaN; a metric that is not a number is left out (and ranks last).
    metrics.retain(|_, v| v.is_finite());
    let points = roc_curve(&data.y, &cv.out_of_fold, ROC_STEPS);
    let roc = RocCurve {
        false_positive_rate: points.iter().map(|p| p.false_positive_rate).collect(),
        true_positive_rate: points.iter().map(|p| p.recall).collect(),
    };
    let model_type = config.model.model_type;
    let columns = config.features.all().count()
        + 1
        + usize::from(config.id_column.is_some())
        + data.ignored_columns.len();
    let mut record = RunRecord {
        format_version: RUN_FORMAT_VERSION,
        experiment: spec.experiment.clone(),
        run_id: String::new(),
        model_type,
        params,
        hyperparameters: hyperparameters(&config, model_type),
        cv_folds: spec.cv_folds,
        seed,
        metrics,
        data: DataFingerprint {
            source: spec.data_source.clone(),
            sha256: data.fingerprint.clone(),
            rows: data.y.len(),
            columns,
        },
        model_dir: MODEL_DIR.to_string(),
        started_at,
        ended_at: now(),
        mlops_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let base = format!(
        "{}-{}",
        started.format("%Y%m%d-%H%M%S"),
        model_type.as_str().replace('_', "-")
    );
    let dir = store.write_run(&spec.experiment, &base, &mut record, &roc, &outcome.bundle)?;
    Ok(FinishedRun { record, dir })
}

/// Where `compare` writes the report by default: `<store>/<experiment>/report.html`.
pub fn default_report_path(store: &ExperimentStore, experiment: &str) -> PathBuf {
    store.experiment_dir(experiment).join("report.html")
}

/// Read a JSON file of a run, failing closed.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::CorruptRun {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| ExperimentError::CorruptRun {
        path: path.to_path_buf(),
        message: format!("not a run file of this version: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_vertex_accepts() {
        for ok in ["churn", "churn-2026", "a", "0x"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "Churn", "-x", "a_b", "a b", &"x".repeat(65)] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }
}
