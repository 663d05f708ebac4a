//! `mlops experiment run|compare`: experiment tracking. A run trains one configuration with
//! K-fold cross-validation and logs its parameters, metrics, data fingerprint and model bundle
//! to the local store (`mlops_core::experiment`) and, in nprod/prod, to Vertex AI Experiments
//! (`cloud::ExperimentLogger`); `compare` ranks an experiment's runs and writes the HTML report.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mlops_core::experiment::{
    self, compare, default_report_path, parse_param, ExperimentStore, RankedRun, RunSpec,
};
use mlops_core::source::TableSource;
use mlops_domain::{write_atomic, ModelType, Settings};
use serde_json::{json, Value};

use crate::cloud::ExperimentLogger;
use crate::context::{fetch_table, load_config, BoxError};

/// `mlops experiment ...`.
#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Train one configuration with stratified K-fold cross-validation and log its
    /// parameters, metrics, data fingerprint and model bundle as a run of an experiment (the
    /// local store; in nprod/prod also Vertex AI Experiments).
    Run(ExperimentRunArgs),
    /// Rank an experiment's runs by CV AUC (ties by the smaller std), print the table and
    /// write the HTML report (metric per run, ROC curves).
    Compare(ExperimentCompareArgs),
}

/// Where the local experiment store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Local experiment store [default: $MLOPS_EXPERIMENTS_DIR, else
    /// $MLOPS_LOCAL_ROOT/experiments].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

/// `mlops experiment run`.
#[derive(Debug, Args)]
pub struct ExperimentRunArgs {
    /// Experiment name: a-z, 0-9 and `-` (as Vertex AI Experiments); created on first use.
    #[arg(long, value_name = "NAME")]
    pub experiment: String,
    /// A hyperparameter of the model type, overriding the config (repeatable), e.g.
    /// `--param max_depth=4 --param learning_rate=0.05`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// boosted_trees, logistic_regression or decision_tree [default: model.type of the
    /// config].
    #[arg(long, value_name = "TYPE", value_parser = model_type)]
    pub model_type: Option<ModelType>,
    /// Training table (any `train --data` source) [default: the environment's source table,
    /// data/wa_churn.csv locally].
    #[arg(long, value_name = "SOURCE")]
    pub data: Option<TableSource>,
    /// Cross-validation folds.
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=50))]
    pub cv: u32,
    /// Training seed [default: split.seed from the config].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the run record as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// `mlops experiment compare`.
