//! Server errors: start-up problems, and API errors rendered as JSON responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mlops_model::FieldProblem;
use serde_json::json;

/// Problems that stop the server from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Invalid environment; every problem is listed.
    #[error("invalid server settings:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),
    /// The model bundle could not be loaded.
    #[error("cannot load the model from `{location}`: {source}")]
    Model {
        /// Where it was looked for.
        location: String,
        /// The cause.
        source: mlops_model::ModelError,
    },
    /// A `gs://` bundle could not be downloaded.
    #[error("cannot download the model bundle `{location}`: {detail}")]
    Download {
        /// The bundle's location.
        location: String,
        /// Why.
        detail: String,
    },
    /// A `gs://` location without the Cloud Storage FUSE mount.
    #[error("cannot read `{0}`: this build reads gs:// only through the /gcs mount, which is absent here; pass a local path, or build mlops-serve with the cargo feature `gcs`")]
    NoGcsMount(String),
    /// Binding or serving failed.
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An error answered to a client. 4xx bodies say what was wrong; nothing here is a 5xx for
/// bad input.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a message and optional per-field problems.
    BadRequest(String, Vec<FieldProblem>),
    /// 404.
    NotFound(String),
    /// 405.
    MethodNotAllowed(String),
    /// 413.
    TooLarge(String),
    /// 415.
    UnsupportedMediaType(String),
    /// 503 while the model loads.
    NotReady,
}

/// Most problems echoed in one response.
const MAX_PROBLEMS: usize = 100;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadRequest(message, problems) => {
                let total = problems.len();
                let mut body = json!({ "error": message });
                if total > 0 {
                    let shown: Vec<&FieldProblem> = problems.iter().take(MAX_PROBLEMS).collect();
                    body["problems"] = json!(shown);
                    body["problem_count"] = json!(total);
                }
                (StatusCode::BAD_REQUEST, body)
            }
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::MethodNotAllowed(m) => {
                (StatusCode::METHOD_NOT_ALLOWED, json!({ "error": m }))
            }
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": m })),
            ApiError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({ "error": m }))
            }
            ApiError::NotReady => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "the model is loading" }),
            ),
        };
        (status, Json(body)).into_response()
    }
}
