//! Probability calibration for performance estimation: Platt scaling on the logit,
//! `q = σ(a · logit(p) + b)`, fitted at train time on the held-out test split (scores the model
//! never trained on, with their labels) and saved in the monitoring baseline.
//!
//! Why: CBPE ([`crate::cbpe`]) is only as good as the calibration of the scores, and boosted
//! trees are over-confident on new rows (on wa_churn, the raw scores of unseen customers
//! promise an AUC of 0.89 where the labels give 0.82). Two parameters fitted on the ~1,400
//! held-out rows are stable where isotonic regression on so few rows is not (it overfits its
//! steps and inflates the estimate). The map is increasing (`a > 0`), so it changes no
//! ranking and no realised metric; the model's decisions stay at its threshold on the raw
//! score.
//!
//! The fit minimises the log loss by Newton's method with a ridge of `1e-6 · a²` (as
//! scikit-learn's `LogisticRegression(C=1e6)` on the logit), logits of scores clipped to
//! `[1e-7, 1 - 1e-7]`.

use serde::{Deserialize, Serialize};

use crate::error::{check_scores, MonitoringError, Result};

/// Scores are clipped to `[EPS, 1 - EPS]` before their logit is taken.
const EPS: f64 = 1e-7;
/// Ridge on the slope (scikit-learn's `1 / C` with `C = 1e6`).
const RIDGE: f64 = 1e-6;

/// A fitted Platt scaling map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Slope on the logit (> 0).
    pub a: f64,
    /// Intercept.
    pub b: f64,
    /// Labelled rows it was fitted on.
    pub rows: u64,
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Calibration {
    /// The identity map (`a = 1`, `b = 0`).
    pub fn identity() -> Calibration {
        Calibration {
            a: 1.0,
            b: 0.0,
            rows: 0,
        }
    }

    /// Fit on held-out `scores` (each in [0, 1]) and their `labels`. Needs both classes; a
    /// fit whose slope is not positive (scores that rank the wrong way) is refused.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Result<Calibration> {
        check_scores("calibration scores", scores)?;
        if scores.len() != labels.len() {
            return Err(MonitoringError::LengthMismatch {
                field: "calibration labels",
                found: labels.len(),
                expected: scores.len(),
            });
        }
        let positives = labels.iter().filter(|&&y| y).count();
        if positives == 0 || positives == labels.len() {
            return Err(MonitoringError::InvalidParameter {
                field: "calibration labels",
                value: format!("{positives} positive(s) of {}", labels.len()),
                expected: "both classes among the held-out rows",
            });
        }
        let x: Vec<f64> = scores.iter().map(|&p| logit(p)).collect();
        let loss = |a: f64, b: f64| -> f64 {
            let mut l = 0.5 * RIDGE * a * a;
            for (&xi, &yi) in x.iter().zip(labels) {
                let z = a * xi + b;
                // log(1 + e^z) - y z, computed without overflow.
                l += z.max(0.0) + (-z.abs()).exp().ln_1p() - if yi { z } else { 0.0 };
            }
            l
        };
        let (mut a, mut b) = (1.0, 0.0);
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb) = (RIDGE * a, 0.0);
            let (mut haa, mut hab, mut hbb) = (RIDGE, 0.0, 0.0);
            for (&xi, &yi) in x.iter().zip(labels) {
                let q = sigmoid(a * xi + b);
                let r = q - f64::from(u8::from(yi));
                let w = q * (1.0 - q);
                ga += r * xi;
                gb += r;
                haa += w * xi * xi;
                hab += w * xi;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det <= 0.0 || !det.is_finite() {
                break;
            }
            let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
            // Halve the Newton step until the loss does not increase.
            let mut step = 1.0;
            let mut improved = false;
            for _ in 0..30 {
                let (na, nb) = (a - step * da, b - step * db);
                let l = loss(na, nb);
                if l <= current {
                    (a, b, current) = (na, nb, l);
                    improved = true;
                    break;
                }
                step /= 2.0;
            }
            if !improved || (step * da).abs().max((step * db).abs()) < 1e-12 {
                break;
            }
        }
        if !(a > 0.0 && a.is_finite() && b.is_finite()) {
            return Err(MonitoringError::InvalidParameter {
                field: "calibration slope",
                value: format!("{a}"),
                expected: "a positive slope (held-out scores that rank positives higher)",
            });
        }
        Ok(Calibration {
            a,
            b,
            rows: scores.len() as u64,
        })
    }

    /// The calibrated probability of a score.
    pub fn apply(&self, p: f64) -> f64 {
        sigmoid(self.a * logit(p) + self.b)
    }

    /// Every score calibrated.
    pub fn apply_all(&self, scores: &[f64]) -> Vec<f64> {
        scores.iter().map(|&p| self.apply(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Scores over-confident by a factor 1.5 on the logit, labels from the true probability.
    fn overconfident(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = Rng(seed);
        let mut scores = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let z = (rng.next_f64() - 0.5) * 6.0 - 1.0;
            let truth = sigmoid(z);
            scores.push(sigmoid(1.5 * z));
            labels.push(rng.next_f64() < truth);
        }
        (scores, labels)
    }

    #[test]
    fn recovers_the_map_of_overconfident_scores() {
        let (scores, labels) = overconfident(100_000, 7);
        let c = Calibration::fit(&scores, &labels).unwrap();
        // truth = σ(z) = σ(logit(score) / 1.5): a = 2/3, b = 0.
        assert!((c.a - 2.0 / 3.0).abs() < 0.02, "{c:?}");
        assert!(c.b.abs() < 0.03, "{c:?}");
        assert_eq!(c.rows, 100_000);
        // Calibration keeps the order and brings the scores towards the truth.
        assert!(c.apply(0.9) < 0.9 && c.apply(0.9) > c.apply(0.8));
    }

    #[test]
    fn calibrated_scores_fit_the_identity() {
        let mut rng = Rng(3);
        let scores: Vec<f64> = (0..50_000).map(|_| rng.next_f64()).collect();
        let labels: Vec<bool> = scores.iter().map(|&p| rng.next_f64() < p).collect();
        let c = Calibration::fit(&scores, &labels).unwrap();
        assert!((c.a - 1.0).abs() < 0.05 && c.b.abs() < 0.05, "{c:?}");
        let id = Calibration::identity();
        assert!((id.apply(0.3) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn one_class_reversed_ranks_and_bad_scores_are_refused() {
        assert!(Calibration::fit(&[0.2, 0.7], &[true, true]).is_err());
        assert!(Calibration::fit(&[0.2, 0.7], &[true]).is_err());
        assert!(Calibration::fit(&[0.2, f64::NAN], &[true, false]).is_err());
        // Higher scores for negatives: the slope would be negative.
        let scores: Vec<f64> = (0..200).map(|i| i as f64 / 200.0).collect();
        let labels: Vec<bool> = (0..200).map(|i| i < 100).collect();
        let err = Calibration::fit(&scores, &labels).unwrap_err().to_string();
        assert!(err.contains("slope"), "{err}");
    }
}
