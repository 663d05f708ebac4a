//! Monitoring components: `prediction_drift` (after batch prediction) and
//! `performance_monitoring` (its own pipeline, once outcomes arrive). Each writes a KFP
//! Metrics artifact, metric rows to the metrics table, and an HTML report with inline SVG.

pub mod report;
mod sinks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use data_components::dataset_file;
use mlops_core::monitor::{
    check_drift, check_performance, join_outcomes, read_probabilities, table_feature_drift, Window,
};
use mlops_model::ModelBundle;
use mlops_monitoring::thresholds::MonitoringConfig;
use mlops_pipeline::component::{metrics_metadata, ComponentError, StepContext};
use mlops_pipeline::{ArtifactType, Component, ComponentSpec, Context, ParamType, Port};
use serde_json::json;

pub use sinks::write_metrics;

/// The monitoring config from a component's `monitoring_config` STRUCT parameter (the content
/// of `config/monitoring.yaml` at compile time), validated as the file is.
pub fn monitoring_config(ctx: &Context) -> Result<MonitoringConfig, ComponentError> {
    let value = ctx.json("monitoring_config")?;
    let yaml = serde_yaml::to_string(&value).map_err(|e| {
        ComponentError::invalid_input(
            "monitoring_config",
            e.to_string(),
            "a monitoring config object",
        )
    })?;
    MonitoringConfig::from_yaml_str(&yaml).step("use input parameter `monitoring_config`")
}

/// The pipeline run an output belongs to: the folder two levels above the output, as both the
/// local runner (`{root}/{job}/{task}/{output}`) and Vertex AI
/// (`{root}/{project}/{job}/{task}_{id}/{output}`) lay runs out.
fn run_id(ctx: &Context, output: &str) -> Result<String, ComponentError> {
    let path = ctx.output_path(output)?;
    Ok(path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "unknown-run".into()))
}

/// Write the Metrics artifact (values in its metadata, as KFP's `Metrics.log_metric`).
fn write_metrics_artifact(
    ctx: &mut Context,
    metrics: &[(String, f64)],
) -> Result<(), ComponentError> {
    let values: BTreeMap<String, f64> = metrics
        .iter()
        .map(|(k, v)| (k.replace('/', "."), *v))
        .collect();
    ctx.set_metadata("metrics", metrics_metadata(&values));
    let path = ctx.output_path("metrics")?;
    mlops_domain::write_atomic(&path, b"{}").step("write the Metrics artifact")
}

fn write_report(ctx: &Context, html: &str) -> Result<(), ComponentError> {
    let out = ctx.output_path("report")?;
    mlops_domain::write_atomic(&out, html.as_bytes()).step("write the HTML report")
}

/// `prediction_drift`: the scores of a batch (and the scored rows' inputs) against the
/// training-split baseline saved with the model that scored.
pub struct PredictionDrift;

