//! `mlops evaluate`: metrics of a saved model on a labelled table.

use mlops_model::ModelBundle;
use serde_json::Value;

use crate::args::EvaluateArgs;
use crate::context::{metrics_json, print_metrics, BoxError};

/// Run `mlops evaluate`.
pub fn run(args: EvaluateArgs) -> Result<(), BoxError> {
    let bundle = ModelBundle::load(&args.model)?;
    let m = mlops_core::train::evaluate_file(&bundle, &args.data)?;
    if args.json {
        println!("{}", Value::Object(metrics_json(&m)));
    } else {
        print_metrics(
            &format!("{} on {}:", args.model.display(), args.data.display()),
            &m,
        );
    }
    Ok(())
}
