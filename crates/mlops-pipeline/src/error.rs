//! Errors of the pipeline SDK and the local runner.

use std::path::PathBuf;

/// A problem building, compiling or running a pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The pipeline graph is wrong (unknown port, type mismatch, missing input, duplicate).
    #[error("pipeline `{pipeline}`: {message}")]
    Build {
        /// Pipeline name.
        pipeline: String,
        /// What is wrong, naming both ends of a bad connection.
        message: String,
    },
    /// An IR file is not a usable KFP v2 pipeline; every problem is listed.
    #[error("invalid pipeline IR `{path}`:\n  - {}", .problems.join("\n  - "))]
    InvalidIr {
        /// The file.
        path: PathBuf,
        /// Each problem.
        problems: Vec<String>,
    },
    /// A run parameter is unknown or of the wrong type.
    #[error("parameter {0}")]
    Param(String),
    /// A task failed.
    #[error("task `{task}` failed: {message}\n--- last lines of {log} ---\n{tail}")]
    TaskFailed {
        /// Task name.
        task: String,
        /// What happened.
        message: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The pipeline root is neither a folder nor `gs://bucket[/prefix]`.
    #[error("pipeline root `{value}` is not {expected}")]
    InvalidRoot {
        /// The root as given.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Copying an artifact or the run record to or from its `gs://` location failed.
    #[error("cannot {action} `{uri}`: {message}")]
    Store {
        /// `upload the run record to`, ...
        action: &'static str,
        /// The `gs://` URI.
        uri: String,
        /// The store's error.
        message: String,
    },
    /// The run was interrupted (SIGINT).
    #[error("run `{job}` interrupted; finished tasks are cached, run again to resume")]
    Interrupted {
        /// Job id.
        job: String,
    },
    /// File system problem.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file that cannot be read or written as JSON.
    #[error("cannot {action} `{path}`")]
    Json {
        /// What was being done (`write the run record`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.into();
    move |source| PipelineError::Io {
        action,
        path,
        source,
    }
}
