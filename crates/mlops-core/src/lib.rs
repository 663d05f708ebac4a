//! The data path: read and validate tables with polars, encode them for the model, split,
//! train (boosted trees or a linfa baseline), evaluate, batch-predict, generate data and
//! track experiments ([`experiment`]: runs with cross-validation in a folder store, ranking,
//! report); with the feature `gcp`, the BigQuery and Cloud Monitoring metrics sinks
//! ([`metrics_sink`]) and the BigQuery predictions table ([`predictions_bq`]).
//!
//! Invariant: no network I/O and no async runtime here; cloud I/O lives in `mlops-gcp`, which
//! [`source`] calls (blocking) only in a build with the cargo feature `gcp`.

pub mod baselines;
pub mod encode;
mod error;
pub mod experiment;
pub mod gen_data;
pub mod metrics;
#[cfg(feature = "gcp")]
pub mod metrics_sink;
pub mod monitor;
pub mod outcomes;
pub mod predict;
#[cfg(feature = "gcp")]
pub mod predictions_bq;
pub mod source;
pub mod split;
pub mod table;
pub mod train;

pub use error::{CoreError, Result};
