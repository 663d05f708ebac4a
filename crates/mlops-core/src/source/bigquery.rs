//! BigQuery results to Parquet, page by page, with typed columns and no value lost.
//!
//! `mlops-gcp` hands over each page as BigQuery's JSON cells (text, `None` for NULL) with the
//! result's schema; [`PageWriter`] types every cell by its column's declared type and writes
//! the page as one Parquet row group, so memory holds one page, not the table:
//!
//! | BigQuery | polars | cell as sent |
//! | --- | --- | --- |
//! | STRING | String | the text |
//! | INTEGER / INT64 | Int64 | `"-5"` |
//! | FLOAT / FLOAT64 | Float64 | `"1.5"`, `"1.0E-5"`, `"NaN"`, `"Infinity"` |
//! | BOOLEAN / BOOL | Boolean | `"true"` / `"false"` |
//! | TIMESTAMP | Datetime(µs, UTC) | integer microseconds (`formatOptions.useInt64Timestamp`); float seconds in E notation (`"1.7E9"`, the API's default form) and RFC 3339 text are read exactly too |
//! | DATE | Date | `"2024-01-31"` |
//! | DATETIME | Datetime(µs) | `"2024-01-31T12:34:56.123456"` (or a space for `T`) |
//! | NUMERIC | Decimal(38, 9) | `"-12.5"`, exact |
//! | BIGNUMERIC | String | the exact text: its 76 digits do not fit polars' 128-bit decimals |
//! | anything else, REPEATED columns | String | the text (JSON for RECORD and arrays) |
//!
//! A cell that does not parse as its column's type is an error naming the column, the row
//! and the value ([`CoreError::InvalidCell`]); nothing is rounded, truncated or guessed.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use mlops_domain::AtomicFile;
use mlops_gcp::bigquery::{BqColumn, BqRows};
use mlops_gcp::Gcp;
use polars::prelude::*;

use crate::error::{CoreError, Result};
use crate::source::TableSource;

/// Precision and scale of BigQuery's NUMERIC (29 digits before the point, 9 after).
pub const NUMERIC: (usize, usize) = (38, 9);

/// The polars type of a column, from BigQuery's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text, kept as sent.
    Utf8,
    /// 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// Booleans.
    Boolean,
    /// Instants: microseconds since the epoch, UTC.
    Timestamp,
    /// Calendar dates.
    Date,
    /// Civil date-times without a zone, to the microsecond.
    Datetime,
    /// Exact decimals.
    Decimal {
        /// Total digits.
        precision: usize,
        /// Digits after the point.
        scale: usize,
    },
}

impl Kind {
    /// The kind of a result column: by type (legacy and standard names alike); a REPEATED
    /// column (a JSON array per cell) is text.
    pub fn of(column: &BqColumn) -> Kind {
        if column.mode.eq_ignore_ascii_case("REPEATED") {
            return Kind::Utf8;
        }
        match column.field_type.to_ascii_uppercase().as_str() {
            "INTEGER" | "INT64" => Kind::Int64,
            "FLOAT" | "FLOAT64" => Kind::Float64,
            "BOOLEAN" | "BOOL" => Kind::Boolean,
            "TIMESTAMP" => Kind::Timestamp,
            "DATE" => Kind::Date,
            "DATETIME" => Kind::Datetime,
            "NUMERIC" | "DECIMAL" => Kind::Decimal {
                precision: NUMERIC.0,
                scale: NUMERIC.1,
            },
            _ => Kind::Utf8,
        }
    }