impl Component for PredictionDrift {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "prediction_drift",
            description:
                "Compare a batch's scores and inputs with the model's training-split baseline.",
            inputs: vec![
                Port::artifact(
                    "predictions",
                    ArtifactType::Dataset,
                    "The batch's predictions",
                ),
                Port::artifact(
                    "dataset",
                    ArtifactType::Dataset,
                    "The rows that were scored",
                ),
                Port::artifact("model", ArtifactType::Model, "The model that scored"),
                Port::param("model_name", ParamType::String, "Registered model name"),
                Port::param(
                    "model_version",
                    ParamType::String,
                    "The version that scored",
                ),
                Port::param(
                    "monitoring_config",
                    ParamType::Struct,
                    "The monitoring config",
                ),
                Port::param("metrics_table", ParamType::String, "Metrics table"),
            ],
            outputs: vec![
                Port::artifact("metrics", ArtifactType::Metrics, "Drift metrics"),
                Port::artifact("report", ArtifactType::Html, "Drift report with charts"),
                Port::param(
                    "drift_detected",
                    ParamType::Bool,
                    "The score drift crosses its threshold",
                ),
                Port::param(
                    "psi",
                    ParamType::Float,
                    "PSI of the scores (0 without data)",
                ),
                Port::param(
                    "drifted_features",
                    ParamType::String,
                    "Input columns that drifted, comma-separated",
                ),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let config = monitoring_config(ctx)?;
        let bundle =
            ModelBundle::load(ctx.input_path("model")?).step("load the model that scored")?;
        let predictions = dataset_file(ctx, "predictions")?;
        let scores = read_probabilities(&predictions, mlops_core::monitor::PROBABILITY)
            .step("read the batch's probabilities")?;
        let data_path = dataset_file(ctx, "dataset")?;
        let features = table_feature_drift(&bundle, &data_path)
            .step("compare the scored rows with their training profiles")?;
        let check = check_drift(&bundle, &scores, features, &config, &data_path)
            .step("compare the batch with the training baseline")?;
        let version = ctx.str("model_version")?;
        let model_name = ctx.str("model_name")?;
        let run = run_id(ctx, "metrics")?;
        let table = ctx.str("metrics_table")?;
        let written = write_metrics(
            &table,
            "inference",
            &run,
            &model_name,
            &version,
            &check.metrics,
        )
        .step_with(|| format!("write the drift metrics to `{table}`"))?;
        eprintln!(
            "drift: {} (PSI {:.4}); drifted features: [{}]; {} metric rows to {written}",
            if check.drift_detected {
                "DETECTED"
            } else {
                "none"
            },
            check.score.computed().map_or(0.0, |d| d.psi),
            check.drifted_features.join(", "),
            check.metrics.len()
        );
        for alert in &check.alerts {
            eprintln!("alert: {}", alert.reason);
        }
        write_metrics_artifact(ctx, &check.metrics)?;
        let history = sinks::history(&table, "prediction_drift/psi");
        write_report(ctx, &report::drift(&check, &history, &config))?;
        ctx.set("drift_detected", json!(check.drift_detected));
        ctx.set("psi", json!(check.score.computed().map_or(0.0, |d| d.psi)));
        ctx.set("drifted_features", json!(check.drifted_features.join(",")));
        Ok(())
    }
}

/// `performance_monitoring`: predictions made in the last `window_days` joined by id with the
/// outcomes that arrived since; realised metrics next to those estimated from the scores.
pub struct PerformanceMonitoring;

impl Component for PerformanceMonitoring {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "performance_monitoring",
            description:
                "Join recent predictions with their outcomes: realised and estimated performance.",
            inputs: vec![
                Port::param("predictions_table", ParamType::String, "Predictions table"),
                Port::param(
                    "outcomes_table",
                    ParamType::String,
                    "Outcomes table (id, churned)",
                ),
                Port::param(
                    "id_column",
                    ParamType::String,
                    "Id column of the predictions table",
                ),
                Port::param(
                    "window_days",
                    ParamType::Integer,
                    "Predictions of the last N days",
                ),
                Port::param(
                    "registry",
                    ParamType::String,
                    "Model registry: the champion's calibration for the estimate",
                ),
                Port::param("model_name", ParamType::String, "Registered model name"),
                Port::param(
                    "monitoring_config",
                    ParamType::Struct,
                    "The monitoring config",
                ),
                Port::param("metrics_table", ParamType::String, "Metrics table"),
            ],
            outputs: vec![
                Port::artifact("metrics", ArtifactType::Metrics, "Performance metrics"),
                Port::artifact(
                    "report",
                    ArtifactType::Html,
                    "Performance report with charts",
                ),
                Port::param(
                    "auc",
                    ParamType::Float,
                    "Realised AUC (0 when insufficient data)",
                ),
                Port::param(
                    "estimated_auc",
                    ParamType::Float,
                    "AUC estimated from the scores (0 without scores)",
                ),
                Port::param(
                    "rows_without_outcome",
                    ParamType::Integer,
                    "Predictions still waiting for an outcome",
                ),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let config = monitoring_config(ctx)?;
        let days: i64 = ctx.int_as("window_days", "a number of days >= 1")?;
        if days < 1 {
            return Err(ComponentError::invalid_input(
                "window_days",
                days.to_string(),
                "a number of days >= 1",
            ));
        }
        let now = Utc::now();
        let window = Window {
            from: now - Duration::days(days),
            to: now + Duration::seconds(1),
        };
        let id_column = ctx.str("id_column")?;
        let scratch = tempfile::tempdir().map_err(|e| {
            ComponentError::io("create a scratch folder in", &std::env::temp_dir(), e)
        })?;
        let predictions = table_input(
            ctx,
            "predictions_table",
            &scratch.path().join("predictions"),
            Some((&id_column, window.from)),
        )?;
        let outcomes = table_input(
            ctx,
            "outcomes_table",
            &scratch.path().join("outcomes"),
            None,
        )?;
        let joined = join_outcomes(
            &predictions,
            &id_column,
            &outcomes,
            mlops_core::outcomes::ID_COLUMN,
            mlops_core::outcomes::CHURNED_COLUMN,
            Some(window),
        )
        .step("join the predictions with their outcomes")?;
        let model_name = ctx.str("model_name")?;
        let calibration = champion_calibration(ctx, &model_name)?;
        let check = check_performance(
            &joined,
            mlops_monitoring::DEFAULT_THRESHOLD,
            &config,
            calibration.as_ref(),
            &predictions,
        )
        .step("compute the performance")?;
        let run = run_id(ctx, "metrics")?;
        let table = ctx.str("metrics_table")?;
        let written = write_metrics(
            &table,
            "monitoring",
            &run,
            &model_name,
            "all",
            &check.metrics,
        )
        .step_with(|| format!("write the performance metrics to `{table}`"))?;
        eprintln!(
            "{} predictions with an outcome, {} without; {} metric rows to {written}",
            joined.scores.len(),
            joined.without_outcome,
            check.metrics.len()
        );
        for alert in &check.alerts {
            eprintln!("alert: {}", alert.reason);
        }
        write_metrics_artifact(ctx, &check.metrics)?;
        let history = sinks::history(&table, "performance/auc");
        write_report(
            ctx,
            &report::performance(&check, &joined, Some(days), &history, &config),
        )?;
        ctx.set(
            "auc",
            json!(check.realised.computed().and_then(|p| p.auc).unwrap_or(0.0)),
        );
        ctx.set(
            "estimated_auc",
            json!(check
                .estimated
                .computed()
                .and_then(|e| e.auc)
                .unwrap_or(0.0)),
        );
        ctx.set("rows_without_outcome", json!(check.rows_without_outcome));
        Ok(())
    }
}

