//! The inference pipeline: extract the scoring table → score it with the registry's champion
//! into the predictions table → compare the scores (and the inputs) with the champion's
//! training-split baseline.

use data_components::ExtractData;
use inference_components::BatchPredict;
use mlops_domain::{ModelConfig, Settings};
use mlops_pipeline::{Component, ParamType, Pipeline, PipelineBuilder, Result};
use monitoring_components::PredictionDrift;
use serde_json::json;

/// Build the inference pipeline. Defaults by environment, as the training pipeline's: the
/// scoring table ([`Settings::source_table`]), the registry and model name, and the
/// predictions table ([`Settings::table_uri`]`("predictions")`).
pub fn pipeline(config: &ModelConfig, settings: &Settings) -> Result<Pipeline> {
    let mut p = PipelineBuilder::new(
        "inference",
        "Score customers with the champion and check the predictions for drift.",
    );
    let data_path = p.param(
        "data_path",
        ParamType::String,
        json!(settings.source_table()),
        "Table to score",
    )?;
    let registry = p.param(
        "registry",
        ParamType::String,
        json!(settings.registry_uri()),
        "Model registry",
    )?;
    let model_name = p.param(
        "model_name",
        ParamType::String,
        json!(settings.model_name()),
        "Registered model name",
    )?;
    let id_column = p.param(
        "id_column",
        ParamType::String,
        json!(config.id_column.clone().unwrap_or_else(|| "id".into())),
        "Id column carried into the predictions",
    )?;
    let predictions_table = p.param(
        "predictions_table",
        ParamType::String,
        json!(settings.table_uri("predictions")),
        "Predictions table the scores are appended to",
    )?;
    let monitoring_config = p.param(
        "monitoring_config",
        ParamType::Struct,
        crate::monitoring::monitoring_config_value("inference", settings)?,
        "The monitoring config (config/monitoring.yaml at compile time)",
    )?;
    let metrics_table = p.param(
        "metrics_table",
        ParamType::String,
        json!(settings.metrics_table_uri()),
        "Metrics table",
    )?;
    // The scoring table changes under the same name: never cached.
    let extract = p
        .task("extract-data", ExtractData.spec())
        .with("source", &data_path)
        .caching(false)
        .add()?;
    // Reads the registry's champion and appends to a table: never cached.
    let predict = p
        .task("batch-predict", BatchPredict.spec())
        .with("dataset", &extract.out("dataset")?)
        .with("registry", &registry)
        .with("model_name", &model_name)
        .with("id_column", &id_column)
        .with("predictions_table", &predictions_table)
        .caching(false)
        .limits("2", "4G")
        .add()?;
    // Writes metric rows: never cached, so every batch is recorded.
    p.task("prediction-drift", PredictionDrift.spec())
        .with("predictions", &predict.out("predictions")?)
        .with("dataset", &extract.out("dataset")?)
        .with("model", &predict.out("model")?)
        .with("model_name", &model_name)
        .with("model_version", &predict.out("model_version")?)
        .with("monitoring_config", &monitoring_config)
        .with("metrics_table", &metrics_table)
        .caching(false)
        .add()?;
    p.build()
}
