//! Score (prediction) drift: current scores against the training-split [`ScoreBaseline`].
//!
//! Binned measures: PSI and the Jensen-Shannon distance (base 2) on `bins` bins, either
//! equal-width over [0, 1] ([`Binning::Uniform`]) or at the baseline's quantiles
//! ([`Binning::Quantile`]: cut points at quantiles `k / bins` of the baseline values, NumPy
//! "linear", repeated cuts kept once). Bins are left-closed `[a, b)`, the last one closed at 1.
//! PSI floors empty bins at [`crate::EMPTY_BIN_FLOOR`] (1e-6) in both vectors and renormalises
//! before its logarithm; the JS distance needs no floor and uses the raw proportions.
//! Unbinned measures: Wasserstein-1 and the two-sample Kolmogorov-Smirnov statistic of the raw
//! current scores against the baseline values.

use serde::{Deserialize, Serialize};

use crate::baseline::ScoreBaseline;
use crate::error::{check_scores, MonitoringError, Outcome, Result};
use crate::stats;

/// How the score axis is cut into bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Binning {
    /// Equal width over [0, 1].
    Uniform,
    /// At the baseline's quantiles (each baseline bin holds about the same share).
    #[default]
    Quantile,
}

impl std::str::FromStr for Binning {
    type Err = MonitoringError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "uniform" => Ok(Binning::Uniform),
            "quantile" => Ok(Binning::Quantile),
            other => Err(MonitoringError::InvalidParameter {
                field: "binning",
                value: other.to_string(),
                expected: "`uniform` or `quantile`",
            }),
        }
    }
}

/// Score drift against the baseline, with what a chart needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreDrift {
    /// The binning used.
    pub binning: Binning,
    /// Bin edges from 0 to 1, `edges.len() - 1` bins (fewer than asked when quantiles tie).
    pub edges: Vec<f64>,
    /// Baseline share per bin (raw, not floored).
    pub baseline: Vec<f64>,
    /// Current share per bin (raw, not floored).
    pub current: Vec<f64>,
    /// Population Stability Index (floored, renormalised bins).
    pub psi: f64,
    /// Jensen-Shannon distance, base 2, in [0, 1].
    pub js_distance: f64,
    /// Wasserstein-1 distance of the raw scores.
    pub wasserstein: f64,
    /// Two-sample Kolmogorov-Smirnov statistic of the raw scores.
    pub ks: f64,
    /// Current rows compared.
    pub rows: usize,
    /// Rows the baseline describes.
    pub baseline_rows: u64,
}

/// Compare `current` scores (each finite, in [0, 1]) with the baseline in `bins` bins.
/// An empty `current` is [`Outcome::InsufficientData`]; bad scores are an error naming how
/// many and the first.
pub fn score_drift(
    baseline: &ScoreBaseline,
    current: &[f64],
    binning: Binning,
    bins: usize,
) -> Result<Outcome<ScoreDrift>> {
    if bins == 0 {
        return Err(MonitoringError::InvalidParameter {
            field: "bins",
            value: "0".into(),
            expected: "at least 1 bin",
        });
    }
    check_scores("current scores", current)?;
    check_scores("baseline scores", &baseline.values)?;
    if baseline.values.is_empty() {
        return Err(MonitoringError::InvalidBaseline {
            field: "scores".into(),
            message: "no values; expected at least one training score".into(),
        });
    }
    if current.is_empty() {
        return Ok(Outcome::InsufficientData {
            rows: 0,
            reason: "no current scores to compare with the baseline".into(),
        });
    }
    let base = stats::sorted(&baseline.values);
    let cur = stats::sorted(current);
    let edges = score_edges(&base, binning, bins);
    let cuts = &edges[1..edges.len() - 1];
    let baseline_p = stats::proportions(&bin_counts(cuts, &base));
    let current_p = stats::proportions(&bin_counts(cuts, &cur));
    Ok(Outcome::Computed(ScoreDrift {
        binning,
        psi: stats::psi(&baseline_p, &current_p),
        js_distance: stats::js_distance(&baseline_p, &current_p),
        wasserstein: stats::wasserstein_sorted(&cur, &base),
        ks: stats::ks_sorted(&cur, &base),
        edges,
        baseline: baseline_p,
        current: current_p,
        rows: current.len(),
        baseline_rows: baseline.n,
    }))
}