/// The calibration of `model_name`'s champion, for the estimate. No champion, or a bundle
/// trained before calibration was saved: the raw scores are used, and the log says so (the
/// realised metrics do not depend on it).
fn champion_calibration(
    ctx: &Context,
    model_name: &str,
) -> Result<Option<mlops_monitoring::Calibration>, ComponentError> {
    let registry = model_components::Registry::open(ctx)?;
    let Some(version) = registry.champion(model_name)? else {
        eprintln!(
            "model `{model_name}` has no champion in {}: performance is estimated from the raw scores",
            registry.describe()
        );
        return Ok(None);
    };
    let bundle = registry.champion_bundle(model_name, version)?;
    let calibration = bundle
        .metadata
        .monitoring
        .as_ref()
        .and_then(|m| m.calibration);
    if calibration.is_none() {
        eprintln!(
            "`{model_name}` version {version} has no saved calibration (trained before it \
             existed): performance is estimated from the raw scores"
        );
    }
    Ok(calibration)
}

/// The local file or folder behind a table parameter: a local path as is (resolved against
/// the folder the pipeline started from); a `bq://` predictions table as the rows of the
/// window (`window`: the id column and the start), queried into `scratch`; any other
/// source (`gs://…`, `bq://…`, a query) read into `scratch` whole.
fn table_input(
    ctx: &Context,
    name: &str,
    scratch: &Path,
    window: Option<(&str, DateTime<Utc>)>,
) -> Result<PathBuf, ComponentError> {
    let text = ctx.str(name)?;
    let source: mlops_core::source::TableSource = text
        .parse()
        .step_with(|| format!("read input parameter `{name}`"))?;
    if let mlops_core::source::TableSource::Local(_) = source {
        return ctx.path(name);
    }
    std::fs::create_dir_all(scratch)
        .map_err(|e| ComponentError::io("create folder", scratch, e))?;
    #[cfg(feature = "gcp")]
    if let (Some((id, since)), mlops_core::source::TableSource::BigQueryTable { .. }) =
        (window, &source)
    {
        return mlops_core::predictions_bq::fetch_window_from_env(&text, id, since, scratch)
            .step_with(|| format!("read the predictions of the window from `{text}`"));
    }
    let _ = window;
    mlops_core::source::fetch_from_env(&source, None, scratch)
        .step_with(|| format!("read `{text}`"))
}

/// Every monitoring component.
pub fn all() -> Vec<&'static dyn Component> {
    vec![&PerformanceMonitoring, &PredictionDrift]
}