    /// The polars type of the column.
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Utf8 => DataType::String,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Timestamp => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
            Kind::Date => DataType::Date,
            Kind::Datetime => DataType::Datetime(TimeUnit::Microseconds, None),
            Kind::Decimal { precision, scale } => DataType::Decimal(precision, scale),
        }
    }

    /// What a cell of this kind must look like, for errors.
    fn expected(self) -> &'static str {
        match self {
            Kind::Utf8 => "text",
            Kind::Int64 => "a 64-bit integer",
            Kind::Float64 => "a floating-point number",
            Kind::Boolean => "true or false",
            Kind::Timestamp => {
                "a timestamp (integer microseconds, seconds, or RFC 3339 text) in 64-bit microseconds"
            }
            Kind::Date => "a date (YYYY-MM-DD)",
            Kind::Datetime => "a date-time (YYYY-MM-DDTHH:MM:SS[.ffffff])",
            Kind::Decimal { .. } => "a decimal of at most 38 digits, 9 after the point",
        }
    }
}

/// The exact value of decimal text (`-12.5`, `1.25E3`, `+7`) times 10^`scale`, when it is an
/// integer there and has at most `precision` digits; `None` if it is not a number or would
/// lose a digit.
pub fn parse_decimal(text: &str, precision: usize, scale: usize) -> Option<i128> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => {
            let exp = &body[at + 1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 4
            {
                return None;
            }
            (&body[..at], exp.parse::<i64>().ok()?)
        }
        None => (body, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // digits × 10^shift is the unscaled value.
    let digits = format!("{whole}{fraction}");
    let mut shift = exponent - fraction.len() as i64 + scale as i64;
    let mut digits = digits.trim_start_matches('0');
    if shift < 0 {
        // Only zeros may be dropped: anything else would be a lost digit.
        let kept = digits.trim_end_matches('0');
        let droppable = (digits.len() - kept.len()) as i64;
        let drop = (-shift).min(droppable);
        digits = &digits[..digits.len() - drop as usize];
        shift += drop;
        if shift < 0 && !digits.is_empty() {
            return None;
        }
        shift = shift.max(0);
    }
    if digits.len() as i64 + shift > precision as i64 && !digits.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    if !digits.is_empty() {
        for _ in 0..shift {
            value = value.checked_mul(10)?;
        }
    }
    Some(if negative { -value } else { value })
}

/// Microseconds since the epoch of a TIMESTAMP cell: integer microseconds (what the
/// `useInt64Timestamp` format option asks for), else exact seconds (`1.7041646451E9`, the
/// API's default form), else RFC 3339 or BigQuery's `YYYY-MM-DD HH:MM:SS[.f] UTC` text.
fn parse_timestamp(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    if let Some(micros) = parse_decimal(text, 38, 6) {
        return i64::try_from(micros).ok();
    }
    let instant = DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.to_utc())
        .or_else(|| {
            let naive = text
                .strip_suffix(" UTC")
                .or_else(|| text.strip_suffix('Z'))?;
            parse_civil(naive).map(|t| t.and_utc())
        })?;
    (instant.nanosecond() % 1000 == 0).then(|| instant.timestamp_micros())
}

/// A civil date-time, `T` or a space between date and time, at most microseconds.
fn parse_civil(text: &str) -> Option<NaiveDateTime> {
    let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()?;
    (t.nanosecond() % 1000 == 0).then_some(t)
}

