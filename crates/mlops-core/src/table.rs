//! Reading and writing tables (CSV or Parquet, chosen by extension) with polars.
//!
//! CSV columns are read as text and parsed by [`crate::encode`], so that a bad value is
//! reported with its row and column instead of as a type-inference failure.

use std::fs::File;
use std::path::{Path, PathBuf};

use mlops_domain::AtomicFile;
use polars::prelude::*;

use crate::error::{CoreError, Result};

/// Table file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format of a path, by extension.
    pub fn of(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(CoreError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

fn table_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(PolarsError) -> CoreError + 'a {
    move |e| CoreError::Table {
        action,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Read a whole table. Empty files and header-only files are errors.
pub fn read_table(path: &Path) -> Result<DataFrame> {
    read_table_columns(path, None)
}

/// Read a table; when `wanted` is given and every wanted column exists, Parquet decodes only
/// those (CSV is always read whole). Absent columns are not an error here: the whole table is
/// read, so that [`require_columns`] reports them all at once next to every column the file
/// does have. Empty files and header-only files are errors.
pub fn read_table_columns(path: &Path, wanted: Option<&[&str]>) -> Result<DataFrame> {
    let format = Format::of(path)?;
    let meta = std::fs::metadata(path).map_err(|e| CoreError::Table {
        action: "read",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    if meta.len() == 0 {
        return Err(CoreError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let df = match format {
        Format::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(PathBuf::from(path)))
            .and_then(|r| r.finish())
            .map_err(table_err("read", path))?,
        Format::Parquet => {
            let file = File::open(path).map_err(|e| CoreError::Table {
                action: "read",
                path: path.to_path_buf(),
                source: e.into(),
            })?;
            let mut reader = ParquetReader::new(file);
            if let Some(wanted) = wanted {
                let schema = reader.schema().map_err(table_err("read", path))?;
                if wanted.iter().all(|c| schema.contains(c)) {
                    reader =
                        reader.with_columns(Some(wanted.iter().map(|c| c.to_string()).collect()));
                }
            }
            reader.finish().map_err(table_err("read", path))?
        }
    };
    if df.height() == 0 {
        return Err(CoreError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(df)
}

/// Write a table atomically (temporary file, then rename).
pub fn write_table(df: &mut DataFrame, path: &Path) -> Result<()> {
    let format = Format::of(path)?;
    let mut out = AtomicFile::create(path)?;
    match format {
        Format::Csv => CsvWriter::new(&mut out).include_header(true).finish(df),
        Format::Parquet => ParquetWriter::new(&mut out)
            .with_compression(ParquetCompression::Snappy)
            .finish(df)
            .map(|_| ()),
    }
    .map_err(table_err("write", path))?;
    out.commit()?;
    Ok(())
}

/// Check that every named column exists; lists all missing ones.
pub fn require_columns<'a>(
    df: &DataFrame,
    path: &Path,
    columns: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let missing: Vec<String> = columns
        .into_iter()
        .filter(|c| !names.iter().any(|n| n == c))
        .map(str::to_string)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CoreError::MissingColumns {
            path: path.to_path_buf(),
            missing,
            available: names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(df: &DataFrame) -> Vec<String> {
        df.get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// Parquet decodes only the wanted columns when all exist; when one is absent, the whole
    /// table is read so that the error can list every column the file has (a misnamed
    /// `Contract` is then visible next to the missing `contract`).
    #[test]
    fn parquet_projection_only_when_every_wanted_column_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut df = DataFrame::new(
            2,
            vec![
                Column::new("tenure".into(), [1.0f64, 2.0]),
                Column::new("Contract".into(), ["One year", "Two year"]),
                Column::new("churn".into(), ["No", "Yes"]),
            ],
        )
        .unwrap();
        write_table(&mut df, &path).unwrap();

        let projected = read_table_columns(&path, Some(&["tenure"])).unwrap();
        assert_eq!(columns(&projected), ["tenure"]);

        let whole = read_table_columns(&path, Some(&["tenure", "contract"])).unwrap();
        assert_eq!(columns(&whole), ["tenure", "Contract", "churn"]);
        let err = require_columns(&whole, &path, ["tenure", "contract"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing column(s) `contract`") && err.contains("`Contract`"),
            "{err}"
        );
    }
}
