//! The HTTP application: routes, shared state and handlers. `app(state)` returns the router,
//! so tests drive it without a socket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mlops_model::{FieldProblem, Instance, ModelBundle};
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::config::{ServeConfig, MAX_BODY_BYTES};
use crate::error::ApiError;

/// The model being served, with what the handlers need precomputed.
#[derive(Debug)]
pub struct Served {
    /// The bundle.
    pub bundle: ModelBundle,
}

#[derive(Debug)]
struct Inner {
    model: OnceLock<Served>,
    health_route: String,
    predict_route: String,
    max_instances: usize,
    access_log: bool,
    boot_id: String,
    requests: AtomicU64,
}

/// State shared by all requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// State for a configuration; the model is set later by [`AppState::set_model`].
    pub fn new(config: &ServeConfig) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        AppState(Arc::new(Inner {
            model: OnceLock::new(),
            health_route: config.health_route.clone(),
            predict_route: config.predict_route.clone(),
            max_instances: config.max_instances,
            access_log: config.access_log,
            boot_id: format!("{:08x}", (nanos ^ std::process::id() as u64) as u32),
            requests: AtomicU64::new(0),
        }))
    }

    /// Make the model available; health turns 200. Only the first call has an effect.
    pub fn set_model(&self, bundle: ModelBundle) {
        let _ = self.0.model.set(Served { bundle });
    }

    /// True once a model is loaded.
    pub fn is_ready(&self) -> bool {
        self.0.model.get().is_some()
    }
}

/// The router: health, predict, JSON 404/405, the body limit and the access log.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(&state.0.health_route, get(health))
        .route(&state.0.predict_route, post(predict))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response()
    } else {
        ApiError::NotReady.into_response()
    }
}

async fn not_found(State(state): State<AppState>, method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {method} {}; routes are GET {} and POST {}",
        uri.path(),
        state.0.health_route,
        state.0.predict_route
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// The request body of the Vertex AI predict contract.
/// Instances borrow their strings from the body: no per-field allocation on the hot path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest<'a> {
    #[serde(borrow)]
    instances: Vec<Instance<'a>>,
    #[serde(default)]
    parameters: Option<Value>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn threshold(parameters: Option<&Value>, default: f64) -> Result<f64, ApiError> {
    let Some(params) = parameters else {
        return Ok(default);
    };
    let Some(obj) = params.as_object() else {
        return Err(ApiError::BadRequest(
            format!("`parameters` must be an object, got {params}"),
            vec![],
        ));
    };
    match obj.get("threshold") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|t| t > 0.0 && t < 1.0) => {
            Ok(n.as_f64().unwrap_or(default))
        }
        Some(other) => Err(ApiError::BadRequest(
            format!(
                "`parameters.threshold` must be a number between 0 and 1 (exclusive), got {other}"
            ),
            vec![],
        )),
    }
}

async fn predict(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !is_json(&headers) {
        let got = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        return Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got {got}"
        )));
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!(
                "the request body is over the {MAX_BODY_BYTES}-byte limit of Vertex AI endpoints"
            ))
        } else {
            ApiError::BadRequest(
                format!("cannot read the request body: {}", r.body_text()),
                vec![],
            )
        }
    })?;
    let served = state.0.model.get().ok_or(ApiError::NotReady)?;
    let request: PredictRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(
            format!("invalid request body: {e}; expected {{\"instances\": [...], \"parameters\": {{...}}}}"),
            vec![],
        )
    })?;
    let n = request.instances.len();
    if n == 0 {
        return Err(ApiError::BadRequest(
            "`instances` is empty; send at least one instance".into(),
            vec![],
        ));
    }
    if n > state.0.max_instances {
        return Err(ApiError::BadRequest(
            format!(
                "{n} instances in one request; at most {} are accepted, split the request",
                state.0.max_instances
            ),
            vec![],
        ));
    }
    let bundle = &served.bundle;
    let threshold = threshold(request.parameters.as_ref(), bundle.metadata.threshold)?;
    let pre = bundle.preprocessor();
    let nf = pre.n_features();
    let mut x = vec![0f32; n * nf];
    let mut problems: Vec<FieldProblem> = Vec::new();
    for (i, (instance, row)) in request
        .instances
        .iter()
        .zip(x.chunks_mut(nf.max(1)))
        .enumerate()
    {
        pre.encode_instance(i, instance, row, &mut problems);
    }
    if !problems.is_empty() {
        let count = problems.len();
        return Err(ApiError::BadRequest(
            format!("{count} invalid field(s) in the instances"),
            problems,
        ));
    }
    let probabilities = bundle
        .predict_proba(&x)
        .map_err(|e| ApiError::BadRequest(format!("cannot score the instances: {e}"), vec![]))?;
    Ok(render(
        &probabilities,
        threshold as f32,
        &bundle.metadata.label.positive,
        &bundle.metadata.label.negative,
    ))
}

/// `{"predictions":[{"probability":p,"label":"Yes"},...]}`, written directly: this is the hot
/// path, and the shape is fixed.
fn render(probabilities: &[f32], threshold: f32, positive: &str, negative: &str) -> Response {
    let pos = serde_json::to_string(positive).unwrap_or_default();
    let neg = serde_json::to_string(negative).unwrap_or_default();
    let mut out = String::with_capacity(16 + probabilities.len() * (32 + pos.len()));
    out.push_str("{\"predictions\":[");
    for (i, p) in probabilities.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"probability\":");
        // Probabilities are finite by construction (a logistic of a finite margin).
        out.push_str(&serde_json::to_string(p).unwrap_or_else(|_| "null".into()));
        out.push_str(",\"label\":");
        out.push_str(if *p >= threshold { &pos } else { &neg });
        out.push('}');
    }
    out.push_str("]}");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        out,
    )
        .into_response()
}

/// Cloud Logging's `httpRequest` object (sizes are strings, as in its `int64` JSON mapping).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRequestLog<'a> {
    request_method: &'a str,
    request_url: &'a str,
    status: u16,
    request_size: Option<&'a str>,
    response_size: Option<String>,
    user_agent: Option<&'a str>,
    latency: String,
}

/// JSON text, which the Cloud Logging formatter embeds as an object.
impl std::fmt::Display for HttpRequestLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// One structured line per request (Cloud Logging's `httpRequest`), and an `x-request-id`.
async fn access_log(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{}-{}",
                state.0.boot_id,
                state.0.requests.fetch_add(1, Ordering::Relaxed)
            )
        });
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let request_size = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if state.0.access_log {
        let status = response.status().as_u16();
        let http_request = HttpRequestLog {
            request_method: method.as_str(),
            request_url: &path,
            status,
            request_size: request_size.as_deref(),
            response_size: axum::body::HttpBody::size_hint(response.body())
                .exact()
                .map(|n| n.to_string()),
            user_agent: user_agent.as_deref(),
            latency: format!("{:.6}s", started.elapsed().as_secs_f64()),
        };
        if status >= 500 {
            tracing::error!(target: "access", request_id = %id, httpRequest = %http_request, "{method} {path} {status}");
        } else {
            tracing::info!(target: "access", request_id = %id, httpRequest = %http_request, "{method} {path} {status}");
        }
    }
    response
}
