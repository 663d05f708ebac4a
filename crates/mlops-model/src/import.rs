//! Wrap a model trained in Python XGBoost with our metadata, so that it can be served and
//! batch-scored here. The model's feature names say how the configured columns were encoded:
//! numeric and binary columns by their own name, categorical levels as `column=level` (what
//! `pandas.get_dummies(prefix_sep="=")` writes).

use mlops_booster::{from_xgboost_json, Booster};
use mlops_domain::ModelConfig;

use crate::error::{ModelError, Result};
use crate::estimator::Estimator;
use crate::metadata::{ModelMetadata, ScoreHistogram, TrainingSummary, FORMAT_VERSION};
use crate::preprocess::Preprocessor;
use crate::{ModelBundle, MODEL_FILE};

/// Build a bundle from XGBoost JSON text and the model config describing its input table.
///
/// `feature_names` names the model's input columns in order when the model was saved without
/// them (an `XGBClassifier` fitted on a NumPy array); it replaces any names the model holds.
pub fn import_xgboost(
    model_json: &str,
    config: &ModelConfig,
    fingerprint: String,
    feature_names: Option<Vec<String>>,
) -> Result<ModelBundle> {
    let mut booster = from_xgboost_json(model_json)?;
    if let Some(names) = feature_names {
        if names.len() != booster.num_feature {
            return Err(ModelError::Mismatch(format!(
                "{} feature names given, but the XGBoost model has {} features",
                names.len(),
                booster.num_feature
            )));
        }
        booster.feature_names = names;
    }
    let preprocessor = preprocessor_from_names(&booster, config)?;
    reorder_features(&mut booster, &preprocessor.feature_names());
    let metadata = ModelMetadata {
        format_version: FORMAT_VERSION,
        model_type: mlops_domain::ModelType::BoostedTrees,
        model_file: MODEL_FILE.to_string(),
        label: config.label.clone(),
        id_column: config.id_column.clone(),
        feature_names: preprocessor.feature_names(),
        preprocessor,
        threshold: config.model.threshold,
        hyperparameters: serde_json::json!({ "imported": "xgboost", "n_trees": booster.trees.len() }),
        training: TrainingSummary {
            n_trees: Some(booster.trees.len()),
            ..Default::default()
        },
        score_distribution: ScoreHistogram::default(),
        monitoring: None,
        data_fingerprint: fingerprint,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        git_sha: None,
        mlops_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    ModelBundle::new(metadata, Estimator::trees(booster)?)
}

fn preprocessor_from_names(booster: &Booster, config: &ModelConfig) -> Result<Preprocessor> {
    let names = &booster.feature_names;
    if names.is_empty() {
        return Err(ModelError::Mismatch(
            "the XGBoost model has no feature names, so its columns cannot be matched to the config; \
             train it from a pandas DataFrame, pass feature_names to the DMatrix, or give the names \
             in model column order with `--feature-names FILE` (one per line, or a JSON list)"
                .into(),
        ));
    }
    let schema = &config.features;
    let mut levels: Vec<Vec<String>> = vec![Vec::new(); schema.categorical.len()];
    let mut unknown = Vec::new();
    for name in names {
        if schema.numeric.contains(name) || schema.binary.contains(name) {
            continue;
        }
        let matched = schema.categorical.iter().position(|c| {
            name.strip_prefix(c.as_str())
                .is_some_and(|rest| rest.starts_with('='))
        });
        match matched {
            Some(i) => levels[i].push(name[schema.categorical[i].len() + 1..].to_string()),
            None => unknown.push(name.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(ModelError::Mismatch(format!(
            "model feature(s) {} are not columns of the config (categorical levels must be named `column=level`)",
            unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )));
    }
    let missing: Vec<&String> = schema
        .numeric
        .iter()
        .chain(&schema.binary)
        .filter(|c| !names.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(ModelError::Mismatch(format!(
            "the model lacks config column(s) {}",
            missing
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let preprocessor = Preprocessor::new(schema, levels, config.unknown_category);
    Ok(preprocessor)
}

/// Renumber the booster's features into `order` (same names, our column order), so that the
/// matrix our preprocessing builds feeds it directly. Predictions are unchanged.
fn reorder_features(booster: &mut Booster, order: &[String]) {
    let new_index: Vec<u32> = booster
        .feature_names
        .iter()
        .map(|n| order.iter().position(|o| o == n).unwrap_or(0) as u32)
        .collect();
    for tree in &mut booster.trees {
        for node in tree.nodes.iter_mut().filter(|n| !n.is_leaf()) {
            node.feature = new_index[node.feature as usize];
        }
    }
    booster.feature_names = order.to_vec();
    booster.num_feature = order.len();
}
