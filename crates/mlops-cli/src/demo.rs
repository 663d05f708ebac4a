//! `mlops demo`: the main job on the shipped data. Runs the training pipeline from its compiled
//! IR and lists the registry; runs the inference pipeline (batch prediction with the champion,
//! prediction drift); writes later outcomes for the scored customers and runs the monitoring
//! pipeline; then scores a shifted population to show drift being detected.

use std::path::Path;

use mlops_domain::Settings;
use mlops_model::LocalRegistry;

use crate::args::{DemoArgs, RunArgs};
use crate::context::BoxError;
use crate::models::default_registry;
use crate::pipelines::{run_pipeline, summarise};

/// The id column of the demo's generated customers.
const ID: &str = "id";

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
    let config = crate::context::load_config(settings, None)?;
    let step =
        |name: &str, params: Vec<String>| -> Result<mlops_pipeline::runner::RunRecord, BoxError> {
            let record = run_pipeline(
                settings,
                &RunArgs {
                    name: name.into(),
                    params,
                    ..run_args.clone()
                },
            )?;
            summarise(&record);
            Ok(record)
        };

    // Today's customers: a population drawn from the shipped table (`gen-data --shift 0`, with
    // an `id` column so that outcomes can be joined later). No drift is expected.
    let population = |shift: f64, seed: u64, name: &str| -> Result<std::path::PathBuf, BoxError> {
        let out = Path::new(&settings.local_root).join("data").join(name);
        mlops_core::gen_data::generate_with(
            &config,
            Path::new("data/wa_churn.csv"),
            7043,
            seed,
            shift,
            &out,
            &mlops_core::gen_data::GenerateOptions {
                id_column: Some(ID.into()),
            },
        )?;
        Ok(out)
    };
    let today = population(0.0, 1, "customers.parquet")?;
    let inference = step(
        "inference",
        vec![
            format!("data_path={}", today.display()),
            format!("id_column={ID}"),
        ],
    )?;
    print_drift(
        "inference on today's customers (gen-data --shift 0)",
        &inference,
    );

    // Later outcomes for the scored customers (80% arrived), then the monitoring pipeline.
    let predictions =
        artifact_path(&inference, "batch-predict", "predictions")?.join("data.parquet");
    let outcomes_dir = Path::new(&settings.table_uri("outcomes")).to_path_buf();
    let outcomes = outcomes_dir.join(format!("{}.parquet", inference.job_id));
    let summary = mlops_core::outcomes::generate_outcomes(
        &config.label,
        &predictions,
        &today,
        &outcomes,
        &mlops_core::outcomes::OutcomeOptions {
            id_column: ID.into(),
            ..Default::default()
        },
    )?;
    println!(
        "outcomes: {} of {} scored customers have one (`mlops gen-outcomes`) -> {}",
        summary.written,
        summary.scored,
        outcomes.display()
    );
    let monitoring = step("monitoring", vec![format!("id_column={ID}")])?;
    let perf = &monitoring.tasks["performance-monitoring"]
        .outputs
        .parameters;
    println!(
        "monitoring: realised AUC {:.4}, estimated from the scores alone {:.4}, {} prediction(s) still without an outcome; report {}",
        perf.get("auc").and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN),
        perf.get("estimated_auc").and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN),
        perf.get("rows_without_outcome").cloned().unwrap_or_default(),
        artifact_path(&monitoring, "performance-monitoring", "report")?.display()
    );
    println!(
        "  (the demo's customers are resampled from the training table, so their realised AUC \
         is optimistic; the estimate, through the champion's calibration, is what unseen \
         customers would give)"
    );

    // A shifted population (shorter tenure, higher charges, more month-to-month contracts):
    // the same inference pipeline now reports drift and the columns that moved.
    let shifted = population(0.5, 2, "customers_shifted.parquet")?;
    let drifted = step(
        "inference",
        vec![
            format!("data_path={}", shifted.display()),
            format!("id_column={ID}"),
        ],
    )?;
    print_drift(
        "inference on a shifted population (gen-data --shift 0.5)",
        &drifted,
    );
    // What the scores alone say about the shifted population, against what its outcomes show
    // once they arrive (`mlops monitor performance` on the two tables).
    let shifted_predictions =
        artifact_path(&drifted, "batch-predict", "predictions")?.join("data.parquet");
    let shifted_outcomes = Path::new(&settings.local_root)
        .join("data")
        .join("outcomes_shifted.parquet");
    mlops_core::outcomes::generate_outcomes(
        &config.label,
        &shifted_predictions,
        &shifted,
        &shifted_outcomes,
        &mlops_core::outcomes::OutcomeOptions {
            id_column: ID.into(),
            ..Default::default()
        },
    )?;
    let joined = mlops_core::monitor::join_outcomes(
        &shifted_predictions,
        ID,
        &shifted_outcomes,
        mlops_core::outcomes::ID_COLUMN,
        mlops_core::outcomes::CHURNED_COLUMN,
        None,
    )?;
    let champion =
        mlops_model::ModelBundle::load(artifact_path(&drifted, "batch-predict", "model")?)?;
    let calibration = champion.metadata.monitoring.and_then(|m| m.calibration);
    let check = mlops_core::monitor::check_performance(
        &joined,
        mlops_monitoring::DEFAULT_THRESHOLD,
        &crate::alerting::load_monitoring_config(settings, None)?,
        calibration.as_ref(),
        &shifted_predictions,
    )?;
    let realised = check.realised.computed().and_then(|p| p.auc);
    let estimated = check.estimated.computed().and_then(|e| e.auc);
    if let (Some(r), Some(e)) = (realised, estimated) {
        println!(
            "shifted population once its outcomes arrive: realised AUC {r:.4}, estimated {e:.4} (gap {:+.4}); \
             `mlops monitor performance --predictions {} --outcomes {}`",
            r - e,
            shifted_predictions.display(),
            shifted_outcomes.display()
        );
    }
    println!("metrics: `mlops metrics show` lists every value written; `mlops alerting check` says which alert policies would fire");
    Ok(())
}

/// The local folder of a task's output artifact in a run record.
fn artifact_path(
    record: &mlops_pipeline::runner::RunRecord,
    task: &str,
    output: &str,
) -> Result<std::path::PathBuf, BoxError> {
    let uri = record
        .tasks
        .get(task)
        .and_then(|t| t.outputs.artifacts.get(output))
        .map(|a| a.uri.clone())
        .ok_or_else(|| {
            format!(
                "run {} has no output `{output}` of task `{task}`",
                record.job_id
            )
        })?;
    Ok(mlops_pipeline::component::local_path(&uri))
}

fn print_drift(what: &str, record: &mlops_pipeline::runner::RunRecord) {
    let Some(task) = record.tasks.get("prediction-drift") else {
        return;
    };
    let p = &task.outputs.parameters;
    let detected = p
        .get("drift_detected")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let features = p
        .get("drifted_features")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let report = artifact_path(record, "prediction-drift", "report")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!(
        "{what}: drift {} (PSI {:.4}); drifted inputs: [{features}]; report {report}",
        if detected { "DETECTED" } else { "not detected" },
        p.get("psi")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN),
    );
}
