//! Batch prediction: a table in, the same rows out with the churn probability and the
//! predicted label (and the id column when configured), written atomically.
//!
//! Output columns: the id column (when the config names one), `<label>_probability` (f32) and
//! `<label>_predicted`, which holds the config's label values (`label.positive` when the
//! probability is at or above the threshold, else `label.negative`), as the server answers.
//! [`PredictOptions`] adds the columns of a predictions table instead or as well.
//!
//! The table streams: it is read batch by batch (Parquet by row groups, CSV by chunks of
//! records, [`crate::table::BatchReader`]), and each batch is encoded, scored and appended to
//! the output; the next batch is read on a second thread meanwhile. Memory follows the batch
//! size (two or three batches are alive at once), not the table.

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use mlops_model::ModelBundle;
use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::encode::encode_columns_from;
use crate::error::{CoreError, Result};
use crate::table::{BatchReader, BatchWriter, DEFAULT_BATCH_ROWS};

/// Rows assembled and scored together: small enough that their matrix stays in cache.
const SCORE_ROWS: usize = 4_096;

/// Where the time of a batch prediction went, in seconds (summed over batches).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PredictTimings {
    /// Reading the input table.
    pub read: f64,
    /// Validating and encoding feature columns.
    pub encode: f64,
    /// Assembling model rows (a few thousand at a time, never the whole matrix) and scoring
    /// them.
    pub score: f64,
    /// Building and writing the output table.
    pub write: f64,
    /// Rows scored.
    pub rows: usize,
}

/// Names of the output columns for a label column: `<label>_probability`, `<label>_predicted`.
pub fn output_columns(label: &str) -> (String, String) {
    (format!("{label}_probability"), format!("{label}_predicted"))
}

/// Name of the predictions-table probability column ([`PredictOptions::probability`]).
pub const PROBABILITY_COLUMN: &str = "probability";
/// Name of the predictions-table label column ([`PredictOptions::label`]).
pub const LABEL_COLUMN: &str = "label";
/// Name of the model name column ([`PredictOptions::model_name`]).
pub const MODEL_NAME_COLUMN: &str = "model_name";
/// Name of the model version column ([`PredictOptions::model_version`]).
pub const MODEL_VERSION_COLUMN: &str = "model_version";
/// Name of the scoring time column ([`PredictOptions::scored_at`]).
pub const SCORED_AT_COLUMN: &str = "scored_at";

/// What a batch prediction writes besides the scores, and how big its batches are.
///
/// Output column order: the id column, `<label>_probability` and `<label>_predicted` (when
/// [`PredictOptions::label_columns`]), then `probability`, `label`, `model_name`,
/// `model_version`, `scored_at` for those that are set.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// Input column copied to the output first (it must exist). `None`: the bundle's id column,
    /// when the config names one and the input has it.
    pub id_column: Option<String>,
    /// Write `<label>_probability` (f32) and `<label>_predicted` (the label values), the
    /// classic output. Default on.
    pub label_columns: bool,
    /// Write `probability` (f32).
    pub probability: bool,
    /// Write `label` (i32): 1 when the probability is at or above the model's threshold,
    /// else 0.
    pub label: bool,
    /// Write `model_name` (text, the same on every row).
    pub model_name: Option<String>,
    /// Write `model_version` (text, the same on every row).
    pub model_version: Option<String>,
    /// Write `scored_at` (timestamp, microseconds, UTC; the same on every row).
    pub scored_at: Option<DateTime<Utc>>,
    /// Rows per batch ([`DEFAULT_BATCH_ROWS`]); memory grows with it, not with the table.
    pub batch_rows: usize,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            id_column: None,
            label_columns: true,
            probability: false,
            label: false,
            model_name: None,
            model_version: None,
            scored_at: None,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

