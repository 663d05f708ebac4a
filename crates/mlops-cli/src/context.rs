//! What every command shares: the error type, model-config loading, the commit being run, and
//! how metrics are printed (a text summary on a terminal, one JSON object with `--json`).

use std::path::{Path, PathBuf};

use mlops_core::metrics::Metrics;
use mlops_core::source::TableSource;
use mlops_domain::{ModelConfig, Settings};
use serde_json::{json, Map, Value};

/// Any error, printed with its cause chain by [`crate::main`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The model config named by `--config`, else `MLOPS_MODEL_CONFIG` (default
/// `config/model.yaml`).
pub fn load_config(settings: &Settings, path: Option<&Path>) -> Result<ModelConfig, BoxError> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&settings.model_config));
    Ok(ModelConfig::from_file(path)?)
}

/// The commit being run: `GIT_SHA` when set (CI, container builds), else `git rev-parse`.
pub fn git_sha() -> Option<String> {
    if let Ok(sha) = std::env::var("GIT_SHA") {
        return Some(sha).filter(|s| !s.is_empty());
    }
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Metrics as the JSON object `--json` prints.
pub fn metrics_json(m: &Metrics) -> Map<String, Value> {
    let mut obj = Map::new();
    for (k, v) in m.scalars() {
        obj.insert(k, json!(v));
    }
    obj.insert("rows".into(), json!(m.rows));
    obj.insert("threshold".into(), json!(m.threshold));
    obj.insert("confusion_matrix".into(), json!(m.confusion_matrix));
    obj
}

/// Metrics as a short text block under `title`.
pub fn print_metrics(title: &str, m: &Metrics) {
    println!("{title}");
    println!("  rows       {}", m.rows);
    println!("  auc        {:.4}", m.auc);
    println!("  logloss    {:.4}", m.logloss);
    println!("  accuracy   {:.4}", m.accuracy);
    println!(
        "  precision  {:.4}  (threshold {})",
        m.precision, m.threshold
    );
    println!("  recall     {:.4}", m.recall);
    println!("  f1         {:.4}", m.f1);
}

/// A table source as a local file for the commands that read one: a local path is itself; a
/// Google Cloud source is fetched into a temporary folder that lives as long as this value.
#[derive(Debug)]
pub struct LocalTable {
    /// The file to read.
    pub path: PathBuf,
    /// The temporary folder of a download or query result, removed on drop.
    _scratch: Option<tempfile::TempDir>,
}

/// Fetch `source` ([`mlops_core::source::fetch_from_env`]); queries and objects run in
/// `GCP_PROJECT_ID` from the settings (`.env` included). With `dry_run`, a Google Cloud source
/// is not read: its request is printed and `None` returned (the caller stops there).
pub fn fetch_table(
    settings: &Settings,
    dry_run: bool,
    source: &TableSource,
) -> Result<Option<LocalTable>, BoxError> {
    if let TableSource::Local(path) = source {
        return Ok(Some(LocalTable {
            path: path.clone(),
            _scratch: None,
        }));
    }
    if dry_run {
        // The read is the only request such a command sends; without its rows there is
        // nothing to train or score, so the command stops after printing it.
        crate::cloud::print_fetch(settings, source)?;
        eprintln!("dry run: `{source}` was not read, so nothing else was done");
        return Ok(None);
    }
    let scratch = tempfile::tempdir().map_err(|e| {
        format!(
            "cannot create a temporary folder in {} for `{source}`: {e}",
            std::env::temp_dir().display()
        )
    })?;
    tracing::info!(%source, "fetching the table");
    let path =
        mlops_core::source::fetch_from_env(source, settings.project_id.as_deref(), scratch.path())?;
    Ok(Some(LocalTable {
        path,
        _scratch: Some(scratch),
    }))
}
