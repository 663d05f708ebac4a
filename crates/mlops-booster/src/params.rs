//! Hyperparameters, with XGBoost's names, defaults and ranges.

use serde::{Deserialize, Serialize};

use crate::error::{BoosterError, Result};

/// Hyperparameters of the booster. Names, meaning and defaults follow XGBoost's `binary:logistic`
/// with `tree_method=hist`; `n_estimators` is the number of boosting rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoosterParams {
    /// Boosting rounds (trees).
    pub n_estimators: usize,
    /// Maximum depth of a tree (root has depth 0).
    pub max_depth: usize,
    /// Shrinkage applied to every leaf (XGBoost's `eta`).
    pub learning_rate: f64,
    /// L2 regularisation on leaf weights (`lambda`).
    pub reg_lambda: f64,
    /// L1 regularisation on leaf weights (`alpha`).
    pub reg_alpha: f64,
    /// Minimum loss reduction to keep a split (`gamma`, `min_split_loss`).
    pub gamma: f64,
    /// Minimum sum of hessians in a child.
    pub min_child_weight: f64,
    /// Fraction of rows sampled (without replacement) for each tree.
    pub subsample: f64,
    /// Fraction of features sampled for each tree.
    pub colsample_bytree: f64,
    /// Maximum number of histogram bins per feature (at most 256; one bin is kept for missing values).
    pub max_bin: usize,
    /// Intercept in probability space; `None` estimates it from the labels as XGBoost 3 does.
    pub base_score: Option<f64>,
    /// Stop when the validation logloss has not improved for this many rounds.
    pub early_stopping_rounds: Option<usize>,
    /// Seed of every random choice (row and feature sampling).
    pub seed: u64,
    /// Worker threads; 0 uses all cores.
    pub n_threads: usize,
}

impl Default for BoosterParams {
    fn default() -> Self {
        BoosterParams {
            n_estimators: 100,
            max_depth: 6,
            learning_rate: 0.3,
            reg_lambda: 1.0,
            reg_alpha: 0.0,
            gamma: 0.0,
            min_child_weight: 1.0,
            subsample: 1.0,
            colsample_bytree: 1.0,
            max_bin: 256,
            base_score: None,
            early_stopping_rounds: None,
            seed: 0,
            n_threads: 0,
        }
    }
}

/// Parameters that passed [`BoosterParams::check`]: training can rely on every range.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBoosterParams(BoosterParams);

impl std::ops::Deref for ValidBoosterParams {
    type Target = BoosterParams;
    fn deref(&self) -> &BoosterParams {
        &self.0
    }
}

fn invalid(name: &'static str, value: impl ToString, message: &'static str) -> BoosterError {
    BoosterError::InvalidParam {
        name,
        value: value.to_string(),
        message,
    }
}

impl BoosterParams {
    /// Validate every range once, so that an invalid configuration never reaches training.
    pub fn check(self) -> Result<ValidBoosterParams> {
        let p = &self;
        if p.n_estimators == 0 {
            return Err(invalid("n_estimators", p.n_estimators, "must be >= 1"));
        }
        if p.max_depth == 0 || p.max_depth > 16 {
            return Err(invalid("max_depth", p.max_depth, "must be in 1..=16"));
        }
        if !(p.learning_rate > 0.0 && p.learning_rate <= 1.0) {
            return Err(invalid(
                "learning_rate",
                p.learning_rate,
                "must be in (0, 1]",
            ));
        }
        if !(p.reg_lambda >= 0.0 && p.reg_lambda.is_finite()) {
            return Err(invalid(
                "reg_lambda",
                p.reg_lambda,
                "must be a finite number >= 0",
            ));
        }
        if !(p.reg_alpha >= 0.0 && p.reg_alpha.is_finite()) {
            return Err(invalid(
                "reg_alpha",
                p.reg_alpha,
                "must be a finite number >= 0",
            ));
        }
        if !(p.gamma >= 0.0 && p.gamma.is_finite()) {
            return Err(invalid("gamma", p.gamma, "must be a finite number >= 0"));
        }
        if !(p.min_child_weight >= 0.0 && p.min_child_weight.is_finite()) {
            return Err(invalid(
                "min_child_weight",
                p.min_child_weight,
                "must be a finite number >= 0",
            ));
        }
        if !(p.subsample > 0.0 && p.subsample <= 1.0) {
            return Err(invalid("subsample", p.subsample, "must be in (0, 1]"));
        }
        if !(p.colsample_bytree > 0.0 && p.colsample_bytree <= 1.0) {
            return Err(invalid(
                "colsample_bytree",
                p.colsample_bytree,
                "must be in (0, 1]",
            ));
        }
        if !(2..=256).contains(&p.max_bin) {
            return Err(invalid("max_bin", p.max_bin, "must be in 2..=256"));
        }
        if let Some(b) = p.base_score {
            if !(b > 0.0 && b < 1.0) {
                return Err(invalid("base_score", b, "must be a probability in (0, 1)"));
            }
        }
        if p.early_stopping_rounds == Some(0) {
            return Err(invalid("early_stopping_rounds", 0, "must be >= 1 when set"));
        }
        Ok(ValidBoosterParams(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_xgboost() {
        let p = BoosterParams::default().check().unwrap();
        assert_eq!(p.max_depth, 6);
        assert_eq!(p.learning_rate, 0.3);
        assert_eq!(p.max_bin, 256);
    }

    #[test]
    fn out_of_range_values_name_the_parameter() {
        let err = BoosterParams {
            max_depth: 0,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid hyperparameter `max_depth`: must be in 1..=16, got 0"
        );
        let err = BoosterParams {
            subsample: 1.5,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("`subsample`"));
        let err = BoosterParams {
            learning_rate: f64::NAN,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("`learning_rate`"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<BoosterParams>(r#"{"max_dept": 3}"#).unwrap_err();
        assert!(err.to_string().contains("max_dept"));
    }
}
