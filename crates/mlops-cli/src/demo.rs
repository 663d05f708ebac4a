//! `mlops demo`: the main job on the shipped data. Runs the training pipeline from its compiled
//! IR, lists the registry, and batch-scores the table with the champion.

use std::path::Path;

use mlops_domain::Settings;
use mlops_model::LocalRegistry;

use crate::args::{DemoArgs, RunArgs};
use crate::context::BoxError;
use crate::models::default_registry;
use crate::pipelines::{run_pipeline, summarise};

/// Run `mlops demo`.
pub fn run(settings: &Settings, args: DemoArgs) -> Result<(), BoxError> {
    let run_args = RunArgs {
        name: "training".into(),
        params: vec![],
        pipeline_root: args.pipeline_root,
        no_cache: false,
        ir: None,
        config: None,
        json: false,
    };
    let record = run_pipeline(settings, &run_args)?;
    summarise(&record);
    let registry = LocalRegistry::new(default_registry(settings));
    let name = &settings.model_name_prefix;
    println!(
        "training pipeline: {} in {:.2}s (job {})",
        record.status, record.seconds, record.job_id
    );
    for v in registry.list(name)? {
        let auc = v.metrics.get("auc").copied().unwrap_or(f64::NAN);
        println!(
            "  {name} v{} {:<10} test AUC {auc:.4}  {}",
            v.version,
            v.aliases.join(","),
            v.created_at
        );
    }
    // Batch scoring with the champion, as the inference pipeline will do.
    let champion = registry.resolve(name, mlops_model::CHAMPION)?;
    let bundle = mlops_model::ModelBundle::load(&champion)?;
    let data = Path::new("data/wa_churn.csv");
    let out = Path::new(&settings.local_root).join("predictions/wa_churn.parquet");
    let t = mlops_core::predict::predict_file(&bundle, data, &out)?;
    let m = mlops_core::train::evaluate_file(&bundle, data)?;
    println!(
        "batch prediction with the champion: {} rows in {:.3}s -> {} (in-sample AUC {:.4})",
        t.rows,
        t.read + t.encode + t.score + t.write,
        out.display(),
        m.auc
    );
    Ok(())
}
