//! `mlops evaluate`: metrics of a saved model on a labelled table.

use mlops_domain::Settings;
use mlops_model::ModelBundle;
use serde_json::Value;

use crate::args::EvaluateArgs;
use crate::context::{fetch_table, metrics_json, print_metrics, BoxError};

/// Run `mlops evaluate`.
pub fn run(settings: &Settings, dry_run: bool, args: EvaluateArgs) -> Result<(), BoxError> {
    let bundle = ModelBundle::load(&args.model)?;
    let Some(table) = fetch_table(settings, dry_run, &args.data)? else {
        return Ok(());
    };
    let m = mlops_core::train::evaluate_file(&bundle, &table.path)?;
    if args.json {
        println!("{}", Value::Object(metrics_json(&m)));
    } else {
        print_metrics(&format!("{} on {}:", args.model.display(), args.data), &m);
    }
    Ok(())
}
