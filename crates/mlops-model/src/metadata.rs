//! `metadata.json`: everything needed to use a model besides its trees, and what is known
//! about how it was trained.

use std::collections::BTreeMap;

use mlops_domain::{LabelConfig, ModelType};
use serde::{Deserialize, Serialize};

use crate::preprocess::Preprocessor;

/// Version of the metadata layout written by this code.
pub const FORMAT_VERSION: u32 = 1;

/// The sidecar written next to `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadata {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Which estimator `model_file` holds.
    pub model_type: ModelType,
    /// File name of the model inside the bundle folder.
    pub model_file: String,
    /// Label column and values.
    pub label: LabelConfig,
    /// Identifier column carried into predictions.
    pub id_column: Option<String>,
    /// Column encodings.
    pub preprocessor: Preprocessor,
    /// Feature names in matrix order.
    pub feature_names: Vec<String>,
    /// Decision threshold on the probability.
    pub threshold: f64,
    /// Hyperparameters used.
    pub hyperparameters: serde_json::Value,
    /// Training summary and held-out metrics.
    pub training: TrainingSummary,
    /// Distribution of predicted probabilities on the training split (drift baseline).
    pub score_distribution: ScoreHistogram,
    /// `sha256:<hex>` of the training data file.
    pub data_fingerprint: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Git commit of the code that trained the model, when known.
    pub git_sha: Option<String>,
    /// Version of this software.
    pub mlops_version: String,
}

/// Facts about training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainingSummary {
    /// Rows in the whole table.
    pub rows: usize,
    /// Rows used for fitting.
    pub train_rows: usize,
    /// Held-out test rows.
    pub test_rows: usize,
    /// Fraction of positive labels in the table.
    pub positive_rate: f64,
    /// Seed used for the split and training.
    pub seed: u64,
    /// Boosting rounds actually kept (boosted trees).
    pub n_trees: Option<usize>,
    /// Metrics on the test split (`auc`, `logloss`, ...).
    pub test_metrics: BTreeMap<String, f64>,
    /// Cross-validation summary (`cv_auc_mean`, ...), when run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cv_metrics: BTreeMap<String, f64>,
}

/// Equal-width histogram of probabilities over [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScoreHistogram {
    /// Bin edges, `counts.len() + 1` values from 0 to 1.
    pub edges: Vec<f64>,
    /// Rows per bin.
    pub counts: Vec<u64>,
}

impl ScoreHistogram {
    /// Histogram of `scores` in `bins` equal-width bins.
    pub fn from_scores(scores: &[f32], bins: usize) -> Self {
        let bins = bins.max(1);
        let edges = (0..=bins).map(|i| i as f64 / bins as f64).collect();
        let mut counts = vec![0u64; bins];
        for &s in scores {
            let b = ((s as f64 * bins as f64) as usize).min(bins - 1);
            counts[b] += 1;
        }
        ScoreHistogram { edges, counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_score_once() {
        let h = ScoreHistogram::from_scores(&[0.0, 0.05, 0.5, 0.99, 1.0], 10);
        assert_eq!(h.counts.iter().sum::<u64>(), 5);
        assert_eq!(h.counts[0], 2);
        assert_eq!(h.counts[9], 2);
        assert_eq!(h.edges.len(), 11);
    }
}
