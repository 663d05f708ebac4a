//! Errors of the booster crate.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, training, loading or using a booster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoosterError {
    /// A hyperparameter is out of range.
    #[error("invalid hyperparameter `{name}`: {message}, got {value}")]
    InvalidParam {
        /// Parameter name as in XGBoost (`max_depth`, `learning_rate`, ...).
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What was expected.
        message: &'static str,
    },
    /// The training data cannot be used.
    #[error("invalid training data: {0}")]
    InvalidData(String),
    /// A feature matrix does not have the width the model was trained on.
    #[error("feature count mismatch: the model expects {expected} features, the data has {found}")]
    FeatureCountMismatch {
        /// Features the model was trained with.
        expected: usize,
        /// Columns in the data given.
        found: usize,
    },
    /// A model file is not a usable XGBoost JSON model.
    #[error("invalid XGBoost JSON model: {0}")]
    InvalidModel(String),
    /// A [`crate::Booster`] breaks an invariant prediction relies on (built or edited by
    /// hand: training and [`crate::from_xgboost_json`] never produce one). The message names
    /// the tree, node, field and value.
    #[error("malformed booster: {0}")]
    MalformedBooster(String),
    /// A model file could not be parsed as JSON at all.
    #[error("cannot parse XGBoost JSON model: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing a model file failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = BoosterError> = std::result::Result<T, E>;
