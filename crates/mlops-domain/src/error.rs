//! Errors of the domain crate.

use std::path::PathBuf;

/// A configuration or file problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Settings from `.env` / the environment are missing or invalid; every problem is listed.
    #[error("invalid settings:\n  - {}", .0.join("\n  - "))]
    Settings(Vec<String>),
    /// The model configuration is invalid; every problem is listed.
    #[error("invalid model config `{path}`:\n  - {}", .problems.join("\n  - "))]
    ModelConfig {
        /// The file (or `<string>`).
        path: String,
        /// Each problem, naming the field and value.
        problems: Vec<String>,
    },
    /// An artifact location string cannot be parsed.
    #[error("invalid artifact location `{value}`: {reason}")]
    Location {
        /// The string given.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A file could not be read or written.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done (`read`, `write`, `rename`...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = DomainError> = std::result::Result<T, E>;
