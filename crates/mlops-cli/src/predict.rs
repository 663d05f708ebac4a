//! `mlops predict`: batch-score a table with a saved model bundle.

use mlops_core::predict::PredictOptions;
use mlops_domain::Settings;
use mlops_model::ModelBundle;

use crate::args::PredictArgs;
use crate::context::{fetch_table, BoxError};

/// Run `mlops predict`.
pub fn run(settings: &Settings, dry_run: bool, args: PredictArgs) -> Result<(), BoxError> {
    let bundle = ModelBundle::load(&args.model)?;
    let Some(table) = fetch_table(settings, dry_run, &args.data)? else {
        return Ok(());
    };
    let out_text = args.out.to_string_lossy().to_string();
    if out_text.starts_with("bq://") {
        // A BigQuery table always gets the predictions-table layout (its declared schema).
        let meta = &bundle.metadata;
        let id_column = args
            .id_column
            .or_else(|| meta.id_column.clone())
            .unwrap_or_else(|| "id".to_string());
        let options = PredictOptions::predictions_table(
            Some(id_column.clone()).filter(|_| has_column(&table.path, &id_column)),
            args.model_name
                .unwrap_or_else(|| meta.model_type.as_str().to_string()),
            args.model_version
                .unwrap_or_else(|| meta.created_at.clone()),
            chrono::Utc::now(),
        );
        return to_bigquery(
            settings,
            dry_run,
            &bundle,
            &table.path,
            &out_text,
            &id_column,
            &options,
        );
    }
    let options = if args.table {
        let meta = &bundle.metadata;
        PredictOptions::predictions_table(
            args.id_column,
            args.model_name
                .unwrap_or_else(|| meta.model_type.as_str().to_string()),
            args.model_version
                .unwrap_or_else(|| meta.created_at.clone()),
            chrono::Utc::now(),
        )
    } else {
        PredictOptions {
            id_column: args.id_column,
            ..PredictOptions::default()
        }
    };
    let t = mlops_core::predict::predict_file_with(&bundle, &table.path, &args.out, &options)?;
    if args.json {
        println!("{}", serde_json::to_string(&t)?);
    } else {
        let total = t.read + t.encode + t.score + t.write;
        println!(
            "scored {} rows in {:.3}s ({:.0} rows/s) -> {}",
            t.rows,
            total,
            t.rows as f64 / total.max(1e-9),
            args.out.display()
        );
    }
    Ok(())
}

/// Whether the table at `path` has `column` (the id column is optional in a BigQuery
/// predictions table: rows without one have a NULL id).
fn has_column(path: &std::path::Path, column: &str) -> bool {
    mlops_core::table::BatchReader::open(path, None, 1)
        .is_ok_and(|r| r.columns().iter().any(|c| c == column))
}

/// Score into a temporary Parquet file with the predictions-table layout, then append it to
/// the BigQuery table `out` (created with its declared schema when missing), batch by batch.
#[cfg(feature = "gcp")]
fn to_bigquery(
    settings: &Settings,
    dry_run: bool,
    bundle: &ModelBundle,
    data: &std::path::Path,
    out: &str,
    id_column: &str,
    options: &PredictOptions,
) -> Result<(), BoxError> {
    let scratch = tempfile::tempdir()?;
    let scored = scratch.path().join("predictions.parquet");
    let t = mlops_core::predict::predict_file_with(bundle, data, &scored, options)?;
    let (project, _, _) = mlops_gcp::bigquery::parse_table(out)?;
    // The table names its project; endpoints and credentials come from the settings.
    let gcp = crate::cloud::gcp(settings, project, dry_run)?;
    let rows = mlops_core::predictions_bq::append_predictions(
        &gcp,
        out,
        &settings.bq_location,
        id_column,
        &scored,
    )?;
    eprintln!("scored {} rows -> {out} ({rows} rows appended)", t.rows);
    Ok(())
}

#[cfg(not(feature = "gcp"))]
fn to_bigquery(
    _: &Settings,
    _: bool,
    _: &ModelBundle,
    _: &std::path::Path,
    out: &str,
    _: &str,
    _: &PredictOptions,
) -> Result<(), BoxError> {
    Err(format!(
        "--out `{out}`: this build has no Google Cloud support: build with `--features gcp`"
    )
    .into())
}
