//! Model monitoring on plain slices: prediction drift against the training-split baseline,
//! feature drift, performance on labelled outcomes and performance estimated before the
//! labels arrive. No polars in the public API, so the prediction server can link it.
//!
//! [`metrics`] is the catalogue of every metric a monitoring component writes: the sinks
//! (local table, BigQuery, Cloud Monitoring) and the alert policies are checked against it.

pub mod metrics;

pub use metrics::{MetricDef, MetricGroup, Unit, METRICS};
