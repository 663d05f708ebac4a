//! Benchmark ceiling: the smallest axum server with the same contract shape as `mlops-serve`.
//! `POST /predict` reads the whole body and answers a constant prediction; `GET /health` is 200.
//! Listens on `127.0.0.1:$PORT` (default 8080). Used by `bench/serving/run.py`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

const BODY: &str = r#"{"predictions":[{"probability":0.5,"label":"No"}]}"#;

async fn predict(body: Bytes) -> impl IntoResponse {
    // Consume the request body before answering, as a real handler must.
    std::hint::black_box(body.len());
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(8080);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let app = Router::new()
            .route("/predict", post(predict))
            .route("/health", get(health))
            .layer(axum::extract::DefaultBodyLimit::max(1_500_000));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}
