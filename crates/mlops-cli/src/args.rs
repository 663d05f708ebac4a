//! Command-line arguments. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mlops_core::source::TableSource;

const ENV_HELP: &str = "\
Environment variables (also read from --env-file, default .env):
  ENVIRONMENT          local (default), nprod or prod
  GCP_PROJECT_ID       Google Cloud project (required in nprod/prod)
  GCP_REGION           Vertex AI region (default australia-southeast1)
  PIPELINE_BUCKET      gs:// bucket for pipeline roots (required in nprod/prod)
  MODEL_NAME_PREFIX    prefix of registered model names (default churn)
  MLOPS_LOCAL_ROOT     local pipeline roots and registry (default ./local)
  MLOPS_MODEL_CONFIG   model config YAML (default config/model.yaml)
Google Cloud table sources (gs://, bq://, queries; builds with --features gcp):
  STORAGE_EMULATOR_HOST   Cloud Storage emulator, e.g. 127.0.0.1:4443
  BIGQUERY_EMULATOR_HOST  BigQuery emulator URL, e.g. http://127.0.0.1:9050
  MLOPS_GCP_AUTH          adc (Application Default Credentials, default) or anonymous
  RUST_LOG             log filter, e.g. info or mlops_core=debug
  NO_COLOR             disable colours";

/// Train, evaluate, score and generate churn data; run the MLOps template locally.
#[derive(Debug, Parser)]
#[command(name = "mlops", version, about, after_long_help = ENV_HELP)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file read before the environment (missing file = no settings).
    #[arg(long, global = true, default_value = ".env", value_name = "FILE")]
    pub env_file: PathBuf,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Logs as JSON lines (for Cloud Logging) instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on a table and save it as a bundle folder (model.json + metadata.json).
    Train(TrainArgs),
    /// Score a table with a saved model; writes probabilities and predicted labels.
    Predict(PredictArgs),
    /// Evaluate a saved model on a labelled table.
    Evaluate(EvaluateArgs),
    /// Write a synthetic table with the config's schema, resampled from real rows.
    GenData(GenDataArgs),
    /// Work with model bundles and the local model registry.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// List, compile and run pipelines (KFP v2 IR).
    #[command(subcommand)]
    Pipelines(PipelinesCommand),
    /// The main job: run the training pipeline locally on the shipped data and summarise.
    Demo(DemoArgs),
}

/// `mlops pipelines ...`.
#[derive(Debug, Subcommand)]
pub enum PipelinesCommand {
    /// List pipelines with their schedules and next runs (Pacific/Auckland).
    List,
    /// Compile every pipeline to KFP v2 IR JSON, one file per pipeline.
    Compile(CompileArgs),
    /// Run a pipeline locally from its compiled IR.
    Run(RunArgs),
}

/// `mlops pipelines compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Output folder [default: $MLOPS_LOCAL_ROOT/pipelines].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Container image for every step (registry path + tag, e.g. the commit sha).
    #[arg(
        long,
        value_name = "IMAGE",
        env = "MLOPS_IMAGE",
        default_value = "churn-mlops:local"
    )]
    pub image: String,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mlops pipelines run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline name (see `mlops pipelines list`).
    pub name: String,
    /// Pipeline parameter, `name=value` (repeatable); typed by the pipeline's definition.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// Pipeline root [default: $MLOPS_LOCAL_ROOT/pipeline_root].
    #[arg(long, value_name = "DIR")]
    pub pipeline_root: Option<PathBuf>,
    /// Run every task, ignoring cached results.
    #[arg(long)]
    pub no_cache: bool,
    /// Run this compiled IR file instead of compiling the named pipeline first.
    #[arg(long, value_name = "FILE")]
    pub ir: Option<PathBuf>,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the run record as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `mlops demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Pipeline root [default: $MLOPS_LOCAL_ROOT/pipeline_root].
    #[arg(long, value_name = "DIR")]
    pub pipeline_root: Option<PathBuf>,
}

/// `mlops models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Wrap a model trained in Python XGBoost (model.json with feature names) as a bundle,
    /// so it can be served and batch-scored. Categorical levels must be named `column=level`.
    ImportXgboost(ImportXgboostArgs),
    /// List registered versions with aliases and metrics.
    List(RegistryArgs),
    /// Show one version (number or alias) as JSON.
    Show {
        /// Version number or alias (e.g. champion).
        version: String,
        /// Which registry and model.
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Make a version the champion.
    Promote {
        /// Version number.
        version: u32,
        /// Which registry and model.
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Move the champion back to the previous champion.
    Rollback(RegistryArgs),
}

/// Which registry and model.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Registry folder [default: $MLOPS_LOCAL_ROOT/registry].
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,
    /// Registered model name [default: $MODEL_NAME_PREFIX].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `mlops models import-xgboost`.
#[derive(Debug, Args)]
pub struct ImportXgboostArgs {
    /// XGBoost JSON model (`Booster.save_model("model.json")`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Output bundle folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The model's feature names in column order, for a model saved without them (an
    /// `XGBClassifier` fitted on a NumPy array): one name per line, or a JSON list.
    #[arg(long, value_name = "FILE")]
    pub feature_names: Option<PathBuf>,
    /// Model config YAML describing the input table [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mlops train`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("save_or_cv").required(true).multiple(true).args(["out", "cv"])
))]
pub struct TrainArgs {
    /// Training table: a .csv or .parquet path, gs://bucket/object.csv (or .parquet),
    /// bq://project.dataset.table, or a BigQuery query starting with SELECT or WITH (Google
    /// Cloud sources need a build with `--features gcp`).
    #[arg(long, value_name = "SOURCE")]
    pub data: TableSource,
    /// Output folder for the model bundle (replaced atomically if it exists); without it, only
    /// `--cv` runs and nothing is saved.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON object with the metrics instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Seed of the split and of training [default: split.seed from the config].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Held-out table to evaluate on (any --data source); then all of --data is used for
    /// fitting (no split).
    #[arg(long, value_name = "SOURCE")]
    pub test_data: Option<TableSource>,
    /// Also run stratified K-fold cross-validation on the whole table.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(2..=50))]
    pub cv: Option<u32>,
}

/// `mlops predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model bundle folder.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Table to score: a .csv or .parquet path, gs://, bq:// or a query (as `train --data`).
    #[arg(long, value_name = "SOURCE")]
    pub data: TableSource,
    /// Output table (.csv or .parquet), written atomically.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print timings (read, encode, score, write) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `mlops evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Model bundle folder.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Labelled table: a .csv or .parquet path, gs://, bq:// or a query (as `train --data`).
    #[arg(long, value_name = "SOURCE")]
    pub data: TableSource,
    /// Print one JSON object with the metrics.
    #[arg(long)]
    pub json: bool,
}

/// `mlops gen-data`.
#[derive(Debug, Args)]
pub struct GenDataArgs {
    /// Number of rows.
    #[arg(long, value_name = "N")]
    pub rows: usize,
    /// Output table (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Population shift (0 = same population; 1 = strongly drifted).
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    pub shift: f64,
    /// Real table to resample.
    #[arg(long, value_name = "PATH", default_value = "data/wa_churn.csv")]
    pub source: PathBuf,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}