#[derive(Debug, Args)]
pub struct ExperimentCompareArgs {
    /// The experiment.
    pub experiment: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The HTML report [default: <store>/<experiment>/report.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the ranking as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn model_type(text: &str) -> Result<ModelType, String> {
    serde_json::from_value(Value::String(text.to_string())).map_err(|_| {
        format!("`{text}` is not a model type: expected boosted_trees, logistic_regression or decision_tree")
    })
}

fn store(settings: &Settings, args: &StoreArgs) -> ExperimentStore {
    ExperimentStore::new(
        args.store
            .clone()
            .unwrap_or_else(|| PathBuf::from(settings.experiments_dir())),
    )
}

/// Run one `mlops experiment` command.
pub fn run(settings: &Settings, dry_run: bool, command: ExperimentCommand) -> Result<(), BoxError> {
    match command {
        ExperimentCommand::Run(args) => run_one(settings, dry_run, args),
        ExperimentCommand::Compare(args) => compare_runs(settings, args),
    }
}

fn run_one(settings: &Settings, dry_run: bool, args: ExperimentRunArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    let params = args
        .params
        .iter()
        .map(|p| parse_param(p))
        .collect::<Result<Vec<_>, _>>()?;
    let source = match args.data {
        Some(source) => source,
        None => settings.source_table().parse()?,
    };
    let mut spec = RunSpec {
        experiment: args.experiment.clone(),
        data_path: PathBuf::new(),
        data_source: source.to_string(),
        model_type: args.model_type,
        params,
        cv_folds: args.cv as usize,
        seed: args.seed,
    };
    // Every bad parameter, and a missing cloud connection, fail before the table is read.
    experiment::resolve_config(&config, &spec)?;
    let logger = if settings.environment.is_cloud() {
        Some(ExperimentLogger::connect(settings, dry_run)?)
    } else {
        None
    };
    let Some(table) = fetch_table(settings, dry_run, &source)? else {
        return Ok(()); // a dry run of a cloud source
    };
    spec.data_path = table.path.clone();
    let store = store(settings, &args.store);
    let finished = experiment::run(&store, &config, &spec)?;
    let record = &finished.record;
    let vertex_run = match &logger {
        Some(logger) => Some(logger.log_run(record)?),
        None => None,
    };
    if args.json {
        let mut value = serde_json::to_value(record)?;
        if let Value::Object(obj) = &mut value {
            obj.insert("run_dir".into(), json!(finished.dir.display().to_string()));
            obj.insert("vertex_run".into(), json!(vertex_run));
        }
        println!("{value}");
        return Ok(());
    }
    println!(
        "run {} of experiment {}: {} on {} rows, {}-fold CV AUC {:.4} ± {:.4} -> {}",
        record.run_id,
        record.experiment,
        record.model_type.as_str(),
        record.data.rows,
        record.cv_folds,
        record.metric("cv_auc_mean"),
        record.metric("cv_auc_std"),
        finished.dir.display()
    );
    match vertex_run {
        Some(name) if dry_run => {
            eprintln!("dry run: the Vertex AI Experiments requests above were not sent ({name})")
        }
        Some(name) => println!("logged to Vertex AI Experiments: {name}"),
        None => {}
    }
    Ok(())
}

fn compare_runs(settings: &Settings, args: ExperimentCompareArgs) -> Result<(), BoxError> {
    let store = store(settings, &args.store);
    let ranked = compare(&store, &args.experiment)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_report_path(&store, &args.experiment));
    let html = experiment::report::render(&args.experiment, &ranked);
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create folder `{}`: {e}", parent.display()))?;
    }
    write_atomic(&out, html.as_bytes())?;
    if args.json {
        let runs: Vec<Value> = ranked.iter().map(run_json).collect();
        println!(
            "{}",
            json!({
                "experiment": args.experiment,
                "report": out.display().to_string(),
                "runs": runs,
            })
        );
        return Ok(());
    }
    print!("{}", table(&ranked));
    eprintln!("report: {}", out.display());
    Ok(())
}

fn run_json(run: &RankedRun) -> Value {
    let r = &run.record;
    json!({
        "rank": run.rank,
        "run_id": r.run_id,
        "model_type": r.model_type.as_str(),
        "cv_auc_mean": r.metric("cv_auc_mean"),
        "cv_auc_std": r.metric("cv_auc_std"),
        "params": r.params,
        "hyperparameters": r.hyperparameters,
        "metrics": r.metrics,
        "cv_folds": r.cv_folds,
        "data": r.data,
        "run_dir": run.dir.display().to_string(),
        "model_dir": run.dir.join(&r.model_dir).display().to_string(),
        "started_at": r.started_at,
    })
}

/// The ranking as an aligned text table.
pub fn table(ranked: &[RankedRun]) -> String {
    let rows: Vec<[String; 7]> = ranked
        .iter()
        .map(|run| {
            let r = &run.record;
            let params = r
                .params
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ");
            [
                run.rank.to_string(),
                r.run_id.clone(),
                r.model_type.as_str().to_string(),
                format!("{:.4}", r.metric("cv_auc_mean")),
                format!("{:.4}", r.metric("cv_auc_std")),
                format!("{:.4}", r.metric("test_auc")),
                params,
            ]
        })
        .collect();
    let header = [
        "RANK",
        "RUN",
        "MODEL_TYPE",
        "CV_AUC",
        "CV_AUC_STD",
        "TEST_AUC",
        "PARAMS",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let cells = header.iter().map(|h| h.to_string());
    for row in std::iter::once(cells.collect::<Vec<_>>()).chain(rows.into_iter().map(Vec::from)) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}