/// Days since 1970-01-01 of a DATE cell.
fn parse_date(text: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from(date.signed_duration_since(epoch).num_days()).ok()
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// One column of a page, typed.
enum Values {
    Utf8(Vec<Option<String>>),
    Int64(Vec<Option<i64>>),
    Float64(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    Int32(Vec<Option<i32>>),
    Int128(Vec<Option<i128>>),
}

/// Writes a query result to Parquet as its pages arrive: one row group per page, typed
/// columns (see the module documentation).
pub struct PageWriter<W: Write> {
    /// Where the Parquet bytes go until the first page fixes the schema.
    out: Option<W>,
    writer: Option<polars::io::parquet::write::BatchedWriter<W>>,
    /// The source, for errors.
    table: String,
    schema: Vec<BqColumn>,
    kinds: Vec<Kind>,
    rows: u64,
}

impl<W: Write> PageWriter<W> {
    /// A writer into `out`; `table` names the source in errors.
    pub fn new(out: W, table: impl Into<String>) -> PageWriter<W> {
        PageWriter {
            out: Some(out),
            writer: None,
            table: table.into(),
            schema: Vec::new(),
            kinds: Vec::new(),
            rows: 0,
        }
    }

    fn result_error(&self, message: String) -> CoreError {
        CoreError::QueryResult {
            table: self.table.clone(),
            message,
        }
    }

    /// Type and write one page. The first page fixes the schema; every later one must have it.
    pub fn write_page(&mut self, schema: &[BqColumn], mut rows: BqRows) -> Result<()> {
        if self.writer.is_none() {
            self.start(schema)?;
        } else if schema != self.schema.as_slice() {
            return Err(self.result_error(format!(
                "the schema changed between result pages: {} then {}",
                describe(&self.schema),
                describe(schema)
            )));
        }
        let height = rows.len();
        let mut columns = Vec::with_capacity(self.kinds.len());
        for (j, (column, &kind)) in self.schema.iter().zip(&self.kinds).enumerate() {
            let values = self.typed(j, column, kind, &mut rows)?;
            columns.push(to_column(&column.name, kind, values).map_err(|e| {
                self.result_error(format!("cannot build column `{}`: {e}", column.name))
            })?);
        }
        let df = DataFrame::new(height, columns)
            .map_err(|e| self.result_error(format!("cannot build a page: {e}")))?;
        let writer = self.writer.as_mut().ok_or_else(|| CoreError::QueryResult {
            table: self.table.clone(),
            message: "the Parquet writer is gone".into(),
        })?;
        writer
            .write_batch(&df)
            .map_err(|e| CoreError::QueryResult {
                table: self.table.clone(),
                message: format!("cannot write a page to Parquet: {e}"),
            })?;
        self.rows += height as u64;
        Ok(())
    }

    fn start(&mut self, schema: &[BqColumn]) -> Result<()> {
        if schema.is_empty() {
            return Err(self.result_error("the result has no columns".into()));
        }
        let kinds: Vec<Kind> = schema.iter().map(Kind::of).collect();
        let polars_schema: Schema = schema
            .iter()
            .zip(&kinds)
            .map(|(c, k)| Field::new(c.name.as_str().into(), k.dtype()))
            .collect();
        let out = self
            .out
            .take()
            .ok_or_else(|| self.result_error("the output is gone".into()))?;
        let writer = ParquetWriter::new(out)
            .with_compression(ParquetCompression::Snappy)
            .batched(&polars_schema)
            .map_err(|e| self.result_error(format!("cannot start the Parquet file: {e}")))?;
        self.writer = Some(writer);
        self.schema = schema.to_vec();
        self.kinds = kinds;
        Ok(())
    }

    /// Column `j` of the page, every cell parsed as `kind` (text is moved, not copied).
    fn typed(&self, j: usize, column: &BqColumn, kind: Kind, rows: &mut BqRows) -> Result<Values> {
        let first_row = self.rows;
        let bad = |i: usize, value: &str| CoreError::InvalidCell {
            table: self.table.clone(),
            row: first_row + i as u64 + 1,
            column: column.name.clone(),
            column_type: column.field_type.clone(),
            value: value.to_string(),
            expected: kind.expected(),
        };
        let cells = rows.iter_mut().map(|r| r.get_mut(j).and_then(Option::take));
        fn parse_all<T>(
            cells: impl Iterator<Item = Option<String>>,
            parse: impl Fn(&str) -> Option<T>,
            bad: impl Fn(usize, &str) -> CoreError,
        ) -> Result<Vec<Option<T>>> {
            cells
                .enumerate()
                .map(|(i, cell)| match cell {
                    None => Ok(None),
                    Some(text) => parse(&text).map(Some).ok_or_else(|| bad(i, &text)),
                })
                .collect()
        }
        Ok(match kind {
            Kind::Utf8 => Values::Utf8(cells.collect()),
            Kind::Int64 => Values::Int64(parse_all(cells, |t| t.parse().ok(), bad)?),
            Kind::Float64 => Values::Float64(parse_all(cells, |t| t.parse().ok(), bad)?),
            Kind::Boolean => Values::Boolean(parse_all(cells, parse_bool, bad)?),
            Kind::Timestamp => Values::Int64(parse_all(cells, parse_timestamp, bad)?),
            Kind::Date => Values::Int32(parse_all(cells, parse_date, bad)?),
            Kind::Datetime => Values::Int64(parse_all(
                cells,
                |t| parse_civil(t).map(|d| d.and_utc().timestamp_micros()),
                bad,
            )?),
            Kind::Decimal { precision, scale } => Values::Int128(parse_all(
                cells,
                |t| parse_decimal(t, precision, scale),
                bad,
            )?),
        })
    }

    /// Write the Parquet footer; returns the rows written. A result that never sent its
    /// schema is an error.
    pub fn finish(self) -> Result<u64> {
        let Some(writer) = &self.writer else {
            return Err(self.result_error("BigQuery sent no result (no schema, no rows)".into()));
        };
        writer
            .finish()
            .map_err(|e| self.result_error(format!("cannot finish the Parquet file: {e}")))?;
        Ok(self.rows)
    }
}

fn describe(schema: &[BqColumn]) -> String {
    let columns: Vec<String> = schema
        .iter()
        .map(|c| format!("{} {}", c.name, c.field_type))
        .collect();
    format!("({})", columns.join(", "))
}

fn to_column(name: &str, kind: Kind, values: Values) -> PolarsResult<Column> {
    let name = PlSmallStr::from(name);
    let series = match (kind, values) {
        (_, Values::Utf8(v)) => Series::new(name, v),
        (_, Values::Float64(v)) => Series::new(name, v),
        (_, Values::Boolean(v)) => Series::new(name, v),
        (Kind::Timestamp | Kind::Datetime, Values::Int64(v)) => {
            let tz = match kind {
                Kind::Timestamp => Some(TimeZone::UTC),
                _ => None,
            };
            Int64Chunked::from_iter_options(name, v.into_iter())
                .into_datetime(TimeUnit::Microseconds, tz)
                .into_series()
        }
        (_, Values::Int64(v)) => Series::new(name, v),
        (_, Values::Int32(v)) => Int32Chunked::from_iter_options(name, v.into_iter())
            .into_date()
            .into_series(),
        (kind, Values::Int128(v)) => {
            let (precision, scale) = match kind {
                Kind::Decimal { precision, scale } => (precision, scale),
                _ => NUMERIC,
            };
            Int128Chunked::from_iter_options(name, v.into_iter())
                .into_decimal(precision, scale)?
                .into_series()
        }
    };
    Ok(series.into_column())
}

/// Run `sql` and write its result to `target` as Parquet, page by page (`page_rows` rows a
/// page), atomically: a failed query or a bad cell leaves no file. Returns the rows written.
pub fn query_to_parquet(
    gcp: &Gcp,
    sql: &str,
    page_rows: u32,
    target: &Path,
    source: &TableSource,
) -> Result<u64> {
    let mut file = AtomicFile::create(target)?;
    let rows = {
        let mut pages = PageWriter::new(&mut file, source.to_string());
        // The callback's error type is mlops-gcp's: a page's own error is kept here and
        // reported instead of the stand-in that stops the query.
        let mut page_error = None;
        let queried = gcp.query(sql, page_rows, &mut |schema, rows| {
            pages.write_page(schema, rows).map_err(|e| {
                page_error = Some(e);
                mlops_gcp::GcpError::Failed {
                    action: "write a result page",
                    resource: target.display().to_string(),
                    message: "see the cause above".into(),
                }
            })
        });
        if let Some(e) = page_error {
            return Err(e);
        }
        queried.map_err(|error| CoreError::Cloud {
            action: "query",
            source_text: source.to_string(),
            error: Box::new(error),
        })?;
        pages.finish()?
    };
    file.commit()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> BqColumn {
        BqColumn::new(name, ty, "")
    }

    fn cell(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn decimals_are_exact_or_refused() {
        let n = |t: &str| parse_decimal(t, 38, 9);
        assert_eq!(n("0"), Some(0));
        assert_eq!(n("-12.5"), Some(-12_500_000_000));
        assert_eq!(n("+7"), Some(7_000_000_000));
        assert_eq!(n("1.25E3"), Some(1_250_000_000_000));
        assert_eq!(n("1.25e-9"), None, "a digit past the scale");
        assert_eq!(n("1.2e-8"), Some(12));
        assert_eq!(n("0.000000001"), Some(1));
        assert_eq!(
            n("0.0000000010000"),
            Some(1),
            "trailing zeros are not digits lost"
        );
        assert_eq!(n("0.0000000001"), None);
        assert_eq!(n(".5"), Some(500_000_000));
        assert_eq!(n("5."), Some(5_000_000_000));
        let max = "99999999999999999999999999999.999999999";
        assert_eq!(
            n(max),
            Some(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(
            n(&format!("-{max}")),
            Some(-99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(
            n("100000000000000000000000000000"),
            None,
            "30 integer digits"
        );
        for bad in [
            "", "-", ".", "1e", "1e+", "1.2.3", "1,5", " 1", "NaN", "0x10", "1e99999",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
        // Seconds to microseconds (TIMESTAMP in E notation).
        assert_eq!(
            parse_decimal("1.704164645123456E9", 38, 6),
            Some(1_704_164_645_123_456)
        );
        assert_eq!(parse_decimal("-1.5E0", 38, 6), Some(-1_500_000));
    }

    #[test]
    fn timestamps_dates_and_datetimes() {
        assert_eq!(
            parse_timestamp("1704164645123456"),
            Some(1_704_164_645_123_456)
        );
        assert_eq!(parse_timestamp("-1"), Some(-1));
        assert_eq!(
            parse_timestamp("-62135596800000000"),
            Some(-62_135_596_800_000_000)
        );
        assert_eq!(
            parse_timestamp("1.704164645123456E9"),
            Some(1_704_164_645_123_456)
        );
        assert_eq!(parse_timestamp("-1.0E-6"), Some(-1));
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.123456Z"),
            Some(1_704_164_645_123_456)
        );
        assert_eq!(parse_timestamp("1969-12-31 23:59:59.999999 UTC"), Some(-1));
        assert_eq!(parse_timestamp("2024-01-02T03:04:05.1234567Z"), None);
        assert_eq!(parse_timestamp("1.0E-7"), None, "below a microsecond");
        assert_eq!(parse_timestamp("99999999999999999999"), None, "beyond i64");
        assert_eq!(parse_timestamp("yesterday"), None);

        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("0001-01-01"), Some(-719_162));
        assert_eq!(parse_date("9999-12-31"), Some(2_932_896));
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("2024-1-2x"), None);

        let dt = |t: &str| parse_civil(t).map(|d| d.and_utc().timestamp_micros());
        assert_eq!(
            dt("2024-01-02T03:04:05.123456"),
            Some(1_704_164_645_123_456)
        );
        assert_eq!(dt("2024-01-02 03:04:05"), Some(1_704_164_645_000_000));
        assert_eq!(
            dt("1900-01-01T00:00:00.000001"),
            Some(-2_208_988_799_999_999)
        );
        assert_eq!(dt("2024-01-02T03:04:05.1234561"), None);
        assert_eq!(dt("2024-01-02"), None);
    }

    #[test]
    fn kinds_follow_the_declared_type() {
        for (ty, kind) in [
            ("STRING", Kind::Utf8),
            ("INTEGER", Kind::Int64),
            ("INT64", Kind::Int64),
            ("FLOAT", Kind::Float64),
            ("FLOAT64", Kind::Float64),
            ("BOOLEAN", Kind::Boolean),
            ("BOOL", Kind::Boolean),
            ("TIMESTAMP", Kind::Timestamp),
            ("DATE", Kind::Date),
            ("DATETIME", Kind::Datetime),
            (
                "NUMERIC",
                Kind::Decimal {
                    precision: 38,
                    scale: 9,
                },
            ),
            ("BIGNUMERIC", Kind::Utf8),
            ("TIME", Kind::Utf8),
            ("GEOGRAPHY", Kind::Utf8),
            ("JSON", Kind::Utf8),
            ("BYTES", Kind::Utf8),
            ("RECORD", Kind::Utf8),
        ] {
            assert_eq!(Kind::of(&col("c", ty)), kind, "{ty}");
        }
        let mut repeated = col("c", "INTEGER");
        repeated.mode = "REPEATED".into();
        assert_eq!(Kind::of(&repeated), Kind::Utf8);
    }

    fn typed_schema() -> Vec<BqColumn> {
        vec![
            col("s", "STRING"),
            col("i", "INTEGER"),
            col("f", "FLOAT"),
            col("b", "BOOLEAN"),
            col("ts", "TIMESTAMP"),
            col("d", "DATE"),
            col("dt", "DATETIME"),
            col("n", "NUMERIC"),
            col("bn", "BIGNUMERIC"),
            col("t", "TIME"),
        ]
    }

    const N38: &str = "12345678901234567890123456789.123456789";
    const BN: &str =
        "-1234567890123456789012345678901234567.12345678901234567890123456789012345678";

    fn write_pages(pages: Vec<BqRows>) -> (tempfile::TempDir, std::path::PathBuf, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut writer = PageWriter::new(&mut file, "bq://p.d.t");
        let schema = typed_schema();
        for page in pages {
            writer.write_page(&schema, page).unwrap();
        }
        let rows = writer.finish().unwrap();
        (dir, path, rows)
    }

    /// Two pages by hand: every type, NULLs, 38-digit NUMERIC, pre-1970 TIMESTAMP; read back
    /// with polars, every value and type exact.
    #[test]
    fn pages_become_typed_parquet_with_every_value() {
        let page1: BqRows = vec![
            vec![
                cell("a"),
                cell("-5"),
                cell("1.5"),
                cell("true"),
                cell("1704164645123456"),
                cell("2024-01-02"),
                cell("2024-01-02T03:04:05.123456"),
                cell(N38),
                cell(BN),
                cell("03:04:05"),
            ],
            vec![None; 10],
        ];
        let page2: BqRows = vec![vec![
            cell("é ü"),
            cell("9223372036854775807"),
            cell("-Infinity"),
            cell("false"),
            cell("-1000001"),
            cell("1969-12-31"),
            cell("1900-01-01 00:00:00"),
            cell("-0.000000001"),
            cell("0"),
            None,
        ]];
        let (_dir, path, rows) = write_pages(vec![page1, page2]);
        assert_eq!(rows, 3);
        let file = std::fs::File::open(&path).unwrap();
        let mut reader = ParquetReader::new(file);
        let meta = reader.get_metadata().unwrap().clone();
        assert_eq!(meta.row_groups.len(), 2, "one row group per page");
        let df = reader.finish().unwrap();
        assert_eq!(df.height(), 3);
        let dtypes: Vec<DataType> = df.dtypes();
        assert_eq!(
            dtypes,
            vec![
                DataType::String,
                DataType::Int64,
                DataType::Float64,
                DataType::Boolean,
                DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
                DataType::Date,
                DataType::Datetime(TimeUnit::Microseconds, None),
                DataType::Decimal(38, 9),
                DataType::String,
                DataType::String,
            ]
        );
        let s = df.column("s").unwrap().str().unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [Some("a"), None, Some("é ü")]);
        let i = df.column("i").unwrap().i64().unwrap();
        assert_eq!(
            i.iter().collect::<Vec<_>>(),
            [Some(-5), None, Some(i64::MAX)]
        );
        let f = df.column("f").unwrap().f64().unwrap();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [Some(1.5), None, Some(f64::NEG_INFINITY)]
        );
        let b = df.column("b").unwrap().bool().unwrap();
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [Some(true), None, Some(false)]
        );
        let ts = df.column("ts").unwrap().datetime().unwrap();
        assert_eq!(
            ts.physical().iter().collect::<Vec<_>>(),
            [Some(1_704_164_645_123_456), None, Some(-1_000_001)]
        );
        let d = df.column("d").unwrap().date().unwrap();
        assert_eq!(
            d.physical().iter().collect::<Vec<_>>(),
            [Some(19_724), None, Some(-1)]
        );
        let dt = df.column("dt").unwrap().datetime().unwrap();
        assert_eq!(
            dt.physical().iter().collect::<Vec<_>>(),
            [
                Some(1_704_164_645_123_456),
                None,
                Some(-2_208_988_800_000_000)
            ]
        );
        let n = df.column("n").unwrap().decimal().unwrap();
        assert_eq!(
            n.physical().iter().collect::<Vec<_>>(),
            [
                Some(12_345_678_901_234_567_890_123_456_789_123_456_789),
                None,
                Some(-1)
            ]
        );
        let text = df.column("n").unwrap().cast(&DataType::String).unwrap();
        assert_eq!(text.str().unwrap().get(0), Some(N38));
        let bn = df.column("bn").unwrap().str().unwrap();
        assert_eq!(bn.iter().collect::<Vec<_>>(), [Some(BN), None, Some("0")]);
        let t = df.column("t").unwrap().str().unwrap();
        assert_eq!(t.iter().collect::<Vec<_>>(), [Some("03:04:05"), None, None]);
    }

    /// A bad cell names the source, the row across pages, the column and the value.
    #[test]
    fn a_bad_cell_is_an_error_naming_row_column_and_value() {
        let mut good = vec![None; 10];
        good[1] = cell("1");
        for (j, value, expected) in [
            (1, "1.5", "64-bit integer"),
            (2, "one", "floating-point"),
            (3, "yes", "true or false"),
            (4, "2024-13-01", "timestamp"),
            (5, "2024/01/02", "date"),
            (6, "2024-01-02T03:04:05.0000001", "date-time"),
            (7, "0.0000000001", "decimal"),
            (7, "100000000000000000000000000000", "decimal"),
        ] {
            let mut out = Vec::new();
            let mut writer = PageWriter::new(&mut out, "bq://p.d.t");
            let schema = typed_schema();
            writer.write_page(&schema, vec![good.clone(); 3]).unwrap();
            let mut bad = good.clone();
            bad[j] = cell(value);
            let e = writer
                .write_page(&schema, vec![good.clone(), bad])
                .unwrap_err()
                .to_string();
            let name = &schema[j].name;
            let ty = &schema[j].field_type;
            assert!(
                e.contains(&format!(
                    "`bq://p.d.t`: row 5, column `{name}` ({ty}): `{value}` is not"
                )) && e.contains(expected),
                "{e}"
            );
        }
    }

    #[test]
    fn schema_changes_and_missing_results_are_errors() {
        let mut out = Vec::new();
        let mut writer = PageWriter::new(&mut out, "SELECT 1");
        writer
            .write_page(&[col("x", "INTEGER")], vec![vec![cell("1")]])
            .unwrap();
        let e = writer
            .write_page(&[col("x", "STRING")], vec![vec![cell("1")]])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("schema changed") && e.contains("x STRING"),
            "{e}"
        );

        let mut out = Vec::new();
        let e = PageWriter::new(&mut out, "SELECT 1")
            .finish()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`SELECT 1`") && e.contains("no result"), "{e}");
    }

    /// An empty result is a valid Parquet file with the schema and no rows (the table reader
    /// then says "no data rows").
    #[test]
    fn an_empty_result_keeps_its_schema() {
        let (_dir, path, rows) = write_pages(vec![Vec::new()]);
        assert_eq!(rows, 0);
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 0);
        assert_eq!(df.width(), 10);
        let e = crate::table::read_table(&path).unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
    }
}
