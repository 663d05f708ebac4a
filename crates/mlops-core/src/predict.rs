//! Batch prediction: a table in, the same rows out with the churn probability and the
//! predicted label (and the id column when configured), written atomically.
//!
//! Output columns: the id column (when the config names one), `<label>_probability` (f32) and
//! `<label>_predicted`, which holds the config's label values (`label.positive` when the
//! probability is at or above the threshold, else `label.negative`), as the server answers.

use std::path::Path;
use std::time::Instant;

use mlops_model::ModelBundle;
use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::encode::encode_columns;
use crate::error::{CoreError, Result};
use crate::table::{read_table_columns, write_table};

/// Rows assembled and scored together: small enough that their matrix stays in cache.
const SCORE_ROWS: usize = 4_096;

/// Where the time of a batch prediction went, in seconds.
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

/// Score `input` and write `output` (CSV or Parquet by extension).
pub fn predict_file(bundle: &ModelBundle, input: &Path, output: &Path) -> Result<PredictTimings> {
    crate::table::Format::of(output)?;
    let mut t = PredictTimings::default();
    let pre = bundle.preprocessor();
    let mut wanted: Vec<&str> = pre.input_columns().collect();
    if let Some(id) = bundle.metadata.id_column.as_deref() {
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    let started = Instant::now();
    let df = read_table_columns(input, Some(&wanted))?;
    t.read = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let columns = encode_columns(&df, pre, input)?;
    t.encode = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let nf = columns.n_features();
    if nf == 0 {
        return Err(CoreError::InvalidTable {
            path: input.to_path_buf(),
            message: "the model uses no feature columns".into(),
        });
    }
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
    t.score = started.elapsed().as_secs_f64();
    t.rows = p.len();

    let started = Instant::now();
    let threshold = bundle.metadata.threshold as f32;
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
    let mut columns = Vec::with_capacity(3);
    if let Some(id) = &bundle.metadata.id_column {
        if let Ok(col) = df.column(id) {
            columns.push(col.clone());
        }
    }
    columns.push(Column::new(prob_name.into(), p));
    columns.push(Column::new(label_name.into(), predicted));
    let mut out = DataFrame::new(df.height(), columns).map_err(|e| CoreError::Table {
        action: "build",
        path: output.to_path_buf(),
        source: e.into(),
    })?;
    write_table(&mut out, output)?;
    t.write = started.elapsed().as_secs_f64();
    Ok(t)
}