/// Edges from 0 to 1: `i / bins`, or 0, the baseline quantile cuts strictly inside (0, 1), 1.
fn score_edges(sorted_baseline: &[f64], binning: Binning, bins: usize) -> Vec<f64> {
    match binning {
        Binning::Uniform => (0..=bins).map(|i| i as f64 / bins as f64).collect(),
        Binning::Quantile => {
            let mut edges = vec![0.0];
            edges.extend(
                stats::quantile_cuts(sorted_baseline, bins)
                    .into_iter()
                    .filter(|&c| c > 0.0 && c < 1.0),
            );
            edges.push(1.0);
            edges
        }
    }
}

fn bin_counts(cuts: &[f64], values: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; cuts.len() + 1];
    for &v in values {
        counts[stats::bin_of(cuts, v)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn computed(o: Outcome<ScoreDrift>) -> ScoreDrift {
        match o {
            Outcome::Computed(d) => d,
            other => panic!("expected a result, got {other:?}"),
        }
    }

    fn spread(n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|i| lo + (hi - lo) * (i as f64 + 0.5) / n as f64)
            .collect()
    }

    #[test]
    fn same_distribution_shows_no_drift_and_a_shift_does() {
        let base = ScoreBaseline::from_scores(&spread(1000, 0.0, 1.0)).unwrap();
        for binning in [Binning::Uniform, Binning::Quantile] {
            let same = computed(score_drift(&base, &spread(1000, 0.0, 1.0), binning, 10).unwrap());
            assert!(same.psi < 1e-12 && same.js_distance < 1e-6 && same.ks < 1e-12);
            assert_eq!(same.edges.len(), 11);
            let shifted =
                computed(score_drift(&base, &spread(500, 0.5, 1.0), binning, 10).unwrap());
            assert!(shifted.psi > 1.0, "{binning:?}: {}", shifted.psi);
            assert!((shifted.ks - 0.5).abs() < 1e-3);
            assert!((shifted.wasserstein - 0.25).abs() < 1e-3);
            assert_eq!(shifted.current.len(), shifted.baseline.len());
        }
    }

    #[test]
    fn tied_baseline_quantiles_merge_bins() {
        let base = ScoreBaseline::from_scores(&[0.3; 50]).unwrap();
        let d = computed(score_drift(&base, &[0.3, 0.9], Binning::Quantile, 10).unwrap());
        assert_eq!(d.edges, vec![0.0, 0.3, 1.0]);
        assert_eq!(d.baseline, vec![0.0, 1.0]);
        assert_eq!(d.current, vec![0.0, 1.0]);
        assert!(d.psi.abs() < 1e-12);
        assert!(d.wasserstein > 0.29);
    }

    #[test]
    fn empty_current_is_insufficient_and_bad_scores_are_named() {
        let base = ScoreBaseline::from_scores(&[0.1, 0.2]).unwrap();
        assert!(score_drift(&base, &[], Binning::Uniform, 10)
            .unwrap()
            .is_insufficient());
        let err = score_drift(&base, &[0.1, 2.0, f64::NAN], Binning::Uniform, 10).unwrap_err();
        assert!(matches!(
            err,
            MonitoringError::InvalidScores {
                count: 2,
                first_index: 1,
                ..
            }
        ));
        assert!(score_drift(&base, &[0.1], Binning::Uniform, 0).is_err());
        assert!("nope".parse::<Binning>().is_err());
        assert_eq!("uniform".parse::<Binning>().unwrap(), Binning::Uniform);
    }
}
