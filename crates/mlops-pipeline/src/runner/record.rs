//! The run record (`<root>/<job>/run.json`) and what it says about each task.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{io_err, PipelineError, Result};
use crate::executor::RuntimeArtifact;

/// What happened to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Ran and succeeded.
    Succeeded,
    /// Outputs reused from an earlier run.
    Cached,
    /// Its condition was false.
    Skipped,
    /// Failed.
    Failed,
    /// Stopped by SIGINT.
    Interrupted,
    /// Not run because an upstream task failed or the run was interrupted.
    NotRun,
}

/// Outputs of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutputs {
    /// Output parameters.
    pub parameters: BTreeMap<String, Value>,
    /// Output artifacts.
    pub artifacts: BTreeMap<String, RuntimeArtifact>,
}

/// One task in the run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Outcome.
    pub status: TaskStatus,
    /// Wall seconds.
    pub seconds: f64,
    /// Log file, when it ran.
    pub log: Option<String>,
    /// Outputs, when it succeeded or was cached.
    pub outputs: TaskOutputs,
}

impl TaskRecord {
    /// A task that did not run (skipped, not run, failed before output).
    pub(super) fn without_outputs(status: TaskStatus) -> TaskRecord {
        TaskRecord {
            status,
            seconds: 0.0,
            log: None,
            outputs: TaskOutputs::default(),
        }
    }
}

/// The run record written to `<root>/<job>/run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// Job id.
    pub job_id: String,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// Wall seconds.
    pub seconds: f64,
    /// Resolved pipeline parameters.
    pub parameters: BTreeMap<String, Value>,
    /// Tasks by path (`condition-1/register-model` inside conditions).
    pub tasks: BTreeMap<String, TaskRecord>,
    /// The error, when the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunRecord {
    /// Set the final status (and error) from the run's result.
    pub(super) fn finish(&mut self, result: &Result<()>) {
        match result {
            Ok(()) => self.status = "succeeded".into(),
            Err(e) => {
                self.status = if matches!(e, PipelineError::Interrupted { .. }) {
                    "interrupted"
                } else {
                    "failed"
                }
                .into();
                self.error = Some(error_chain(e));
            }
        }
    }
}

/// An error and those of its causes that its message does not already show.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        source = cause.source();
    }
    text
}

/// Write `value` as pretty JSON to `path` (temporary file + rename); `what` names the file
/// in errors (`write the run record`).
pub(super) fn write_json(path: &Path, value: &impl Serialize, what: &'static str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err("create folder", parent))?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|source| PipelineError::Json {
        action: what,
        path: path.to_path_buf(),
        source,
    })?;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, text).map_err(io_err("write", &temp))?;
    std::fs::rename(&temp, path).map_err(io_err("rename into", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_keeps_the_error_and_its_json_cause() {
        let source = serde_json::from_str::<Value>("{").unwrap_err();
        let cause = source.to_string();
        let err = PipelineError::Json {
            action: "read the cache entry",
            path: "/r/.cache/k.json".into(),
            source,
        };
        let mut record = RunRecord {
            pipeline: "p".into(),
            job_id: "p-1".into(),
            status: "running".into(),
            started_at: String::new(),
            seconds: 0.0,
            parameters: BTreeMap::new(),
            tasks: BTreeMap::new(),
            error: None,
        };
        record.finish(&Err(err));
        assert_eq!(record.status, "failed");
        let text = record.error.clone().unwrap();
        assert!(
            text.starts_with("cannot read the cache entry `/r/.cache/k.json`: ")
                && text.ends_with(&cause),
            "{text}"
        );
        record.finish(&Err(PipelineError::Interrupted { job: "p-1".into() }));
        assert_eq!(record.status, "interrupted");
    }

    #[test]
    fn write_json_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/run.json");
        write_json(&path, &serde_json::json!({"x": 1}), "write the run record").unwrap();
        write_json(&path, &serde_json::json!({"x": 2}), "write the run record").unwrap();
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["x"], 2);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
