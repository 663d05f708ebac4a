//! One function per command.

use std::path::{Path, PathBuf};

use mlops_core::metrics::Metrics;
use mlops_core::train::{prepare, train, train_with_test_file, TrainOptions};
use mlops_domain::{ModelConfig, ModelType, Settings};
use mlops_model::ModelBundle;
use serde_json::{json, Map, Value};

use crate::cli::{
    Cli, Command, EvaluateArgs, GenDataArgs, ImportXgboostArgs, ModelsCommand, PipelinesCommand,
    PredictArgs, TrainArgs,
};
use crate::pipelines_cmd;
use crate::progress::RoundProgress;

/// Any error, printed with its cause chain by `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), BoxError> {
    let settings = Settings::load(Some(&cli.global.env_file))?;
    mlops_booster::predict::set_preferred_kernel(settings.predict_kernel);
    match cli.command {
        Command::Train(args) => cmd_train(&settings, args),
        Command::Predict(args) => cmd_predict(args),
        Command::Evaluate(args) => cmd_evaluate(args),
        Command::GenData(args) => cmd_gen_data(&settings, args),
        Command::Models(ModelsCommand::ImportXgboost(args)) => cmd_import_xgboost(&settings, args),
        Command::Models(ModelsCommand::List(args)) => pipelines_cmd::models_list(&settings, args),
        Command::Models(ModelsCommand::Show { version, registry }) => {
            pipelines_cmd::models_show(&settings, &version, registry)
        }
        Command::Models(ModelsCommand::Promote { version, registry }) => {
            pipelines_cmd::models_promote(&settings, version, registry)
        }
        Command::Models(ModelsCommand::Rollback(args)) => {
            pipelines_cmd::models_rollback(&settings, args)
        }
        Command::Pipelines(PipelinesCommand::List) => pipelines_cmd::list(),
        Command::Pipelines(PipelinesCommand::Compile(args)) => {
            pipelines_cmd::compile(&settings, args)
        }
        Command::Pipelines(PipelinesCommand::Run(args)) => pipelines_cmd::run(&settings, args),
        Command::Demo(args) => pipelines_cmd::demo(&settings, args),
    }
}

pub fn load_config(settings: &Settings, path: Option<&Path>) -> Result<ModelConfig, BoxError> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&settings.model_config));
    Ok(ModelConfig::from_file(path)?)
}

/// The commit being run: `GIT_SHA` when set (CI, container builds), else `git rev-parse`.
fn git_sha() -> Option<String> {
    if let Ok(sha) = std::env::var("GIT_SHA") {
        return Some(sha).filter(|s| !s.is_empty());
    }
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn metrics_json(m: &Metrics) -> Map<String, Value> {
    let mut obj = Map::new();
    for (k, v) in m.scalars() {
        obj.insert(k, json!(v));
    }
    obj.insert("rows".into(), json!(m.rows));
    obj.insert("threshold".into(), json!(m.threshold));
    obj.insert("confusion_matrix".into(), json!(m.confusion_matrix));
    obj
}

fn print_metrics(title: &str, m: &Metrics) {
    println!("{title}");
    println!("  rows       {}", m.rows);
    println!("  auc        {:.4}", m.auc);
    println!("  logloss    {:.4}", m.logloss);
    println!("  accuracy   {:.4}", m.accuracy);
    println!(
        "  precision  {:.4}  (threshold {})",
        m.precision, m.threshold
    );
    println!("  recall     {:.4}", m.recall);
    println!("  f1         {:.4}", m.f1);
}

fn cmd_train(settings: &Settings, args: TrainArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    tracing::info!(data = %args.data.display(), "reading training data");
    let data = prepare(&config, &args.data)?;
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
    let outcome = match &args.test_data {
        Some(test_path) => {
            train_with_test_file(&config, &data, test_path, &options, &mut progress)?
        }
        None => train(&config, &data, &options, &mut progress)?,
    };
    progress.finish();
    outcome.bundle.save(&args.out)?;
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
        obj.insert("model_dir".into(), json!(args.out.display().to_string()));
        for (k, v) in &outcome.cv_metrics {
            obj.insert(k.clone(), json!(v));
        }
        println!("{}", Value::Object(obj));
    } else {
        let meta = &outcome.bundle.metadata;
        println!(
            "trained {} on {} rows ({} features) in {:.2}s -> {}",
            config.model.model_type.as_str(),
            meta.training.train_rows,
            meta.feature_names.len(),
            outcome.fit_seconds,
            args.out.display()
        );
        print_metrics("test split:", &outcome.test_metrics);
        if !outcome.cv_metrics.is_empty() {
            println!(
                "cross-validation ({} folds):",
                options.cv_folds.unwrap_or(0)
            );
            for name in ["auc", "logloss", "accuracy", "precision", "recall", "f1"] {
                let mean = outcome
                    .cv_metrics
                    .get(&format!("cv_{name}_mean"))
                    .copied()
                    .unwrap_or(f64::NAN);
                let std = outcome
                    .cv_metrics
                    .get(&format!("cv_{name}_std"))
                    .copied()
                    .unwrap_or(f64::NAN);
                println!("  {name:<10} {mean:.4} ± {std:.4}");
            }
        }
    }
    Ok(())
}

fn cmd_predict(args: PredictArgs) -> Result<(), BoxError> {
    let bundle = ModelBundle::load(&args.model)?;
    let t = mlops_core::predict::predict_file(&bundle, &args.data, &args.out)?;
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

fn cmd_evaluate(args: EvaluateArgs) -> Result<(), BoxError> {
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

fn cmd_gen_data(settings: &Settings, args: GenDataArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    mlops_core::gen_data::generate(
        &config,
        &args.source,
        args.rows,
        args.seed,
        args.shift,
        &args.out,
    )?;
    eprintln!("wrote {} rows to {}", args.rows, args.out.display());
    Ok(())
}

fn cmd_import_xgboost(settings: &Settings, args: ImportXgboostArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    let text = std::fs::read_to_string(&args.model)
        .map_err(|e| format!("cannot read `{}`: {e}", args.model.display()))?;
    let fingerprint = mlops_core::train::fingerprint(&args.model)?;
    let bundle = mlops_model::import_xgboost(&text, &config, format!("imported:{fingerprint}"))
        .map_err(|e| format!("cannot import `{}`: {e}", args.model.display()))?;
    bundle.save(&args.out)?;
    eprintln!(
        "imported {} trees over {} features -> {}",
        bundle.metadata.training.n_trees.unwrap_or(0),
        bundle.metadata.feature_names.len(),
        args.out.display()
    );
    Ok(())
}
