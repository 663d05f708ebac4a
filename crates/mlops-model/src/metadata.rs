//! `metadata.json`: everything needed to use a model besides its trees, and what is known
//! about how it was trained.

use std::collections::BTreeMap;

use mlops_domain::{LabelConfig, ModelConfig, ModelType};
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
    /// The monitoring baseline of the training split: score order statistics and one profile
    /// per input column. Absent in bundles trained before it existed (and in imported ones):
    /// score drift then falls back to `score_distribution` ([`ModelMetadata::score_baseline`])
    /// and feature drift reports "no baseline".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<mlops_monitoring::MonitoringBaseline>,
    /// `sha256:<hex>` of the training data file.
    pub data_fingerprint: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Git commit of the code that trained the model, when known.
    pub git_sha: Option<String>,
    /// Version of this software.
    pub mlops_version: String,
}

impl ModelMetadata {
    /// The score baseline for drift: the saved order statistics, else one rebuilt from the
    /// `score_distribution` histogram (uniform within each bin, marked `from_histogram`), else
    /// `None` when the bundle has neither (an imported model).
    pub fn score_baseline(&self) -> Option<mlops_monitoring::ScoreBaseline> {
        if let Some(m) = &self.monitoring {
            return Some(m.scores.clone());
        }
        mlops_monitoring::ScoreBaseline::from_histogram(
            &self.score_distribution.edges,
            &self.score_distribution.counts,
        )
        .ok()
    }
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
    /// Seed of training randomness (sampling, folds); the train/test split is `partition`.
    pub seed: u64,
    /// Boosting rounds actually kept (boosted trees).
    pub n_trees: Option<usize>,
    /// Metrics on the test split (`auc`, `logloss`, ...).
    pub test_metrics: BTreeMap<String, f64>,
    /// Cross-validation summary (`cv_auc_mean`, ...), when run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cv_metrics: BTreeMap<String, f64>,
    /// How the table's rows were split into train and test. Absent in bundles trained
    /// before rows were split by hash, or evaluated on an external test file: then the rows
    /// the model trained on are unknown and it cannot be compared fairly with another model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionRule>,
    /// Columns of the training table that the model config does not name, so the model never
    /// saw them (listed so that a misnamed config column is visible).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
}

/// Salt of the row hash in [`PartitionRule`]: changing it moves rows between train and test,
/// so it is recorded in every bundle and compared like the rest of the rule.
pub const PARTITION_SALT: &str = "mlops-partition-v1";

/// Which key a row is hashed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKey {
    /// The id column's text (the config names one).
    HashId,
    /// The text of the feature columns, in config order (no id column; the label is left
    /// out so that a row whose outcome changed later stays on the same side).
    HashRow,
}

/// A deterministic train/test rule that keeps every row in the same partition across runs,
/// seeds and table growth (like `FARM_FINGERPRINT(id)` in BigQuery): a row is a test row when
/// the 64-bit FNV-1a hash of the salt and its key cells, mixed by SplitMix64's finaliser and
/// scaled to [0, 1), is below `test_fraction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionRule {
    /// The key kind.
    pub rule: PartitionKey,
    /// Columns whose text is hashed, in order.
    pub columns: Vec<String>,
    /// Fraction of the hash range held out for testing.
    pub test_fraction: f64,
    /// Salt hashed before the key.
    pub salt: String,
}

impl PartitionRule {
    /// The rule a config trains with: the id column when it names one, else the features.
    pub fn for_config(config: &ModelConfig) -> PartitionRule {
        let (rule, columns) = match &config.id_column {
            Some(id) => (PartitionKey::HashId, vec![id.clone()]),
            None => (
                PartitionKey::HashRow,
                config.features.all().cloned().collect(),
            ),
        };
        PartitionRule {
            rule,
            columns,
            test_fraction: config.split.test_fraction,
            salt: PARTITION_SALT.to_string(),
        }
    }

