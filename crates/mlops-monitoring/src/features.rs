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

use crate::baseline::{check_numeric, Distribution, FeatureProfile, MonitoringBaseline};
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
    let mismatch = || MonitoringError::KindMismatch {
        column: profile.name.clone(),
        expected: profile.distribution.kind(),
        found: values.kind(),
    };
    let drift = match (&profile.distribution, values) {
        (Distribution::Numeric { cuts, proportions }, ColumnValues::Numeric(v)) => {
            numeric(profile, cuts, proportions, v)?
        }
        (
            Distribution::Categorical { levels } | Distribution::Binary { levels },
            ColumnValues::Levels(v),
        ) => {
            let mut buckets: Vec<String> = levels.keys().cloned().collect();
            let mut baseline: Vec<f64> = levels.values().copied().collect();
            let mut counts = vec![0u64; buckets.len() + 2];
            let (unseen, missing) = (buckets.len(), buckets.len() + 1);
            // A column has a handful of levels: a scan beats hashing every cell (SipHash was
            // 40 % of `mlops monitor drift` on a million rows).
            let index: Option<std::collections::HashMap<&str, usize>> =
                (buckets.len() > 32).then(|| {
                    buckets
                        .iter()
                        .enumerate()
                        .map(|(i, l)| (l.as_str(), i))
                        .collect()
                });
            for cell in v {
                let at = match cell {
                    None => missing,
                    Some(l) => match &index {
                        Some(index) => index.get(l).copied(),
                        None => buckets.iter().position(|b| b == l),
                    }
                    .unwrap_or(unseen),
                };
                counts[at] += 1;
            }
            buckets.extend([UNSEEN.to_string(), MISSING.to_string()]);
            baseline.extend([0.0, profile.missing_fraction]);
            let current = stats::proportions(&counts);
            FeatureDrift {
                name: profile.name.clone(),
                kind: profile.distribution.kind().to_string(),
                psi: None,
                js_distance: stats::js_distance(&baseline, &current),
                linf: Some(stats::linf(&baseline, &current)),
                unseen_rows: counts[unseen] as usize,
                rows: v.len(),
                buckets,
                baseline,
                current,
            }
        }
        _ => return Err(mismatch()),
    };
    Ok(Outcome::Computed(drift))
}

fn numeric(
    profile: &FeatureProfile,
    cuts: &[f64],
    proportions: &[f64],
    values: &[f64],
) -> Result<FeatureDrift> {
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
    check_numeric(&profile.name, values)?;
    let missing = cuts.len() + 1;
    let mut counts = vec![0u64; cuts.len() + 2];
    for &x in values {
        let at = if x.is_nan() {
            missing
        } else {
            stats::bin_of(cuts, x)
        };
        counts[at] += 1;
    }
    let mut baseline = proportions.to_vec();
    baseline.push(profile.missing_fraction);
    let current = stats::proportions(&counts);
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
    Ok(FeatureDrift {
        name: profile.name.clone(),
        kind: "numeric".into(),
        psi: Some(stats::psi(&baseline, &current)),
        js_distance: stats::js_distance(&baseline, &current),
        linf: None,
        unseen_rows: 0,
        rows: values.len(),
        buckets,
        baseline,
        current,
    })
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
