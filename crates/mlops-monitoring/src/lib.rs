//! Model monitoring on plain slices: prediction drift against the training-split baseline,
//! feature drift, performance on labelled outcomes and performance estimated before the
//! labels arrive. No polars in the public API, so the prediction server can link it.
//!
//! - [`baseline`]: what training saves in `metadata.json` ([`MonitoringBaseline`]).
//! - [`drift`]: score drift (PSI, Jensen-Shannon distance, Wasserstein-1, Kolmogorov-Smirnov).
//! - [`features`]: drift of each input column (PSI / JS for numeric, JS / L-infinity for levels).
//! - [`performance`]: realised metrics on labelled outcomes (scikit-learn's definitions).
//! - [`cbpe`]: performance estimated from calibrated scores (NannyML's CBPE), through the
//!   model's [`calibration`] (Platt scaling fitted on its held-out rows).
//! - [`report`]: a self-contained HTML report with inline SVG charts.
//! - [`metrics`]: the catalogue of every metric a monitoring component writes: the sinks
//!   (local table, BigQuery, Cloud Monitoring) and the alert policies are checked against it.
//!
//! - [`thresholds`]: `config/monitoring.yaml` (drift method and bins, `alerts_threshold`): which
//!   thresholds a set of values crosses.
//! - [`sink`]: the one trait every metrics sink implements, and the local append-only
//!   JSON-lines table.
//!
//! Every function checks its input and returns [`MonitoringError`] naming what is wrong; too
//! little data is an explicit [`Outcome::InsufficientData`], never NaN or a false alert.

pub mod baseline;
pub mod calibration;
pub mod cbpe;
pub mod drift;
pub mod error;
pub mod features;
pub mod metrics;
pub mod performance;
pub mod report;
pub mod sink;
mod stats;
pub mod thresholds;

pub use baseline::{
    Distribution, FeatureProfile, MonitoringBaseline, ScoreBaseline, DEFAULT_FEATURE_BINS,
    MAX_ORDER_STATISTICS,
};
pub use calibration::Calibration;
pub use cbpe::{
    estimate_performance, estimate_performance_calibrated, expected_auc, EstimatedPerformance,
};
pub use drift::{score_drift, Binning, ScoreDrift};
pub use error::{MonitoringError, Outcome, Result};
pub use features::{
    feature_drift, features_drift, ColumnValues, FeatureCounts, FeatureDrift, FeatureDriftReport,
    MISSING, UNSEEN,
};
pub use metrics::{MetricDef, MetricGroup, Unit, METRICS};
pub use performance::{auc, performance, Performance, DEFAULT_THRESHOLD, ECE_BINS};
pub use report::{render_html, HistoryPoint, Section};
pub use stats::EMPTY_BIN_FLOOR;