impl PredictOptions {
    /// The layout of a predictions table: id (the bundle's id column, or `id_column`),
    /// `probability`, `label`, `model_name`, `model_version`, `scored_at`, without the classic
    /// `<label>_*` columns.
    pub fn predictions_table(
        id_column: Option<String>,
        model_name: impl Into<String>,
        model_version: impl Into<String>,
        scored_at: DateTime<Utc>,
    ) -> Self {
        PredictOptions {
            id_column,
            label_columns: false,
            probability: true,
            label: true,
            model_name: Some(model_name.into()),
            model_version: Some(model_version.into()),
            scored_at: Some(scored_at),
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

/// Score `input` and write `output` (CSV or Parquet by extension), the classic columns.
pub fn predict_file(bundle: &ModelBundle, input: &Path, output: &Path) -> Result<PredictTimings> {
    predict_file_with(bundle, input, output, &PredictOptions::default())
}

/// Score `input` and write `output` (CSV or Parquet by extension) with the columns `options`
/// ask for, batch by batch. A bad cell stops the run with the cells of that batch (rows
/// numbered from the start of the table); the output then does not appear.
pub fn predict_file_with(
    bundle: &ModelBundle,
    input: &Path,
    output: &Path,
    options: &PredictOptions,
) -> Result<PredictTimings> {
    crate::table::Format::of(output)?;
    let mut t = PredictTimings::default();
    let pre = bundle.preprocessor();
    if pre.n_features() == 0 {
        return Err(CoreError::InvalidTable {
            path: input.to_path_buf(),
            message: "the model uses no feature columns".into(),
        });
    }
    let mut wanted: Vec<&str> = pre.input_columns().collect();
    let id = options
        .id_column
        .as_deref()
        .or(bundle.metadata.id_column.as_deref());
    if let Some(id) = id {
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }

    let started = Instant::now();
    let mut reader = BatchReader::open(input, Some(&wanted), options.batch_rows)?;
    t.read += started.elapsed().as_secs_f64();
    let mut required: Vec<&str> = pre.input_columns().collect();
    if let Some(id) = options.id_column.as_deref() {
        required.push(id);
    }
    reader.require_columns(required)?;
    // The bundle's id column is copied when the input has it (as before streaming).
    let id = id.filter(|c| reader.columns().iter().any(|a| a == c));

    let mut writer = BatchWriter::new(output)?;
    // The next batch is read on its own thread while this one is encoded, scored and
    // written: reading (mostly decompression and decoding) overlaps the rest, at the cost of
    // one more batch in memory. `read` stays the time spent reading, so the stages can add up
    // to more than the wall-clock time.
    let (send, receive) = std::sync::mpsc::sync_channel::<Result<Option<DataFrame>>>(1);
    let read_seconds = std::thread::scope(|scope| -> Result<f64> {
        let reading = scope.spawn(move || {
            let mut seconds = 0.0;
            loop {
                let started = Instant::now();
                let batch = reader.next_batch();
                seconds += started.elapsed().as_secs_f64();
                let done = !matches!(batch, Ok(Some(_)));
                // A closed channel means the consumer stopped on an error: stop too.
                if send.send(batch).is_err() || done {
                    return seconds;
                }
            }
        });
        let consumed = (|| -> Result<()> {
            while let Ok(batch) = receive.recv() {
                let Some(df) = batch? else {
                    break;
                };
                if df.height() == 0 {
                    continue;
                }
                let first_row = t.rows;
                let p = score_batch(bundle, &df, input, first_row, &mut t)?;
                t.rows += p.len();

                let started = Instant::now();
                let mut out = output_frame(bundle, options, &df, id, p, output)?;
                out.rechunk_mut();
                writer.write(&out)?;
                t.write += started.elapsed().as_secs_f64();
            }
            Ok(())
        })();
        drop(receive);
        let seconds = reading.join().unwrap_or(0.0);
        consumed.map(|()| seconds)
    })?;
    t.read += read_seconds;
    if t.rows == 0 {
        return Err(CoreError::NoRows {
            path: input.to_path_buf(),
        });
    }
    let started = Instant::now();
    writer.finish()?;
    t.write += started.elapsed().as_secs_f64();
    Ok(t)
}

/// Encode and score one batch; adds to `t.encode` and `t.score`.
fn score_batch(
    bundle: &ModelBundle,
    df: &DataFrame,
    input: &Path,
    first_row: usize,
    t: &mut PredictTimings,
) -> Result<Vec<f32>> {
    let started = Instant::now();
    let columns = encode_columns_from(df, bundle.preprocessor(), input, first_row)?;
    t.encode += started.elapsed().as_secs_f64();

    let started = Instant::now();
    let nf = columns.n_features();
    let mut p = vec![0f32; columns.n_rows()];
    p.par_chunks_mut(SCORE_ROWS).enumerate().try_for_each_init(
        Vec::new,
        |x: &mut Vec<f32>, (chunk, out)| -> Result<()> {
            x.clear();
            x.resize(out.len() * nf, 0.0);
            columns.fill_rows(chunk * SCORE_ROWS, x);
            out.copy_from_slice(&bundle.predict_proba(x)?);
            Ok(())
        },
    )?;
    t.score += started.elapsed().as_secs_f64();
    Ok(p)
}

/// The output rows of one batch.
fn output_frame(
    bundle: &ModelBundle,
    options: &PredictOptions,
    df: &DataFrame,
    id: Option<&str>,
    p: Vec<f32>,
    output: &Path,
) -> Result<DataFrame> {
    let build_err = |e: PolarsError| CoreError::Table {
        action: "build",
        path: output.to_path_buf(),
        source: e.into(),
    };
    let n = p.len();
    let threshold = bundle.metadata.threshold as f32;
    let mut columns = Vec::with_capacity(8);
    if let Some(id) = id {
        columns.push(df.column(id).map_err(build_err)?.clone());
    }
    if options.label_columns {
        let (prob_name, label_name) = output_columns(&bundle.metadata.label.column);
        let label = &bundle.metadata.label;
        let predicted: Vec<&str> = p
            .iter()
            .map(|&v| {
                if v >= threshold {
                    label.positive.as_str()
                } else {
                    label.negative.as_str()
                }
            })
            .collect();
        columns.push(Column::new(prob_name.into(), &p));
        columns.push(Column::new(label_name.into(), predicted));
    }
    if options.label {
        let label: Vec<i32> = p.iter().map(|&v| i32::from(v >= threshold)).collect();
        if options.probability {
            columns.push(Column::new(PROBABILITY_COLUMN.into(), p));
        }
        columns.push(Column::new(LABEL_COLUMN.into(), label));
    } else if options.probability {
        columns.push(Column::new(PROBABILITY_COLUMN.into(), p));
    }
    for (name, value) in [
        (MODEL_NAME_COLUMN, &options.model_name),
        (MODEL_VERSION_COLUMN, &options.model_version),
    ] {
        if let Some(value) = value {
            columns.push(Column::new_scalar(
                name.into(),
                Scalar::new(DataType::String, AnyValue::StringOwned(value.into())),
                n,
            ));
        }
    }
    if let Some(at) = options.scored_at {
        let micros =
            Int64Chunked::from_vec(SCORED_AT_COLUMN.into(), vec![at.timestamp_micros(); n]);
        columns.push(
            micros
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_column(),
        );
    }
    DataFrame::new(n, columns).map_err(build_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{read_table, write_table};

    fn repo(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    /// A small boosted model trained on the shipped table.
    fn bundle() -> ModelBundle {
        let mut config = mlops_domain::ModelConfig::from_file(repo("config/model.yaml")).unwrap();
        config.model.boosted_trees.n_estimators = 20;
        let data = crate::train::prepare(&config, &repo("data/wa_churn.csv")).unwrap();
        let mut quiet = |_: &mlops_booster::RoundReport| {};
        crate::train::train(&config, &data, &Default::default(), &mut quiet)
            .unwrap()
            .bundle
    }

    /// Streaming changes nothing: any batch size gives the same rows as one batch, in both
    /// formats, and the predictions-table columns agree with the classic ones.
    #[test]
    fn batch_size_does_not_change_the_output() {
        let bundle = bundle();
        let dir = tempfile::tempdir().unwrap();
        let csv = repo("data/wa_churn.csv");
        let parquet = dir.path().join("in.parquet");
        write_table(&mut read_table(&csv).unwrap(), &parquet).unwrap();
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        for input in [csv.as_path(), parquet.as_path()] {
            let mut outputs = Vec::new();
            for batch_rows in [1_000_000, 1000, 333] {
                let out = dir.path().join(format!("out{batch_rows}.parquet"));
                let options = PredictOptions {
                    probability: true,
                    label: true,
                    model_name: Some("churn".into()),
                    model_version: Some("7".into()),
                    scored_at: Some(at),
                    batch_rows,
                    ..PredictOptions::default()
                };
                let t = predict_file_with(&bundle, input, &out, &options).unwrap();
                assert_eq!(t.rows, 7043);
                outputs.push(read_table(&out).unwrap());
            }
            assert!(
                outputs[0].equals_missing(&outputs[1]),
                "{}",
                input.display()
            );
            assert!(
                outputs[0].equals_missing(&outputs[2]),
                "{}",
                input.display()
            );
            let df = &outputs[0];
            assert_eq!(
                df.get_column_names(),
                [
                    "churn_probability",
                    "churn_predicted",
                    "probability",
                    "label",
                    "model_name",
                    "model_version",
                    "scored_at"
                ]
            );
            let floats = |name: &str| -> Vec<f32> {
                df.column(name)
                    .unwrap()
                    .f32()
                    .unwrap()
                    .into_no_null_iter()
                    .collect()
            };
            assert_eq!(floats("churn_probability"), floats("probability"));
            let p = df.column("probability").unwrap().f32().unwrap().clone();
            let label = df.column("label").unwrap().i32().unwrap().clone();
            let predicted = df.column("churn_predicted").unwrap().str().unwrap().clone();
            for ((p, l), s) in p
                .into_no_null_iter()
                .zip(label.into_no_null_iter())
                .zip(predicted.iter().map(Option::unwrap))
            {
                assert_eq!(l, i32::from(p >= 0.5));
                assert_eq!(s, if l == 1 { "Yes" } else { "No" });
            }
            let when = df.column("scored_at").unwrap();
            assert_eq!(
                when.dtype(),
                &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            );
            let micros = when.cast(&DataType::Int64).unwrap();
            assert_eq!(micros.i64().unwrap().min(), Some(at.timestamp_micros()));
            assert_eq!(micros.i64().unwrap().max(), Some(at.timestamp_micros()));
        }
    }

    /// A bad cell in a later batch is reported with its row in the table, and no output file
    /// appears; a missing explicit id column is named.
    #[test]
    fn errors_name_table_rows_and_leave_no_output() {
        let bundle = bundle();
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(repo("data/wa_churn.csv")).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // Data row 5000 (line 5001): tenure becomes text.
        let header: Vec<&str> = lines[0].split(',').collect();
        let col = header.iter().position(|h| *h == "tenure").unwrap();
        let mut cells: Vec<String> = lines[5000].split(',').map(str::to_string).collect();
        cells[col] = "soon".into();
        lines[5000] = cells.join(",");
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, lines.join("\n")).unwrap();
        let out = dir.path().join("out.csv");
        let options = PredictOptions {
            batch_rows: 1000,
            ..PredictOptions::default()
        };
        let err = predict_file_with(&bundle, &bad, &out, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 5000, column `tenure`"), "{err}");
        assert!(!out.exists());
        let options = PredictOptions {
            id_column: Some("customer".into()),
            ..PredictOptions::default()
        };
        let err = predict_file_with(&bundle, &repo("data/wa_churn.csv"), &out, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing column(s) `customer`"), "{err}");
        assert!(!out.exists());
    }

    #[test]
    fn predictions_table_options_name_every_extra_column() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let o = PredictOptions::predictions_table(Some("id".into()), "churn", "3", at);
        assert!(!o.label_columns && o.probability && o.label);
        assert_eq!(o.model_name.as_deref(), Some("churn"));
        assert_eq!(o.model_version.as_deref(), Some("3"));
        assert_eq!(o.scored_at, Some(at));
        assert_eq!(o.id_column.as_deref(), Some("id"));
    }

    /// The streamed writer and reader round-trip a table split into many batches, CSV and
    /// Parquet, including quoted cells with commas and line breaks.
    #[test]
    fn batches_round_trip_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let n = 1000;
        let ids: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let notes: Vec<String> = (0..n)
            .map(|i| {
                if i % 7 == 0 {
                    format!("multi\nline, \"quoted\" {i}")
                } else {
                    format!("plain {i}")
                }
            })
            .collect();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("id".into(), &ids),
                Column::new("note".into(), &notes),
            ],
        )
        .unwrap();
        for ext in ["csv", "parquet"] {
            let src = dir.path().join(format!("src.{ext}"));
            write_table(&mut df, &src).unwrap();
            let mut reader = BatchReader::open(&src, Some(&["note", "id"]), 64).unwrap();
            assert_eq!(reader.columns(), ["note", "id"]);
            let dst = dir.path().join(format!("dst.{ext}"));
            let mut writer = BatchWriter::new(&dst).unwrap();
            let mut batches = 0;
            while let Some(b) = reader.next_batch().unwrap() {
                batches += 1;
                writer.write(&b).unwrap();
            }
            assert!(batches > 1, "{ext}: {batches} batch(es)");
            writer.finish().unwrap();
            let back = read_table(&dst).unwrap();
            let got: Vec<String> = back
                .column("note")
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(Option::unwrap)
                .map(str::to_string)
                .collect();
            assert_eq!(got, notes, "{ext}");
            let got_ids: Vec<&str> = back
                .column("id")
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(Option::unwrap)
                .collect();
            assert_eq!(got_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
