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
        if args.table || args.id_column.is_some() {
            return Err(format!(
                "--out `{out_text}`: --table and --id-column apply to file outputs; a BigQuery \
                 table gets its declared predictions schema"
            )
            .into());
        }
        return to_bigquery(settings, dry_run, &bundle, &table.path, &out_text);
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

/// Score into a temporary CSV, then append it to the BigQuery table `out`.
#[cfg(feature = "gcp")]
fn to_bigquery(
    settings: &Settings,
    dry_run: bool,
    bundle: &ModelBundle,
    data: &std::path::Path,
    out: &str,
) -> Result<(), BoxError> {
    let scratch = tempfile::tempdir()?;
    let csv = scratch.path().join("predictions.csv");
    let t = mlops_core::predict::predict_file(bundle, data, &csv)?;
    let meta = &bundle.metadata;
    // The model as "type trained at <time> on <data fingerprint>": enough to find its version.
    let model = format!(
        "{} {} {}",
        meta.model_type.as_str(),
        meta.created_at,
        meta.data_fingerprint
    );
    let rows = crate::cloud::predictions::write(
        settings,
        dry_run,
        &csv,
        out,
        meta.id_column.as_deref(),
        &meta.label.column,
        &model,
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
) -> Result<(), BoxError> {
    Err(format!(
        "--out `{out}`: this build has no Google Cloud support: build with `--features gcp`"
    )
    .into())
}
