//! Runtime settings from a `.env` file and the process environment (the environment wins).
//!
//! Every variable the product reads is listed in [`VARIABLES`], which `mlops --help` prints.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_booster::Kernel;

use crate::error::{DomainError, Result};
use crate::location::ArtifactLocation;

mod checks;

/// Every environment variable read by [`Settings`], with its meaning.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "ENVIRONMENT",
        "local (default), nprod or prod; nprod/prod need the GCP variables",
    ),
    (
        "GCP_PROJECT_ID",
        "Google Cloud project id (required in nprod/prod)",
    ),
    (
        "GCP_REGION",
        "Vertex AI region (default australia-southeast1)",
    ),
    (
        "PIPELINE_BUCKET",
        "gs:// bucket for pipeline roots and artifacts (required in nprod/prod)",
    ),
    (
        "MODEL_NAME_PREFIX",
        "prefix of registered model names (default churn)",
    ),
    (
        "MLOPS_LOCAL_ROOT",
        "folder for local pipeline roots, the local registry and gcs_staging/ (the staging copy of gs:// pipeline roots) (default ./local)",
    ),
    (
        "MLOPS_MODEL_CONFIG",
        "model config YAML (default config/model.yaml)",
    ),
    (
        "MLOPS_EXPERIMENTS_DIR",
        "local store of `mlops experiment` runs (default {MLOPS_LOCAL_ROOT}/experiments)",
    ),
    (
        "MLOPS_PREDICT_KERNEL",
        "tree-scoring code: auto (default: AVX-512, else AVX2, else portable), avx2 or portable; same results",
    ),
    (
        "ARTIFACT_REGISTRY_REPO",
        "Artifact Registry repository of the image (default mlops)",
    ),
    ("IMAGE_NAME", "image name in that repository (default churn-mlops)"),
    (
        "IMAGE_TAG",
        "tag the image was pushed with (default in nprod/prod: git rev-parse --short=12 HEAD)",
    ),
    (
        "PIPELINE_SERVICE_ACCOUNT",
        "service account pipelines run as (default vertex-pipelines@{project}.iam.gserviceaccount.com)",
    ),
    ("BQ_DATASET", "BigQuery dataset of the tables (default mlops)"),
    ("BQ_LOCATION", "BigQuery location (default: GCP_REGION)"),
    (
        "BQ_SOURCE_TABLE",
        "training table in BQ_DATASET (default wa_churn)",
    ),
    (
        "STORAGE_EMULATOR_HOST",
        "Cloud Storage emulator, host:port or URL (default: https://storage.googleapis.com)",
    ),
    (
        "BIGQUERY_EMULATOR_HOST",
        "BigQuery emulator, host:port or URL (default: https://bigquery.googleapis.com)",
    ),
    (
        "MLOPS_VERTEX_ENDPOINT",
        "Vertex AI API URL (default https://{region}-aiplatform.googleapis.com)",
    ),
    (
        "MLOPS_MONITORING_ENDPOINT",
        "Cloud Monitoring API URL (default https://monitoring.googleapis.com)",
    ),
    (
        "MLOPS_GCP_AUTH",
        "adc (default: Application Default Credentials) or anonymous (emulators, tests)",
    ),
    (
        "MLOPS_MONITORING_CONFIG",
        "monitoring config YAML: drift method and bins, alerts_threshold (default config/monitoring.yaml)",
    ),
    (
        "ALERT_NOTIFICATION_CHANNEL",
        "existing Cloud Monitoring notification channel (projects/P/notificationChannels/ID or ID) for the alert policies; else a Slack channel is created",
    ),
    (
        "SLACK_CHANNEL_NAME",
        "Slack channel the alert policies notify, e.g. #ml-alerts (default #ml-alerts)",
    ),
    (
        "SLACK_AUTH_TOKEN",
        "Slack bot token for a new Slack notification channel (secret; never printed)",
    ),
];

/// Google's Cloud Storage JSON API host.
pub const STORAGE_ENDPOINT: &str = "https://storage.googleapis.com";
/// Google's BigQuery API host (the REST base is this plus [`BIGQUERY_API_PATH`]).
pub const BIGQUERY_ENDPOINT: &str = "https://bigquery.googleapis.com";
/// Path of the BigQuery v2 REST API under its host (also under an emulator's host).
pub const BIGQUERY_API_PATH: &str = "/bigquery/v2";
/// Google's Cloud Monitoring API host.
pub const MONITORING_ENDPOINT: &str = "https://monitoring.googleapis.com";

/// Where the product runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Everything on this machine; no cloud variables needed.
    Local,
    /// Non-production Google Cloud project.
    Nprod,
    /// Production Google Cloud project.
    Prod,
}

