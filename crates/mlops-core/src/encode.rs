//! From table columns to the model's row-major `f32` matrix and 0/1 labels, with every bad
//! value reported by row, column and value.

use std::path::Path;

use mlops_domain::{FeatureSchema, LabelConfig};
use mlops_model::preprocess::{
    check_binary, check_number, encode_category, parse_binary, parse_numeric,
};
use mlops_model::{ColumnEncoder, Preprocessor};
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{CoreError, Result};

/// A column encoded on its own, before the columns are interleaved into rows.
enum Encoded {
    /// One feature.
    Values(Vec<f32>),
    /// One-hot: the level per row (`u32::MAX` = none).
    Codes(Vec<u32>),
}

/// Rows per parallel work item when interleaving columns into rows.
const ROW_CHUNK: usize = 16_384;

fn column<'a>(df: &'a DataFrame, name: &str, path: &Path) -> Result<&'a Column> {
    df.column(name).map_err(|_| CoreError::MissingColumns {
        path: path.to_path_buf(),
        missing: vec![name.to_string()],
        available: df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    })
}

fn as_text(col: &Column) -> std::result::Result<StringChunked, String> {
    let cast = col.cast(&DataType::String).map_err(|e| e.to_string())?;
    cast.str().cloned().map_err(|e| e.to_string())
}

fn is_number(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric()
}

/// Parse every cell of a column; the first bad cell is returned as `(row, message)`.
fn encode_column(
    col: &Column,
    enc: &ColumnEncoder,
    pre: &Preprocessor,
) -> std::result::Result<Encoded, (usize, String)> {
    let n = col.len();
    let whole = |e: String| (0usize, e);
    match enc {
        ColumnEncoder::Numeric { .. } | ColumnEncoder::Binary { .. } => {
            let binary = matches!(enc, ColumnEncoder::Binary { .. });
            let mut out = Vec::with_capacity(n);
            if is_number(col.dtype()) || col.dtype() == &DataType::Boolean {
                let cast = col
                    .cast(&DataType::Float64)
                    .map_err(|e| whole(e.to_string()))?;
                let values = cast.f64().map_err(|e| whole(e.to_string()))?;
                for (row, v) in values.iter().enumerate() {
                    let v = v.unwrap_or(f64::NAN);
                    out.push(
                        if binary {
                            check_binary(v)
                        } else {
                            check_number(v)
                        }
                        .map_err(|m| (row, m))?,
                    );
                }
            } else {
                let text = as_text(col).map_err(whole)?;
                for (row, v) in text.iter().enumerate() {
                    let v = v.unwrap_or("");
                    out.push(
                        if binary {
                            parse_binary(v)
                        } else {
                            parse_numeric(v)
                        }
                        .map_err(|m| (row, m))?,
                    );
                }
            }
            Ok(Encoded::Values(out))
        }
        ColumnEncoder::Categorical { levels, .. } => {
            let text = as_text(col).map_err(whole)?;
            let mut codes = Vec::with_capacity(n);
            let mut scratch = vec![0f32; levels.len()];
            for (row, v) in text.iter().enumerate() {
                let v = v.unwrap_or("");
                match levels.iter().position(|l| l == v) {
                    Some(i) => codes.push(i as u32),
                    None => {
                        // Empty cell or unknown level: the policy decides (error or none).
                        encode_category(v, levels, pre.unknown_category, &mut scratch)
                            .map_err(|m| (row, m))?;
                        codes.push(u32::MAX);
                    }
                }
            }
            Ok(Encoded::Codes(codes))
        }
    }
}

/// Encode the feature columns of `df` into a row-major matrix of
/// `preprocessor.n_features()` columns. Reports the first bad cell of every column.
pub fn encode_features(df: &DataFrame, pre: &Preprocessor, path: &Path) -> Result<Vec<f32>> {
    crate::table::require_columns(df, path, pre.input_columns())?;
    let cols: Vec<&Column> = pre
        .columns
        .iter()
        .map(|c| column(df, c.name(), path))
        .collect::<Result<_>>()?;
    let encoded: Vec<std::result::Result<Encoded, (usize, String)>> = pre
        .columns
        .par_iter()
        .zip(cols.par_iter())
        .map(|(enc, col)| encode_column(col, enc, pre))
        .collect();
    let mut problems = Vec::new();
    let mut blocks = Vec::with_capacity(encoded.len());
    for (enc, result) in pre.columns.iter().zip(encoded) {
        match result {
            Ok(block) => blocks.push(block),
            Err((row, message)) => problems.push(format!(
                "row {}, column `{}`: {message}",
                row + 1,
                enc.name()
            )),
        }
    }
    if !problems.is_empty() {
        return Err(CoreError::InvalidCells {
            path: path.to_path_buf(),
            problems,
        });
    }
    let nf = pre.n_features();
    let offsets = pre.offsets();
    let n_rows = df.height();
    let mut x = vec![0f32; n_rows * nf];
    x.par_chunks_mut(ROW_CHUNK * nf)
        .enumerate()
        .for_each(|(chunk, out)| {
            let start = chunk * ROW_CHUNK;
            for (i, row) in out.chunks_mut(nf).enumerate() {
                let r = start + i;
                for (block, &off) in blocks.iter().zip(&offsets) {
                    match block {
                        Encoded::Values(v) => row[off] = v[r],
                        Encoded::Codes(c) => {
                            if c[r] != u32::MAX {
                                row[off + c[r] as usize] = 1.0;
                            }
                        }
                    }
                }
            }
        });
    Ok(x)
}

/// Levels of each categorical column (sorted, without empty cells), learnt from training data.
pub fn learn_levels(
    df: &DataFrame,
    schema: &FeatureSchema,
    path: &Path,
) -> Result<Vec<Vec<String>>> {
    schema
        .categorical
        .iter()
        .map(|name| {
            let col = column(df, name, path)?;
            let text = as_text(col).map_err(|m| CoreError::InvalidCells {
                path: path.to_path_buf(),
                problems: vec![format!("column `{name}`: {m}")],
            })?;
            // Borrowed strings: one allocation per level, not per row.
            let distinct: std::collections::HashSet<&str> =
                text.iter().flatten().filter(|s| !s.is_empty()).collect();
            let mut levels: Vec<String> = distinct.into_iter().map(str::to_string).collect();
            levels.sort();
            Ok(levels)
        })
        .collect()
}

/// The label column as 0/1: `positive` → 1, `negative` → 0, anything else is an error naming
/// the row and value.
pub fn encode_labels(df: &DataFrame, label: &LabelConfig, path: &Path) -> Result<Vec<f32>> {
    crate::table::require_columns(df, path, [label.column.as_str()])?;
    let col = column(df, &label.column, path)?;
    let text = as_text(col).map_err(|m| CoreError::InvalidCells {
        path: path.to_path_buf(),
        problems: vec![format!("column `{}`: {m}", label.column)],
    })?;
    let mut y = Vec::with_capacity(text.len());
    for (row, v) in text.iter().enumerate() {
        let v = v.unwrap_or("").trim();
        let value = if v == label.positive {
            1.0
        } else if v == label.negative {
            0.0
        } else {
            let what = if v.is_empty() {
                "is empty".to_string()
            } else {
                format!("is `{v}`")
            };
            return Err(CoreError::InvalidCells {
                path: path.to_path_buf(),
                problems: vec![format!(
                    "row {}, column `{}`: label {what}, expected `{}` or `{}`",
                    row + 1,
                    label.column,
                    label.positive,
                    label.negative
                )],
            });
        };
        y.push(value);
    }
    Ok(y)
}
