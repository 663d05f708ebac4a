//! Model monitoring on plain slices: prediction drift against the training-split baseline,
//! feature drift, performance on labelled outcomes and performance estimated before the
//! labels arrive. No polars in the public API, so the prediction server can link it.
//!
//! [`metrics`] is the catalogue of every metric a monitoring component writes: the sinks
//! (local table, BigQuery, Cloud Monitoring) and the alert policies are checked against it.
//! [`thresholds`] reads `config/monitoring.yaml` (drift method and bins, `alerts_threshold`)
//! and says which thresholds a set of values crosses; [`sink`] is the one trait every metrics
//! sink implements, with the local append-only JSON-lines table.

pub mod metrics;
pub mod sink;
pub mod thresholds;

pub use metrics::{MetricDef, MetricGroup, Unit, METRICS};