impl Environment {
    /// The value of `ENVIRONMENT` that selects it.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Nprod => "nprod",
            Environment::Prod => "prod",
        }
    }

    /// Nprod or prod: pipelines, data and models live in Google Cloud.
    pub fn is_cloud(self) -> bool {
        self != Environment::Local
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the Google Cloud clients authenticate (`MLOPS_GCP_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcpAuth {
    /// Application Default Credentials (metadata server, `gcloud auth application-default`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`).
    Adc,
    /// No credentials: for emulators and loopback fakes.
    Anonymous,
}

/// Endpoint overrides for emulators and loopback fakes, already normalised to URLs without a
/// trailing slash; `None` means Google's endpoint. Google's Rust clients read no emulator
/// variables, so the settings do, and the clients are given the URLs from [`Settings`]'
/// `*_endpoint` methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpEndpoints {
    /// `STORAGE_EMULATOR_HOST` (`127.0.0.1:4443` becomes `http://127.0.0.1:4443`).
    pub storage: Option<String>,
    /// `BIGQUERY_EMULATOR_HOST`: the emulator's host; the API is under `/bigquery/v2` there too.
    pub bigquery: Option<String>,
    /// `MLOPS_VERTEX_ENDPOINT`: replaces the regional Vertex AI endpoint.
    pub vertex: Option<String>,
    /// `MLOPS_MONITORING_ENDPOINT`: replaces the Cloud Monitoring endpoint.
    pub monitoring: Option<String>,
}

/// Validated runtime settings.
///
/// Built only by [`Settings::load`] and [`Settings::from_vars`], which guarantee that in
/// nprod/prod `project_id` and a `gs://` `pipeline_bucket` are set: the cloud defaults
/// ([`Settings::pipeline_root`], [`Settings::source_table`], …) are derived from them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// Where the product runs.
    pub environment: Environment,
    /// Google Cloud project id (set in nprod/prod).
    pub project_id: Option<String>,
    /// Vertex AI region.
    pub region: String,
    /// Pipeline bucket (set in nprod/prod).
    pub pipeline_bucket: Option<ArtifactLocation>,
    /// Prefix of registered model names.
    pub model_name_prefix: String,
    /// Local folder for pipeline roots and the local registry.
    pub local_root: String,
    /// Path of the model config YAML.
    pub model_config: String,
    /// `MLOPS_EXPERIMENTS_DIR`: the local experiment store, when set (see
    /// [`Settings::experiments_dir`]).
    pub experiments_dir: Option<String>,
    /// The tree-scoring kernel to ask for ([`Kernel::Avx512`] means "the fastest available";
    /// a kernel the CPU lacks falls back to the next one).
    pub predict_kernel: Kernel,
    /// Artifact Registry repository holding the image.
    pub artifact_registry_repo: String,
    /// Image name in that repository.
    pub image_name: String,
    /// Tag the image was pushed with (the git sha), when set; in nprod/prod the CLI falls back
    /// to `git rev-parse --short=12 HEAD`.
    pub image_tag: Option<String>,
    /// Service account pipelines run as: `PIPELINE_SERVICE_ACCOUNT`, else
    /// `vertex-pipelines@{project}.iam.gserviceaccount.com` (`None` locally without a project).
    pub pipeline_service_account: Option<String>,
    /// BigQuery dataset of the source and prediction tables.
    pub bq_dataset: String,
    /// BigQuery location of that dataset (default: the region).
    pub bq_location: String,
    /// The training table in `bq_dataset`.
    pub bq_source_table: String,
    /// Endpoint overrides (emulators, loopback fakes).
    pub gcp_endpoints: GcpEndpoints,
    /// How Google Cloud clients authenticate.
    pub gcp_auth: GcpAuth,
    /// Path of the monitoring config YAML (drift method, `alerts_threshold`).
    pub monitoring_config: String,
    /// An existing notification channel for the alert policies (full name or id).
    pub alert_notification_channel: Option<String>,
    /// The Slack channel a created notification channel posts to.
    pub slack_channel_name: String,
    /// The Slack token of a created notification channel (never printed: `Debug` shows
    /// `<redacted>`).
    pub slack_auth_token: Option<Secret>,
}

