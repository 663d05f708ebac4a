//! Preprocessing learnt at training time and saved with the model: how each configured
//! column becomes one or more `f32` features (NaN = missing).
//!
//! - numeric: the value; empty cells are missing.
//! - binary: `1/0`, `true/false`, `yes/no` (any case); empty cells are missing.
//! - categorical: one-hot over the levels seen in training, named `column=level`; an empty
//!   cell is "no level" (all zeros); an unseen level follows [`UnknownCategoryPolicy`].

use mlops_domain::{FeatureSchema, UnknownCategoryPolicy};
use serde::{Deserialize, Serialize};

/// How one input column is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnEncoder {
    /// One real-valued feature.
    Numeric {
        /// Column name.
        name: String,
    },
    /// One 0/1 feature.
    Binary {
        /// Column name.
        name: String,
    },
    /// One 0/1 feature per level.
    Categorical {
        /// Column name.
        name: String,
        /// Levels in feature order (sorted).
        levels: Vec<String>,
    },
}

impl ColumnEncoder {
    /// The input column name.
    pub fn name(&self) -> &str {
        match self {
            ColumnEncoder::Numeric { name }
            | ColumnEncoder::Binary { name }
            | ColumnEncoder::Categorical { name, .. } => name,
        }
    }

    /// Number of features this column produces.
    pub fn width(&self) -> usize {
        match self {
            ColumnEncoder::Categorical { levels, .. } => levels.len(),
            _ => 1,
        }
    }
}

/// The learnt preprocessing: column encoders in feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocessor {
    /// Encoders, in the order their features appear in the matrix.
    pub columns: Vec<ColumnEncoder>,
    /// Policy for categorical levels not seen in training.
    pub unknown_category: UnknownCategoryPolicy,
}

impl Preprocessor {
    /// Build from the schema and the levels found in training data (one list per categorical
    /// column, in schema order).
    pub fn new(
        schema: &FeatureSchema,
        mut levels: Vec<Vec<String>>,
        unknown_category: UnknownCategoryPolicy,
    ) -> Self {
        let mut columns: Vec<ColumnEncoder> = Vec::new();
        columns.extend(
            schema
                .numeric
                .iter()
                .map(|n| ColumnEncoder::Numeric { name: n.clone() }),
        );
        columns.extend(
            schema
                .binary
                .iter()
                .map(|n| ColumnEncoder::Binary { name: n.clone() }),
        );
        for (name, lv) in schema.categorical.iter().zip(levels.iter_mut()) {
            lv.sort();
            lv.dedup();
            columns.push(ColumnEncoder::Categorical {
                name: name.clone(),
                levels: std::mem::take(lv),
            });
        }
        Preprocessor {
            columns,
            unknown_category,
        }
    }

    /// Total number of features.
    pub fn n_features(&self) -> usize {
        self.columns.iter().map(ColumnEncoder::width).sum()
    }

    /// Feature names in matrix order (`column` or `column=level`).
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.n_features());
        for c in &self.columns {
            match c {
                ColumnEncoder::Categorical { name, levels } => {
                    names.extend(levels.iter().map(|l| format!("{name}={l}")))
                }
                other => names.push(other.name().to_string()),
            }
        }
        names
    }

    /// Offset of each column's first feature.
    pub fn offsets(&self) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.columns.len());
        let mut total = 0;
        for c in &self.columns {
            offsets.push(total);
            total += c.width();
        }
        offsets
    }

    /// The input columns the model needs.
    pub fn input_columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(ColumnEncoder::name)
    }
}

/// Parse a numeric cell: empty = missing (NaN); otherwise a finite number.
pub fn parse_numeric(text: &str) -> Result<f32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(f32::NAN);
    }
    match t.parse::<f64>() {
        // Rust parses "NaN" and "inf"; as data they are almost always a mistake.
        Ok(v) if !v.is_finite() => Err(format!(
            "`{text}` is not a finite number (leave the cell empty for a missing value)"
        )),
        Ok(v) => check_number(v),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// Check a number read from a typed column.
pub fn check_number(v: f64) -> Result<f32, String> {
    if v.is_nan() {
        return Ok(f32::NAN);
    }
    let f = v as f32;
    if !f.is_finite() {
        return Err(format!(
            "{v} is not a finite number (or does not fit in 32-bit floats)"
        ));
    }
    Ok(f)
}

/// Parse a binary cell: `1/0`, `true/false`, `yes/no` in any case; empty = missing.
pub fn parse_binary(text: &str) -> Result<f32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(f32::NAN);
    }
    match t.to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" => Ok(1.0),
        "0" | "0.0" | "false" | "no" => Ok(0.0),
        _ => Err(format!(
            "`{text}` is not binary, expected 0/1, true/false or yes/no"
        )),
    }
}

/// Check a number from a typed binary column.
pub fn check_binary(v: f64) -> Result<f32, String> {
    if v.is_nan() {
        Ok(f32::NAN)
    } else if v == 0.0 || v == 1.0 {
        Ok(v as f32)
    } else {
        Err(format!("{v} is not binary, expected 0 or 1"))
    }
}

/// Write a categorical cell's one-hot encoding into `out` (already zeroed, `levels.len()` wide).
/// Empty cells leave all zeros; unknown levels follow the policy.
pub fn encode_category(
    text: &str,
    levels: &[String],
    policy: UnknownCategoryPolicy,
    out: &mut [f32],
) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    match levels.iter().position(|l| l == text) {
        Some(i) => {
            out[i] = 1.0;
            Ok(())
        }
        None => match policy {
            UnknownCategoryPolicy::Ignore => Ok(()),
            UnknownCategoryPolicy::Error => Err(format!(
                "unknown category `{text}`, expected one of {} (set unknown_category: ignore to accept)",
                levels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_or_name_the_value() {
        assert_eq!(parse_numeric(" 2.5 ").unwrap(), 2.5);
        assert!(parse_numeric("").unwrap().is_nan());
        assert_eq!(parse_numeric("abc").unwrap_err(), "`abc` is not a number");
        assert!(parse_numeric("1e308").unwrap_err().contains("finite"));
        assert!(parse_numeric("NaN")
            .unwrap_err()
            .contains("not a finite number"));
        assert!(parse_numeric("-inf")
            .unwrap_err()
            .contains("not a finite number"));
        assert_eq!(parse_binary("Yes").unwrap(), 1.0);
        assert!(parse_binary("2").unwrap_err().contains("`2` is not binary"));
    }

    #[test]
    fn one_hot_with_policies() {
        let levels = vec!["a".to_string(), "b".to_string()];
        let mut out = [0.0; 2];
        encode_category("b", &levels, UnknownCategoryPolicy::Error, &mut out).unwrap();
        assert_eq!(out, [0.0, 1.0]);
        let err =
            encode_category("c", &levels, UnknownCategoryPolicy::Error, &mut [0.0; 2]).unwrap_err();
        assert!(err.contains("unknown category `c`"), "{err}");
        let mut out = [0.0; 2];
        encode_category("c", &levels, UnknownCategoryPolicy::Ignore, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn feature_names_follow_column_order() {
        let schema = FeatureSchema {
            numeric: vec!["n".into()],
            binary: vec!["b".into()],
            categorical: vec!["c".into()],
        };
        let p = Preprocessor::new(
            &schema,
            vec![vec!["y".into(), "x".into()]],
            UnknownCategoryPolicy::Error,
        );
        assert_eq!(p.feature_names(), ["n", "b", "c=x", "c=y"]);
        assert_eq!(p.offsets(), [0, 1, 2]);
    }
}
