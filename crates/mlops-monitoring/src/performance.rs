//! Realised performance on labelled outcomes, with scikit-learn's definitions:
//! - AUC: `roc_auc_score` (tied scores count one half), `None` with a single class;
//! - log loss: `log_loss`, probabilities clipped to `[eps, 1 - eps]` with `eps` the float64
//!   machine epsilon (2.22e-16), as scikit-learn >= 1.5 does;
//! - accuracy, precision, recall, F1 at the decision threshold (`score >= threshold` is
//!   positive), `zero_division = 0`;
//! - Brier score: mean squared difference of score and label;
//! - expected calibration error: 10 equal-width bins over [0, 1] (left-closed, the last closed
//!   at 1), the sum over bins of (rows in bin / rows) * |mean label - mean score|;
//! - positive rate: the share of positive labels.

use serde::{Deserialize, Serialize};

use crate::error::{check_scores, MonitoringError, Outcome, Result};

/// Decision threshold unless the model says otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.5;
/// Bins of the expected calibration error.
pub const ECE_BINS: usize = 10;

/// Metrics of labelled outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// Rows (predictions joined with an outcome).
    pub rows: usize,
    /// Rows with a positive label.
    pub positives: usize,
    /// Area under the ROC curve; `None` when the labels hold a single class.
    pub auc: Option<f64>,
    /// Mean log loss.
    pub logloss: f64,
    /// Accuracy at the threshold.
    pub accuracy: f64,
    /// Precision at the threshold (0 with no predicted positive).
    pub precision: f64,
    /// Recall at the threshold (0 with no positive label).
    pub recall: f64,
    /// F1 at the threshold (0 when undefined).
    pub f1: f64,
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error.
    pub ece: f64,
    /// Share of positive labels.
    pub positive_rate: f64,
    /// The decision threshold used.
    pub threshold: f64,
}

/// Check the threshold is in [0, 1].
pub(crate) fn check_threshold(threshold: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(MonitoringError::InvalidParameter {
            field: "threshold",
            value: threshold.to_string(),
            expected: "a probability in [0, 1]",
        });
    }
    Ok(())
}

/// Metrics of `scores` (each in [0, 1]) against `labels` (`true` = positive) at `threshold`.
/// No rows is [`Outcome::InsufficientData`]; a single class leaves `auc` at `None`.
pub fn performance(
    scores: &[f64],
    labels: &[bool],
    threshold: f64,
) -> Result<Outcome<Performance>> {
    check_threshold(threshold)?;
    check_scores("scores", scores)?;
    if labels.len() != scores.len() {
        return Err(MonitoringError::LengthMismatch {
            field: "labels",
            expected: scores.len(),
            found: labels.len(),
        });
    }
    let n = scores.len();
    if n == 0 {
        return Ok(Outcome::InsufficientData {
            rows: 0,
            reason: "no predictions joined with an outcome".into(),
        });
    }
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    let (mut logloss, mut brier) = (0.0, 0.0);
    let eps = f64::EPSILON;
    for (&p, &y) in scores.iter().zip(labels) {
        let predicted = p >= threshold;
        match (predicted, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => {}
        }
        // Like scikit-learn: the column of the true class (p or 1 - p), then the clip.
        let q = if y { p } else { 1.0 - p };
        logloss -= q.clamp(eps, 1.0 - eps).ln();
        let t = if y { 1.0 } else { 0.0 };
        brier += (p - t) * (p - t);
    }
    let positives = labels.iter().filter(|&&y| y).count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(Outcome::Computed(Performance {
        rows: n,
        positives,
        auc: auc(scores, labels),
        logloss: logloss / n as f64,
        accuracy: ratio(n - fp - fneg, n),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fneg),
        f1: ratio(2 * tp, 2 * tp + fp + fneg),
        brier: brier / n as f64,
        ece: ece(scores, labels),
        positive_rate: ratio(positives, n),
        threshold,
    }))
}