/// A secret setting: its `Debug` output is redacted, so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret value, for the one request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Settings {
    /// Read `env_file` (if it exists) and the process environment.
    pub fn load(env_file: Option<&Path>) -> Result<Settings> {
        let mut vars = BTreeMap::new();
        if let Some(path) = env_file.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path).map_err(|source| DomainError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?;
            vars.extend(parse_dotenv(&text));
        }
        for (name, _) in VARIABLES {
            if let Ok(value) = std::env::var(name) {
                vars.insert((*name).to_string(), value);
            }
        }
        Settings::from_vars(&vars)
    }

    /// Validate settings from a map of variables; every problem is reported at once.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Settings> {
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let environment = match get("ENVIRONMENT").as_deref() {
            None | Some("local") => Environment::Local,
            Some("nprod") => Environment::Nprod,
            Some("prod") => Environment::Prod,
            Some(other) => {
                problems.push(format!(
                    "ENVIRONMENT is `{other}`, expected local, nprod or prod"
                ));
                Environment::Local
            }
        };
        let cloud = environment != Environment::Local;
        let project_id = get("GCP_PROJECT_ID");
        if let Some(p) = &project_id {
            if let Err(expected) = checks::project_id(p) {
                problems.push(format!("GCP_PROJECT_ID is `{p}`, expected {expected}"));
            }
        } else if cloud {
            problems.push(
                "GCP_PROJECT_ID is missing (required when ENVIRONMENT is nprod or prod)".into(),
            );
        }
        let region = get("GCP_REGION").unwrap_or_else(|| "australia-southeast1".into());
        if !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || !region.contains('-')
        {
            problems.push(format!(
                "GCP_REGION is `{region}`, expected a region such as europe-west4"
            ));
        }
        let pipeline_bucket = match get("PIPELINE_BUCKET") {
            Some(b) => match b.parse::<ArtifactLocation>() {
                Ok(loc @ ArtifactLocation::Gcs { .. }) => Some(loc),
                Ok(_) if !cloud => b.parse().ok(),
                Ok(_) => {
                    problems.push(format!(
                        "PIPELINE_BUCKET is `{b}`, expected gs://bucket[/prefix]"
                    ));
                    None
                }
                Err(e) => {
                    problems.push(format!("PIPELINE_BUCKET: {e}"));
                    None
                }
            },
            None => {
                if cloud {
                    problems.push(
                        "PIPELINE_BUCKET is missing (required when ENVIRONMENT is nprod or prod)"
                            .into(),
                    );
                }
                None
            }
        };
        let model_name_prefix = get("MODEL_NAME_PREFIX").unwrap_or_else(|| "churn".into());
        if !model_name_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            problems.push(format!(
                "MODEL_NAME_PREFIX is `{model_name_prefix}`, expected letters, digits, '-' and '_'"
            ));
        }
        let predict_kernel = match get("MLOPS_PREDICT_KERNEL").as_deref() {
            None | Some("auto") => Kernel::Avx512,
            Some("avx2") => Kernel::Avx2,
            Some("portable") => Kernel::Portable,
            Some(other) => {
                problems.push(format!(
                    "MLOPS_PREDICT_KERNEL is `{other}`, expected auto, avx2 or portable"
                ));
                Kernel::Avx512
            }
        };
        // A name with a default: the value (or the default) if it passes `check`.
        let mut name = |var: &str, default: &str, check: fn(&str) -> Result<(), &'static str>| {
            let value = get(var).unwrap_or_else(|| default.to_string());
            if let Err(expected) = check(&value) {
                problems.push(format!("{var} is `{value}`, expected {expected}"));
            }
            value
        };
        let artifact_registry_repo = name("ARTIFACT_REGISTRY_REPO", "mlops", checks::repository);
        let image_name = name("IMAGE_NAME", "churn-mlops", checks::image_name);
        let bq_dataset = name("BQ_DATASET", "mlops", checks::dataset_id);
        let bq_source_table = name("BQ_SOURCE_TABLE", "wa_churn", checks::table_id);
        let mut optional = |var: &str, check: fn(&str) -> Result<(), &'static str>| {
            let value = get(var)?;
            if let Err(expected) = check(&value) {
                problems.push(format!("{var} is `{value}`, expected {expected}"));
            }
            Some(value)
        };
        let image_tag = optional("IMAGE_TAG", checks::image_tag);
        // Checked only when set: a bad GCP_REGION is reported once, under its own name.
        let bq_location =
            optional("BQ_LOCATION", checks::bq_location).unwrap_or_else(|| region.clone());
        let pipeline_service_account =
            optional("PIPELINE_SERVICE_ACCOUNT", checks::email).or_else(|| {
                project_id
                    .as_ref()
                    .map(|p| format!("vertex-pipelines@{p}.iam.gserviceaccount.com"))
            });
        let mut url = |var: &str, normalise: fn(&str) -> Result<String, &'static str>| {
            let value = get(var)?;
            normalise(&value)
                .map_err(|expected| {
                    problems.push(format!("{var} is `{value}`, expected {expected}"));
                })
                .ok()
        };
        let gcp_endpoints = GcpEndpoints {
            storage: url("STORAGE_EMULATOR_HOST", checks::emulator_host),
            bigquery: url("BIGQUERY_EMULATOR_HOST", checks::emulator_host),
            vertex: url("MLOPS_VERTEX_ENDPOINT", checks::endpoint_url),
            monitoring: url("MLOPS_MONITORING_ENDPOINT", checks::endpoint_url),
        };
        let gcp_auth = match get("MLOPS_GCP_AUTH").as_deref() {
            None | Some("adc") => GcpAuth::Adc,
            Some("anonymous") => GcpAuth::Anonymous,
            Some(other) => {
                problems.push(format!(
                    "MLOPS_GCP_AUTH is `{other}`, expected adc or anonymous"
                ));
                GcpAuth::Adc
            }
        };
        let alert_notification_channel = get("ALERT_NOTIFICATION_CHANNEL");
        if let Some(c) = &alert_notification_channel {
            let id = c.rsplit('/').next().unwrap_or_default();
            let full = c.starts_with("projects/") && c.contains("/notificationChannels/");
            if id.is_empty() || id.contains(char::is_whitespace) || (c.contains('/') && !full) {
                problems.push(format!(
                    "ALERT_NOTIFICATION_CHANNEL is `{c}`, expected projects/P/notificationChannels/ID or ID"
                ));
            }
        }
        let slack_channel_name = get("SLACK_CHANNEL_NAME").unwrap_or_else(|| "#ml-alerts".into());
        if !slack_channel_name.starts_with('#') || slack_channel_name.len() < 2 {
            problems.push(format!(
                "SLACK_CHANNEL_NAME is `{slack_channel_name}`, expected a channel such as #ml-alerts"
            ));
        }
        if !problems.is_empty() {
            return Err(DomainError::Settings(problems));
        }
        Ok(Settings {
            environment,
            project_id,
            region,
            pipeline_bucket,
            model_name_prefix,
            local_root: get("MLOPS_LOCAL_ROOT").unwrap_or_else(|| "local".into()),
            model_config: get("MLOPS_MODEL_CONFIG").unwrap_or_else(|| "config/model.yaml".into()),
            experiments_dir: get("MLOPS_EXPERIMENTS_DIR"),
            predict_kernel,
            artifact_registry_repo,
            image_name,
            image_tag,
            pipeline_service_account,
            bq_dataset,
            bq_location,
            bq_source_table,
            gcp_endpoints,
            gcp_auth,
            monitoring_config: get("MLOPS_MONITORING_CONFIG")
                .unwrap_or_else(|| "config/monitoring.yaml".into()),
            alert_notification_channel,
            slack_channel_name,
            slack_auth_token: get("SLACK_AUTH_TOKEN").map(Secret),
        })
    }

    /// The project id, empty when unset (never in nprod/prod: [`Settings::from_vars`] refuses
    /// that, so a cloud URI never silently falls back to a local path).
    fn project(&self) -> &str {
        self.project_id.as_deref().unwrap_or_default()
    }

    /// The image in Artifact Registry:
    /// `{region}-docker.pkg.dev/{project}/{ARTIFACT_REGISTRY_REPO}/{IMAGE_NAME}:{tag}`.
    pub fn image_uri(&self, tag: &str) -> String {
        format!(
            "{}-docker.pkg.dev/{}/{}/{}:{tag}",
            self.region,
            self.project(),
            self.artifact_registry_repo,
            self.image_name
        )
    }

    /// Where pipeline runs keep their artifacts: `gs://{PIPELINE_BUCKET}/pipeline_root` in
    /// nprod/prod (under the bucket's prefix, if it has one), `{MLOPS_LOCAL_ROOT}/pipeline_root`
    /// locally.
    pub fn pipeline_root(&self) -> String {
        if self.environment.is_cloud() {
            match &self.pipeline_bucket {
                Some(bucket) => bucket.join("pipeline_root").to_string(),
                None => "gs:///pipeline_root".into(),
            }
        } else {
            self.local_path("pipeline_root")
        }
    }

    /// The model registry the pipelines register into: the Vertex AI Model Registry of the
    /// project and region (`vertex://projects/{project}/locations/{region}`) in nprod/prod,
    /// `{MLOPS_LOCAL_ROOT}/registry` locally.
    pub fn registry_uri(&self) -> String {
        if self.environment.is_cloud() {
            format!(
                "vertex://projects/{}/locations/{}",
                self.project(),
                self.region
            )
        } else {
            self.local_path("registry")
        }
    }

    /// The training table: `bq://{project}.{BQ_DATASET}.{BQ_SOURCE_TABLE}` in nprod/prod, the
    /// shipped `data/wa_churn.csv` locally.
    pub fn source_table(&self) -> String {
        if self.environment.is_cloud() {
            format!(
                "bq://{}.{}.{}",
                self.project(),
                self.bq_dataset,
                self.bq_source_table
            )
        } else {
            "data/wa_churn.csv".into()
        }
    }

    /// A table the inference and monitoring pipelines write or read (`predictions`,
    /// `outcomes`): `bq://{project}.{BQ_DATASET}.{name}` in nprod/prod, the folder
    /// `{MLOPS_LOCAL_ROOT}/tables/{name}` locally (one Parquet file per run).
    pub fn table_uri(&self, name: &str) -> String {
        if self.environment.is_cloud() {
            format!("bq://{}.{}.{name}", self.project(), self.bq_dataset)
        } else {
            self.local_path(&format!("tables/{name}"))
        }
    }

    /// The monitoring metrics table: `bq://{project}.{BQ_DATASET}.monitoring_metrics` in
    /// nprod/prod (rows also go to Cloud Monitoring), locally the JSON-lines table that
    /// `mlops metrics show` reads, `{MLOPS_LOCAL_ROOT}/pipeline_root/metrics/metrics.jsonl`.
    pub fn metrics_table_uri(&self) -> String {
        if self.environment.is_cloud() {
            format!(
                "bq://{}.{}.monitoring_metrics",
                self.project(),
                self.bq_dataset
            )
        } else {
            self.local_path("pipeline_root/metrics/metrics.jsonl")
        }
    }

    /// The registered model's name: `{MODEL_NAME_PREFIX}_churn` in nprod/prod (the display name
    /// in the Vertex AI Model Registry, as the original Python template names it),
    /// `{MODEL_NAME_PREFIX}` locally (the local registry's folder).
    pub fn model_name(&self) -> String {
        if self.environment.is_cloud() {
            format!("{}_churn", self.model_name_prefix)
        } else {
            self.model_name_prefix.clone()
        }
    }

    /// The Vertex AI API: `MLOPS_VERTEX_ENDPOINT`, else the regional endpoint
    /// `https://{region}-aiplatform.googleapis.com` (the global host does not serve regional
    /// resources such as pipeline jobs and models).
    pub fn vertex_endpoint(&self) -> String {
        self.gcp_endpoints
            .vertex
            .clone()
            .unwrap_or_else(|| format!("https://{}-aiplatform.googleapis.com", self.region))
    }

    /// The Cloud Storage JSON API host: `STORAGE_EMULATOR_HOST`, else [`STORAGE_ENDPOINT`].
    pub fn storage_endpoint(&self) -> String {
        self.gcp_endpoints
            .storage
            .clone()
            .unwrap_or_else(|| STORAGE_ENDPOINT.into())
    }

    /// The BigQuery v2 REST base: `{BIGQUERY_EMULATOR_HOST}/bigquery/v2`, else
    /// `https://bigquery.googleapis.com/bigquery/v2`.
    pub fn bigquery_endpoint(&self) -> String {
        let host = self
            .gcp_endpoints
            .bigquery
            .as_deref()
            .unwrap_or(BIGQUERY_ENDPOINT);
        format!("{host}{BIGQUERY_API_PATH}")
    }

    /// The Cloud Monitoring API: `MLOPS_MONITORING_ENDPOINT`, else [`MONITORING_ENDPOINT`].
    pub fn monitoring_endpoint(&self) -> String {
        self.gcp_endpoints
            .monitoring
            .clone()
            .unwrap_or_else(|| MONITORING_ENDPOINT.into())
    }

    /// The local experiment store of `mlops experiment`: `MLOPS_EXPERIMENTS_DIR`, else
    /// `{MLOPS_LOCAL_ROOT}/experiments` (in every environment: Vertex AI Experiments gets a
    /// copy of each run in nprod/prod).
    pub fn experiments_dir(&self) -> String {
        self.experiments_dir
            .clone()
            .unwrap_or_else(|| self.local_path("experiments"))
    }

    /// `name` under the local root, joined as a path (so `/srv/x/` and `/srv/x` give the same
    /// `/srv/x/registry`, as the local registry and runner always have).
    fn local_path(&self, name: &str) -> String {
        Path::new(&self.local_root).join(name).display().to_string()
    }
}

