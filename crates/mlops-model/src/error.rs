//! Errors of the model crate.

use std::path::PathBuf;

/// A problem with a model bundle or with data given to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A value cannot be encoded for the model.
    #[error("row {row}, column `{column}`: {message}")]
    Cell {
        /// Zero-based data row (not counting the header).
        row: usize,
        /// Column name.
        column: String,
        /// What is wrong, quoting the value.
        message: String,
    },
    /// The bundle's files disagree with each other or with the data.
    #[error("model/schema mismatch: {0}")]
    Mismatch(String),
    /// A bundle file is unreadable or malformed.
    #[error("invalid model file `{path}`: {message}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The booster failed.
    #[error(transparent)]
    Booster(#[from] mlops_booster::BoosterError),
    /// Reading or writing failed.
    #[error(transparent)]
    Domain(#[from] mlops_domain::DomainError),
    /// A registry file exists but cannot be used: the registry's state is unknown, so nothing
    /// that depends on it (comparing with the champion, promoting) may go on.
    #[error("registry file `{path}` {problem}; expected {expected}")]
    RegistryState {
        /// The file (`aliases.json`, `history.json`, a version folder).
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What a valid file holds.
        expected: &'static str,
    },
    /// The monitoring baseline could not be computed.
    #[error(transparent)]
    Monitoring(#[from] mlops_monitoring::MonitoringError),
    /// A baseline could not be trained.
    #[error("cannot train {model}: {message}")]
    Training {
        /// Model type.
        model: &'static str,
        /// The cause.
        message: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
