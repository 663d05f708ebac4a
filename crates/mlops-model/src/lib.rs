//! The saved model bundle: a folder with `model.json` (XGBoost's JSON format for trees, or a
//! small JSON document for the logistic baseline) and `metadata.json` (schema, learnt
//! encodings, feature order, metrics, score distribution, provenance).
//!
//! This crate is what serving needs to score rows, so it must never depend on polars or on
//! training code: the server links it without the data stack.
//!
//! ```no_run
//! let bundle = mlops_model::ModelBundle::load("local/models/churn").unwrap();
//! let n = bundle.preprocessor().n_features();
//! let probs = bundle.predict_proba(&vec![0.0; n]).unwrap();
//! assert_eq!(probs.len(), 1);
//! ```

mod bundle;
mod error;
pub mod estimator;
mod import;
pub mod instance;
pub mod metadata;
mod monitoring;
pub mod preprocess;
pub mod registry;

pub use bundle::{ModelBundle, METADATA_FILE, MODEL_FILE};
pub use error::{ModelError, Result};
pub use estimator::{Estimator, LogisticModel};
pub use import::import_xgboost;
pub use instance::{Cell, FieldProblem, Instance};
pub use metadata::{
    ModelMetadata, PartitionKey, PartitionRule, ScoreHistogram, TrainingSummary, FORMAT_VERSION,
    PARTITION_SALT,
};
pub use monitoring::DecodedColumn;
pub use preprocess::{ColumnEncoder, Preprocessor};
pub use registry::{LocalRegistry, Registration, VersionInfo, CHAMPION};