/// `KEY=VALUE` lines; `#` comments, blank lines, `export ` prefixes and quotes are handled.
fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn local_needs_nothing() {
        let s = Settings::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(s.environment, Environment::Local);
        assert_eq!(s.model_name_prefix, "churn");
    }

    #[test]
    fn cloud_lists_every_problem_at_once() {
        let err = Settings::from_vars(&vars(&[("ENVIRONMENT", "prod"), ("GCP_REGION", "Mars")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("GCP_PROJECT_ID is missing"), "{err}");
        assert!(err.contains("PIPELINE_BUCKET is missing"), "{err}");
        assert!(err.contains("GCP_REGION is `Mars`"), "{err}");
    }

    #[test]
    fn bad_environment_is_named() {
        let err = Settings::from_vars(&vars(&[("ENVIRONMENT", "staging")])).unwrap_err();
        assert!(err.to_string().contains("ENVIRONMENT is `staging`"));
    }

    #[test]
    fn predict_kernel_is_auto_portable_or_an_error() {
        let s = Settings::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(s.predict_kernel, Kernel::Avx512);
        let s = Settings::from_vars(&vars(&[("MLOPS_PREDICT_KERNEL", "portable")])).unwrap();
        assert_eq!(s.predict_kernel, Kernel::Portable);
        let s = Settings::from_vars(&vars(&[("MLOPS_PREDICT_KERNEL", "avx2")])).unwrap();
        assert_eq!(s.predict_kernel, Kernel::Avx2);
        let err = Settings::from_vars(&vars(&[("MLOPS_PREDICT_KERNEL", "gpu")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("MLOPS_PREDICT_KERNEL is `gpu`, expected auto, avx2 or portable"),
            "{err}"
        );
    }

    #[test]
    fn dotenv_parsing() {
        let m = parse_dotenv("# c\nexport A=1\nB = \"two words\"\n\nC='x'\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "x");
    }

    #[test]
    fn valid_cloud_settings() {
        let s = Settings::from_vars(&vars(&[
            ("ENVIRONMENT", "nprod"),
            ("GCP_PROJECT_ID", "my-project-1"),
            ("PIPELINE_BUCKET", "gs://my-bucket/root"),
        ]))
        .unwrap();
        assert_eq!(s.environment, Environment::Nprod);
        assert_eq!(
            s.pipeline_bucket.unwrap().to_string(),
            "gs://my-bucket/root"
        );
    }

    /// nprod settings with `extra` on top.
    fn cloud(extra: &[(&str, &str)]) -> Result<Settings> {
        let mut all = vec![
            ("ENVIRONMENT", "nprod"),
            ("GCP_PROJECT_ID", "my-project-1"),
            ("PIPELINE_BUCKET", "gs://my-bucket"),
        ];
        all.extend_from_slice(extra);
        Settings::from_vars(&vars(&all))
    }

    /// The error text of settings that must be refused.
    fn refused(extra: &[(&str, &str)]) -> String {
        match cloud(extra) {
            Ok(s) => panic!("{extra:?} was accepted: {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn alerting_settings_are_checked_and_the_token_is_redacted() {
        let s = cloud(&[
            (
                "ALERT_NOTIFICATION_CHANNEL",
                "projects/p/notificationChannels/42",
            ),
            ("SLACK_AUTH_TOKEN", "xoxb-secret"),
        ])
        .unwrap();
        assert_eq!(s.monitoring_config, "config/monitoring.yaml");
        assert_eq!(s.slack_channel_name, "#ml-alerts");
        assert_eq!(
            s.slack_auth_token.as_ref().map(Secret::expose),
            Some("xoxb-secret")
        );
        assert!(
            !format!("{s:?}").contains("xoxb-secret"),
            "token in Debug output"
        );
        assert!(cloud(&[("ALERT_NOTIFICATION_CHANNEL", "42")]).is_ok());
        let err = refused(&[
            ("ALERT_NOTIFICATION_CHANNEL", "channels/42"),
            ("SLACK_CHANNEL_NAME", "ml-alerts"),
        ]);
        assert!(
            err.contains("ALERT_NOTIFICATION_CHANNEL is `channels/42`"),
            "{err}"
        );
        assert!(err.contains("SLACK_CHANNEL_NAME is `ml-alerts`"), "{err}");
    }

    #[test]
    fn every_variable_is_documented_once() {
        let mut names: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a variable is listed twice");
        for var in [
            "ARTIFACT_REGISTRY_REPO",
            "IMAGE_NAME",
            "IMAGE_TAG",
            "PIPELINE_SERVICE_ACCOUNT",
            "BQ_DATASET",
            "BQ_LOCATION",
            "BQ_SOURCE_TABLE",
            "STORAGE_EMULATOR_HOST",
            "BIGQUERY_EMULATOR_HOST",
            "MLOPS_VERTEX_ENDPOINT",
            "MLOPS_MONITORING_ENDPOINT",
            "MLOPS_GCP_AUTH",
        ] {
            assert!(names.contains(&var), "{var} is not in VARIABLES");
        }
    }

    #[test]
    fn cloud_names_have_defaults() {
        let s = cloud(&[]).unwrap();
        assert_eq!(s.artifact_registry_repo, "mlops");
        assert_eq!(s.image_name, "churn-mlops");
        assert_eq!(s.image_tag, None);
        assert_eq!(
            s.pipeline_service_account.as_deref(),
            Some("vertex-pipelines@my-project-1.iam.gserviceaccount.com")
        );
        assert_eq!(s.bq_dataset, "mlops");
        assert_eq!(s.bq_location, "australia-southeast1");
        assert_eq!(s.bq_source_table, "wa_churn");
        assert_eq!(s.gcp_endpoints, GcpEndpoints::default());
        assert_eq!(s.gcp_auth, GcpAuth::Adc);
        // Locally nothing is required, and no service account is made up without a project.
        let local = Settings::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(local.pipeline_service_account, None);
        let s = cloud(&[("GCP_REGION", "europe-west4")]).unwrap();
        assert_eq!(
            s.bq_location, "europe-west4",
            "BQ_LOCATION follows the region"
        );
    }

    #[test]
    fn cloud_names_are_read() {
        let s = cloud(&[
            ("ARTIFACT_REGISTRY_REPO", "ml-images"),
            ("IMAGE_NAME", "team/churn"),
            ("IMAGE_TAG", "3f2a9c1d0b7e"),
            (
                "PIPELINE_SERVICE_ACCOUNT",
                "runner@other-project.iam.gserviceaccount.com",
            ),
            ("BQ_DATASET", "churn_data"),
            ("BQ_LOCATION", "US"),
            ("BQ_SOURCE_TABLE", "customers_2025"),
        ])
        .unwrap();
        assert_eq!(s.artifact_registry_repo, "ml-images");
        assert_eq!(s.image_name, "team/churn");
        assert_eq!(s.image_tag.as_deref(), Some("3f2a9c1d0b7e"));
        assert_eq!(
            s.pipeline_service_account.as_deref(),
            Some("runner@other-project.iam.gserviceaccount.com")
        );
        assert_eq!(s.bq_dataset, "churn_data");
        assert_eq!(s.bq_location, "US");
        assert_eq!(s.bq_source_table, "customers_2025");
    }

    /// Each invalid value is reported naming the variable, the value and what was expected.
    #[test]
    fn invalid_cloud_names_are_named_with_value_and_expectation() {
        let cases = [
            (
                "ARTIFACT_REGISTRY_REPO",
                "My_Repo",
                "expected 1-63 characters of a-z, 0-9 and '-'",
            ),
            (
                "IMAGE_NAME",
                "Churn:latest",
                "expected a-z, 0-9, '.', '_', '-' and '/'",
            ),
            (
                "IMAGE_TAG",
                "-dirty",
                "expected a Docker tag such as a git sha",
            ),
            (
                "PIPELINE_SERVICE_ACCOUNT",
                "vertex-pipelines",
                "expected an e-mail address",
            ),
            ("BQ_DATASET", "my-dataset", "expected a BigQuery dataset id"),
            ("BQ_LOCATION", "us central", "expected a BigQuery location"),
            (
                "BQ_SOURCE_TABLE",
                "wa.churn",
                "expected a BigQuery table id",
            ),
            ("MLOPS_GCP_AUTH", "key-file", "expected adc or anonymous"),
        ];
        for (var, value, expected) in cases {
            let err = refused(&[(var, value)]);
            assert!(
                err.contains(&format!("{var} is `{value}`, {expected}")),
                "{var}: {err}"
            );
        }
    }

    #[test]
    fn all_new_problems_are_reported_at_once() {
        let err = refused(&[
            ("IMAGE_TAG", "a/b"),
            ("BQ_DATASET", "x.y"),
            ("STORAGE_EMULATOR_HOST", "ftp://x"),
            ("MLOPS_GCP_AUTH", "none"),
            ("GCP_REGION", "Mars"),
        ]);
        for var in [
            "IMAGE_TAG",
            "BQ_DATASET",
            "STORAGE_EMULATOR_HOST",
            "MLOPS_GCP_AUTH",
            "GCP_REGION",
        ] {
            assert!(
                err.contains(&format!("{var} is `")),
                "{var} missing from {err}"
            );
        }
        assert!(
            !err.contains("BQ_LOCATION"),
            "an unset BQ_LOCATION is not blamed: {err}"
        );
    }

    #[test]
    fn endpoints_default_to_google() {
        let s = cloud(&[("GCP_REGION", "europe-west4")]).unwrap();
        assert_eq!(
            s.vertex_endpoint(),
            "https://europe-west4-aiplatform.googleapis.com"
        );
        assert_eq!(s.storage_endpoint(), "https://storage.googleapis.com");
        assert_eq!(
            s.bigquery_endpoint(),
            "https://bigquery.googleapis.com/bigquery/v2"
        );
        assert_eq!(s.monitoring_endpoint(), "https://monitoring.googleapis.com");
    }

    #[test]
    fn endpoint_overrides_are_normalised_and_used() {
        let s = cloud(&[
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
            ("BIGQUERY_EMULATOR_HOST", "http://localhost:9050/"),
            ("MLOPS_VERTEX_ENDPOINT", "http://127.0.0.1:8081/"),
            ("MLOPS_MONITORING_ENDPOINT", "https://[::1]:8082/fake"),
            ("MLOPS_GCP_AUTH", "anonymous"),
        ])
        .unwrap();
        assert_eq!(
            s.gcp_endpoints.storage.as_deref(),
            Some("http://127.0.0.1:4443")
        );
        assert_eq!(s.storage_endpoint(), "http://127.0.0.1:4443");
        assert_eq!(s.bigquery_endpoint(), "http://localhost:9050/bigquery/v2");
        assert_eq!(s.vertex_endpoint(), "http://127.0.0.1:8081");
        assert_eq!(s.monitoring_endpoint(), "https://[::1]:8082/fake");
        assert_eq!(s.gcp_auth, GcpAuth::Anonymous);
        // Overrides work locally too (tests against emulators run with ENVIRONMENT=local).
        let local =
            Settings::from_vars(&vars(&[("STORAGE_EMULATOR_HOST", "http://localhost:4443")]))
                .unwrap();
        assert_eq!(local.storage_endpoint(), "http://localhost:4443");
    }

    #[test]
    fn invalid_endpoints_are_named_with_value_and_expectation() {
        let cases = [
            (
                "STORAGE_EMULATOR_HOST",
                "ftp://127.0.0.1:4443",
                "expected host:port or an http(s):// URL",
            ),
            (
                "BIGQUERY_EMULATOR_HOST",
                "localhost:9050/bigquery/v2",
                "with a host and no path",
            ),
            (
                "BIGQUERY_EMULATOR_HOST",
                "localhost:port",
                "expected host:port",
            ),
            (
                "MLOPS_VERTEX_ENDPOINT",
                "127.0.0.1:8081",
                "expected an http:// or https:// URL with a host",
            ),
            (
                "MLOPS_MONITORING_ENDPOINT",
                "https://",
                "expected an http:// or https:// URL with a host",
            ),
        ];
        for (var, value, expected) in cases {
            let err = refused(&[(var, value)]);
            assert!(
                err.contains(&format!("{var} is `{value}`, ")),
                "{var}: {err}"
            );
            assert!(err.contains(expected), "{var}: {err}");
        }
    }

    #[test]
    fn image_uri_is_in_artifact_registry() {
        let s = cloud(&[
            ("GCP_REGION", "europe-west4"),
            ("ARTIFACT_REGISTRY_REPO", "ml"),
            ("IMAGE_NAME", "churn"),
        ])
        .unwrap();
        assert_eq!(
            s.image_uri("3f2a9c1d0b7e"),
            "europe-west4-docker.pkg.dev/my-project-1/ml/churn:3f2a9c1d0b7e"
        );
        assert_eq!(
            cloud(&[]).unwrap().image_uri("abc"),
            "australia-southeast1-docker.pkg.dev/my-project-1/mlops/churn-mlops:abc"
        );
    }

    #[test]
    fn cloud_defaults_are_cloud_uris() {
        let s = cloud(&[("GCP_REGION", "europe-west4")]).unwrap();
        assert_eq!(s.pipeline_root(), "gs://my-bucket/pipeline_root");
        assert_eq!(
            s.registry_uri(),
            "vertex://projects/my-project-1/locations/europe-west4"
        );
        assert_eq!(s.source_table(), "bq://my-project-1.mlops.wa_churn");
        assert_eq!(s.model_name(), "churn_churn");
        let s = cloud(&[
            ("ENVIRONMENT", "prod"),
            ("PIPELINE_BUCKET", "gs://my-bucket/teams/churn/"),
            ("MODEL_NAME_PREFIX", "acme"),
            ("BQ_DATASET", "sales"),
            ("BQ_SOURCE_TABLE", "customers"),
        ])
        .unwrap();
        assert_eq!(
            s.pipeline_root(),
            "gs://my-bucket/teams/churn/pipeline_root"
        );
        assert_eq!(s.source_table(), "bq://my-project-1.sales.customers");
        assert_eq!(s.model_name(), "acme_churn");
    }

    /// Locally the derived values are exactly what the local registry, runner and the
    /// training pipeline have always used.
    #[test]
    fn local_defaults_are_unchanged() {
        let s = Settings::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(s.pipeline_root(), "local/pipeline_root");
        assert_eq!(s.registry_uri(), "local/registry");
        assert_eq!(s.source_table(), "data/wa_churn.csv");
        assert_eq!(s.model_name(), "churn");
        // Cloud variables do not change local values.
        let s = Settings::from_vars(&vars(&[
            ("MLOPS_LOCAL_ROOT", "/srv/mlops/"),
            ("MODEL_NAME_PREFIX", "acme"),
            ("GCP_PROJECT_ID", "my-project-1"),
            ("PIPELINE_BUCKET", "gs://my-bucket"),
        ]))
        .unwrap();
        assert_eq!(s.pipeline_root(), "/srv/mlops/pipeline_root");
        assert_eq!(s.registry_uri(), "/srv/mlops/registry");
        assert_eq!(s.source_table(), "data/wa_churn.csv");
        assert_eq!(s.model_name(), "acme");
    }
}
