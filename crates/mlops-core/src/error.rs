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
    /// A table source that is none of the accepted forms.
    #[error(
        "`{value}` is not a table source ({reason}): expected {}",
        crate::source::ACCEPTED
    )]
    InvalidSource {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A source that needs Google Cloud, in a build without the `gcp` feature.
    #[error("cannot read `{source_text}`: this build has no Google Cloud support: build with `--features gcp`")]
    NoCloudSupport {
        /// The source.
        source_text: String,
    },
    /// A source that needs Google Cloud, read without a connection (a caller's mistake:
    /// [`crate::source::connect`] makes one).
    #[error("cannot read `{source_text}` without a Google Cloud connection")]
    NoConnection {
        /// The source.
        source_text: String,
    },
    /// A Google Cloud call failed.
    #[cfg(feature = "gcp")]
    #[error("cannot {action} `{source_text}`")]
    Cloud {
        /// What was attempted (`download`, `query`).
        action: &'static str,
        /// The source.
        source_text: String,
        /// The call's error (boxed: it is large, and `CoreError` is in every `Result` here).
        #[source]
        error: Box<mlops_gcp::GcpError>,
    },
    /// A setting that reading a source needs is not set.
    #[error("{name} is not set: {why}")]
    MissingSetting {
        /// The environment variable.
        name: &'static str,
        /// What it is needed for.
        why: String,
    },
    /// A setting has a value that is not accepted.
    #[error("{name} is `{value}`, expected {expected}")]
    InvalidSetting {
        /// The environment variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A BigQuery cell that does not parse as its column's declared type.
    #[error(
        "`{table}`: row {row}, column `{column}` ({column_type}): `{value}` is not {expected}"
    )]
    InvalidCell {
        /// The source.
        table: String,
        /// 1-based row of the result.
        row: u64,
        /// Column name.
        column: String,
        /// BigQuery type of the column.
        column_type: String,
        /// The cell as BigQuery sent it.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A BigQuery result that cannot be written as a table.
    #[error("`{table}`: {message}")]
    QueryResult {
        /// The source.
        table: String,
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
