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

/// Rows a [`BatchReader`] aims for per batch: large enough that per-batch overheads (a
/// Parquet footer copy, a thread-pool round) vanish, small enough that a batch's columns
/// stay far below the memory of the table.
pub const DEFAULT_BATCH_ROWS: usize = 262_144;

/// Reads a table batch by batch, so that memory follows the batch, not the table: Parquet by
/// whole row groups (grouped up to the batch size; a larger row group is sliced), CSV by
/// chunks of whole records (a record may span lines inside quotes).
pub struct BatchReader {
    path: PathBuf,
    columns: Vec<String>,
    kind: BatchKind,
}

enum BatchKind {
    Parquet {
        metadata: std::sync::Arc<polars::io::parquet::read::FileMetadata>,
        /// Batches as (first row group, end row group, slice within when one group is split).
        batches: std::vec::IntoIter<ParquetBatch>,
        projected: bool,
    },
    Csv {
        file: File,
        header: Vec<u8>,
        /// Bytes read but not yet parsed (the start of an incomplete record).
        carry: Vec<u8>,
        eof: bool,
        chunk_bytes: usize,
        projected: bool,
    },
}

impl BatchReader {
    /// Open `path` (CSV or Parquet by extension). Its column names are available at once
    /// ([`BatchReader::columns`]); when every `wanted` column exists only those are decoded.
    /// Empty files are an error; a table without rows yields no batch.
    pub fn open(path: &Path, wanted: Option<&[&str]>, batch_rows: usize) -> Result<BatchReader> {
        let format = Format::of(path)?;
        let read_err = |e: std::io::Error| CoreError::Table {
            action: "read",
            path: path.to_path_buf(),
            source: e.into(),
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() == 0 {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let batch_rows = batch_rows.max(1);
        let all_wanted = |names: &[String]| {
            wanted.is_some_and(|w| w.iter().all(|c| names.iter().any(|n| n == c)))
        };
        match format {
            Format::Parquet => {
                let file = File::open(path).map_err(read_err)?;
                let mut reader = ParquetReader::new(file);
                let metadata = reader
                    .get_metadata()
                    .map_err(table_err("read", path))?
                    .clone();
                let schema = reader.schema().map_err(table_err("read", path))?;
                let names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
                let projected = all_wanted(&names);
                let columns = match (projected, wanted) {
                    (true, Some(w)) => w.iter().map(|c| c.to_string()).collect(),
                    _ => names,
                };
                let batches =
                    parquet_batches(metadata.row_groups.iter().map(|g| g.num_rows()), batch_rows);
                Ok(BatchReader {
                    path: path.to_path_buf(),
                    columns,
                    kind: BatchKind::Parquet {
                        metadata,
                        batches: batches.into_iter(),
                        projected,
                    },
                })
            }
            Format::Csv => {
                let mut file = File::open(path).map_err(read_err)?;
                let mut carry = Vec::new();
                let mut eof = false;
                // The header is the first record.
                let header = loop {
                    if let Some(end) = record_end(&carry, false) {
                        let rest = carry.split_off(end);
                        break std::mem::replace(&mut carry, rest);
                    }
                    if eof {
                        break std::mem::take(&mut carry);
                    }
                    eof = fill(&mut file, &mut carry, 1 << 16).map_err(read_err)?;
                };
                let names = csv_frame(&header, b"", None, path)?
                    .get_column_names()
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>();
                let projected = all_wanted(&names);
                let columns = match (projected, wanted) {
                    (true, Some(w)) => w.iter().map(|c| c.to_string()).collect(),
                    _ => names,
                };
                // A generated row is ~150 bytes of CSV; aim at the batch size in rows.
                let chunk_bytes = batch_rows.saturating_mul(160).clamp(1 << 12, 1 << 28);
                Ok(BatchReader {
                    path: path.to_path_buf(),
                    columns,
                    kind: BatchKind::Csv {
                        file,
                        header,
                        carry,
                        eof,
                        chunk_bytes,
                        projected,
                    },
                })
            }
        }
    }

    /// The columns each batch holds (the wanted ones when all exist, else all of the file's).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Check that the table has every named column before any batch is read; lists all
    /// missing ones, as [`require_columns`] does for a frame.
    pub fn require_columns<'a>(&self, columns: impl IntoIterator<Item = &'a str>) -> Result<()> {
        require_names(&self.columns, &self.path, columns)
    }

    /// The next batch, or `None` at the end of the table.
    pub fn next_batch(&mut self) -> Result<Option<DataFrame>> {
        let path = self.path.as_path();
        match &mut self.kind {
            BatchKind::Parquet {
                metadata,
                batches,
                projected,
            } => {
                let Some((start, end, slice)) = batches.next() else {
                    return Ok(None);
                };
                // A footer that lists only this batch's row groups: polars then decodes those
                // (in parallel over columns for one group, over groups for several) and maps
                // the file afresh, so pages of earlier batches leave the resident set.
                let mut part = (**metadata).clone();
                part.row_groups = metadata.row_groups[start..end].to_vec();
                part.num_rows = part.row_groups.iter().map(|g| g.num_rows()).sum();
                let file = File::open(path).map_err(|e| CoreError::Table {
                    action: "read",
                    path: path.to_path_buf(),
                    source: e.into(),
                })?;
                let mut reader = ParquetReader::new(file).with_slice(slice);
                reader.set_metadata(std::sync::Arc::new(part));
                if *projected {
                    reader = reader.with_columns(Some(self.columns.clone()));
                }
                reader.finish().map(Some).map_err(table_err("read", path))
            }
            BatchKind::Csv {
                file,
                header,
                carry,
                eof,
                chunk_bytes,
                projected,
            } => loop {
                if carry.len() >= *chunk_bytes || *eof {
                    // The last record that ends within the chunk size (the carry starts at a
                    // record, so quote parity counts from 0), else the first record (longer
                    // than a chunk), else at the end of the file what is left.
                    let limit = carry.len().min(*chunk_bytes);
                    let end = record_end(&carry[..limit], true)
                        .or_else(|| record_end(carry, false))
                        .or(if *eof { Some(carry.len()) } else { None });
                    if let Some(end) = end {
                        if end == 0 || carry[..end].iter().all(|b| b.is_ascii_whitespace()) {
                            carry.drain(..end);
                            if *eof {
                                return Ok(None);
                            }
                            continue;
                        }
                        let rest = carry.split_off(end);
                        let chunk = std::mem::replace(carry, rest);
                        let columns = projected.then_some(self.columns.as_slice());
                        return csv_frame(header, &chunk, columns, path).map(Some);
                    }
                }
                let want = (*chunk_bytes).max(carry.len());
                *eof = fill(file, carry, want).map_err(|e| CoreError::Table {
                    action: "read",
                    path: path.to_path_buf(),
                    source: e.into(),
                })?;
            },
        }
    }
}

/// A batch of a Parquet file: row groups `start..end`, and the rows `(offset, len)` within
/// when one large group is split.
type ParquetBatch = (usize, usize, Option<(usize, usize)>);

/// Group row groups into batches of about `batch_rows` rows: consecutive small groups
/// together, a group of more than twice the batch size sliced.
fn parquet_batches(groups: impl Iterator<Item = usize>, batch_rows: usize) -> Vec<ParquetBatch> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut rows = 0;
    let mut end = 0;
    for (i, n) in groups.enumerate() {
        end = i + 1;
        if n > 2 * batch_rows {
            if start < i {
                out.push((start, i, None));
            }
            let mut offset = 0;
            while offset < n {
                let len = batch_rows.min(n - offset);
                out.push((i, i + 1, Some((offset, len))));
                offset += len;
            }
            start = i + 1;
            rows = 0;
            continue;
        }
        rows += n;
        if rows >= batch_rows {
            out.push((start, i + 1, None));
            start = i + 1;
            rows = 0;
        }
    }
    if start < end {
        out.push((start, end, None));
    }
    out
}

