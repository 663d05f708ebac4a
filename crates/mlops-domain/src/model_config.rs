//! The model configuration (`config/model.yaml`): the feature schema, the model type and its
//! hyperparameters, and the train/test split. A team that brings its own table edits this
//! file only.

use std::collections::BTreeSet;
use std::path::Path;

use mlops_booster::BoosterParams;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Result};

/// The whole model configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The label column.
    pub label: LabelConfig,
    /// Optional row identifier, carried through to predictions.
    #[serde(default)]
    pub id_column: Option<String>,
    /// Feature columns by kind.
    pub features: FeatureSchema,
    /// What to do with a categorical value not seen in training.
    #[serde(default)]
    pub unknown_category: UnknownCategoryPolicy,
    /// Model type and hyperparameters.
    pub model: ModelSection,
    /// Train/test split.
    #[serde(default)]
    pub split: SplitConfig,
}

/// The label column and which value means "positive" (churned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelConfig {
    /// Column name.
    pub column: String,
    /// Value of the positive class, as text (`"Yes"`, `"1"`, `"true"`).
    pub positive: String,
    /// Value of the negative class; any third value in the column is an error.
    pub negative: String,
}

/// Feature columns by kind. Column order here is the model's feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FeatureSchema {
    /// Real-valued columns; empty cells are missing values.
    #[serde(default)]
    pub numeric: Vec<String>,
    /// 0/1 columns (also `true`/`false`, `yes`/`no`).
    #[serde(default)]
    pub binary: Vec<String>,
    /// Text columns with a small set of levels, learnt from the training data and one-hot
    /// encoded.
    #[serde(default)]
    pub categorical: Vec<String>,
}

impl FeatureSchema {
    /// All feature columns: numeric, binary, then categorical.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.numeric
            .iter()
            .chain(&self.binary)
            .chain(&self.categorical)
    }
}

/// Policy for a categorical value that the model did not see in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCategoryPolicy {
    /// Refuse the input, naming column, row and value (default: silent drift is worse).
    #[default]
    Error,
    /// Encode as "none of the known levels" (all one-hot columns 0) and carry on.
    Ignore,
}

/// Model type and the hyperparameters of each type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Which model to train.
    #[serde(rename = "type")]
    pub model_type: ModelType,
    /// Probability at or above which a row is labelled positive.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Gradient-boosted trees (XGBoost names and defaults).
    #[serde(default)]
    pub boosted_trees: BoosterParams,
    /// linfa logistic regression baseline.
    #[serde(default)]
    pub logistic_regression: LogisticRegressionParams,
    /// linfa-trees decision tree baseline.
    #[serde(default)]
    pub decision_tree: DecisionTreeParams,
}

fn default_threshold() -> f64 {
    0.5
}

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    /// Histogram gradient-boosted trees, saved as XGBoost JSON.
    BoostedTrees,
    /// linfa-logistic baseline.
    LogisticRegression,
    /// linfa-trees baseline.
    DecisionTree,
}

impl ModelType {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::BoostedTrees => "boosted_trees",
            ModelType::LogisticRegression => "logistic_regression",
            ModelType::DecisionTree => "decision_tree",
        }
    }
}

/// Logistic regression hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticRegressionParams {
    /// L2 penalty.
    pub alpha: f64,
    /// Optimiser iterations.
    pub max_iterations: u64,
}

impl Default for LogisticRegressionParams {
    fn default() -> Self {
        LogisticRegressionParams {
            alpha: 1.0,
            max_iterations: 200,
        }
    }
}

/// Decision tree hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionTreeParams {
    /// Maximum depth.
    pub max_depth: usize,
    /// Minimum weight of a leaf.
    pub min_weight_leaf: f32,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            max_depth: 6,
            min_weight_leaf: 20.0,
        }
    }
}

/// How rows are split into train and test sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of rows held out for testing.
    pub test_fraction: f64,
    /// Fraction of the training rows held out for early stopping (0 = none).
    pub validation_fraction: f64,
    /// Seed of training randomness (sampling, CV folds) unless `--seed` overrides it. The train/test split takes no seed: rows go by a
    /// hash of their key, so each row stays on its side across runs and table growth.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            test_fraction: 0.2,
            validation_fraction: 0.0,
            seed: 42,
        }
    }
}

impl ModelConfig {
    /// Parse and validate YAML text.
    pub fn from_yaml_str(text: &str) -> Result<ModelConfig> {
        Self::parse(text, "<string>")
    }

