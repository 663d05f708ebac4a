//! Feature drift: each input column against its training-split [`FeatureProfile`].
//!
//! Buckets cover all rows, so both vectors sum to 1:
//! - numeric: the profile's quantile bins, then `missing`; PSI (floored at 1e-6 and
//!   renormalised, as for scores) and the Jensen-Shannon distance (base 2).
//! - categorical and binary: the training levels (sorted), then `unseen` (levels the training
//!   split never had, counted in `unseen_rows`), then `missing`; the Jensen-Shannon distance and
//!   the L-infinity distance (largest absolute difference of a bucket's share), the pair Vertex
//!   AI Model Monitoring uses for categorical features.

use serde::{Deserialize, Serialize};

use crate::baseline::{Distribution, FeatureProfile, MonitoringBaseline};
use crate::error::{MonitoringError, Outcome, Result};
use crate::stats;

/// Bucket label of levels absent from the training split.
pub const UNSEEN: &str = "unseen";
/// Bucket label of missing values.
pub const MISSING: &str = "missing";

/// The current values of one column.
#[derive(Debug, Clone, Copy)]
pub enum ColumnValues<'a> {
    /// Numbers; NaN = missing.
    Numeric(&'a [f64]),
    /// Levels; `None` = missing (binary columns as `"0"`/`"1"`, like their profile).
    Levels(&'a [Option<&'a str>]),
}

impl ColumnValues<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ColumnValues::Numeric(_) => "numeric",
            ColumnValues::Levels(_) => "level",
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnValues::Numeric(v) => v.len(),
            ColumnValues::Levels(v) => v.len(),
        }
    }
}

/// Drift of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Column name.
    pub name: String,
    /// `numeric`, `categorical` or `binary`.
    pub kind: String,
    /// Bucket labels: `[lo, hi)` ranges or levels, then `unseen` (levels only) and `missing`.
    pub buckets: Vec<String>,
    /// Baseline share per bucket.
    pub baseline: Vec<f64>,
    /// Current share per bucket.
    pub current: Vec<f64>,
    /// PSI (numeric columns).
    pub psi: Option<f64>,
    /// Jensen-Shannon distance, base 2.
    pub js_distance: f64,
    /// L-infinity distance (categorical and binary columns).
    pub linf: Option<f64>,
    /// Current rows with a level the training split never had.
    pub unseen_rows: usize,
    /// Current rows compared.
    pub rows: usize,
}

/// Drift of one column against its profile. No current rows is
/// [`Outcome::InsufficientData`]; values of another kind than the profile are an error.
/// [`FeatureCounts`] does the same for a column read in batches.
pub fn feature_drift(
    profile: &FeatureProfile,
    values: ColumnValues<'_>,
) -> Result<Outcome<FeatureDrift>> {
    if values.len() == 0 {
        return Ok(Outcome::InsufficientData {
            rows: 0,
            reason: format!("no current values of column `{}`", profile.name),
        });
    }
    let mut counts = FeatureCounts::new(profile)?;
    counts.add(values)?;
    counts.finish()
}

/// Bucket counts of one column against its profile, added batch by batch: drift of a table
/// that is read in batches is exact (the buckets are fixed by the profile), and memory follows
/// the batch, not the table. [`feature_drift`] is the one-batch case.
#[derive(Debug, Clone)]
pub struct FeatureCounts<'a> {
    profile: &'a FeatureProfile,
    /// Categorical and binary columns: the training levels, in bucket order.
    levels: Vec<&'a str>,
    /// Level → bucket, for columns with many levels (a handful are scanned).
    index: Option<std::collections::HashMap<&'a str, usize>>,
    counts: Vec<u64>,
    rows: usize,
    /// Infinite numeric values: how many, and the first (row, value).
    infinite: Option<(usize, usize, f64)>,
}

