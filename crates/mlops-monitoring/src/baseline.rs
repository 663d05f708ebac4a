//! The training-split baseline saved in a model's `metadata.json` (`monitoring`): the scores
//! as order statistics and one profile per input column.
//!
//! **Scores.** At most [`MAX_ORDER_STATISTICS`] sorted values plus the row count `n`. When
//! `n <= 10,000` they are all the training scores (exact). Above that they are the order
//! statistics at ranks `floor(k * (n - 1) / 9,999)` for `k = 0..9,999` of the sorted scores:
//! evenly spaced, keeping the minimum and the maximum. That is enough for equal-width or
//! quantile bins of any count, Wasserstein-1 and Kolmogorov-Smirnov (each stored value stands
//! for `n / 10,000` rows; the quantiles it gives are within one rank step of the exact ones).
//!
//! **Columns.** Proportions are over *all* rows, so for a numeric column the bin proportions
//! plus `missing_fraction` sum to 1, and likewise the levels of a categorical column.
//! Numeric bins: interior cut points at the training quantiles `k / bins` (NumPy "linear"),
//! repeated cuts kept once (ties and constant columns give fewer bins), bins left-closed
//! `[c[i-1], c[i])` with open outer ends. Binary columns are profiled as levels (`"0"`, `"1"`
//! as the preprocessor encodes them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{check_scores, MonitoringError, Result};
use crate::stats;

/// Most score values a [`ScoreBaseline`] keeps.
pub const MAX_ORDER_STATISTICS: usize = 10_000;

/// Quantile bins of a numeric column profile unless told otherwise.
pub const DEFAULT_FEATURE_BINS: usize = 10;

/// Everything monitoring compares against, computed on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringBaseline {
    /// The training-split scores.
    pub scores: ScoreBaseline,
    /// One profile per input column, in the preprocessor's column order.
    pub features: Vec<FeatureProfile>,
    /// Platt scaling of the scores fitted on the held-out test split, for performance
    /// estimation. Absent in bundles trained before it existed, or when the test split had
    /// one class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::Calibration>,
}

impl MonitoringBaseline {
    /// The profile of a column, by name.
    pub fn feature(&self, name: &str) -> Option<&FeatureProfile> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// The baseline scores as sorted order statistics (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreBaseline {
    /// Rows the baseline describes.
    pub n: u64,
    /// Ascending scores in [0, 1]: all of them, or evenly spaced order statistics.
    pub values: Vec<f64>,
    /// True when rebuilt from an equal-width histogram (bundles trained before this baseline
    /// existed): the values are then spread uniformly within each bin, so binned measures on
    /// the histogram's own edges are exact and the others approximate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_histogram: bool,
}

impl ScoreBaseline {
    /// The baseline of training scores (each finite, in [0, 1]; at least one).
    pub fn from_scores(scores: &[f64]) -> Result<Self> {
        check_scores("baseline scores", scores)?;
        if scores.is_empty() {
            return Err(MonitoringError::InvalidBaseline {
                field: "scores".into(),
                message: "no training scores; expected at least one".into(),
            });
        }
        let sorted = stats::sorted(scores);
        let n = sorted.len();
        let values = if n <= MAX_ORDER_STATISTICS {
            sorted
        } else {
            let m = MAX_ORDER_STATISTICS as u128;
            (0..m)
                .map(|k| sorted[(k * (n as u128 - 1) / (m - 1)) as usize])
                .collect()
        };
        Ok(ScoreBaseline {
            n: n as u64,
            values,
            from_histogram: false,
        })
    }

    /// A baseline rebuilt from the equal-width histogram older bundles saved
    /// (`score_distribution`): `min(n, 10,000)` values at the histogram's quantiles
    /// `(k + 0.5) / m`, uniform within each bin.
    pub fn from_histogram(edges: &[f64], counts: &[u64]) -> Result<Self> {
        let bad = |message: String| MonitoringError::InvalidBaseline {
            field: "score_distribution".into(),
            message,
        };
        if edges.len() != counts.len() + 1 || counts.is_empty() {
            return Err(bad(format!(
                "{} edges for {} counts; expected one more edge than counts",
                edges.len(),
                counts.len()
            )));
        }
        if edges
            .windows(2)
            .any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
            || edges[0] < 0.0
            || edges[edges.len() - 1] > 1.0
        {
            return Err(bad(format!(
                "edges {edges:?}; expected strictly increasing values within [0, 1]"
            )));
        }
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return Err(bad("all counts are 0; expected at least one row".into()));
        }
        let m = (n as usize).min(MAX_ORDER_STATISTICS);
        let mut values = Vec::with_capacity(m);
        let mut cum = 0u64;
        let mut bin = 0;
        for k in 0..m {
            let target = (k as f64 + 0.5) / m as f64 * n as f64;
            while bin + 1 < counts.len() && (cum + counts[bin]) as f64 <= target {
                cum += counts[bin];
                bin += 1;
            }
            let within = if counts[bin] == 0 {
                0.5
            } else {
                ((target - cum as f64) / counts[bin] as f64).clamp(0.0, 1.0)
            };
            values.push(edges[bin] + within * (edges[bin + 1] - edges[bin]));
        }
        Ok(ScoreBaseline {
            n,
            values,
            from_histogram: true,
        })
    }
}

