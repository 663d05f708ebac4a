//! The monitoring pipeline (its own schedule): join the predictions of the last days with the
//! outcomes that arrived, and report realised against estimated performance. Also the
//! `monitoring_config` parameter both monitoring pipelines share.

use mlops_domain::{ModelConfig, Settings};
use mlops_monitoring::thresholds::{MonitoringConfig, SHIPPED_YAML};
use mlops_pipeline::{Component, ParamType, Pipeline, PipelineBuilder, PipelineError, Result};
use monitoring_components::PerformanceMonitoring;
use serde_json::{json, Value};

/// Days of predictions the monitoring pipeline looks at by default.
pub const WINDOW_DAYS: i64 = 30;

/// The monitoring config as a STRUCT parameter default: the file `settings.monitoring_config`
/// names (`MLOPS_MONITORING_CONFIG`, default `config/monitoring.yaml`) when it exists, else the
/// copy shipped in the binary; validated here, so a bad threshold fails the compile.
pub fn monitoring_config_value(pipeline: &str, settings: &Settings) -> Result<Value> {
    let build_err = |message: String| PipelineError::Build {
        pipeline: pipeline.to_string(),
        message,
    };
    let path = std::path::Path::new(&settings.monitoring_config);
    let text = if path.exists() {
        std::fs::read_to_string(path)
            .map_err(|e| build_err(format!("cannot read {}: {e}", path.display())))?
    } else {
        SHIPPED_YAML.to_string()
    };
    MonitoringConfig::from_yaml_str(&text).map_err(|e| build_err(e.to_string()))?;
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| build_err(e.to_string()))?;
    serde_json::to_value(yaml).map_err(|e| build_err(e.to_string()))
}

/// Build the monitoring pipeline.
pub fn pipeline(config: &ModelConfig, settings: &Settings) -> Result<Pipeline> {
    let mut p = PipelineBuilder::new(
        "monitoring",
        "Join recent predictions with their outcomes: realised and estimated performance.",
    );
    let predictions_table = p.param(
        "predictions_table",
        ParamType::String,
        json!(settings.table_uri("predictions")),
        "Predictions table",
    )?;
    let outcomes_table = p.param(
        "outcomes_table",
        ParamType::String,
        json!(settings.table_uri("outcomes")),
        "Outcomes table (id, churned, outcome_at)",
    )?;
    let id_column = p.param(
        "id_column",
        ParamType::String,
        json!(config.id_column.clone().unwrap_or_else(|| "id".into())),
        "Id column of the predictions table",
    )?;
    let window_days = p.param(
        "window_days",
        ParamType::Integer,
        json!(WINDOW_DAYS),
        "Predictions of the last N days",
    )?;
    let registry = p.param(
        "registry",
        ParamType::String,
        json!(settings.registry_uri()),
        "Model registry (the champion's calibration for the estimate)",
    )?;
    let model_name = p.param(
        "model_name",
        ParamType::String,
        json!(settings.model_name()),
        "Registered model name",
    )?;
    let monitoring_config = p.param(
        "monitoring_config",
        ParamType::Struct,
        monitoring_config_value("monitoring", settings)?,
        "The monitoring config (config/monitoring.yaml at compile time)",
    )?;
    let metrics_table = p.param(
        "metrics_table",
        ParamType::String,
        json!(settings.metrics_table_uri()),
        "Metrics table",
    )?;
    // Reads tables that grow under the same names: never cached.
    p.task("performance-monitoring", PerformanceMonitoring.spec())
        .with("predictions_table", &predictions_table)
        .with("outcomes_table", &outcomes_table)
        .with("id_column", &id_column)
        .with("window_days", &window_days)
        .with("registry", &registry)
        .with("model_name", &model_name)
        .with("monitoring_config", &monitoring_config)
        .with("metrics_table", &metrics_table)
        .caching(false)
        .add()?;
    p.build()
}