/// Append up to `want` bytes from `file` to `buf`; true at end of file.
fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    use std::io::Read;
    let before = buf.len();
    let read = file.take(want as u64).read_to_end(buf)?;
    Ok(read == 0 && buf.len() == before)
}

/// Where the first (`last == false`) or last complete record of `buf` ends: just past a
/// newline outside quotes (a doubled quote inside quotes toggles twice, so parity suffices).
fn record_end(buf: &[u8], last: bool) -> Option<usize> {
    if !buf.contains(&b'"') {
        return if last {
            buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
        } else {
            buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
        };
    }
    let mut quoted = false;
    let mut found = None;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                found = Some(i + 1);
                if !last {
                    break;
                }
            }
            _ => {}
        }
    }
    found
}

/// Parse `header` + `body` as CSV with every column as text (as [`read_table_columns`]).
fn csv_frame(
    header: &[u8],
    body: &[u8],
    columns: Option<&[String]>,
    path: &Path,
) -> Result<DataFrame> {
    let mut bytes = Vec::with_capacity(header.len() + body.len() + 1);
    bytes.extend_from_slice(header);
    if !header.ends_with(b"\n") && !body.is_empty() {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(body);
    let mut options = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0));
    if let Some(columns) = columns {
        options = options.with_columns(Some(columns.iter().map(|c| c.as_str().into()).collect()));
    }
    options
        .into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish()
        .map_err(table_err("read", path))
}

/// Writes a table batch by batch (CSV or Parquet by extension), atomically: nothing appears
/// at the path unless [`BatchWriter::finish`] succeeds.
pub struct BatchWriter {
    path: PathBuf,
    state: Option<(SharedFile, WriterState)>,
}

