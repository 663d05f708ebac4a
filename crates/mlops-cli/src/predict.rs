//! `mlops predict`: batch-score a table with a saved model bundle.

use mlops_domain::Settings;
use mlops_model::ModelBundle;

use crate::args::PredictArgs;
use crate::context::{fetch_table, BoxError};

/// Run `mlops predict`.
pub fn run(settings: &Settings, args: PredictArgs) -> Result<(), BoxError> {
    let bundle = ModelBundle::load(&args.model)?;
    let table = fetch_table(settings, &args.data)?;
    let t = mlops_core::predict::predict_file(&bundle, &table.path, &args.out)?;
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
