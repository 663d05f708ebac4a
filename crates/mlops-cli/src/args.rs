//! Command-line arguments. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mlops_core::source::TableSource;

/// Variables read by the logging set-up rather than by the settings.
const LOG_VARIABLES: &[(&str, &str)] = &[
    ("RUST_LOG", "log filter, e.g. info or mlops_core=debug"),
    ("NO_COLOR", "disable colours"),
];

/// Width the `--help` epilogue is wrapped to: clap re-wraps (and loses the hanging indent of)
/// lines wider than the terminal, and 80 columns is the narrowest common one.
const HELP_COLUMNS: usize = 80;

/// The `--help` epilogue: every settings variable with its meaning, from
/// [`mlops_domain::settings::VARIABLES`] (so the list cannot fall behind what is read), then
/// the logging ones; meanings wrapped under themselves.
pub fn env_help() -> String {
    let all = mlops_domain::settings::VARIABLES
        .iter()
        .chain(LOG_VARIABLES);
    let width = all.clone().map(|(name, _)| name.len()).max().unwrap_or(0);
    let indent = 2 + width + 2;
    let mut text = String::from("Environment variables (also read from --env-file, default .env):");
    for (name, meaning) in all {
        let mut line = format!("  {name:<width$} ");
        for word in meaning.split_whitespace() {
            if line.len() + 1 + word.len() > HELP_COLUMNS && line.len() > indent {
                text.push('\n');
                text.push_str(line.trim_end());
                line = " ".repeat(indent - 1);
            }
            line.push(' ');
            line.push_str(word);
        }
        text.push('\n');
        text.push_str(line.trim_end());
    }
    text
}

/// Train, evaluate, score and generate churn data; run the MLOps template locally.
#[derive(Debug, Parser)]
#[command(name = "mlops", version, about)]
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
    /// Print each Google Cloud request (method, resource, JSON body) instead of sending it.
    #[arg(long, global = true)]
    pub dry_run: bool,
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
    /// Write the later outcomes (did the customer churn, and when was it known) for a fraction
    /// of the rows of a predictions table, for monitoring demos and tests.
    GenOutcomes(GenOutcomesArgs),
    /// Work with model bundles and the local model registry.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// List, compile and run pipelines (KFP v2 IR).
    #[command(subcommand)]
    Pipelines(PipelinesCommand),
    /// Vertex AI endpoints: deploy a registered version with a share of the traffic.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// The main job: run the training pipeline locally on the shipped data and summarise.
    Demo(DemoArgs),
    /// The monitoring checks outside a pipeline: drift of a table against a model's training
    /// baseline, performance of predictions against the outcomes that arrived.
    #[command(subcommand)]
    Monitor(MonitorCommand),
    /// Monitoring metrics written by the pipelines (the local metrics table).
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// Alert policies as code (`POLICIES`, thresholds from MLOPS_MONITORING_CONFIG): print
    /// the Cloud Monitoring bodies, check them locally, apply them.
    #[command(subcommand)]
    Alerting(AlertingCommand),
    /// Experiment tracking: runs with cross-validation logged locally (and to Vertex AI
    /// Experiments in nprod/prod), ranked and drawn in an HTML report.
    #[command(subcommand)]
    Experiment(crate::experiment::ExperimentCommand),
}

/// `mlops monitor ...`.
#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Score drift (PSI, Jensen-Shannon distance, Wasserstein, KS) and feature drift of a
    /// table against the model's training-split baseline; thresholds from the monitoring
    /// config. Exit 0 whether or not drift is detected.
    Drift(MonitorDriftArgs),
    /// Realised performance of predictions joined with their outcomes, next to the
    /// performance estimated from the scores alone (CBPE); thresholds from the monitoring
    /// config. Exit 0 whether or not an alert fires.
    Performance(MonitorPerformanceArgs),
}

