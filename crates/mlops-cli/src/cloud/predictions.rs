//! `mlops predict --out bq://project.dataset.table`: predictions appended to a BigQuery table
//! with a declared schema (created when missing), streamed from the scored file in batches so
//! memory does not grow with the table.

use std::io::BufRead;
use std::path::Path;

use mlops_domain::Settings;
use mlops_gcp::bigquery::{parse_table, BqColumn};
use serde_json::{json, Map, Value};

use crate::context::BoxError;

/// Rows per insert (BigQuery's recommended `insertAll` size).
const BATCH: usize = 500;

/// The predictions table's columns: the id (when the config has one), the probability and
/// label, the model that scored and when.
pub fn schema(id_column: Option<&str>, label: &str) -> Vec<BqColumn> {
    let mut columns = Vec::new();
    if let Some(id) = id_column {
        columns.push(BqColumn::new(id, "STRING", "Row id from the scored table"));
    }
    columns.push(BqColumn::new(
        &format!("{label}_probability"),
        "FLOAT",
        "Predicted probability of the positive label",
    ));
    columns.push(BqColumn::new(
        &format!("{label}_predicted"),
        "STRING",
        "Predicted label at the model's threshold",
    ));
    columns.push(BqColumn::new(
        "model",
        "STRING",
        "The scoring model (bundle fingerprint)",
    ));
    columns.push(BqColumn::new(
        "scored_at",
        "TIMESTAMP",
        "When the batch was scored",
    ));
    columns
}

/// Append the predictions in `csv` (as `mlops predict` writes them) to `table`; returns rows.
pub fn write(
    settings: &Settings,
    dry_run: bool,
    csv: &Path,
    table: &str,
    id_column: Option<&str>,
    label: &str,
    model: &str,
) -> Result<u64, BoxError> {
    let (project, dataset, name) = parse_table(table)?;
    // The table names its project; endpoints and credentials come from the settings.
    let gcp = super::gcp(settings, project, dry_run)?;
    let columns = schema(id_column, label);
    gcp.ensure_table(&dataset, &name, &columns)?;
    let file =
        std::fs::File::open(csv).map_err(|e| format!("cannot read {}: {e}", csv.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header = lines.next().transpose()?.unwrap_or_default();
    let names: Vec<&str> = header.split(',').collect();
    let scored_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    // Insert ids make a retried batch idempotent: the table, the scoring time and the row.
    let run_id = format!("{name}-{scored_at}");
    let (mut batch, mut ids, mut total) =
        (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH), 0u64);
    for line in lines {
        let line = line?;
        let mut row = Map::new();
        for (col, cell) in names.iter().zip(line.split(',')) {
            let value = if col.ends_with("_probability") {
                json!(cell
                    .parse::<f64>()
                    .map_err(|e| format!("{}: probability `{cell}`: {e}", csv.display()))?)
            } else {
                json!(cell)
            };
            row.insert((*col).to_string(), value);
        }
        row.insert("model".into(), json!(model));
        // A string: BigQuery reads a number here as microseconds (the emulator) or seconds.
        row.insert("scored_at".into(), Value::String(scored_at.clone()));
        ids.push(format!("{run_id}-{total}"));
        batch.push(row);
        total += 1;
        if batch.len() == BATCH {
            gcp.insert_rows(&dataset, &name, &batch, &ids)?;
            batch.clear();
            ids.clear();
        }
    }
    if !batch.is_empty() {
        gcp.insert_rows(&dataset, &name, &batch, &ids)?;
    }
    Ok(total)
}
