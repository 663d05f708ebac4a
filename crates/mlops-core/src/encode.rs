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
            let matcher = LevelMatcher::new(levels);
            let mut push = |row: usize, code: Option<u32>, value: &str| match code {
                Some(c) => {
                    codes.push(c);
                    Ok(())
                }
                None => {
                    // Empty cell or unknown level: the policy decides (error or none).
                    encode_category(value, levels, pre.unknown_category, &mut scratch)
                        .map_err(|m| (row, m))?;
                    codes.push(u32::MAX);
                    Ok(())
                }
            };
            // Views are compared as native-endian integers laid out as on little-endian
            // machines (length first); elsewhere, compare the text.
            if cfg!(target_endian = "little") && text.null_count() == 0 {
                let mut row = 0;
                for array in text.downcast_iter() {
                    for (i, view) in array.views().iter().enumerate() {
                        let code = matcher.find(view.length, view.as_u128(), || array.value(i));
                        push(row, code, if code.is_some() { "" } else { array.value(i) })?;
                        row += 1;
                    }
                }
            } else {
                for (row, v) in text.iter().enumerate() {
                    let v = v.unwrap_or("");
                    // An empty cell is missing, even if an imported model has an empty level.
                    let code = levels.iter().position(|l| !v.is_empty() && l == v);
                    push(row, code.map(|c| c as u32), v)?;
                }
            }
            Ok(Encoded::Codes(codes))
        }
    }
}

/// Finds a cell's level from its Arrow string view without reading the string when it is
/// short: a view of at most 12 bytes holds the length and the bytes themselves, so one
/// 128-bit comparison per level decides. Longer cells are compared by length and 4-byte
/// prefix first, then in full.
struct LevelMatcher<'a> {
    /// Views of the short levels (bytes past the string zeroed), with their codes.
    short: Vec<(u128, u32)>,
    /// Length, prefix view bits (lowest 64), text and code of the long levels.
    long: Vec<(u32, u64, &'a str, u32)>,
}

/// Longest string an Arrow view holds inline.
const INLINE: usize = 12;

impl<'a> LevelMatcher<'a> {
    fn new(levels: &'a [String]) -> Self {
        let mut short = Vec::new();
        let mut long = Vec::new();
        // An empty level never matches: empty cells are missing (as in `encode_category`).
        for (code, level) in levels.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            let bytes = level.as_bytes();
            let mut view = [0u8; 16];
            view[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            let head = bytes.len().min(INLINE);
            view[4..4 + head].copy_from_slice(&bytes[..head]);
            let bits = u128::from_le_bytes(view);
            if bytes.len() <= INLINE {
                short.push((bits, code as u32));
            } else {
                long.push((bytes.len() as u32, bits as u64, level.as_str(), code as u32));
            }
        }
        LevelMatcher { short, long }
    }

    /// The code of the cell whose view has `length` and bits `view`; `text` reads the whole
    /// cell when needed.
    #[inline]
    fn find<'c>(&self, length: u32, view: u128, text: impl Fn() -> &'c str) -> Option<u32> {
        if length as usize <= INLINE {
            // Only the length and the string's own bytes count.
            let used = 8 * (4 + length as usize);
            let masked = if used == 128 {
                view
            } else {
                view & ((1u128 << used) - 1)
            };
            self.short
                .iter()
                .find(|(v, _)| *v == masked)
                .map(|(_, c)| *c)
        } else {
            self.long
                .iter()
                .find(|(len, head, level, _)| {
                    *len == length && *head == view as u64 && text() == *level
                })
                .map(|(.., c)| *c)
        }
    }
}

/// The feature columns of a table, validated and encoded column by column, ready to be
/// assembled into model rows in any range (so that batch prediction never holds the whole
/// matrix).
pub struct EncodedColumns {
    blocks: Vec<Encoded>,
    offsets: Vec<usize>,
    n_features: usize,
    n_rows: usize,
}

impl EncodedColumns {
    /// Rows in the table.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Width of a model row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Write rows `start..start + out.len() / n_features` into `out` (row-major, already
    /// zeroed).
    pub fn fill_rows(&self, start: usize, out: &mut [f32]) {
        let nf = self.n_features;
        if nf == 0 {
            return;
        }
        let n = out.len() / nf;
        // Column by column: each block is read sequentially.
        for (block, &off) in self.blocks.iter().zip(&self.offsets) {
            match block {
                Encoded::Values(v) => {
                    for (row, &value) in out.chunks_exact_mut(nf).zip(&v[start..start + n]) {
                        row[off] = value;
                    }
                }
                Encoded::Codes(c) => {
                    for (row, &code) in out.chunks_exact_mut(nf).zip(&c[start..start + n]) {
                        if code != u32::MAX {
                            row[off + code as usize] = 1.0;
                        }
                    }
                }
            }
        }
    }
}

