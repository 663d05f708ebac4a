//! Confidence-based performance estimation (NannyML's CBPE): performance expected from
//! calibrated scores alone, before labels arrive. If a score `p` is a calibrated probability,
//! its row is a positive with probability `p`, so at the threshold (`p >= threshold` is
//! predicted positive) the expected confusion matrix is
//! `TP = sum p`, `FP = sum (1 - p)` over predicted positives and `FN = sum p`,
//! `TN = sum (1 - p)` over predicted negatives; precision, recall, F1 and accuracy follow with
//! `zero_division = 0`. The expected ROC curve has, at each distinct score `s` taken as the
//! threshold, `TPR = sum(p over p >= s) / sum p` and `FPR = sum(1 - p over p >= s) /
//! sum(1 - p)`; the estimated AUC is its trapezoidal area from (0, 0) to (1, 1).
//! The estimate is only as good as the calibration of the scores.

use serde::{Deserialize, Serialize};

use crate::calibration::Calibration;
use crate::error::{check_scores, Outcome, Result};
use crate::performance::check_threshold;

/// Performance expected from the scores alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimatedPerformance {
    /// Rows scored.
    pub rows: usize,
    /// Expected AUC; `None` when every score is 0 or every score is 1 (one expected class).
    pub auc: Option<f64>,
    /// Expected precision.
    pub precision: f64,
    /// Expected recall.
    pub recall: f64,
    /// Expected F1.
    pub f1: f64,
    /// Expected accuracy.
    pub accuracy: f64,
    /// Expected confusion matrix `[tp, fp, fn, tn]` (sums of probabilities).
    pub confusion: [f64; 4],
    /// The decision threshold used.
    pub threshold: f64,
}

/// Estimate performance from calibrated `scores` (each in [0, 1]) at `threshold`.
/// No rows is [`Outcome::InsufficientData`].
pub fn estimate_performance(
    scores: &[f64],
    threshold: f64,
) -> Result<Outcome<EstimatedPerformance>> {
    estimate_performance_calibrated(scores, threshold, None)
}

/// [`estimate_performance`] of raw `scores` through `calibration` (the model's Platt map,
/// fitted on its held-out rows): the model decides on the raw score at `threshold`, and each
/// row counts as a positive with its calibrated probability. `None`: the scores are taken as
/// calibrated.
pub fn estimate_performance_calibrated(
    scores: &[f64],
    threshold: f64,
    calibration: Option<&Calibration>,
) -> Result<Outcome<EstimatedPerformance>> {
    check_threshold(threshold)?;
    check_scores("scores", scores)?;
    if scores.is_empty() {
        return Ok(Outcome::InsufficientData {
            rows: 0,
            reason: "no scores to estimate performance from".into(),
        });
    }
    let calibrated = calibration.map(|c| c.apply_all(scores));
    let probabilities = calibrated.as_deref().unwrap_or(scores);
    let (mut tp, mut fp, mut fneg, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (&raw, &p) in scores.iter().zip(probabilities) {
        if raw >= threshold {
            tp += p;
            fp += 1.0 - p;
        } else {
            fneg += p;
            tn += 1.0 - p;
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(Outcome::Computed(EstimatedPerformance {
        rows: scores.len(),
        auc: expected_auc(probabilities),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fneg),
        f1: ratio(2.0 * tp, 2.0 * tp + fp + fneg),
        accuracy: (tp + tn) / scores.len() as f64,
        confusion: [tp, fp, fneg, tn],
        threshold,
    }))
}

/// The trapezoidal area under the expected ROC curve (see the module docs).
pub fn expected_auc(scores: &[f64]) -> Option<f64> {
    let total_p: f64 = scores.iter().sum();
    let total_n: f64 = scores.iter().map(|p| 1.0 - p).sum();
    if total_p <= 0.0 || total_n <= 0.0 {
        return None;
    }
    let mut sorted = scores.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut prev_tpr, mut prev_fpr) = (0.0, 0.0);
    let mut area = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let s = sorted[i];
        while i < sorted.len() && sorted[i] == s {
            tp += sorted[i];
            fp += 1.0 - sorted[i];
            i += 1;
        }
        let (tpr, fpr) = (tp / total_p, fp / total_n);
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        (prev_tpr, prev_fpr) = (tpr, fpr);
    }
    Some(area)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::performance::auc;

    /// SplitMix64: a fixed, dependency-free generator for the simulation.
    struct Rng(u64);
    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn estimated_auc_matches_realised_auc_on_calibrated_scores() {
        let mut rng = Rng(20_261_203);
        let n = 200_000;
        // A skewed score population (Beta-like via the square of a uniform), labels ~ Bernoulli(p).
        let scores: Vec<f64> = (0..n).map(|_| rng.next_f64().powi(2)).collect();
        let labels: Vec<bool> = scores.iter().map(|&p| rng.next_f64() < p).collect();
        let realised = auc(&scores, &labels).unwrap();
        let est = match estimate_performance(&scores, 0.5).unwrap() {
            Outcome::Computed(e) => e,
            other => panic!("{other:?}"),
        };
        let estimated = est.auc.unwrap();
        assert!(
            (estimated - realised).abs() < 0.01,
            "{estimated} vs {realised}"
        );
        // The expected confusion matrix is close to the realised one too.
        let tp = scores
            .iter()
            .zip(&labels)
            .filter(|(&p, &y)| p >= 0.5 && y)
            .count() as f64;
        assert!((est.confusion[0] - tp).abs() / tp < 0.02);
        assert!((est.confusion.iter().sum::<f64>() - n as f64).abs() < 1e-6);
    }

    #[test]
    fn degenerate_scores_are_explicit() {
        assert_eq!(expected_auc(&[0.0, 0.0]), None);
        assert_eq!(expected_auc(&[1.0]), None);
        // Two certain rows ranked right: a perfect expected AUC.
        assert!((expected_auc(&[1.0, 0.0]).unwrap() - 1.0).abs() < 1e-15);
        // All-equal scores: the diagonal.
        assert!((expected_auc(&[0.3; 5]).unwrap() - 0.5).abs() < 1e-12);
        assert!(estimate_performance(&[], 0.5).unwrap().is_insufficient());
        assert!(estimate_performance(&[0.2, f64::NAN], 0.5).is_err());
    }
}