/// AUC by the rank-sum (Mann-Whitney) formula with average ranks for ties, which equals the
/// trapezoidal area under scikit-learn's ROC curve. `None` with a single class.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&y| y).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Ties share their mean rank, so their order after the sort does not matter.
    let mut sorted: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        // Ranks i+1..=j+1 share their mean.
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied_pos = sorted[i..=j].iter().filter(|&&(_, y)| y).count();
        rank_sum += mean_rank * tied_pos as f64;
        i = j + 1;
    }
    let (pos, neg) = (pos as f64, neg as f64);
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

fn ece(scores: &[f64], labels: &[bool]) -> f64 {
    let mut count = [0usize; ECE_BINS];
    let mut sum_p = [0.0; ECE_BINS];
    let mut sum_y = [0.0; ECE_BINS];
    let cuts: Vec<f64> = (1..ECE_BINS).map(|i| i as f64 / ECE_BINS as f64).collect();
    for (&p, &y) in scores.iter().zip(labels) {
        let b = crate::stats::bin_of(&cuts, p);
        count[b] += 1;
        sum_p[b] += p;
        sum_y[b] += if y { 1.0 } else { 0.0 };
    }
    let n = scores.len() as f64;
    (0..ECE_BINS)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let c = count[b] as f64;
            c / n * (sum_y[b] / c - sum_p[b] / c).abs()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn computed(o: Outcome<Performance>) -> Performance {
        match o {
            Outcome::Computed(p) => p,
            other => panic!("expected a result, got {other:?}"),
        }
    }

    #[test]
    fn confusion_metrics_at_the_threshold() {
        let scores = [0.9, 0.8, 0.3, 0.6, 0.1, 0.5];
        let labels = [true, true, true, false, false, false];
        let p = computed(performance(&scores, &labels, 0.5).unwrap());
        // Predicted positive: 0.9, 0.8, 0.6, 0.5 -> tp 2, fp 2, fn 1, tn 1.
        assert!((p.precision - 0.5).abs() < 1e-15);
        assert!((p.recall - 2.0 / 3.0).abs() < 1e-15);
        assert!((p.accuracy - 0.5).abs() < 1e-15);
        assert!((p.f1 - 4.0 / 7.0).abs() < 1e-15);
        assert!((p.positive_rate - 0.5).abs() < 1e-15);
        // Pairs (pos > neg): 0.9 beats 3, 0.8 beats 3, 0.3 beats 1 -> 7 of 9.
        assert!((p.auc.unwrap() - 7.0 / 9.0).abs() < 1e-15);
    }

    #[test]
    fn ties_count_half_and_single_class_has_no_auc() {
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.7], &[true, true]), None);
        let p = computed(performance(&[0.2, 0.7], &[true, true], 0.5).unwrap());
        assert!(p.auc.is_none() && p.logloss.is_finite());
        assert_eq!(p.precision, 1.0);
        assert!(performance(&[], &[], 0.5).unwrap().is_insufficient());
    }

    #[test]
    fn logloss_clips_certain_mistakes_and_calibration_is_zero_when_exact() {
        let p = computed(performance(&[1.0, 0.0], &[false, true], 0.5).unwrap());
        assert!((p.logloss + f64::EPSILON.ln()).abs() < 1e-9);
        assert_eq!(p.f1, 0.0);
        // Bin [0.2, 0.3): mean score 0.25 and half the labels positive -> |0.5 - 0.25|.
        let p = computed(performance(&[0.25, 0.25], &[true, false], 0.5).unwrap());
        assert!((p.ece - 0.25).abs() < 1e-15);
        assert!((p.brier - (0.75f64.powi(2) + 0.25f64.powi(2)) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            performance(&[0.5], &[true, false], 0.5),
            Err(MonitoringError::LengthMismatch {
                expected: 1,
                found: 2,
                ..
            })
        ));
        assert!(performance(&[0.5], &[true], 1.5).is_err());
        assert!(performance(&[1.5], &[true], 0.5).is_err());
    }
}