/// How a column was profiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Quantile bins of a numeric column.
    Numeric {
        /// Ascending interior cut points; `cuts.len() + 1` left-closed bins.
        cuts: Vec<f64>,
        /// Fraction of all rows in each bin.
        proportions: Vec<f64>,
    },
    /// Levels of a categorical column.
    Categorical {
        /// Fraction of all rows at each level.
        levels: BTreeMap<String, f64>,
    },
    /// Levels of a binary column (`"0"`, `"1"`).
    Binary {
        /// Fraction of all rows at each level.
        levels: BTreeMap<String, f64>,
    },
}

impl Distribution {
    /// `numeric`, `categorical` or `binary`.
    pub fn kind(&self) -> &'static str {
        match self {
            Distribution::Numeric { .. } => "numeric",
            Distribution::Categorical { .. } => "categorical",
            Distribution::Binary { .. } => "binary",
        }
    }
}

/// The training-split profile of one input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureProfile {
    /// Column name.
    pub name: String,
    /// Rows profiled.
    pub rows: u64,
    /// Fraction of rows with no value.
    pub missing_fraction: f64,
    /// The bins or levels.
    pub distribution: Distribution,
}

impl FeatureProfile {
    /// Profile a numeric column (NaN = missing) in `bins` quantile bins (at least 1).
    pub fn numeric(name: &str, values: &[f64], bins: usize) -> Result<Self> {
        if bins == 0 {
            return Err(MonitoringError::InvalidParameter {
                field: "bins",
                value: "0".into(),
                expected: "at least 1 bin",
            });
        }
        check_numeric(name, values)?;
        let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        let sorted = stats::sorted(&present);
        let cuts = if sorted.is_empty() {
            Vec::new()
        } else {
            stats::quantile_cuts(&sorted, bins)
        };
        let mut counts = vec![0u64; cuts.len() + 1];
        for &v in &sorted {
            counts[stats::bin_of(&cuts, v)] += 1;
        }
        let rows = values.len();
        let share = |c: usize| {
            if rows == 0 {
                0.0
            } else {
                c as f64 / rows as f64
            }
        };
        Ok(FeatureProfile {
            name: name.to_string(),
            rows: rows as u64,
            missing_fraction: share(rows - sorted.len()),
            distribution: Distribution::Numeric {
                cuts,
                proportions: counts.iter().map(|&c| share(c as usize)).collect(),
            },
        })
    }

    /// Profile a categorical column (`None` = missing).
    pub fn categorical(name: &str, values: &[Option<&str>]) -> Self {
        let (levels, missing_fraction) = level_shares(values);
        FeatureProfile {
            name: name.to_string(),
            rows: values.len() as u64,
            missing_fraction,
            distribution: Distribution::Categorical { levels },
        }
    }

    /// Profile a binary column (`None` = missing; levels as given, e.g. `"0"` and `"1"`).
    pub fn binary(name: &str, values: &[Option<&str>]) -> Self {
        let (levels, missing_fraction) = level_shares(values);
        FeatureProfile {
            name: name.to_string(),
            rows: values.len() as u64,
            missing_fraction,
            distribution: Distribution::Binary { levels },
        }
    }
}

/// Reject infinite values (NaN means missing).
pub(crate) fn check_numeric(column: &str, values: &[f64]) -> Result<()> {
    let mut bad = values.iter().enumerate().filter(|(_, v)| v.is_infinite());
    if let Some((first_index, &first_value)) = bad.next() {
        return Err(MonitoringError::InvalidValues {
            column: column.to_string(),
            count: 1 + bad.count(),
            first_index,
            first_value,
        });
    }
    Ok(())
}

