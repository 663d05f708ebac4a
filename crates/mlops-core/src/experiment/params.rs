//! `--param key=value` overrides of the model config's hyperparameters, checked against the
//! chosen model type's section before anything is trained.

use std::collections::BTreeMap;

use mlops_domain::{ModelConfig, ModelType};
use serde_json::{Map, Number, Value};

use super::ExperimentError;

/// Keys of a model section that are not hyperparameters of a run (the seed has its own flag;
/// the thread count does not change the model).
const NOT_PARAMS: [&str; 2] = ["seed", "n_threads"];

/// One `key=value` from the command line.
pub fn parse_param(text: &str) -> Result<(String, String), ExperimentError> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(ExperimentError::MalformedParam {
            text: text.to_string(),
        }),
    }
}

/// The section of `model_type` in the config, as JSON (field → value).
fn section(config: &ModelConfig, model_type: ModelType) -> Map<String, Value> {
    let value = match model_type {
        ModelType::BoostedTrees => serde_json::to_value(&config.model.boosted_trees),
        ModelType::LogisticRegression => serde_json::to_value(&config.model.logistic_regression),
        ModelType::DecisionTree => serde_json::to_value(&config.model.decision_tree),
    };
    match value {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The hyperparameters a `--param` may set for `model_type`, in the config's order.
pub fn accepted_params(config: &ModelConfig, model_type: ModelType) -> Vec<String> {
    section(config, model_type)
        .keys()
        .filter(|k| !NOT_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// The effective hyperparameters of `model_type` (the whole section less seed and threads;
/// unset optional ones left out).
pub fn hyperparameters(config: &ModelConfig, model_type: ModelType) -> BTreeMap<String, Value> {
    section(config, model_type)
        .into_iter()
        .filter(|(k, v)| !NOT_PARAMS.contains(&k.as_str()) && !v.is_null())
        .collect()
}

/// `value` read as the type of the current setting `current`.
fn typed(key: &str, value: &str, current: &Value) -> Result<Value, ExperimentError> {
    let bad = |expected: &str| ExperimentError::InvalidParamValue {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    };
    match current {
        Value::Bool(_) => value
            .parse::<bool>()
            .map(Value::Bool)
            .map_err(|_| bad("true or false")),
        Value::Number(n) if n.is_u64() => value
            .parse::<u64>()
            .map(|v| Value::Number(v.into()))
            .map_err(|_| bad("a whole number >= 0")),
        Value::Number(_) => value
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| bad("a finite number")),
        // An optional setting that is unset (e.g. `early_stopping_rounds`): a number.
        Value::Null => match value.parse::<u64>() {
            Ok(v) => Ok(Value::Number(v.into())),
            Err(_) => value
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("a number")),
        },
        _ => Ok(Value::String(value.to_string())),
    }
}

/// Apply `params` to the section of `model_type` and make it the config's model type. Every
/// problem is found before training: an unknown key names the accepted ones, a value that
/// does not parse names what was expected, and a parsed value the config refuses (e.g.
/// `learning_rate=0`) gives the config's own checks. Returns the overrides, typed.
pub fn apply_params(
    config: &mut ModelConfig,
    model_type: ModelType,
    params: &[(String, String)],
) -> Result<BTreeMap<String, Value>, ExperimentError> {
    let mut fields = section(config, model_type);
    let accepted = accepted_params(config, model_type);
    let mut applied = BTreeMap::new();
    for (key, value) in params {
        if !accepted.contains(key) {
            return Err(ExperimentError::UnknownParam {
                key: key.clone(),
                value: value.clone(),
                model_type: model_type.as_str(),
                accepted: accepted.join(", "),
            });
        }
        let current = fields.get(key).cloned().unwrap_or(Value::Null);
        let parsed = typed(key, value, &current)?;
        fields.insert(key.clone(), parsed.clone());
        applied.insert(key.clone(), parsed);
    }
    let object = Value::Object(fields);
    let refused = |e: serde_json::Error| ExperimentError::InvalidParams {
        params: shown(params),
        problems: vec![e.to_string()],
    };
    match model_type {
        ModelType::BoostedTrees => {
            config.model.boosted_trees = serde_json::from_value(object).map_err(refused)?
        }
        ModelType::LogisticRegression => {
            config.model.logistic_regression = serde_json::from_value(object).map_err(refused)?
        }
        ModelType::DecisionTree => {
            config.model.decision_tree = serde_json::from_value(object).map_err(refused)?
        }
    }
    config.model.model_type = model_type;
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(ExperimentError::InvalidParams {
            params: shown(params),
            problems,
        });
    }
    Ok(applied)
}

fn shown(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ModelConfig {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/model.yaml");
        ModelConfig::from_file(path).unwrap()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params_set_the_chosen_section_with_its_types() {
        let mut c = config();
        let applied = apply_params(
            &mut c,
            ModelType::BoostedTrees,
            &kv(&[("max_depth", "3"), ("learning_rate", "0.05")]),
        )
        .unwrap();
        assert_eq!(c.model.boosted_trees.max_depth, 3);
        assert_eq!(c.model.boosted_trees.learning_rate, 0.05);
        assert_eq!(applied["max_depth"], Value::from(3u64));
        let mut c = config();
        apply_params(&mut c, ModelType::DecisionTree, &kv(&[("max_depth", "4")])).unwrap();
        assert_eq!(c.model.model_type, ModelType::DecisionTree);
        assert_eq!(c.model.decision_tree.max_depth, 4);
        assert!(!accepted_params(&c, ModelType::BoostedTrees).contains(&"seed".to_string()));
    }

    #[test]
    fn bad_params_name_key_value_and_expectation() {
        let mut c = config();
        let e = apply_params(&mut c, ModelType::BoostedTrees, &kv(&[("depth", "3")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`depth`") && e.contains("`3`") && e.contains("max_depth"),
            "{e}"
        );
        let e = apply_params(&mut c, ModelType::BoostedTrees, &kv(&[("max_depth", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max_depth=x") && e.contains("whole number"),
            "{e}"
        );
        let e = apply_params(
            &mut c,
            ModelType::LogisticRegression,
            &kv(&[("alpha", "-1")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("alpha=-1") && e.contains(">= 0"), "{e}");
        assert!(parse_param("novalue").is_err());
        assert_eq!(
            parse_param("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
    }
}
