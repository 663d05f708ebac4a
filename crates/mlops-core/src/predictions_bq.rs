//! The predictions table in BigQuery (cargo feature `gcp`): one declared schema for every
//! writer (`mlops predict --out bq://…` and the `batch_predict` component), appended from a
//! scored file batch by batch so that memory does not grow with the table, and the window of
//! recent predictions read back for performance monitoring.
//!
//! The layout is the local predictions table's ([`PredictOptions::predictions_table`]): the
//! id column, `probability`, `label`, `model_name`, `model_version`, `scored_at`.
//!
//! [`PredictOptions::predictions_table`]: crate::predict::PredictOptions::predictions_table

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use mlops_gcp::bigquery::{parse_table, BqColumn};
use mlops_gcp::Gcp;
use polars::prelude::*;
use serde_json::{json, Map, Value};

use crate::error::{CoreError, Result};
use crate::monitor::{PROBABILITY, SCORED_AT};
use crate::table::BatchReader;

/// Rows read from the scored file at a time (each becomes 500-row `insertAll` calls).
const READ_ROWS: usize = 20_000;

/// The declared schema of the predictions table, with `id_column` first.
pub fn predictions_table_schema(id_column: &str) -> Vec<BqColumn> {
    vec![
        BqColumn::new(
            id_column,
            "STRING",
            "Row id from the scored table (NULL when it had none)",
        ),
        BqColumn {
            mode: "REQUIRED".into(),
            ..BqColumn::new(
                PROBABILITY,
                "FLOAT",
                "Predicted probability of the positive label",
            )
        },
        BqColumn {
            mode: "REQUIRED".into(),
            ..BqColumn::new(
                "label",
                "INTEGER",
                "1 when the probability is at or above the model's threshold, else 0",
            )
        },
        BqColumn::new("model_name", "STRING", "Registered model name"),
        BqColumn::new("model_version", "STRING", "Model version that scored"),
        BqColumn {
            mode: "REQUIRED".into(),
            ..BqColumn::new(SCORED_AT, "TIMESTAMP", "When the batch was scored (UTC)")
        },
    ]
}

fn cloud<'a>(
    table: &'a str,
    action: &'static str,
) -> impl FnOnce(mlops_gcp::GcpError) -> CoreError + 'a {
    move |error| CoreError::Cloud {
        action,
        source_text: table.to_string(),
        error: Box::new(error),
    }
}

fn polars_err(path: &Path) -> impl FnOnce(PolarsError) -> CoreError + '_ {
    move |e| CoreError::Table {
        action: "read",
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Append the predictions-table rows of `scored` (Parquet or CSV with the predictions layout)
/// to `table` (`bq://project.dataset.table`), creating the dataset (in `location`) and the
/// table when missing. Rows go in 500-row `insertAll` calls with insert ids derived from the
/// table, `scored_at` and the row number, so a retried call adds no duplicate. Returns the
/// rows appended.
pub fn append_predictions(
    gcp: &Gcp,
    table: &str,
    location: &str,
    id_column: &str,
    scored: &Path,
) -> Result<u64> {
    let (_, dataset, name) = parse_table(table).map_err(cloud(table, "parse"))?;
    gcp.ensure_dataset(&dataset, location)
        .map_err(cloud(table, "create the dataset of"))?;
    gcp.ensure_table(&dataset, &name, &predictions_table_schema(id_column))
        .map_err(cloud(table, "create"))?;
    let mut reader = BatchReader::open(scored, None, READ_ROWS)?;
    let columns = reader.columns().to_vec();
    let missing: Vec<String> = [PROBABILITY, "label", SCORED_AT]
        .iter()
        .filter(|c| !columns.iter().any(|a| a == *c))
        .map(|c| c.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(CoreError::MissingColumns {
            path: scored.to_path_buf(),
            missing,
            available: columns,
        });
    }
    let has_id = columns.iter().any(|c| c == id_column);
    let mut total = 0u64;
    while let Some(df) = reader.next_batch()? {
        let rows = json_rows(&df, id_column, has_id, scored)?;
        let ids: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let at = row.get(SCORED_AT).and_then(Value::as_str).unwrap_or("");
                format!("{name}-{at}-{}", total + i as u64)
            })
            .collect();
        gcp.insert_rows(&dataset, &name, &rows, &ids)
            .map_err(cloud(table, "append predictions to"))?;
        total += rows.len() as u64;
        tracing::info!(table, rows = total, "predictions appended");
    }
    Ok(total)
}

