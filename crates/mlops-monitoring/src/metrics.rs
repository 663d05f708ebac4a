//! The catalogue of monitoring metrics: what each component writes, with units and
//! descriptions. Cloud Monitoring names them `custom.googleapis.com/{prefix}/{group}/{name}`
//! (the original template's names: `.../prediction_drift/drift_detected`, `.../psi`,
//! `.../performance/auc`); the local and BigQuery tables store `group` and `name` as columns.
//! An alert policy may only watch a metric listed here.

use serde::Serialize;

/// The component family that writes a metric (the middle part of its Cloud Monitoring name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricGroup {
    /// `prediction-drift`: the score distribution against the training split.
    PredictionDrift,
    /// `prediction-drift`: input columns against their training-split profiles.
    FeatureDrift,
    /// `performance-monitoring`: realised (labelled) and estimated performance.
    Performance,
}

impl MetricGroup {
    /// The name used in metric types and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricGroup::PredictionDrift => "prediction_drift",
            MetricGroup::FeatureDrift => "feature_drift",
            MetricGroup::Performance => "performance",
        }
    }
}

/// The unit of a metric, as Cloud Monitoring spells it in a metric descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Dimensionless (`1`).
    Ratio,
    /// A count of rows or columns (`{rows}` style annotations are left out: `1`).
    Count,
    /// 0 or 1.
    Flag,
}

impl Unit {
    /// The descriptor's `unit` field.
    pub fn as_ucum(self) -> &'static str {
        "1"
    }
}

/// One metric a component writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricDef {
    /// Who writes it.
    pub group: MetricGroup,
    /// Its name within the group (`psi`, `auc`).
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// One sentence for the metric descriptor and `mlops metrics show`.
    pub description: &'static str,
}

impl MetricDef {
    /// `custom.googleapis.com/{prefix}/{group}/{name}`.
    pub fn metric_type(&self, prefix: &str) -> String {
        format!(
            "custom.googleapis.com/{prefix}/{}/{}",
            self.group.as_str(),
            self.name
        )
    }

    /// `{group}/{name}`, the key used in policies and tables.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group.as_str(), self.name)
    }
}

const fn def(
    group: MetricGroup,
    name: &'static str,
    unit: Unit,
    description: &'static str,
) -> MetricDef {
    MetricDef {
        group,
        name,
        unit,
        description,
    }
}

use MetricGroup::{FeatureDrift, Performance, PredictionDrift};
use Unit::{Count, Flag, Ratio};

/// Every metric the monitoring components write.
pub const METRICS: &[MetricDef] = &[
    def(
        PredictionDrift,
        "drift_detected",
        Flag,
        "1 when the score drift or an input column's drift crosses its threshold, else 0.",
    ),
    def(
        PredictionDrift,
        "psi",
        Ratio,
        "Population Stability Index of the scores against the training split.",
    ),
    def(
        PredictionDrift,
        "js_distance",
        Ratio,
        "Jensen-Shannon distance (base 2) of the binned scores against the training split.",
    ),
    def(
        PredictionDrift,
        "wasserstein",
        Ratio,
        "Wasserstein-1 distance between current and training-split scores.",
    ),
    def(
        PredictionDrift,
        "ks",
        Ratio,
        "Kolmogorov-Smirnov statistic between current and training-split scores.",
    ),
    def(
        PredictionDrift,
        "row_count",
        Count,
        "Scored rows compared with the baseline.",
    ),
    def(
        FeatureDrift,
        "features_drifted",
        Count,
        "Input columns whose drift crosses their threshold.",
    ),
    def(
        FeatureDrift,
        "max_psi",
        Ratio,
        "Largest PSI over the numeric input columns.",
    ),
    def(
        FeatureDrift,
        "max_js_distance",
        Ratio,
        "Largest Jensen-Shannon distance over the input columns.",
    ),
    def(
        Performance,
        "auc",
        Ratio,
        "Area under the ROC curve on outcomes that arrived.",
    ),
    def(
        Performance,
        "logloss",
        Ratio,
        "Mean log loss on outcomes that arrived.",
    ),
    def(
        Performance,
        "accuracy",
        Ratio,
        "Accuracy at the decision threshold.",
    ),
    def(
        Performance,
        "precision",
        Ratio,
        "Precision at the decision threshold.",
    ),
    def(
        Performance,
        "recall",
        Ratio,
        "Recall at the decision threshold.",
    ),
    def(
        Performance,
        "f1",
        Ratio,
        "F1 score at the decision threshold.",
    ),
    def(
        Performance,
        "brier",
        Ratio,
        "Brier score (mean squared error of the probabilities).",
    ),
    def(
        Performance,
        "ece",
        Ratio,
        "Expected calibration error over equal-width probability bins.",
    ),
    def(
        Performance,
        "positive_rate",
        Ratio,
        "Fraction of positive outcomes.",
    ),
    def(
        Performance,
        "row_count",
        Count,
        "Predictions joined with an outcome.",
    ),
    def(
        Performance,
        "rows_without_outcome",
        Count,
        "Predictions in the window whose outcome has not arrived.",
    ),
    def(
        Performance,
        "estimated_auc",
        Ratio,
        "AUC expected from the scores alone (confidence-based estimation).",
    ),
    def(
        Performance,
        "estimated_precision",
        Ratio,
        "Precision expected from the scores alone.",
    ),
    def(
        Performance,
        "estimated_recall",
        Ratio,
        "Recall expected from the scores alone.",
    ),
    def(
        Performance,
        "estimated_f1",
        Ratio,
        "F1 expected from the scores alone.",
    ),
    def(
        Performance,
        "insufficient_data",
        Flag,
        "1 when the window had too few rows to compute the metrics.",
    ),
];

/// The metric `{group}/{name}`, if the catalogue has it.
pub fn find(key: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.key() == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_found() {
        let mut keys: Vec<String> = METRICS.iter().map(MetricDef::key).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate metric keys");
        assert_eq!(find("performance/auc").map(|m| m.name), Some("auc"));
        assert!(find("performance/nope").is_none());
    }

    #[test]
    fn metric_type_has_the_original_template_shape() {
        let psi = find("prediction_drift/psi").map(|m| m.metric_type("churn"));
        assert_eq!(
            psi.as_deref(),
            Some("custom.googleapis.com/churn/prediction_drift/psi")
        );
    }
}