    /// Read, parse and validate a YAML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ModelConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DomainError::Io {
            action: "read model config",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Build from any serialisable value with the YAML's shape (e.g. a pipeline's STRUCT
    /// parameter), with the same checks as a file.
    pub fn from_serializable(value: &impl Serialize, origin: &str) -> Result<ModelConfig> {
        let text = serde_yaml::to_string(value).map_err(|e| DomainError::ModelConfig {
            path: origin.to_string(),
            problems: vec![e.to_string()],
        })?;
        Self::parse(&text, origin)
    }

    /// The configuration as a JSON-like value (for a pipeline's STRUCT parameter).
    pub fn to_yaml_value(&self) -> serde_yaml::Value {
        serde_yaml::to_value(self).unwrap_or(serde_yaml::Value::Null)
    }

    fn parse(text: &str, path: &str) -> Result<ModelConfig> {
        let config: ModelConfig =
            serde_yaml::from_str(text).map_err(|e| DomainError::ModelConfig {
                path: path.to_string(),
                problems: vec![e.to_string()],
            })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(DomainError::ModelConfig {
                path: path.to_string(),
                problems,
            })
        }
    }

    /// Every problem with the configuration; empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.label.column.trim().is_empty() {
            problems.push("label.column is empty".to_string());
        }
        if self.label.positive == self.label.negative {
            problems.push(format!(
                "label.positive and label.negative are both `{}`",
                self.label.positive
            ));
        }
        let mut seen = BTreeSet::new();
        let named = self
            .features
            .all()
            .chain(std::iter::once(&self.label.column))
            .chain(&self.id_column);
        for column in named {
            if !seen.insert(column.as_str()) {
                problems.push(format!("column `{column}` is listed more than once"));
            }
        }
        if self.features.all().next().is_none() {
            problems.push("features: no feature columns are listed".to_string());
        }
        if !(self.model.threshold > 0.0 && self.model.threshold < 1.0) {
            problems.push(format!(
                "model.threshold is {}, expected a number in (0, 1)",
                self.model.threshold
            ));
        }
        if let Err(e) = self.model.boosted_trees.clone().check() {
            problems.push(format!("model.boosted_trees: {e}"));
        }
        let lr = &self.model.logistic_regression;
        if !(lr.alpha >= 0.0 && lr.alpha.is_finite()) {
            problems.push(format!(
                "model.logistic_regression.alpha is {}, expected >= 0",
                lr.alpha
            ));
        }
        if self.model.decision_tree.max_depth == 0 {
            problems.push("model.decision_tree.max_depth is 0, expected >= 1".to_string());
        }
        let s = &self.split;
        if !(s.test_fraction > 0.0 && s.test_fraction < 1.0) {
            problems.push(format!(
                "split.test_fraction is {}, expected a number in (0, 1)",
                s.test_fraction
            ));
        }
        if !(s.validation_fraction >= 0.0 && s.validation_fraction < 1.0) {
            problems.push(format!(
                "split.validation_fraction is {}, expected a number in [0, 1)",
                s.validation_fraction
            ));
        }
        if self.model.boosted_trees.early_stopping_rounds.is_some() && s.validation_fraction == 0.0
        {
            problems.push(
                "model.boosted_trees.early_stopping_rounds needs split.validation_fraction > 0"
                    .to_string(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../config/model.yaml");

    #[test]
    fn shipped_config_is_valid() {
        let c = ModelConfig::from_yaml_str(SHIPPED).unwrap();
        assert_eq!(c.model.model_type, ModelType::BoostedTrees);
        assert_eq!(c.model.boosted_trees.max_depth, 6);
        assert_eq!(c.features.all().count(), 19);
    }

    #[test]
    fn every_problem_is_listed() {
        let text = SHIPPED
            .replace("threshold: 0.5", "threshold: 1.5")
            .replace("test_fraction: 0.2", "test_fraction: 0")
            .replace("max_depth: 6", "max_depth: 0");
        let err = ModelConfig::from_yaml_str(&text).unwrap_err().to_string();
        assert!(err.contains("model.threshold is 1.5"), "{err}");
        assert!(err.contains("split.test_fraction is 0"), "{err}");
        assert!(err.contains("`max_depth`"), "{err}");
    }

    #[test]
    fn unknown_keys_and_duplicate_columns_are_rejected() {
        let err = ModelConfig::from_yaml_str(&SHIPPED.replace("id_column:", "id_colum:"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("id_colum"), "{err}");
        let err =
            ModelConfig::from_yaml_str(&SHIPPED.replace("binary: [female,", "binary: [tenure,"))
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("column `tenure` is listed more than once"),
            "{err}"
        );
    }
}