/// `mlops monitor drift`.
#[derive(Debug, Args)]
pub struct MonitorDriftArgs {
    /// Model bundle folder whose metadata.json holds the training baseline.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Table (.csv, .parquet, or a folder of them): a predictions table with a `probability`
    /// column (its input columns, when present, are checked too), or rows to score.
    #[arg(long, value_name = "TABLE")]
    pub data: PathBuf,
    /// Histogram bins [default: the monitoring config's `drift.bins`].
    #[arg(long, value_name = "N")]
    pub bins: Option<usize>,
    /// Bin edges: `uniform` (equal width on [0, 1]) or `quantile` (the baseline's quantiles)
    /// [default: the monitoring config's `drift.binning`].
    #[arg(long, value_name = "KIND")]
    pub binning: Option<String>,
    /// Monitoring config YAML [default: $MLOPS_MONITORING_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also write the HTML report (histograms against the baseline) to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// One JSON object on stdout (`psi`, `js_distance`, `drift_detected`, `features`, ...).
    #[arg(long)]
    pub json: bool,
}

/// `mlops monitor performance`.
#[derive(Debug, Args)]
pub struct MonitorPerformanceArgs {
    /// Predictions table (id column, `probability`, optionally `scored_at`): a file or a
    /// folder of files.
    #[arg(long, value_name = "TABLE")]
    pub predictions: PathBuf,
    /// Outcomes table (`id`, `churned` as 0/1 or true/false), as `mlops gen-outcomes` writes.
    #[arg(long, value_name = "TABLE")]
    pub outcomes: PathBuf,
    /// Id column of the predictions table.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_column: String,
    /// The model bundle that scored: the estimate goes through its calibration (fitted on its
    /// held-out rows). Without it the scores are taken as calibrated, which over-confident
    /// models are not.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Only predictions scored in the last N days (by `scored_at`) [default: all].
    #[arg(long, value_name = "N")]
    pub window_days: Option<u32>,
    /// Probability at or above which a prediction is positive.
    #[arg(long, value_name = "P", default_value_t = mlops_monitoring::DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Monitoring config YAML [default: $MLOPS_MONITORING_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also write the HTML report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// One JSON object on stdout (`realised`, `estimated`, `metrics`, `alerts`, ...).
    #[arg(long)]
    pub json: bool,
}

/// `mlops metrics ...`.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Print the latest value of every metric series (pipeline, model, metric, feature).
    Show(MetricsShowArgs),
}

/// Where the local metrics table is.
#[derive(Debug, Args)]
pub struct MetricsTableArgs {
    /// Local pipeline root holding `metrics/metrics.jsonl` [default: $MLOPS_LOCAL_ROOT/pipeline_root].
    #[arg(long, value_name = "DIR")]
    pub pipeline_root: Option<PathBuf>,
    /// Only this pipeline's metrics (`inference`, `monitoring`).
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// Only the metrics of the last N runs.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
}