impl<'a> FeatureCounts<'a> {
    /// Empty counts for `profile`; a numeric profile whose proportions do not fit its cuts is an
    /// error.
    pub fn new(profile: &'a FeatureProfile) -> Result<FeatureCounts<'a>> {
        let (levels, buckets) = match &profile.distribution {
            Distribution::Numeric { cuts, proportions } => {
                if proportions.len() != cuts.len() + 1 {
                    return Err(MonitoringError::InvalidBaseline {
                        field: format!("features.{}", profile.name),
                        message: format!(
                            "{} proportions for {} cuts; expected one more proportion than cuts",
                            proportions.len(),
                            cuts.len()
                        ),
                    });
                }
                // The cut bins, then `missing`.
                (Vec::new(), cuts.len() + 2)
            }
            Distribution::Categorical { levels } | Distribution::Binary { levels } => {
                let levels: Vec<&str> = levels.keys().map(String::as_str).collect();
                // The levels, then `unseen` and `missing`.
                let n = levels.len() + 2;
                (levels, n)
            }
        };
        // A column has a handful of levels: a scan beats hashing every cell (SipHash was
        // 40 % of `mlops monitor drift` on a million rows).
        let index =
            (levels.len() > 32).then(|| levels.iter().enumerate().map(|(i, l)| (*l, i)).collect());
        Ok(FeatureCounts {
            profile,
            levels,
            index,
            counts: vec![0; buckets],
            rows: 0,
            infinite: None,
        })
    }

    /// Count one batch of the column's values; values of another kind than the profile are an
    /// error.
    pub fn add(&mut self, values: ColumnValues<'_>) -> Result<()> {
        match (&self.profile.distribution, values) {
            (Distribution::Numeric { cuts, .. }, ColumnValues::Numeric(v)) => {
                let missing = cuts.len() + 1;
                for (i, &x) in v.iter().enumerate() {
                    let at = if x.is_nan() {
                        missing
                    } else if x.is_infinite() {
                        self.infinite.get_or_insert((0, self.rows + i, x)).0 += 1;
                        continue;
                    } else {
                        stats::bin_of(cuts, x)
                    };
                    self.counts[at] += 1;
                }
            }
            (
                Distribution::Categorical { .. } | Distribution::Binary { .. },
                ColumnValues::Levels(v),
            ) => {
                let (unseen, missing) = (self.levels.len(), self.levels.len() + 1);
                for cell in v {
                    let at = match cell {
                        None => missing,
                        Some(l) => match &self.index {
                            Some(index) => index.get(l).copied(),
                            None => self.levels.iter().position(|b| b == l),
                        }
                        .unwrap_or(unseen),
                    };
                    self.counts[at] += 1;
                }
            }
            _ => {
                return Err(MonitoringError::KindMismatch {
                    column: self.profile.name.clone(),
                    expected: self.profile.distribution.kind(),
                    found: values.kind(),
                })
            }
        }
        self.rows += values.len();
        Ok(())
    }

    /// Rows counted so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The column's drift over every batch added. No rows is [`Outcome::InsufficientData`];
    /// infinite numeric values are one error with their count and the first of them.
    pub fn finish(self) -> Result<Outcome<FeatureDrift>> {
        let profile = self.profile;
        if let Some((count, first_index, first_value)) = self.infinite {
            return Err(MonitoringError::InvalidValues {
                column: profile.name.clone(),
                count,
                first_index,
                first_value,
            });
        }
        if self.rows == 0 {
            return Ok(Outcome::InsufficientData {
                rows: 0,
                reason: format!("no current values of column `{}`", profile.name),
            });
        }
        let current = stats::proportions(&self.counts);
        let drift = match &profile.distribution {
            Distribution::Numeric { cuts, proportions } => {
                let mut baseline = proportions.clone();
                baseline.push(profile.missing_fraction);
                let mut buckets: Vec<String> = (0..=cuts.len())
                    .map(|i| {
                        let lo = if i == 0 {
                            "-inf".to_string()
                        } else {
                            cuts[i - 1].to_string()
                        };
                        let hi = cuts.get(i).map_or("inf".to_string(), f64::to_string);
                        format!("[{lo}, {hi})")
                    })
                    .collect();
                buckets.push(MISSING.to_string());
                FeatureDrift {
                    name: profile.name.clone(),
                    kind: "numeric".into(),
                    psi: Some(stats::psi(&baseline, &current)),
                    js_distance: stats::js_distance(&baseline, &current),
                    linf: None,
                    unseen_rows: 0,
                    rows: self.rows,
                    buckets,
                    baseline,
                    current,
                }
            }
            Distribution::Categorical { levels } | Distribution::Binary { levels } => {
                let mut buckets: Vec<String> = levels.keys().cloned().collect();
                let mut baseline: Vec<f64> = levels.values().copied().collect();
                buckets.extend([UNSEEN.to_string(), MISSING.to_string()]);
                baseline.extend([0.0, profile.missing_fraction]);
                FeatureDrift {
                    name: profile.name.clone(),
                    kind: profile.distribution.kind().to_string(),
                    psi: None,
                    js_distance: stats::js_distance(&baseline, &current),
                    linf: Some(stats::linf(&baseline, &current)),
                    unseen_rows: self.counts[self.levels.len()] as usize,
                    rows: self.rows,
                    buckets,
                    baseline,
                    current,
                }
            }
        };
        Ok(Outcome::Computed(drift))
    }
}

/// Drift of every profiled column that `current` supplies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FeatureDriftReport {
    /// The model's bundle has no monitoring baseline (trained before it existed): no feature
    /// drift can be computed.
    NoBaseline,
    /// One outcome per profiled column found in `current`, in profile order.
    Columns {
        /// The outcomes.
        columns: Vec<Outcome<FeatureDrift>>,
        /// Profiled columns absent from `current`.
        not_supplied: Vec<String>,
    },
}