/// One batch as `insertAll` rows of the declared schema.
fn json_rows(
    df: &DataFrame,
    id_column: &str,
    has_id: bool,
    path: &Path,
) -> Result<Vec<Map<String, Value>>> {
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        let col = df.column(name).map_err(polars_err(path))?;
        let cast = col.cast(&DataType::String).map_err(polars_err(path))?;
        let values = cast.str().map_err(polars_err(path))?;
        Ok(values.iter().map(|v| v.map(str::to_string)).collect())
    };
    let probability = {
        let col = df.column(PROBABILITY).map_err(polars_err(path))?;
        let cast = col.cast(&DataType::Float64).map_err(polars_err(path))?;
        let values: Vec<Option<f64>> = cast.f64().map_err(polars_err(path))?.iter().collect();
        values
    };
    let label = {
        let col = df.column("label").map_err(polars_err(path))?;
        let cast = col.cast(&DataType::Int64).map_err(polars_err(path))?;
        let values: Vec<Option<i64>> = cast.i64().map_err(polars_err(path))?.iter().collect();
        values
    };
    let scored_at = scored_at_text(df, path)?;
    let ids = if has_id { Some(text(id_column)?) } else { None };
    let optional = |name: &str| -> Result<Option<Vec<Option<String>>>> {
        if df.column(name).is_ok() {
            Ok(Some(text(name)?))
        } else {
            Ok(None)
        }
    };
    let (model_name, model_version) = (optional("model_name")?, optional("model_version")?);
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = Map::new();
        if let Some(ids) = &ids {
            row.insert(id_column.to_string(), json!(ids[i]));
        }
        row.insert(PROBABILITY.into(), json!(probability[i]));
        row.insert("label".into(), json!(label[i]));
        if let Some(v) = &model_name {
            row.insert("model_name".into(), json!(v[i]));
        }
        if let Some(v) = &model_version {
            row.insert("model_version".into(), json!(v[i]));
        }
        // A string: BigQuery reads a number here as seconds (the emulator: microseconds).
        row.insert(SCORED_AT.into(), json!(scored_at[i]));
        rows.push(row);
    }
    Ok(rows)
}

/// `scored_at` as RFC 3339 text (microseconds, `Z`); CSV text is read and written again, so
/// BigQuery gets one format.
fn scored_at_text(df: &DataFrame, path: &Path) -> Result<Vec<Option<String>>> {
    let col = df.column(SCORED_AT).map_err(polars_err(path))?;
    Ok(crate::monitor::micros(col, path)?
        .into_iter()
        .map(|m| {
            m.and_then(DateTime::<Utc>::from_timestamp_micros)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        })
        .collect())
}

/// The query that reads the predictions of `table` scored at or after `since`: the id column,
/// `probability` and `scored_at`, as performance monitoring joins them.
pub fn window_query(table: &str, id_column: &str, since: DateTime<Utc>) -> Result<String> {
    let (project, dataset, name) = parse_table(table).map_err(cloud(table, "parse"))?;
    if !id_column
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(CoreError::InvalidTable {
            path: table.into(),
            message: format!(
                "id column `{id_column}`: expected letters, digits and underscores (a BigQuery \
                 column name)"
            ),
        });
    }
    Ok(format!(
        "SELECT `{id_column}`, {PROBABILITY}, {SCORED_AT} FROM `{project}.{dataset}.{name}` \
         WHERE {SCORED_AT} >= TIMESTAMP '{}'",
        since.format("%Y-%m-%d %H:%M:%S%.6f+00")
    ))
}

