//! The monitoring baseline of a training split, computed from what the model saw: its
//! encoded rows, decoded back to one value per input column, and its scores.

use mlops_monitoring::{FeatureProfile, MonitoringBaseline, ScoreBaseline, DEFAULT_FEATURE_BINS};

use crate::error::{ModelError, Result};
use crate::preprocess::{ColumnEncoder, Preprocessor};

/// One input column decoded from an encoded matrix.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedColumn {
    /// Numeric values; NaN = missing.
    Numeric(Vec<f64>),
    /// Binary columns as `"0"`/`"1"`, categorical columns as their level; `None` = missing.
    /// A categorical row with no level set is missing: an unseen level dropped by the
    /// `ignore` policy looks the same, so drift of *current* data should use the raw column
    /// when unseen levels matter.
    Levels(Vec<Option<String>>),
}

impl Preprocessor {
    /// Decode row-major encoded features back to one value per input column, in column order.
    pub fn decode_columns(&self, x: &[f32]) -> Result<Vec<(String, DecodedColumn)>> {
        let width = self.n_features();
        if width == 0 || !x.len().is_multiple_of(width) {
            return Err(ModelError::Mismatch(format!(
                "{} encoded values are not whole rows of {width} features",
                x.len()
            )));
        }
        let rows: Vec<&[f32]> = x.chunks_exact(width).collect();
        let mut out = Vec::with_capacity(self.columns.len());
        for (col, offset) in self.columns.iter().zip(self.offsets()) {
            let decoded = match col {
                ColumnEncoder::Numeric { .. } => {
                    DecodedColumn::Numeric(rows.iter().map(|r| f64::from(r[offset])).collect())
                }
                ColumnEncoder::Binary { .. } => DecodedColumn::Levels(
                    rows.iter()
                        .map(|r| match r[offset] {
                            v if v.is_nan() => None,
                            v if v > 0.5 => Some("1".to_string()),
                            _ => Some("0".to_string()),
                        })
                        .collect(),
                ),
                ColumnEncoder::Categorical { levels, .. } => DecodedColumn::Levels(
                    rows.iter()
                        .map(|r| {
                            r[offset..offset + levels.len()]
                                .iter()
                                .position(|&v| v > 0.5)
                                .map(|i| levels[i].clone())
                        })
                        .collect(),
                ),
            };
            out.push((col.name().to_string(), decoded));
        }
        Ok(out)
    }

    /// The monitoring baseline of a split: `x` its encoded rows, `scores` the model's
    /// probabilities for them (numeric columns in [`DEFAULT_FEATURE_BINS`] quantile bins).
    pub fn monitoring_baseline(&self, x: &[f32], scores: &[f32]) -> Result<MonitoringBaseline> {
        let columns = self.decode_columns(x)?;
        let rows = x.len() / self.n_features();
        if rows != scores.len() {
            return Err(ModelError::Mismatch(format!(
                "{rows} encoded rows but {} scores; expected one score per row",
                scores.len()
            )));
        }
        let scores: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
        let mut features = Vec::with_capacity(columns.len());
        for ((name, decoded), encoder) in columns.iter().zip(&self.columns) {
            let profile = match decoded {
                DecodedColumn::Numeric(v) => {
                    FeatureProfile::numeric(name, v, DEFAULT_FEATURE_BINS)?
                }
                DecodedColumn::Levels(v) => {
                    let cells: Vec<Option<&str>> = v.iter().map(Option::as_deref).collect();
                    match encoder {
                        ColumnEncoder::Binary { .. } => FeatureProfile::binary(name, &cells),
                        _ => FeatureProfile::categorical(name, &cells),
                    }
                }
            };
            features.push(profile);
        }
        Ok(MonitoringBaseline {
            scores: ScoreBaseline::from_scores(&scores)?,
            features,
            // Fitted by the trainer on the held-out rows, which this does not see.
            calibration: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use mlops_domain::{FeatureSchema, UnknownCategoryPolicy};
    use mlops_monitoring::Distribution;

    use super::*;

    fn preprocessor() -> Preprocessor {
        let schema = FeatureSchema {
            numeric: vec!["age".into()],
            binary: vec!["senior".into()],
            categorical: vec!["plan".into()],
        };
        Preprocessor::new(
            &schema,
            vec![vec!["a".into(), "b".into()]],
            UnknownCategoryPolicy::Ignore,
        )
    }

    #[test]
    fn columns_decode_back_to_values_and_profile_the_split() {
        let p = preprocessor();
        // age, senior, plan=a, plan=b
        let x = [
            30.0,
            1.0,
            1.0,
            0.0, //
            f32::NAN,
            0.0,
            0.0,
            1.0, //
            50.0,
            f32::NAN,
            0.0,
            0.0,
        ];
        let cols = p.decode_columns(&x).unwrap();
        assert_eq!(cols[0].0, "age");
        let DecodedColumn::Numeric(age) = &cols[0].1 else {
            panic!("numeric")
        };
        assert!(age[0] == 30.0 && age[1].is_nan() && age[2] == 50.0);
        assert_eq!(
            cols[1].1,
            DecodedColumn::Levels(vec![Some("1".into()), Some("0".into()), None])
        );
        assert_eq!(
            cols[2].1,
            DecodedColumn::Levels(vec![Some("a".into()), Some("b".into()), None])
        );

        let baseline = p.monitoring_baseline(&x, &[0.1, 0.7, 0.4]).unwrap();
        assert_eq!(baseline.scores.n, 3);
        assert_eq!(baseline.features.len(), 3);
        let plan = baseline.feature("plan").unwrap();
        assert!((plan.missing_fraction - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            baseline.feature("senior").map(|f| f.distribution.kind()),
            Some("binary")
        );
        assert!(matches!(
            baseline.features[0].distribution,
            Distribution::Numeric { .. }
        ));
        assert!(p.monitoring_baseline(&x, &[0.1]).is_err());
        assert!(p.decode_columns(&x[..5]).is_err());
    }
}