    /// The row's position in [0, 1) from its key cells (`None` = missing), in `columns` order.
    /// Cells are trimmed; each is framed (separator, presence byte, length) so that
    /// `("ab", "c")` and `("a", "bc")` hash differently.
    pub fn bucket<'a>(&self, cells: impl IntoIterator<Item = Option<&'a str>>) -> f64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h = OFFSET;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(PRIME);
            }
        };
        feed(self.salt.as_bytes());
        for cell in cells {
            match cell {
                Some(text) => {
                    let text = text.trim();
                    feed(&[0x1f, 1]);
                    feed(&(text.len() as u64).to_le_bytes());
                    feed(text.as_bytes());
                }
                None => feed(&[0x1f, 0]),
            }
        }
        // FNV-1a's high bits mix poorly for short keys; SplitMix64's finaliser spreads them.
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether a row with these key cells is a test row under this rule.
    pub fn is_test<'a>(&self, cells: impl IntoIterator<Item = Option<&'a str>>) -> bool {
        self.bucket(cells) < self.test_fraction
    }

    /// One line for logs and error messages.
    pub fn describe(&self) -> String {
        format!(
            "{} of [{}], test fraction {}, salt `{}`",
            match self.rule {
                PartitionKey::HashId => "hash of the id",
                PartitionKey::HashRow => "hash of the row",
            },
            self.columns.join(", "),
            self.test_fraction,
            self.salt
        )
    }
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

    fn rule() -> PartitionRule {
        PartitionRule {
            rule: PartitionKey::HashId,
            columns: vec!["id".into()],
            test_fraction: 0.2,
            salt: PARTITION_SALT.into(),
        }
    }

    /// The hash is part of the on-disk contract (bundles record the rule, not the rows):
    /// pinned values catch an accidental change of the function.
    #[test]
    fn bucket_is_fixed_framed_and_uniform() {
        let r = rule();
        let pinned = r.bucket([Some("customer-1")]);
        assert_eq!(
            pinned,
            r.bucket([Some(" customer-1 ")]),
            "cells are trimmed"
        );
        assert_ne!(
            r.bucket([Some("ab"), Some("c")]),
            r.bucket([Some("a"), Some("bc")])
        );
        assert_ne!(r.bucket([None]), r.bucket([Some("")]));
        let salted = PartitionRule {
            salt: "other".into(),
            ..rule()
        };
        assert_ne!(pinned, salted.bucket([Some("customer-1")]));
        let n = 20_000;
        let test = (0..n)
            .filter(|i| r.is_test([Some(i.to_string().as_str())]))
            .count();
        // Binomial(20000, 0.2): sd = 57, so ±300 is > 5 sd.
        assert!((test as i64 - 4000).abs() < 300, "{test} test rows of {n}");
        assert!(r.bucket([Some("x")]) < 1.0 && r.bucket([Some("x")]) >= 0.0);
    }

    /// A bundle saved before the monitoring baseline existed still loads; its score baseline
    /// comes from the histogram and keeps its bin shares.
    #[test]
    fn old_bundles_load_and_fall_back_to_the_histogram() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mlops-serving/tests/fixtures/churn_model/metadata.json"
        );
        let meta: ModelMetadata =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(meta.monitoring.is_none());
        let scores = meta.score_baseline().unwrap();
        assert!(scores.from_histogram);
        let total: u64 = meta.score_distribution.counts.iter().sum();
        assert_eq!(scores.n, total);
        let below = scores.values.iter().filter(|&&v| v < 0.05).count() as f64;
        let expected = meta.score_distribution.counts[0] as f64 / total as f64;
        assert!((below / scores.values.len() as f64 - expected).abs() < 1e-3);
        let text = serde_json::to_string(&meta).unwrap();
        assert!(!text.contains("\"monitoring\""), "absent stays absent");
    }

    #[test]
    fn histogram_counts_every_score_once() {
        let h = ScoreHistogram::from_scores(&[0.0, 0.05, 0.5, 0.99, 1.0], 10);
        assert_eq!(h.counts.iter().sum::<u64>(), 5);
        assert_eq!(h.counts[0], 2);
        assert_eq!(h.counts[9], 2);
        assert_eq!(h.edges.len(), 11);
    }
}
