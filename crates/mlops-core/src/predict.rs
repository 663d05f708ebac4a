//! Batch prediction: a table in, the same rows out with the churn probability and the
//! predicted label (and the id column when configured), written atomically.

use std::path::Path;
use std::time::Instant;

use mlops_model::ModelBundle;
use polars::prelude::*;
use serde::Serialize;

use crate::encode::encode_features;
use crate::error::{CoreError, Result};
use crate::table::{read_table, write_table};

/// Where the time of a batch prediction went, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PredictTimings {
    /// Reading the input table.
    pub read: f64,
    /// Validating and encoding features.
    pub encode: f64,
    /// Model scoring only.
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
    let started = Instant::now();
    let df = read_table(input)?;
    t.read = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let x = encode_features(&df, bundle.preprocessor(), input)?;
    t.encode = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let p = bundle.predict_proba(&x)?;
    t.score = started.elapsed().as_secs_f64();
    t.rows = p.len();

    let started = Instant::now();
    let threshold = bundle.metadata.threshold as f32;
    let (prob_name, label_name) = output_columns(&bundle.metadata.label.column);
    let predicted: Vec<bool> = p.iter().map(|&v| v >= threshold).collect();
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
        message: e.to_string(),
    })?;
    write_table(&mut out, output)?;
    t.write = started.elapsed().as_secs_f64();
    Ok(t)
}
