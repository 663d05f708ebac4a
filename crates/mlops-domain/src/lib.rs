//! Shared configuration and types for every crate of the workspace: the runtime settings read
//! from `.env` and the environment, the model configuration YAML (feature schema,
//! hyperparameters, split), artifact locations, and atomic file writes.
//!
//! Invariant: no network I/O, no async runtime, no polars. The only algorithm crate it knows is
//! `mlops-booster`, for its hyperparameter type.
//!
//! ```
//! use mlops_domain::{ArtifactLocation, ModelConfig};
//! let config = ModelConfig::from_yaml_str(include_str!("../../../config/model.yaml")).unwrap();
//! assert_eq!(config.label.column, "churn");
//! assert!(matches!("gs://bucket/p".parse::<ArtifactLocation>().unwrap(), ArtifactLocation::Gcs { .. }));
//! ```

mod atomic;
mod error;
mod location;
pub mod model_config;
pub mod settings;

pub use atomic::{write_atomic, AtomicFile};
pub use error::{DomainError, Result};
pub use location::{ArtifactLocation, GCS_FUSE_ROOT};
pub use model_config::{
    FeatureSchema, LabelConfig, ModelConfig, ModelSection, ModelType, SplitConfig,
    UnknownCategoryPolicy,
};
pub use settings::{Environment, GcpAuth, GcpEndpoints, Secret, Settings};
