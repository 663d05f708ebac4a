//! Errors of the data path.

use std::path::PathBuf;

/// A problem reading, validating, training on or writing a table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The file has no bytes at all.
    #[error("`{path}` is empty: expected a CSV header and rows, or a Parquet file")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The table has a header but no rows.
    #[error("`{path}` has no data rows")]
    NoRows {
        /// The file.
        path: PathBuf,
    },
    /// The extension is not `.csv` or `.parquet`.
    #[error("`{path}`: unsupported file type, expected .csv or .parquet")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// Polars (or the file system) could not read, write or reshape the table.
    #[error("cannot {action} `{path}`")]
    Table {
        /// `read`, `write`, `split`...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Polars' or the OS's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// Columns required by the schema are absent.
    #[error("`{path}` is missing column(s) {}; it has: {}", quote(.missing), quote(.available))]
    MissingColumns {
        /// The file.
        path: PathBuf,
        /// Required columns not found.
        missing: Vec<String>,
        /// Columns present.
        available: Vec<String>,
    },
    /// Cells that cannot be used (one problem per column, first bad row of each).
    #[error("`{path}` has invalid values:\n  - {}", .problems.join("\n  - "))]
    InvalidCells {
        /// The file.
        path: PathBuf,
        /// `row R, column `c`: message` lines.
        problems: Vec<String>,
    },
    /// The table cannot be used for training as a whole.
    #[error("`{path}`: {message}")]
    InvalidTable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model problem.
    #[error(transparent)]
    Model(#[from] mlops_model::ModelError),
    /// A booster problem.
    #[error(transparent)]
    Booster(#[from] mlops_booster::BoosterError),
    /// A configuration or file problem.
    #[error(transparent)]
    Domain(#[from] mlops_domain::DomainError),
}

fn quote(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Result alias for this crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