/// Drift of each column in `current` (by name) against the baseline, if the bundle has one.
pub fn features_drift(
    baseline: Option<&MonitoringBaseline>,
    current: &[(&str, ColumnValues<'_>)],
) -> Result<FeatureDriftReport> {
    let Some(baseline) = baseline else {
        return Ok(FeatureDriftReport::NoBaseline);
    };
    let mut columns = Vec::new();
    let mut not_supplied = Vec::new();
    for profile in &baseline.features {
        match current.iter().find(|(name, _)| *name == profile.name) {
            Some((_, values)) => columns.push(feature_drift(profile, *values)?),
            None => not_supplied.push(profile.name.clone()),
        }
    }
    Ok(FeatureDriftReport::Columns {
        columns,
        not_supplied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::ScoreBaseline;

    fn computed(o: Outcome<FeatureDrift>) -> FeatureDrift {
        match o {
            Outcome::Computed(d) => d,
            other => panic!("expected a result, got {other:?}"),
        }
    }

    #[test]
    fn numeric_drift_counts_missing_as_a_bucket() {
        let train: Vec<f64> = (0..100).map(f64::from).collect();
        let profile = FeatureProfile::numeric("age", &train, 10).unwrap();
        let same = computed(feature_drift(&profile, ColumnValues::Numeric(&train)).unwrap());
        assert!(same.psi.unwrap().abs() < 1e-12 && same.js_distance < 1e-6);
        assert_eq!(same.buckets.len(), 11);
        assert_eq!(same.buckets.last().map(String::as_str), Some(MISSING));
        let gone = vec![f64::NAN; 10];
        let d = computed(feature_drift(&profile, ColumnValues::Numeric(&gone)).unwrap());
        assert_eq!(d.current.last(), Some(&1.0));
        assert!((d.js_distance - 1.0).abs() < 1e-12);
        assert!(d.psi.unwrap() > 5.0);
    }

    #[test]
    fn unseen_levels_get_their_own_bucket() {
        let profile = FeatureProfile::categorical("plan", &[Some("a"), Some("b"), None, Some("a")]);
        let cur = [Some("a"), Some("c"), Some("c"), None];
        let d = computed(feature_drift(&profile, ColumnValues::Levels(&cur)).unwrap());
        assert_eq!(d.buckets, vec!["a", "b", UNSEEN, MISSING]);
        assert_eq!(d.baseline, vec![0.5, 0.25, 0.0, 0.25]);
        assert_eq!(d.current, vec![0.25, 0.0, 0.5, 0.25]);
        assert_eq!(d.unseen_rows, 2);
        assert_eq!(d.linf, Some(0.5));
        assert!(d.psi.is_none());
    }

    #[test]
    fn counts_added_in_batches_equal_one_batch() {
        let train: Vec<f64> = (0..200).map(|i| f64::from(i % 37)).collect();
        let profile = FeatureProfile::numeric("x", &train, 8).unwrap();
        let current: Vec<f64> = (0..101)
            .map(|i| {
                if i % 9 == 0 {
                    f64::NAN
                } else {
                    f64::from(i % 50)
                }
            })
            .collect();
        let whole = computed(feature_drift(&profile, ColumnValues::Numeric(&current)).unwrap());
        let mut counts = FeatureCounts::new(&profile).unwrap();
        for batch in current.chunks(17) {
            counts.add(ColumnValues::Numeric(batch)).unwrap();
        }
        assert_eq!(counts.rows(), 101);
        assert_eq!(computed(counts.finish().unwrap()), whole);

        let levels: Vec<Option<&str>> = (0..60)
            .map(|i| ["a", "b", "c"].get(i % 4).copied())
            .collect();
        let profile = FeatureProfile::categorical("plan", &levels[..30]);
        let cur: Vec<Option<&str>> = levels.iter().rev().map(|l| l.or(Some("z"))).collect();
        let whole = computed(feature_drift(&profile, ColumnValues::Levels(&cur)).unwrap());
        let mut counts = FeatureCounts::new(&profile).unwrap();
        for batch in cur.chunks(7) {
            counts.add(ColumnValues::Levels(batch)).unwrap();
        }
        assert_eq!(computed(counts.finish().unwrap()), whole);
        assert_eq!(whole.unseen_rows, 15);
    }

    #[test]
    fn infinite_values_are_counted_over_every_batch_and_named_once() {
        let profile = FeatureProfile::numeric("x", &[1.0, 2.0, 3.0], 4).unwrap();
        let mut counts = FeatureCounts::new(&profile).unwrap();
        counts.add(ColumnValues::Numeric(&[1.0, 2.0])).unwrap();
        counts
            .add(ColumnValues::Numeric(&[f64::INFINITY, 1.0]))
            .unwrap();
        counts
            .add(ColumnValues::Numeric(&[f64::NEG_INFINITY]))
            .unwrap();
        match counts.finish() {
            Err(MonitoringError::InvalidValues {
                count,
                first_index,
                first_value,
                ..
            }) => {
                assert_eq!((count, first_index), (2, 2));
                assert_eq!(first_value, f64::INFINITY);
            }
            other => panic!("expected InvalidValues, got {other:?}"),
        }
    }

    #[test]
    fn no_baseline_wrong_kind_and_no_rows_are_explicit() {
        assert_eq!(
            features_drift(None, &[]).unwrap(),
            FeatureDriftReport::NoBaseline
        );
        let profile = FeatureProfile::numeric("x", &[1.0, 2.0], 10).unwrap();
        let levels = [Some("a")];
        assert!(matches!(
            feature_drift(&profile, ColumnValues::Levels(&levels)),
            Err(MonitoringError::KindMismatch { .. })
        ));
        assert!(feature_drift(&profile, ColumnValues::Numeric(&[]))
            .unwrap()
            .is_insufficient());
        let baseline = MonitoringBaseline {
            scores: ScoreBaseline::from_scores(&[0.5]).unwrap(),
            features: vec![profile, FeatureProfile::binary("b", &[Some("1")])],
            calibration: None,
        };
        let report =
            features_drift(Some(&baseline), &[("x", ColumnValues::Numeric(&[1.5]))]).unwrap();
        let FeatureDriftReport::Columns {
            columns,
            not_supplied,
        } = report
        else {
            panic!("columns expected")
        };
        assert_eq!(columns.len(), 1);
        assert_eq!(not_supplied, vec!["b".to_string()]);
    }
}