enum WriterState {
    Csv(polars::io::csv::write::BatchedWriter<SharedFile>),
    // Boxed: polars' Parquet writer state is large; one lives per output file.
    Parquet(Box<polars::io::parquet::write::BatchedWriter<SharedFile>>),
}

/// The output file, shared between polars' writer (which keeps its sink) and
/// [`BatchWriter::finish`], which needs it back to commit.
#[derive(Clone)]
struct SharedFile(std::sync::Arc<std::sync::Mutex<AtomicFile>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("output writer poisoned"))?
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("output writer poisoned"))?
            .flush()
    }
}

impl BatchWriter {
    /// Prepare to write `path`; the file is created with the first batch.
    pub fn new(path: &Path) -> Result<BatchWriter> {
        Format::of(path)?;
        Ok(BatchWriter {
            path: path.to_path_buf(),
            state: None,
        })
    }

    /// Append a batch (every batch must have the first one's schema).
    pub fn write(&mut self, df: &DataFrame) -> Result<()> {
        let path = self.path.as_path();
        if self.state.is_none() {
            let out = SharedFile(std::sync::Arc::new(std::sync::Mutex::new(
                AtomicFile::create(path)?,
            )));
            let schema = df.schema();
            let writer = match Format::of(path)? {
                Format::Csv => WriterState::Csv(
                    CsvWriter::new(out.clone())
                        .include_header(true)
                        .batched(schema)
                        .map_err(table_err("write", path))?,
                ),
                Format::Parquet => WriterState::Parquet(Box::new(
                    ParquetWriter::new(out.clone())
                        .with_compression(ParquetCompression::Snappy)
                        .batched(schema)
                        .map_err(table_err("write", path))?,
                )),
            };
            self.state = Some((out, writer));
        }
        match &mut self.state {
            Some((_, WriterState::Csv(w))) => w.write_batch(df),
            Some((_, WriterState::Parquet(w))) => w.write_batch(df),
            None => Ok(()),
        }
        .map_err(table_err("write", path))
    }

    /// Finish the file and move it into place. Without any batch, nothing is written.
    pub fn finish(self) -> Result<()> {
        let path = self.path.as_path();
        let Some((out, writer)) = self.state else {
            return Ok(());
        };
        match writer {
            WriterState::Csv(mut w) => w.finish().map_err(table_err("write", path))?,
            WriterState::Parquet(w) => w.finish().map(|_| ()).map_err(table_err("write", path))?,
        }
        // polars' writer (and its clone of the sink) is gone: the file is ours alone again.
        let file = std::sync::Arc::try_unwrap(out.0)
            .ok()
            .and_then(|m| m.into_inner().ok())
            .ok_or_else(|| CoreError::Table {
                action: "write",
                path: path.to_path_buf(),
                source: std::io::Error::other("output still shared after the last batch").into(),
            })?;
        file.commit()?;
        Ok(())
    }
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
    require_names(&names, path, columns)
}

/// [`require_columns`] over a table's column names.
fn require_names<'a>(
    names: &[String],
    path: &Path,
    columns: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
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
            available: names.to_vec(),
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

    #[test]
    fn parquet_batches_group_small_row_groups_and_slice_large_ones() {
        // Groups of 30, 30, 30, 500, 10 rows with batches of 50.
        let b = parquet_batches([30, 30, 30, 500, 10].into_iter(), 50);
        assert_eq!(b[0], (0, 2, None));
        assert_eq!(b[1], (2, 3, None));
        let sliced: Vec<_> = b.iter().filter(|x| x.0 == 3).collect();
        assert_eq!(sliced.len(), 10);
        assert_eq!(sliced[0].2, Some((0, 50)));
        assert_eq!(sliced[9].2, Some((450, 50)));
        assert_eq!(b.last(), Some(&(4, 5, None)));
        let rows: usize = b
            .iter()
            .map(|&(s, e, slice)| slice.map_or([30, 30, 30, 500, 10][s..e].iter().sum(), |x| x.1))
            .sum();
        assert_eq!(rows, 600);
    }

    #[test]
    fn record_end_skips_newlines_inside_quotes() {
        let buf = b"a,\"x\ny\"\nb,c\nd";
        assert_eq!(record_end(buf, false), Some(8));
        assert_eq!(record_end(buf, true), Some(12));
        assert_eq!(record_end(b"no newline", true), None);
    }

    /// An empty-bodied CSV (header only) yields no batch; an empty file is an error.
    #[test]
    fn header_only_csv_has_no_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        std::fs::write(&path, "a,b\n").unwrap();
        let mut r = BatchReader::open(&path, None, 10).unwrap();
        assert_eq!(r.columns(), ["a", "b"]);
        assert!(r.next_batch().unwrap().is_none());
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            BatchReader::open(&path, None, 10),
            Err(CoreError::EmptyFile { .. })
        ));
    }
}
