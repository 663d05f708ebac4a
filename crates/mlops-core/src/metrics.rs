//! Binary classification metrics: ROC AUC, logloss, accuracy, precision, recall, F1 at a
//! threshold, the confusion matrix and ROC curve points (for KFP `ClassificationMetrics`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metrics of probabilities against 0/1 labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Area under the ROC curve (ties get half credit).
    pub auc: f64,
    /// Mean negative log-likelihood.
    pub logloss: f64,
    /// Fraction of correct labels at the threshold.
    pub accuracy: f64,
    /// TP / (TP + FP); 0 when nothing is predicted positive.
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Rows scored.
    pub rows: usize,
    /// Threshold used for the label metrics.
    pub threshold: f64,
    /// `[[TN, FP], [FN, TP]]` (rows: actual negative, positive).
    pub confusion_matrix: [[u64; 2]; 2],
}

impl Metrics {
    /// The scalar metrics by name (for JSON output and KFP `Metrics`).
    pub fn scalars(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("auc".to_string(), self.auc),
            ("logloss".to_string(), self.logloss),
            ("accuracy".to_string(), self.accuracy),
            ("precision".to_string(), self.precision),
            ("recall".to_string(), self.recall),
            ("f1".to_string(), self.f1),
        ])
    }
}

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RocPoint {
    /// Probability threshold (rows with score >= threshold are positive).
    pub confidence_threshold: f64,
    /// True positive rate.
    pub recall: f64,
    /// False positive rate.
    pub false_positive_rate: f64,
}

/// Compute all metrics. `y` holds 0/1 labels.
pub fn evaluate(y: &[f32], p: &[f32], threshold: f64) -> Metrics {
    let mut cm = [[0u64; 2]; 2];
    let mut logloss = 0.0;
    for (&yi, &pi) in y.iter().zip(p) {
        let actual = (yi > 0.5) as usize;
        let predicted = (pi as f64 >= threshold) as usize;
        cm[actual][predicted] += 1;
        let q = (pi as f64).clamp(1e-15, 1.0 - 1e-15);
        logloss -= if actual == 1 { q.ln() } else { (1.0 - q).ln() };
    }
    let n = y.len().max(1) as f64;
    let (tn, fp, fn_, tp) = (
        cm[0][0] as f64,
        cm[0][1] as f64,
        cm[1][0] as f64,
        cm[1][1] as f64,
    );
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Metrics {
        auc: roc_auc(y, p),
        logloss: logloss / n,
        accuracy: (tp + tn) / n,
        precision,
        recall,
        f1,
        rows: y.len(),
        threshold,
        confusion_matrix: cm,
    }
}

/// ROC AUC by the rank-sum formula, averaging ranks over ties. 0.5 when one class is absent.
pub fn roc_auc(y: &[f32], p: &[f32]) -> f64 {
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_unstable_by(|&a, &b| p[a].total_cmp(&p[b]));
    let n_pos = y.iter().filter(|&&v| v > 0.5).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if y[k] > 0.5 {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// ROC curve at `n` evenly spaced thresholds from 0 to 1 (inclusive).
pub fn roc_curve(y: &[f32], p: &[f32], n: usize) -> Vec<RocPoint> {
    let n_pos = y.iter().filter(|&&v| v > 0.5).count().max(1) as f64;
    let n_neg = (y.len() as f64 - y.iter().filter(|&&v| v > 0.5).count() as f64).max(1.0);
    (0..=n)
        .map(|i| {
            let t = i as f64 / n.max(1) as f64;
            let (mut tp, mut fp) = (0.0, 0.0);
            for (&yi, &pi) in y.iter().zip(p) {
                if pi as f64 >= t {
                    if yi > 0.5 {
                        tp += 1.0
                    } else {
                        fp += 1.0
                    }
                }
            }
            RocPoint {
                confidence_threshold: t,
                recall: tp / n_pos,
                false_positive_rate: fp / n_neg,
            }
        })
        .collect()
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if n > 1.0 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    #[test]
    fn auc_counts_pairs_and_ties() {
        // positives at 0.8, 0.4; negatives at 0.6, 0.4, 0.1.
        // pairs: (0.8 > all 3) = 3; (0.4 > 0.1) = 1, (0.4 = 0.4) = 0.5 -> 4.5 / 6
        let y = [1.0, 1.0, 0.0, 0.0, 0.0];
        let p = [0.8, 0.4, 0.6, 0.4, 0.1];
        assert_abs_diff_eq!(roc_auc(&y, &p), 0.75, epsilon = 1e-12);
    }

    #[test]
    fn label_metrics_from_the_confusion_matrix() {
        let y = [1.0, 1.0, 0.0, 0.0];
        let p = [0.9, 0.2, 0.7, 0.1];
        let m = evaluate(&y, &p, 0.5);
        assert_eq!(m.confusion_matrix, [[1, 1], [1, 1]]);
        assert_abs_diff_eq!(m.precision, 0.5);
        assert_abs_diff_eq!(m.recall, 0.5);
        assert_abs_diff_eq!(m.accuracy, 0.5);
        // logloss = -(ln .9 + ln .2 + ln .3 + ln .9) / 4
        let want = -((0.9f64).ln() + (0.2f64).ln() + (0.3f64).ln() + (0.9f64).ln()) / 4.0;
        assert_abs_diff_eq!(m.logloss, want, epsilon = 1e-6);
    }

    #[test]
    fn roc_curve_runs_from_all_positive_to_none() {
        let y = [1.0, 0.0];
        let c = roc_curve(&y, &[0.7, 0.3], 10);
        assert_eq!(c.len(), 11);
        assert_eq!((c[0].recall, c[0].false_positive_rate), (1.0, 1.0));
        assert_eq!((c[10].recall, c[10].false_positive_rate), (0.0, 0.0));
    }
}