/// [`append_predictions`] for a pipeline component: the connection from the environment
/// ([`crate::source::gcp_config_from_env`], the project the table names), the dataset created
/// in `BQ_LOCATION` (default `GCP_REGION`).
pub fn append_predictions_from_env(table: &str, id_column: &str, scored: &Path) -> Result<u64> {
    let (project, _, _) = parse_table(table).map_err(cloud(table, "parse"))?;
    let gcp = Gcp::new(crate::source::gcp_config_from_env(&project)?)
        .map_err(cloud(table, "connect to Google Cloud for"))?;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let location = var("BQ_LOCATION")
        .or_else(|| var("GCP_REGION"))
        .unwrap_or_else(|| crate::source::DEFAULT_REGION.to_string());
    append_predictions(&gcp, table, &location, id_column, scored)
}

/// The predictions of `table` scored at or after `since`, read into a Parquet file in
/// `scratch` page by page ([`window_query`], connection from the environment).
pub fn fetch_window_from_env(
    table: &str,
    id_column: &str,
    since: DateTime<Utc>,
    scratch: &Path,
) -> Result<std::path::PathBuf> {
    let (project, _, _) = parse_table(table).map_err(cloud(table, "parse"))?;
    let source = crate::source::TableSource::Query(window_query(table, id_column, since)?);
    crate::source::fetch_from_env(&source, Some(&project), scratch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_declared_schema() {
        let at = DateTime::<Utc>::from_timestamp(1_764_806_400, 5_000_000).unwrap();
        let mut df = df!(
            "id" => ["a", "b"],
            PROBABILITY => [0.25f32, 0.75],
            "label" => [0i32, 1],
            "model_name" => ["churn", "churn"],
            "model_version" => ["3", "3"],
            SCORED_AT => [at.naive_utc(), at.naive_utc()],
        )
        .unwrap();
        df.apply(SCORED_AT, |c| {
            c.cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                .unwrap()
        })
        .unwrap();
        let rows = json_rows(&df, "id", true, Path::new("p.parquet")).unwrap();
        let schema: Vec<String> = predictions_table_schema("id")
            .into_iter()
            .map(|c| c.name)
            .collect();
        let mut keys: Vec<&String> = rows[0].keys().collect();
        keys.sort();
        let mut want: Vec<&String> = schema.iter().collect();
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(rows[1]["probability"], json!(0.75));
        assert_eq!(rows[1]["label"], json!(1));
        assert_eq!(rows[0]["scored_at"], json!("2025-12-04T00:00:00.005000Z"));
        // A CSV's text timestamps are written in the same format.
        let csv = df!(
            PROBABILITY => [0.5f64],
            "label" => [1i64],
            SCORED_AT => ["2025-12-04 00:00:00.005"],
        )
        .unwrap();
        let rows = json_rows(&csv, "id", false, Path::new("p.csv")).unwrap();
        assert_eq!(rows[0]["scored_at"], json!("2025-12-04T00:00:00.005000Z"));
        // Without an id column in the file, the id is left out (NULL).
        let rows = json_rows(&df.drop("id").unwrap(), "id", false, Path::new("p")).unwrap();
        assert!(!rows[0].contains_key("id"));
    }

    #[test]
    fn the_window_query_names_the_table_and_refuses_odd_column_names() {
        let since = DateTime::<Utc>::from_timestamp(1_764_806_400, 0).unwrap();
        let sql = window_query("bq://p.d.predictions", "customer_id", since).unwrap();
        assert_eq!(
            sql,
            "SELECT `customer_id`, probability, scored_at FROM `p.d.predictions` WHERE \
             scored_at >= TIMESTAMP '2025-12-04 00:00:00.000000+00'"
        );
        assert!(window_query("bq://p.d.t", "id`; DROP", since).is_err());
    }
}