/// Validate and encode the feature columns of `df`. Reports the first bad cell of every
/// column.
pub fn encode_columns(df: &DataFrame, pre: &Preprocessor, path: &Path) -> Result<EncodedColumns> {
    encode_columns_from(df, pre, path, 0)
}

/// [`encode_columns`] for a batch whose first row is row `first_row` (0-based) of the table,
/// so that a bad cell is reported with its row in the table.
pub fn encode_columns_from(
    df: &DataFrame,
    pre: &Preprocessor,
    path: &Path,
    first_row: usize,
) -> Result<EncodedColumns> {
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
                first_row + row + 1,
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
    Ok(EncodedColumns {
        blocks,
        offsets: pre.offsets(),
        n_features: pre.n_features(),
        n_rows: df.height(),
    })
}

/// Encode the feature columns of `df` into a row-major matrix of
/// `preprocessor.n_features()` columns. Reports the first bad cell of every column.
pub fn encode_features(df: &DataFrame, pre: &Preprocessor, path: &Path) -> Result<Vec<f32>> {
    let columns = encode_columns(df, pre, path)?;
    let nf = columns.n_features();
    let mut x = vec![0f32; columns.n_rows() * nf];
    if nf > 0 {
        x.par_chunks_mut(ROW_CHUNK * nf)
            .enumerate()
            .for_each(|(chunk, out)| columns.fill_rows(chunk * ROW_CHUNK, out));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use mlops_domain::UnknownCategoryPolicy;

    fn preprocessor(levels: &[&str], policy: UnknownCategoryPolicy) -> Preprocessor {
        Preprocessor {
            columns: vec![
                ColumnEncoder::Numeric { name: "x".into() },
                ColumnEncoder::Categorical {
                    name: "c".into(),
                    levels: levels.iter().map(|l| l.to_string()).collect(),
                },
            ],
            unknown_category: policy,
        }
    }

    fn one_hot(cells: Vec<Option<&str>>, levels: &[&str]) -> Result<Vec<Vec<f32>>> {
        let n = cells.len();
        let df = DataFrame::new(
            n,
            vec![
                Column::new("x".into(), vec![1.5f64; n]),
                Column::new("c".into(), cells),
            ],
        )
        .unwrap();
        let pre = preprocessor(levels, UnknownCategoryPolicy::Error);
        let x = encode_features(&df, &pre, Path::new("t.parquet"))?;
        Ok(x.chunks(pre.n_features())
            .map(|r| r[1..].to_vec())
            .collect())
    }

    /// Short (inline) and long cells, long levels that share length and prefix, and an empty
    /// level as an imported model may have: every cell gets its own level or none.
    #[test]
    fn categorical_cells_match_their_level_by_view_and_by_text() {
        let levels = [
            "",
            "No",
            "No internet service",
            "No internet servicf",
            "Yes",
        ];
        let cells = vec![
            Some("Yes"),
            Some("No internet servicf"),
            Some("No"),
            Some(""),
            Some("No internet service"),
        ];
        let rows = one_hot(cells.clone(), &levels).unwrap();
        let hot: Vec<Option<usize>> = rows
            .iter()
            .map(|r| r.iter().position(|&v| v == 1.0))
            .collect();
        assert_eq!(hot, [Some(4), Some(3), Some(1), None, Some(2)]);
        // With a null cell the column takes the text path; same answers.
        let mut with_null = cells;
        with_null.push(None);
        let rows = one_hot(with_null, &levels).unwrap();
        let hot: Vec<Option<usize>> = rows
            .iter()
            .map(|r| r.iter().position(|&v| v == 1.0))
            .collect();
        assert_eq!(hot, [Some(4), Some(3), Some(1), None, Some(2), None]);
    }

    #[test]
    fn an_unknown_category_names_row_column_and_value() {
        for cells in [
            vec![Some("Yes"), Some("Maybe")],
            vec![Some("Yes"), Some("No internet servic")],
            vec![None, Some("Maybe")],
        ] {
            let err = one_hot(cells, &["No", "No internet service", "Yes"])
                .unwrap_err()
                .to_string();
            assert!(err.contains("row 2, column `c`: unknown category"), "{err}");
        }
    }
}
