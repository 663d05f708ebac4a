//! The data path: read and validate tables with polars, encode them for the model, split,
//! train (boosted trees or a linfa baseline), evaluate, batch-predict and generate data.
//!
//! Invariant: no network I/O and no async runtime here; cloud I/O lives in `mlops-gcp`, which
//! [`source`] calls (blocking) only in a build with the cargo feature `gcp`.

pub mod baselines;
pub mod encode;
mod error;
pub mod gen_data;
pub mod metrics;
pub mod outcomes;
pub mod predict;
pub mod source;
pub mod split;
pub mod table;
pub mod train;

pub use error::{CoreError, Result};
