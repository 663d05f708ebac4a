//! The training pipeline: extract → validate → train (split inside) → evaluate → compare
//! with the champion → only if better: register and move `champion`.

use data_components::{ExtractData, ValidateData};
use mlops_domain::{ModelConfig, Settings};
use mlops_pipeline::{CmpOp, Component, ParamType, Pipeline, PipelineBuilder, Result};
use model_components::{CompareChampion, Evaluate, RegisterModel, Train};
use serde_json::json;

/// Build the training pipeline; `config` becomes the `model_config` parameter's default, and
/// `settings` give the source table, registry and model name defaults for the environment:
/// locally `data/wa_churn.csv`, `$MLOPS_LOCAL_ROOT/registry` and `$MODEL_NAME_PREFIX` (as every
/// other command reads them); in nprod/prod `bq://…`, `vertex://…` and `{prefix}_churn`
/// ([`Settings::source_table`], [`Settings::registry_uri`], [`Settings::model_name`]).
pub fn pipeline(config: &ModelConfig, settings: &Settings) -> Result<Pipeline> {
    let mut p = PipelineBuilder::new(
        "training",
        "Train, evaluate and register the churn model (champion/challenger).",
    );
    let bt = &config.model.boosted_trees;
    let config_json = serde_json::to_value(config.to_yaml_value()).unwrap_or(json!({}));
    let data_path = p.param(
        "data_path",
        ParamType::String,
        json!(settings.source_table()),
        "Source table",
    )?;
    let model_config = p.param(
        "model_config",
        ParamType::Struct,
        config_json,
        "The model config (config/model.yaml at compile time)",
    )?;
    let n_estimators = p.param(
        "n_estimators",
        ParamType::Integer,
        json!(bt.n_estimators),
        "Boosting rounds",
    )?;
    let max_depth = p.param(
        "max_depth",
        ParamType::Integer,
        json!(bt.max_depth),
        "Tree depth",
    )?;
    let learning_rate = p.param(
        "learning_rate",
        ParamType::Float,
        json!(bt.learning_rate),
        "Shrinkage",
    )?;
    let seed = p.param(
        "seed",
        ParamType::Integer,
        json!(config.split.seed),
        "Seed of training randomness (the train/test split is by row hash)",
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
    // The compiler sets its image here (`mlops pipelines compile` knows it, the settings do
    // not): the registry records which image serves each version.
    let serving_image = p.param(
        "serving_image",
        ParamType::String,
        json!(mlops_pipeline::CompileOptions::default().image),
        "Image that serves registered versions (mlops-serve)",
    )?;

    // Reads a table named by a path: the table can change while the path stays the same, so a
    // cached result would train on stale rows. Never cached (downstream steps are keyed by the
    // artifact's content by the runner).
    let extract = p
        .task("extract-data", ExtractData.spec())
        .with("source", &data_path)
        .caching(false)
        .add()?;
    let validate = p
        .task("validate-data", ValidateData.spec())
        .with("dataset", &extract.out("dataset")?)
        .with("model_config", &model_config)
        .add()?;
    // Training waits for validation: a table that fails the checks never trains a model.
    let train = p
        .task("train", Train.spec())
        .after(&validate)
        .with("dataset", &extract.out("dataset")?)
        .with("model_config", &model_config)
        .with("n_estimators", &n_estimators)
        .with("max_depth", &max_depth)
        .with("learning_rate", &learning_rate)
        .with("seed", &seed)
        .limits("2", "4G")
        .add()?;
    let evaluate = p
        .task("evaluate", Evaluate.spec())
        .with("model", &train.out("model")?)
        .with("test_data", &train.out("test_data")?)
        .add()?;
    let _ = evaluate;
    // Reads the registry, so its answer can change without its inputs changing: never cached.
    let compare = p
        .task("compare-champion", CompareChampion.spec())
        .with("model", &train.out("model")?)
        .with("test_data", &train.out("test_data")?)
        .with("registry", &registry)
        .with("model_name", &model_name)
        .caching(false)
        .add()?;
    p.condition(&compare.out("is_better")?, CmpOp::Eq, json!(true), |p| {
        p.task("register-model", RegisterModel.spec())
            .with("model", &train.out("model")?)
            .with("registry", &registry)
            .with("model_name", &model_name)
            .with("compared_champion", &compare.out("champion_version")?)
            .with("serving_image", &serving_image)
            .caching(false)
            .display_name("register-model")
            .add()?;
        Ok(())
    })?;
    p.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn settings() -> Settings {
        Settings::from_vars(&Default::default()).unwrap()
    }

    fn compiled() -> Value {
        let config = ModelConfig::from_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/model.yaml"),
        )
        .unwrap();
        let image = mlops_pipeline::CompileOptions {
            image: "test-image".into(),
            ..Default::default()
        };
        mlops_pipeline::compile(&pipeline(&config, &settings()).unwrap(), &image)
    }

    /// Every task's `enableCache`, by task name, across the root DAG and condition sub-DAGs.
    fn caching(ir: &Value) -> std::collections::BTreeMap<String, bool> {
        let mut out = std::collections::BTreeMap::new();
        let dags = std::iter::once(&ir["root"]).chain(
            ir["components"]
                .as_object()
                .into_iter()
                .flat_map(|c| c.values()),
        );
        for dag in dags {
            for (name, task) in dag["dag"]["tasks"].as_object().into_iter().flatten() {
                if let Some(enabled) = task["cachingOptions"]["enableCache"].as_bool() {
                    out.insert(name.clone(), enabled);
                }
            }
        }
        out
    }

    /// Steps that read state outside their inputs (a table behind a path, the registry) must
    /// run every time; the pure steps stay cached.
    #[test]
    fn steps_reading_outside_state_are_never_cached() {
        let caching = caching(&compiled());
        for task in ["extract-data", "compare-champion", "register-model"] {
            assert_eq!(caching.get(task), Some(&false), "{task}: {caching:?}");
        }
        for task in ["validate-data", "train", "evaluate"] {
            assert_eq!(caching.get(task), Some(&true), "{task}: {caching:?}");
        }
    }

    /// register-model receives the champion compare-champion compared against (its
    /// compare-and-swap input).
    #[test]
    fn register_model_gets_the_compared_champion() {
        let ir = compiled();
        let text = ir.to_string();
        assert!(
            text.contains("compared_champion") && text.contains("champion_version"),
            "register-model is not wired to compare-champion's champion_version"
        );
    }

    /// The registry and model-name defaults come from the settings, as in `mlops demo` and
    /// `mlops models`.
    #[test]
    fn registry_and_model_name_defaults_come_from_settings() {
        let config = ModelConfig::from_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/model.yaml"),
        )
        .unwrap();
        let vars = [
            ("MLOPS_LOCAL_ROOT", "/srv/mlops"),
            ("MODEL_NAME_PREFIX", "acme_churn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let custom = Settings::from_vars(&vars).unwrap();
        let image = mlops_pipeline::CompileOptions::default();
        let ir = mlops_pipeline::compile(&pipeline(&config, &custom).unwrap(), &image);
        let params = &ir["root"]["inputDefinitions"]["parameters"];
        assert_eq!(params["registry"]["defaultValue"], "/srv/mlops/registry");
        assert_eq!(params["model_name"]["defaultValue"], "acme_churn");
        let defaults = mlops_pipeline::compile(&pipeline(&config, &settings()).unwrap(), &image);
        let params = &defaults["root"]["inputDefinitions"]["parameters"];
        assert_eq!(params["registry"]["defaultValue"], "local/registry");
        assert_eq!(params["model_name"]["defaultValue"], "churn");
        assert_eq!(params["data_path"]["defaultValue"], "data/wa_churn.csv");
    }

    /// In nprod/prod the source table, registry and model name defaults are the cloud ones.
    #[test]
    fn cloud_defaults_come_from_settings() {
        let config = ModelConfig::from_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/model.yaml"),
        )
        .unwrap();
        let vars = [
            ("ENVIRONMENT", "prod"),
            ("GCP_PROJECT_ID", "acme-churn-1"),
            ("PIPELINE_BUCKET", "gs://acme-pipelines"),
            ("BQ_DATASET", "sales"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let prod = Settings::from_vars(&vars).unwrap();
        let ir = mlops_pipeline::compile(
            &pipeline(&config, &prod).unwrap(),
            &mlops_pipeline::CompileOptions::default(),
        );
        let params = &ir["root"]["inputDefinitions"]["parameters"];
        assert_eq!(
            params["data_path"]["defaultValue"],
            "bq://acme-churn-1.sales.wa_churn"
        );
        assert_eq!(
            params["registry"]["defaultValue"],
            "vertex://projects/acme-churn-1/locations/australia-southeast1"
        );
        assert_eq!(params["model_name"]["defaultValue"], "churn_churn");
    }
}
