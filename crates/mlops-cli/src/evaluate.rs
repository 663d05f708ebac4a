//! `mlops evaluate`: metrics of a saved model on a labelled table.

use mlops_domain::Settings;
use mlops_model::ModelBundle;
use serde_json::Value;

use crate::args::EvaluateArgs;
use crate::context::{fetch_table, metrics_json, print_metrics, BoxError};

/// Run `mlops evaluate`.
pub fn run(settings: &Settings, args: EvaluateArgs) -> Result<(), BoxError> {
    let bundle = ModelBundle::load(&args.model)?;
    let table = fetch_table(settings, &args.data)?;
    let m = mlops_core::train::evaluate_file(&bundle, &table.path)?;
    if args.json {
        println!("{}", Value::Object(metrics_json(&m)));
    } else {
        print_metrics(&format!("{} on {}:", args.model.display(), args.data), &m);
    }
    Ok(())
}
