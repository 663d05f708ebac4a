//! `mlops train`: fit the configured model on a table, optionally cross-validate, save a bundle.

use mlops_core::train::{prepare, train, train_with_test_file, TrainOptions};
use mlops_domain::{ModelType, Settings};
use serde_json::{json, Value};

use crate::args::TrainArgs;
use crate::context::{fetch_table, git_sha, load_config, metrics_json, print_metrics, BoxError};
use crate::progress::RoundProgress;

/// The metrics reported for cross-validation, in print order.
const CV_METRICS: [&str; 6] = ["auc", "logloss", "accuracy", "precision", "recall", "f1"];

/// Run `mlops train`.
pub fn run(settings: &Settings, dry_run: bool, args: TrainArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    tracing::info!(data = %args.data, "reading training data");
    // Both tables are fetched before training, so that a dry run prints every read.
    let table = fetch_table(settings, dry_run, &args.data)?;
    let test = match &args.test_data {
        Some(source) => Some(fetch_table(settings, dry_run, source)?),
        None => None,
    };
    let (Some(table), Some(test)) = (table, test.map_or(Some(None), |t| t.map(Some))) else {
        return Ok(()); // a dry run
    };
    let data = prepare(&config, &table.path)?;
    let options = TrainOptions {
        seed: args.seed,
        cv_folds: args.cv.map(|k| k as usize),
        git_sha: git_sha(),
    };
    let rounds = match config.model.model_type {
        ModelType::BoostedTrees => config.model.boosted_trees.n_estimators,
        _ => 1,
    };
    let mut progress = RoundProgress::new(rounds);
    let outcome = match &test {
        Some(test) => train_with_test_file(&config, &data, &test.path, &options, &mut progress)?,
        None => train(&config, &data, &options, &mut progress)?,
    };
    progress.finish();
    if let Some(out) = &args.out {
        outcome.bundle.save(out)?;
    }
    if args.json {
        let mut obj = metrics_json(&outcome.test_metrics);
        obj.insert("model_type".into(), json!(config.model.model_type.as_str()));
        obj.insert(
            "train_rows".into(),
            json!(outcome.bundle.metadata.training.train_rows),
        );
        obj.insert("fit_seconds".into(), json!(outcome.fit_seconds));
        obj.insert(
            "n_trees".into(),
            json!(outcome.bundle.metadata.training.n_trees),
        );
        obj.insert(
            "model_dir".into(),
            json!(args.out.as_ref().map(|p| p.display().to_string())),
        );
        for (k, v) in &outcome.cv_metrics {
            obj.insert(k.clone(), json!(v));
        }
        println!("{}", Value::Object(obj));
        return Ok(());
    }
    let meta = &outcome.bundle.metadata;
    let saved = match &args.out {
        Some(out) => format!(" -> {}", out.display()),
        None => " (not saved: no --out)".to_string(),
    };
    println!(
        "trained {} on {} rows ({} features) in {:.2}s{saved}",
        config.model.model_type.as_str(),
        meta.training.train_rows,
        meta.feature_names.len(),
        outcome.fit_seconds,
    );
    print_metrics("test split:", &outcome.test_metrics);
    if !outcome.cv_metrics.is_empty() {
        println!(
            "cross-validation ({} folds):",
            options.cv_folds.unwrap_or(0)
        );
        for name in CV_METRICS {
            let stat = |s: &str| {
                outcome
                    .cv_metrics
                    .get(&format!("cv_{name}_{s}"))
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            println!("  {name:<10} {:.4} ± {:.4}", stat("mean"), stat("std"));
        }
    }
    Ok(())
}
