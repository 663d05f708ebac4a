//! What a [`crate::Gcp`] handle talks to: project, region, endpoints, credentials, dry-run.

use std::time::Duration;

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS` (service-account
    /// key, Workload Identity Federation or impersonation config), gcloud's user credentials,
    /// else the metadata server (`GCE_METADATA_HOST` moves it, e.g. to a loopback fake).
    ApplicationDefault,
    /// No credentials at all: emulators and loopback fakes.
    Anonymous,
}

/// Connection settings for every Google Cloud call. Built from the product's `Settings` by
/// the CLI; tests build it directly with loopback endpoints and [`Auth::Anonymous`].
#[derive(Debug, Clone)]
pub struct GcpConfig {
    /// Project id (`my-project`).
    pub project: String,
    /// Region of Vertex AI resources (`australia-southeast1`).
    pub region: String,
    /// Vertex AI endpoint (regional: `https://{region}-aiplatform.googleapis.com`).
    pub vertex_endpoint: String,
    /// Cloud Storage endpoint (`https://storage.googleapis.com`).
    pub storage_endpoint: String,
    /// BigQuery v2 base URL (`https://bigquery.googleapis.com/bigquery/v2`).
    pub bigquery_endpoint: String,
    /// Cloud Monitoring endpoint (`https://monitoring.googleapis.com`).
    pub monitoring_endpoint: String,
    /// Credentials.
    pub auth: Auth,
    /// Print every request instead of sending it.
    pub dry_run: bool,
    /// Retry budget for one call: attempts (first try included) on 429, 503 and timeouts.
    pub max_attempts: u32,
    /// Time limit of one attempt; a slower answer counts as a timeout (and is retried).
    pub attempt_timeout: Duration,
    /// First back-off delay; doubles per retry up to 30 s.
    pub initial_backoff: Duration,
}

impl GcpConfig {
    /// Google's public endpoints for `project` and `region`, Application Default Credentials,
    /// 5 attempts of at most 60 s each.
    pub fn new(project: impl Into<String>, region: impl Into<String>) -> GcpConfig {
        let region = region.into();
        GcpConfig {
            project: project.into(),
            vertex_endpoint: format!("https://{region}-aiplatform.googleapis.com"),
            storage_endpoint: "https://storage.googleapis.com".into(),
            bigquery_endpoint: "https://bigquery.googleapis.com/bigquery/v2".into(),
            monitoring_endpoint: "https://monitoring.googleapis.com".into(),
            region,
            auth: Auth::ApplicationDefault,
            dry_run: false,
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
        }
    }

    /// For code without the CLI's settings (pipeline steps): Google's endpoints for `project`
    /// and `region`, moved by the same variables the settings read: `STORAGE_EMULATOR_HOST`,
    /// `BIGQUERY_EMULATOR_HOST` (`host:port` or a URL), `MLOPS_VERTEX_ENDPOINT`,
    /// `MLOPS_MONITORING_ENDPOINT`, and `MLOPS_GCP_AUTH=anonymous`. Unset or empty variables
    /// leave the defaults (on Vertex AI none is set).
    pub fn from_env(project: impl Into<String>, region: impl Into<String>) -> GcpConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = GcpConfig::new(project, region);
        if let Some(host) = var("STORAGE_EMULATOR_HOST") {
            config.storage_endpoint = host_url(&host);
        }
        if let Some(host) = var("BIGQUERY_EMULATOR_HOST") {
            config.bigquery_endpoint = format!("{}/bigquery/v2", host_url(&host));
        }
        if let Some(url) = var("MLOPS_VERTEX_ENDPOINT") {
            config.vertex_endpoint = url.trim_end_matches('/').to_string();
        }
        if let Some(url) = var("MLOPS_MONITORING_ENDPOINT") {
            config.monitoring_endpoint = url.trim_end_matches('/').to_string();
        }
        if var("MLOPS_GCP_AUTH").as_deref() == Some("anonymous") {
            config.auth = Auth::Anonymous;
        }
        config
    }

    /// Every endpoint pointed at one loopback address (tests: the fake serves them all).
    pub fn all_endpoints(mut self, base: &str) -> GcpConfig {
        let base = base.trim_end_matches('/');
        self.vertex_endpoint = base.into();
        self.storage_endpoint = base.into();
        self.bigquery_endpoint = format!("{base}/bigquery/v2");
        self.monitoring_endpoint = base.into();
        self
    }

    /// `projects/{project}/locations/{region}`: the parent of Vertex AI resources.
    pub fn location(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }
}

/// `127.0.0.1:4443` or `http://127.0.0.1:4443/` as `http://127.0.0.1:4443` (emulator
/// variables are spelled both ways).
fn host_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        host.to_string()
    } else {
        format!("http://{host}")
    }
}
