//! The prediction server for Vertex AI's custom-container contract: listens on
//! `0.0.0.0:$AIP_HTTP_PORT`, answers `GET $AIP_HEALTH_ROUTE` with 503 until the model from
//! `$AIP_STORAGE_URI` is loaded and 200 after, and scores `POST $AIP_PREDICT_ROUTE` bodies of
//! the form `{"instances": [...], "parameters": {...}}` into `{"predictions": [...]}`.
//!
//! Invariant: never depends on polars or training code (it links `mlops-model` only), so the
//! binary stays small and starts fast. Bad input is always a 4xx with every problem listed.
//!
//! ```no_run
//! # async fn demo() {
//! let config = mlops_serving::ServeConfig::from_env().unwrap();
//! let state = mlops_serving::AppState::new(&config);
//! state.set_model(mlops_serving::load_bundle(&config.storage).unwrap());
//! let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
//! axum::serve(listener, mlops_serving::app(state)).await.unwrap();
//! # }
//! ```

mod app;
pub mod config;
mod error;
pub mod logging;
#[cfg(feature = "test-support")]
pub mod testing;

use std::path::Path;

pub use app::{app, AppState};
pub use config::ServeConfig;
pub use error::{ApiError, ServeError};
use mlops_domain::{ArtifactLocation, GCS_FUSE_ROOT};
use mlops_model::ModelBundle;

/// Load the model bundle from a local path, or from a `gs://` location: through the Cloud
/// Storage FUSE mount at `/gcs` when there is one, else (cargo feature `gcs`) downloaded into a
/// temporary folder first (Vertex AI endpoints pass a `gs://` `AIP_STORAGE_URI` and no mount).
pub fn load_bundle(location: &ArtifactLocation) -> Result<ModelBundle, ServeError> {
    let model = |source| ServeError::Model {
        location: location.to_string(),
        source,
    };
    match location.local_path(Path::new(GCS_FUSE_ROOT)) {
        Some(path) => ModelBundle::load(&path).map_err(model),
        #[cfg(feature = "gcs")]
        None => {
            let dir = download(location)?;
            ModelBundle::load(dir.path()).map_err(model)
        }
        #[cfg(not(feature = "gcs"))]
        None => Err(ServeError::NoGcsMount(location.to_string())),
    }
}

/// Download a `gs://` bundle folder (endpoints and credentials from the environment, as in
/// pipeline steps: Application Default Credentials, the metadata server on Vertex AI).
#[cfg(feature = "gcs")]
fn download(location: &ArtifactLocation) -> Result<tempfile::TempDir, ServeError> {
    let ArtifactLocation::Gcs { bucket, object } = location else {
        return Err(ServeError::NoGcsMount(location.to_string()));
    };
    let failed = |detail: String| ServeError::Download {
        location: location.to_string(),
        detail,
    };
    // Storage needs no project; Vertex AI names it in CLOUD_ML_PROJECT_ID.
    let project = std::env::var("CLOUD_ML_PROJECT_ID").unwrap_or_default();
    let gcp = mlops_gcp::Gcp::new(mlops_gcp::GcpConfig::from_env(project, ""))
        .map_err(|e| failed(e.to_string()))?;
    let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
    let files = gcp
        .download_prefix(bucket, object, dir.path())
        .map_err(|e| failed(e.to_string()))?;
    tracing::info!(location = %location, files, "model bundle downloaded");
    Ok(dir)
}

/// Bind, start loading the model in the background, and serve until SIGTERM/SIGINT (in-flight
/// requests finish) or until loading fails.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    let state = AppState::new(&config);
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, health = %config.health_route, predict = %config.predict_route, "listening");
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<ServeError>();
    let loader = state.clone();
    let location = config.storage.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || load_bundle(&location)).await {
            Ok(Ok(bundle)) => {
                tracing::info!(
                    model_type = bundle.metadata.model_type.as_str(),
                    features = bundle.metadata.feature_names.len(),
                    load_ms = started.elapsed().as_millis() as u64,
                    "model loaded; healthy"
                );
                loader.set_model(bundle);
            }
            Ok(Err(e)) => {
                let _ = failed_tx.send(e);
            }
            Err(join) => {
                let _ = failed_tx.send(ServeError::Io(std::io::Error::other(join.to_string())));
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Option<ServeError>>();
    tokio::spawn(async move {
        // A loader that succeeded drops its sender: that disables the second branch.
        let failure = tokio::select! {
            _ = shutdown_signal() => None,
            Ok(failed) = failed_rx => Some(failed),
        };
        let _ = stop_tx.send(failure);
    });
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<ServeError>();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            if let Ok(Some(e)) = stop_rx.await {
                let _ = err_tx.send(e);
            } else {
                tracing::info!("shutting down; finishing in-flight requests");
            }
        })
        .await?;
    match err_rx.await {
        Ok(e) => Err(e),
        Err(_) => Ok(()),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