/// `mlops metrics show`.
#[derive(Debug, Args)]
pub struct MetricsShowArgs {
    /// The table and which rows.
    #[command(flatten)]
    pub table: MetricsTableArgs,
    /// One JSON array of rows on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `mlops alerting ...`.
#[derive(Debug, Subcommand)]
pub enum AlertingCommand {
    /// Print the Cloud Monitoring AlertPolicy body of every policy (JSON array).
    Plan(AlertingPlanArgs),
    /// Evaluate every policy against the latest values of the local metrics table and say
    /// which would fire and why (exit 0 either way).
    Check(AlertingCheckArgs),
    /// Create or update the policies in Cloud Monitoring by display name, and the Slack
    /// notification channel unless ALERT_NOTIFICATION_CHANNEL names one (feature `gcp`).
    Apply(AlertingPlanArgs),
}

/// `mlops alerting plan|apply`.
#[derive(Debug, Args)]
pub struct AlertingPlanArgs {
    /// Monitoring config YAML [default: $MLOPS_MONITORING_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mlops alerting check`.
#[derive(Debug, Args)]
pub struct AlertingCheckArgs {
    /// Monitoring config YAML [default: $MLOPS_MONITORING_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The table and which rows.
    #[command(flatten)]
    pub table: MetricsTableArgs,
    /// One JSON array (one object per policy) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `mlops pipelines ...`.
#[derive(Debug, Subcommand)]
pub enum PipelinesCommand {
    /// List pipelines with their schedules and next runs (Pacific/Auckland).
    List,
    /// Compile every pipeline to KFP v2 IR JSON, one file per pipeline. In nprod/prod the IR
    /// carries the cloud defaults: the Artifact Registry image, `defaultPipelineRoot` in
    /// PIPELINE_BUCKET, the BigQuery source table and the Vertex AI Model Registry.
    Compile(CompileArgs),
    /// Run a pipeline on this machine from its compiled IR (ENVIRONMENT=local only).
    Run(RunArgs),
    /// Compile every pipeline for nprod/prod and upload the IR to
    /// `PIPELINE_BUCKET/pipelines/{tag}/{name}.json` (and `.../latest/`).
    Upload(CloudCompileArgs),
    /// Submit a pipeline to Vertex AI Pipelines as a PipelineJob; `--wait` follows it and
    /// exits non-zero when it fails.
    Submit(SubmitArgs),
    /// Apply `PIPELINE_DEFS`' schedules to Vertex AI: create, update, resume or pause them, and
    /// delete the schedules of pipelines that are gone. The plan is printed first.
    Schedule(CloudCompileArgs),
}

/// Options of the commands that compile for Vertex AI.
#[derive(Debug, Args)]
pub struct CloudCompileArgs {
    /// Image of every step [default: the Artifact Registry image tagged IMAGE_TAG or the git
    /// sha].
    #[arg(long, value_name = "IMAGE", env = "MLOPS_IMAGE")]
    pub image: Option<String>,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mlops pipelines submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Pipeline name (see `mlops pipelines list`).
    pub name: String,
    /// Override a pipeline parameter (repeatable), typed by the IR: `--param n_estimators=300`.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// Wait for the job to finish, printing task states as they change.
    #[arg(long)]
    pub wait: bool,
    /// Seconds between polls with --wait.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub poll_seconds: u64,
    /// Compile options.
    #[command(flatten)]
    pub compile: CloudCompileArgs,
}

/// `mlops endpoints ...`.
#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// Models on the endpoint with their traffic shares.
    List(EndpointArgs),
    /// Deploy a registered version (number or alias) with a share of the traffic; the models
    /// already deployed keep the rest in their proportions (a canary).
    Deploy {
        /// Version number or alias (e.g. champion).
        #[arg(long)]
        version: String,
        /// Percent of the traffic for this version (1-100).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=100))]
        traffic: i32,
        /// Machine type of the replicas.
        #[arg(long, default_value = "n1-standard-2")]
        machine_type: String,
        /// Which endpoint.
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// Remove a deployed model (its id from `mlops endpoints list`); the others take its
    /// traffic.
    Undeploy {
        /// Deployed-model id.
        #[arg(long)]
        deployed_model_id: String,
        /// Which endpoint.
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
}

/// Which endpoint.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Endpoint display name [default: {MODEL_NAME_PREFIX}-churn-endpoint]; created when missing.
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
}

/// `mlops pipelines compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Output folder [default: $MLOPS_LOCAL_ROOT/pipelines].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Container image for every step [default: churn-mlops:local; in nprod/prod the image in
    /// Artifact Registry,
    /// {GCP_REGION}-docker.pkg.dev/{GCP_PROJECT_ID}/{ARTIFACT_REGISTRY_REPO}/{IMAGE_NAME}:{tag},
    /// tagged IMAGE_TAG, else `git rev-parse --short=12 HEAD`].
    #[arg(long, value_name = "IMAGE", env = "MLOPS_IMAGE")]
    pub image: Option<String>,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mlops pipelines run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Pipeline name (see `mlops pipelines list`).
    pub name: String,
    /// Pipeline parameter, `name=value` (repeatable); typed by the pipeline's definition.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    /// Pipeline root: a folder, or `gs://bucket/prefix` to keep artifacts in Cloud Storage as
    /// on Vertex AI (steps read them through a local copy in $MLOPS_LOCAL_ROOT/gcs_staging;
    /// needs GCP_PROJECT_ID and the `gcp` build) [default: $MLOPS_LOCAL_ROOT/pipeline_root].
    #[arg(long, value_name = "DIR|gs://BUCKET/PREFIX")]
    pub pipeline_root: Option<String>,
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
    /// Pipeline root: a folder or `gs://bucket/prefix`, as for `pipelines run`
    /// [default: $MLOPS_LOCAL_ROOT/pipeline_root].
    #[arg(long, value_name = "DIR|gs://BUCKET/PREFIX")]
    pub pipeline_root: Option<String>,
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
    /// Output: a .csv or .parquet file (written atomically), or a BigQuery table
    /// `bq://project.dataset.table` (created when missing with the predictions-table schema,
    /// as `--table`, the id column `--id-column` or `id`; rows appended in batches; builds
    /// with the cargo feature `gcp`).
    #[arg(long, value_name = "FILE|TABLE")]
    pub out: PathBuf,
    /// Print timings (read, encode, score, write) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Copy this input column to the output first (default: the config's `id_column`, when
    /// the table has it).
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// Write a predictions table instead of `<label>_probability`/`<label>_predicted`: the id
    /// column, `probability`, `label` (1 at or above the model's threshold, else 0),
    /// `model_name`, `model_version` and `scored_at` (UTC, the time of the run).
    #[arg(long)]
    pub table: bool,
    /// `model_name` of `--table` [default: the model type, e.g. boosted_trees].
    #[arg(long, value_name = "NAME", requires = "table")]
    pub model_name: Option<String>,
    /// `model_version` of `--table` [default: the bundle's training time].
    #[arg(long, value_name = "VERSION", requires = "table")]
    pub model_version: Option<String>,
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
    /// Population shift in [0, 1] for drift demos, in proportion to X: `tenure` × (1 − 0.5X),
    /// `monthly_charges` × (1 + 0.3X), `total_charges` × both, and rows move to a
    /// `Month-to-month` `contract` with probability 0.6X. Labels are the resampled rows'. 0 is
    /// the unshifted table, row for row.
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    pub shift: f64,
    /// Also write a first column of this name with a unique id per row, `<seed>-<row>`.
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// Real table to resample.
    #[arg(long, value_name = "PATH", default_value = "data/wa_churn.csv")]
    pub source: PathBuf,
    /// Model config YAML [default: $MLOPS_MODEL_CONFIG or config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mlops gen-outcomes`.
#[derive(Debug, Args)]
pub struct GenOutcomesArgs {
    /// Predictions table (.csv or .parquet) with the id column and, if present, `scored_at`
    /// (else now) and `probability` (or `<label>_probability`).
    #[arg(long, value_name = "FILE")]
    pub predictions: PathBuf,
    /// The table that was scored, with the id column. `churned` is its label for the id
    /// (1 = the config's positive value); without a label column, drawn from the probability.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Output (.csv or .parquet): `id`, `churned` (0/1), `outcome_at` (UTC, after `scored_at`).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Share of the scored ids whose outcome has arrived; the rest have none yet.
    #[arg(long, value_name = "F", default_value_t = 0.8)]
    pub fraction: f64,
    /// Outcomes arrive 1 s to this many days after scoring (uniformly).
    #[arg(long, value_name = "D", default_value_t = 30.0)]
    pub delay_days: f64,
    /// Random seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Id column of both tables.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_column: String,
    /// Model config YAML, for the label column and values [default: $MLOPS_MODEL_CONFIG or
    /// config/model.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}
