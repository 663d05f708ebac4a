//! The [`Gcp`] handle: one runtime, one set of credentials, clients built on first use.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use google_cloud_auth::credentials::{self, Credentials};
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::options::RequestOptionsBuilder;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};

use crate::config::{Auth, GcpConfig};
use crate::error::{permission_hint, GcpError, Result};

/// The scope every client asks for (IAM roles, not scopes, limit what the caller may do).
pub(crate) const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A connection to one Google Cloud project. Methods block (they run on the handle's own
/// runtime), so callers stay synchronous and never name a client type.
pub struct Gcp {
    pub(crate) config: GcpConfig,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) credentials: Credentials,
    pub(crate) http: reqwest::Client,
    pub(crate) clients: Clients,
}

/// Clients are built on first use: a command that only reads a bucket never pays for the
/// Vertex AI client's set-up.
#[derive(Default)]
pub(crate) struct Clients {
    pub(crate) storage: OnceLock<google_cloud_storage::client::Storage>,
    pub(crate) pipelines: OnceLock<google_cloud_aiplatform_v1::client::PipelineService>,
    pub(crate) schedules: OnceLock<google_cloud_aiplatform_v1::client::ScheduleService>,
    pub(crate) models: OnceLock<google_cloud_aiplatform_v1::client::ModelService>,
    pub(crate) endpoints: OnceLock<google_cloud_aiplatform_v1::client::EndpointService>,
    pub(crate) bigquery: OnceLock<gcp_bigquery_client::Client>,
}

impl std::fmt::Debug for Gcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gcp").field("config", &self.config).finish()
    }
}

impl Gcp {
    /// Connect (lazily: nothing is sent until the first call).
    pub fn new(config: GcpConfig) -> Result<Gcp> {
        install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| GcpError::Client {
                client: "async runtime",
                detail: e.to_string(),
            })?;
        // Credentials start their token-refresh task on the current runtime.
        let _in_runtime = runtime.enter();
        let credentials = match config.auth {
            Auth::Anonymous => credentials::anonymous::Builder::new().build(),
            Auth::ApplicationDefault => credentials::Builder::default()
                .with_scopes([CLOUD_PLATFORM_SCOPE])
                .build()
                .map_err(|e| GcpError::Credentials(e.to_string()))?,
        };
        let http = reqwest::Client::builder()
            .timeout(config.attempt_timeout)
            .build()
            .map_err(|e| GcpError::Client {
                client: "HTTP",
                detail: e.to_string(),
            })?;
        Ok(Gcp {
            config,
            runtime,
            credentials,
            http,
            clients: Clients::default(),
        })
    }

    /// The settings this handle uses.
    pub fn config(&self) -> &GcpConfig {
        &self.config
    }

    /// Run a future to completion on the handle's runtime.
    pub(crate) fn block<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The retry policy every client and call shares: AIP-194 (503 UNAVAILABLE) plus 429 and
    /// client-side timeouts, within the attempt budget.
    pub(crate) fn retry_policy(&self) -> impl google_cloud_gax::retry_policy::RetryPolicy {
        Aip194Strict
            .continue_on_too_many_requests()
            .continue_on_client_timeout()
            .with_attempt_limit(self.config.max_attempts)
    }

    /// Exponential back-off from the configured first delay, doubling, at most 30 s.
    pub(crate) fn backoff_policy(
        &self,
    ) -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
        ExponentialBackoffBuilder::new()
            .with_initial_delay(self.config.initial_backoff)
            .with_maximum_delay(Duration::from_secs(30))
            .with_scaling(2.0)
            .clamp()
    }

    /// Per-request options every call carries: the attempt timeout (a client-side timeout is
    /// then retried like a 503).
    pub(crate) fn options<B: RequestOptionsBuilder>(&self, builder: B) -> B {
        builder.with_attempt_timeout(self.config.attempt_timeout)
    }

    /// Authorization headers for a hand-made JSON call (none with anonymous credentials).
    pub(crate) async fn auth_headers(&self) -> Result<http::HeaderMap> {
        match self
            .credentials
            .headers(http::Extensions::new())
            .await
            .map_err(|e| GcpError::Credentials(e.to_string()))?
        {
            credentials::CacheableResource::New { data, .. } => Ok(data),
            credentials::CacheableResource::NotModified => Ok(http::HeaderMap::new()),
        }
    }
}

/// Both aws-lc-rs (Google's clients) and ring (BigQuery's client) are linked, so rustls
/// cannot pick a provider by itself: install aws-lc-rs once, before any client is built.
fn install_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // An error means another provider is installed already, which is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// A Google API error as a [`GcpError`]: HTTP status, Google's reason and message, and for a
/// 403 the role that grants the missing permission.
pub(crate) fn api_error(
    action: &'static str,
    resource: impl Into<String>,
    error: google_cloud_gax::error::Error,
) -> GcpError {
    let resource = resource.into();
    if let Some(status) = error.status() {
        let mut reason = None;
        let mut permission = None;
        for detail in &status.details {
            if let StatusDetails::ErrorInfo(info) = detail {
                if !info.reason.is_empty() {
                    reason = Some(info.reason.clone());
                }
                permission = info.metadata.get("permission").cloned();
            }
        }
        let http_status = error
            .http_status_code()
            .unwrap_or_else(|| http_status_of(status.code));
        let hint = if status.code == Code::PermissionDenied || http_status == 403 {
            permission_hint(permission.as_deref(), &status.message)
        } else {
            None
        };
        return GcpError::Api {
            action,
            resource,
            status: http_status,
            reason: reason.or_else(|| Some(status.code.name().to_string())),
            message: status.message.clone(),
            hint,
        };
    }
    if let Some(code) = error.http_status_code() {
        let body = error
            .http_payload()
            .map(|b| {
                String::from_utf8_lossy(b)
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        return GcpError::Api {
            action,
            resource,
            status: code,
            reason: None,
            message: format!("unreadable error reply: {body:?}"),
            hint: None,
        };
    }
    let detail = if error.is_timeout() {
        format!("no answer in time ({error})")
    } else if error.is_exhausted() {
        format!("gave up after the retry budget: {}", chain(&error))
    } else if error.is_deserialization() {
        format!("the reply is not what the API returns: {}", chain(&error))
    } else if error.is_authentication() {
        format!("credentials: {}", chain(&error))
    } else {
        chain(&error)
    };
    GcpError::Transport {
        action,
        resource,
        detail,
    }
}

/// An error and its causes on one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The HTTP status Google's REST mapping gives a gRPC code.
fn http_status_of(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        _ => 500,
    }
}