fn level_shares(values: &[Option<&str>]) -> (BTreeMap<String, f64>, f64) {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut missing = 0u64;
    for v in values {
        match v {
            Some(level) => *counts.entry(level).or_default() += 1,
            None => missing += 1,
        }
    }
    let n = values.len().max(1) as f64;
    let levels = counts
        .into_iter()
        .map(|(l, c)| (l.to_string(), c as f64 / n))
        .collect();
    (levels, missing as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_baselines_are_exact_and_large_ones_keep_the_extremes() {
        let b = ScoreBaseline::from_scores(&[0.9, 0.1, 0.5]).unwrap();
        assert_eq!(b.values, vec![0.1, 0.5, 0.9]);
        assert_eq!(b.n, 3);
        let scores: Vec<f64> = (0..25_001).map(|i| i as f64 / 25_000.0).collect();
        let b = ScoreBaseline::from_scores(&scores).unwrap();
        assert_eq!(b.n, 25_001);
        assert_eq!(b.values.len(), MAX_ORDER_STATISTICS);
        assert_eq!(b.values[0], 0.0);
        assert_eq!(b.values[MAX_ORDER_STATISTICS - 1], 1.0);
        assert!(b.values.windows(2).all(|w| w[0] <= w[1]));
        // Evenly spaced ranks: the median stays the median.
        assert!((b.values[MAX_ORDER_STATISTICS / 2] - 0.5).abs() < 1e-3);
        assert!(ScoreBaseline::from_scores(&[]).is_err());
        assert!(ScoreBaseline::from_scores(&[0.5, 1.2]).is_err());
    }

    #[test]
    fn histogram_baseline_reproduces_its_bin_shares() {
        let edges = [0.0, 0.25, 0.5, 0.75, 1.0];
        let counts = [10, 0, 30, 60];
        let b = ScoreBaseline::from_histogram(&edges, &counts).unwrap();
        assert!(b.from_histogram);
        assert_eq!(b.n, 100);
        assert_eq!(b.values.len(), 100);
        let in_bin = |lo: f64, hi: f64| b.values.iter().filter(|&&v| v >= lo && v < hi).count();
        assert_eq!(in_bin(0.0, 0.25), 10);
        assert_eq!(in_bin(0.25, 0.5), 0);
        assert_eq!(in_bin(0.5, 0.75), 30);
        assert_eq!(in_bin(0.75, 1.01), 60);
        assert!(ScoreBaseline::from_histogram(&[0.0, 1.0], &[0]).is_err());
        assert!(ScoreBaseline::from_histogram(&[0.0, 1.0], &[1, 2]).is_err());
    }

    #[test]
    fn numeric_profiles_handle_missing_ties_and_constants() {
        let values = [1.0, 2.0, f64::NAN, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let p = FeatureProfile::numeric("x", &values, 10).unwrap();
        assert!((p.missing_fraction - 1.0 / 11.0).abs() < 1e-15);
        let Distribution::Numeric { cuts, proportions } = &p.distribution else {
            panic!("numeric expected")
        };
        assert_eq!(cuts.len(), 9);
        let total: f64 = proportions.iter().sum::<f64>() + p.missing_fraction;
        assert!((total - 1.0).abs() < 1e-12);

        let constant = FeatureProfile::numeric("c", &[4.0; 20], 10).unwrap();
        let Distribution::Numeric { cuts, proportions } = &constant.distribution else {
            panic!("numeric expected")
        };
        assert_eq!(cuts, &vec![4.0]);
        assert_eq!(proportions, &vec![0.0, 1.0]);

        let empty = FeatureProfile::numeric("e", &[f64::NAN; 3], 10).unwrap();
        assert_eq!(empty.missing_fraction, 1.0);
        assert!(FeatureProfile::numeric("x", &[1.0, f64::INFINITY], 10).is_err());
        assert!(FeatureProfile::numeric("x", &[1.0], 0).is_err());
    }

    #[test]
    fn level_profiles_share_all_rows_and_round_trip_as_json() {
        let p = FeatureProfile::categorical("plan", &[Some("a"), Some("b"), Some("a"), None]);
        assert_eq!(p.missing_fraction, 0.25);
        let Distribution::Categorical { levels } = &p.distribution else {
            panic!("categorical expected")
        };
        assert_eq!(levels.get("a"), Some(&0.5));
        let baseline = MonitoringBaseline {
            scores: ScoreBaseline::from_scores(&[0.2, 0.4]).unwrap(),
            features: vec![p, FeatureProfile::binary("b", &[Some("0"), Some("1")])],
            calibration: None,
        };
        let text = serde_json::to_string(&baseline).unwrap();
        assert!(!text.contains("from_histogram"), "{text}");
        let back: MonitoringBaseline = serde_json::from_str(&text).unwrap();
        assert_eq!(back, baseline);
        assert_eq!(
            back.feature("b").map(|f| f.distribution.kind()),
            Some("binary")
        );
    }
}
