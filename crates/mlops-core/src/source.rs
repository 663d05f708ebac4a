//! Where a table comes from, and getting it onto local disk as a CSV or Parquet file that
//! [`crate::table`] reads: a local file, a Cloud Storage object, a BigQuery table or a BigQuery
//! query.
//!
//! Parsing a [`TableSource`] works in every build; reading one from Google Cloud needs the
//! cargo feature `gcp` (which links `mlops-gcp` and Google's clients). Without it, a local
//! file and a `gs://` object under the `/gcs/` mount (inside Vertex AI) still work, and every
//! other source is one error that names the feature.
//!
//! BigQuery results are written to Parquet page by page (one row group per page), so memory
//! does not grow with the table, with typed columns ([`bigquery`] has the mapping).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mlops_domain::{ArtifactLocation, GCS_FUSE_ROOT};

use crate::error::{CoreError, Result};
use crate::table::Format;

#[cfg(feature = "gcp")]
pub mod bigquery;

/// The Google Cloud handle [`fetch`] reads through (`mlops_gcp::Gcp`).
#[cfg(feature = "gcp")]
pub use mlops_gcp::Gcp;

/// Stand-in for `mlops_gcp::Gcp` in a build without the `gcp` feature: it has no values, so
/// callers pass `None` and [`fetch`] keeps one signature in every build.
#[cfg(not(feature = "gcp"))]
#[derive(Debug)]
pub enum Gcp {}

/// What a table source may be, for error messages.
pub const ACCEPTED: &str = "a local .csv or .parquet path, gs://bucket/object.csv (or .parquet), \
bq://project.dataset.table, or a BigQuery query starting with SELECT or WITH";

/// Region used when `GCP_REGION` is not set (the template's default region).
pub const DEFAULT_REGION: &str = "australia-southeast1";

/// Rows per BigQuery result page: one Parquet row group each; a page of the churn table's 20
/// columns is a few megabytes in memory.
pub const PAGE_ROWS: u32 = 20_000;

/// A table to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableSource {
    /// A CSV or Parquet file on this machine (a plain path or a `file://` URI).
    Local(PathBuf),
    /// A CSV or Parquet object in Cloud Storage.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Object name (ends in `.csv` or `.parquet`).
        object: String,
    },
    /// A whole BigQuery table (`bq://project.dataset.table`).
    BigQueryTable {
        /// Project that holds the table (and runs the query that reads it).
        project: String,
        /// Dataset.
        dataset: String,
        /// Table.
        table: String,
    },
    /// A BigQuery standard-SQL query, run in `GCP_PROJECT_ID`.
    Query(String),
}

impl TableSource {
    /// The SQL that reads this source from BigQuery (`None` for files).
    pub fn sql(&self) -> Option<String> {
        match self {
            TableSource::BigQueryTable {
                project,
                dataset,
                table,
            } => Some(format!("SELECT * FROM `{project}.{dataset}.{table}`")),
            TableSource::Query(sql) => Some(sql.clone()),
            TableSource::Local(_) | TableSource::Gcs { .. } => None,
        }
    }

    /// Whether reading this source calls Google Cloud: BigQuery always, Cloud Storage unless
    /// the bucket is mounted under `fuse_root` (`/gcs` inside Vertex AI).
    pub fn needs_gcp(&self, fuse_root: &Path) -> bool {
        match self {
            TableSource::Local(_) => false,
            TableSource::Gcs { .. } => !fuse_root.is_dir(),
            TableSource::BigQueryTable { .. } | TableSource::Query(_) => true,
        }
    }

    /// The project that reads this source: a table's own project; for a query or an object,
    /// `default_project` (`GCP_PROJECT_ID`). `None` when the source needs a project and none
    /// is given.
    pub fn project<'a>(&'a self, default_project: Option<&'a str>) -> Option<&'a str> {
        match self {
            TableSource::BigQueryTable { project, .. } => Some(project),
            _ => default_project.filter(|p| !p.trim().is_empty()),
        }
    }

    /// A file name for this source in a scratch folder: an object keeps its own name (and so
    /// its extension); BigQuery results are Parquet.
    fn scratch_name(&self) -> String {
        match self {
            TableSource::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "table".into()),
            TableSource::Gcs { object, .. } => object
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("table.csv")
                .to_string(),
            TableSource::BigQueryTable {
                project,
                dataset,
                table,
            } => format!("{project}.{dataset}.{table}.parquet"),
            TableSource::Query(_) => "query.parquet".into(),
        }
    }
}

/// Whether `text` reads as SQL: its first word is `SELECT` or `WITH` (any case), followed by
/// white space or `(`.
fn is_query(text: &str) -> bool {
    let text = text.trim_start();
    let word_end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (word, rest) = text.split_at(word_end);
    (word.eq_ignore_ascii_case("select") || word.eq_ignore_ascii_case("with"))
        && rest.starts_with(|c: char| c.is_whitespace() || c == '(')
}

/// `project.dataset.table` (the part after `bq://`). A project may be domain-scoped
/// (`example.com:proj`), so the table and dataset are the last two parts.
fn parse_table(body: &str) -> Option<(String, String, String)> {
    let mut parts = body.rsplitn(3, '.');
    let table = parts.next()?;
    let dataset = parts.next()?;
    let project = parts.next()?;
    let word = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
    };
    (word(project, "-:.") && word(dataset, "") && word(table, "-"))
        .then(|| (project.into(), dataset.into(), table.into()))
}

impl FromStr for TableSource {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<TableSource> {
        let invalid = |reason: &str| CoreError::InvalidSource {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        if s.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if is_query(s) {
            return Ok(TableSource::Query(s.trim().to_string()));
        }
        if let Some(body) = s.strip_prefix("bq://") {
            let (project, dataset, table) = parse_table(body).ok_or_else(|| {
                invalid(
                    "a BigQuery table is bq://project.dataset.table (dataset: letters, digits, \
                     `_`; table: also `-`)",
                )
            })?;
            return Ok(TableSource::BigQueryTable {
                project,
                dataset,
                table,
            });
        }
        match s.parse::<ArtifactLocation>() {
            Ok(ArtifactLocation::Local(path)) => Ok(TableSource::Local(path)),
            Ok(ArtifactLocation::Gcs { bucket, object }) => {
                if object.is_empty() || object.ends_with('/') {
                    return Err(invalid("it names a bucket or folder, not an object"));
                }
                Format::of(Path::new(&object))
                    .map_err(|_| invalid("a Cloud Storage table must end in .csv or .parquet"))?;
                Ok(TableSource::Gcs { bucket, object })
            }
            Err(mlops_domain::DomainError::Location { reason, .. }) => Err(invalid(reason)),
            Err(other) => Err(invalid(&other.to_string())),
        }
    }
}

impl fmt::Display for TableSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableSource::Local(p) => write!(f, "{}", p.display()),
            TableSource::Gcs { bucket, object } => write!(f, "gs://{bucket}/{object}"),
            TableSource::BigQueryTable {
                project,
                dataset,
                table,
            } => write!(f, "bq://{project}.{dataset}.{table}"),
            TableSource::Query(sql) => f.write_str(sql),
        }
    }
}

/// The local file to read `source` from: a local file is itself; a `gs://` object is its path
/// under `/gcs/` when that mount exists (inside Vertex AI), else a download into `scratch`
/// that keeps the object's name; a BigQuery table or query is run and its result written to
/// a Parquet file in `scratch`, page by page.
///
/// `gcp` is needed for every source that calls Google Cloud ([`TableSource::needs_gcp`]);
/// [`connect`] makes one.
pub fn fetch(source: &TableSource, gcp: Option<&Gcp>, scratch: &Path) -> Result<PathBuf> {
    fetch_with_mount(source, gcp, scratch, Path::new(GCS_FUSE_ROOT))
}

/// [`fetch`] with the Cloud Storage mount at `fuse_root` (tests use a temporary folder).
pub fn fetch_with_mount(
    source: &TableSource,
    gcp: Option<&Gcp>,
    scratch: &Path,
    fuse_root: &Path,
) -> Result<PathBuf> {
    match source {
        TableSource::Local(path) => return Ok(path.clone()),
        TableSource::Gcs { bucket, object } if fuse_root.is_dir() => {
            return Ok(fuse_root.join(bucket).join(object));
        }
        _ => {}
    }
    let target = scratch.join(source.scratch_name());
    fetch_remote(source, gcp, &target)
}

#[cfg(not(feature = "gcp"))]
fn fetch_remote(source: &TableSource, _gcp: Option<&Gcp>, _target: &Path) -> Result<PathBuf> {
    Err(CoreError::NoCloudSupport {
        source_text: source.to_string(),
    })
}

#[cfg(feature = "gcp")]
fn fetch_remote(source: &TableSource, gcp: Option<&Gcp>, target: &Path) -> Result<PathBuf> {
    let gcp = gcp.ok_or_else(|| CoreError::NoConnection {
        source_text: source.to_string(),
    })?;
    let cloud = |action: &'static str| {
        move |error: mlops_gcp::GcpError| CoreError::Cloud {
            action,
            source_text: source.to_string(),
            error: Box::new(error),
        }
    };
    match source {
        TableSource::Gcs { bucket, object } => {
            gcp.download_file(bucket, object, target)
                .map_err(cloud("download"))?;
        }
        TableSource::BigQueryTable { .. } | TableSource::Query(_) => {
            let sql = source.sql().unwrap_or_default();
            let rows = bigquery::query_to_parquet(gcp, &sql, PAGE_ROWS, target, source)?;
            tracing::info!(source = %source, rows, file = %target.display(), "BigQuery result written");
        }
        TableSource::Local(path) => return Ok(path.clone()),
    }
    Ok(target.to_path_buf())
}

/// A Google Cloud handle for reading `source`, configured from the environment
/// ([`gcp_config_from_env`]), in the project [`TableSource::project`] names (`default_project`
/// falls back to `GCP_PROJECT_ID`); `None` when the source calls no Google Cloud API, and
/// always `None` in a build without the `gcp` feature (where [`fetch`] then names it).
pub fn connect(source: &TableSource, default_project: Option<&str>) -> Result<Option<Gcp>> {
    if !source.needs_gcp(Path::new(GCS_FUSE_ROOT)) {
        return Ok(None);
    }
    connect_remote(source, default_project)
}

#[cfg(not(feature = "gcp"))]
fn connect_remote(_source: &TableSource, _default_project: Option<&str>) -> Result<Option<Gcp>> {
    Ok(None)
}

#[cfg(feature = "gcp")]
fn connect_remote(source: &TableSource, default_project: Option<&str>) -> Result<Option<Gcp>> {
    let from_env = std::env::var("GCP_PROJECT_ID").ok();
    let project = source
        .project(default_project.or(from_env.as_deref()))
        .ok_or_else(|| CoreError::MissingSetting {
            name: "GCP_PROJECT_ID",
            why: format!("it names the Google Cloud project that reads `{source}`"),
        })?;
    let config = gcp_config_from_env(project)?;
    let gcp = Gcp::new(config).map_err(|error| CoreError::Cloud {
        action: "connect to Google Cloud for",
        source_text: source.to_string(),
        error: Box::new(error),
    })?;
    Ok(Some(gcp))
}

/// [`connect`], then [`fetch`]: what a command or component calls with a source it was given.
pub fn fetch_from_env(
    source: &TableSource,
    default_project: Option<&str>,
    scratch: &Path,
) -> Result<PathBuf> {
    let gcp = connect(source, default_project)?;
    fetch(source, gcp.as_ref(), scratch)
}

/// Connection settings from the environment, for a component or command without the CLI's
/// `Settings`:
/// - `GCP_REGION` (default [`DEFAULT_REGION`]);
/// - `STORAGE_EMULATOR_HOST`: Cloud Storage endpoint, as gcloud spells it
///   (`http://127.0.0.1:4443` or `127.0.0.1:4443`);
/// - `BIGQUERY_EMULATOR_HOST`: the BigQuery emulator's URL (`/bigquery/v2` is appended
///   unless it is there);
/// - `MLOPS_MONITORING_ENDPOINT`, `MLOPS_VERTEX_ENDPOINT`: Cloud Monitoring and Vertex AI
///   endpoints (the loopback fake in tests), as the CLI's settings read them;
/// - `MLOPS_GCP_AUTH`: `adc` (Application Default Credentials, default) or `anonymous`.
#[cfg(feature = "gcp")]
pub fn gcp_config_from_env(project: &str) -> Result<mlops_gcp::GcpConfig> {
    gcp_config_from_vars(project, |name| {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    })
}

/// [`gcp_config_from_env`] over any variable lookup (tests pass a map).
#[cfg(feature = "gcp")]
pub fn gcp_config_from_vars(
    project: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Result<mlops_gcp::GcpConfig> {
    use mlops_gcp::{Auth, GcpConfig};
    /// An emulator address with a scheme: gcloud's variables may leave it out.
    fn url(value: &str) -> String {
        let value = value.trim().trim_end_matches('/');
        if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        }
    }
    let region = var("GCP_REGION").unwrap_or_else(|| DEFAULT_REGION.to_string());
    let mut config = GcpConfig::new(project, region.trim());
    if let Some(host) = var("STORAGE_EMULATOR_HOST") {
        config.storage_endpoint = url(&host);
    }
    if let Some(host) = var("BIGQUERY_EMULATOR_HOST") {
        let base = url(&host);
        config.bigquery_endpoint = if base.ends_with("/bigquery/v2") {
            base
        } else {
            format!("{base}/bigquery/v2")
        };
    }
    // The same overrides as the CLI's settings (`MLOPS_*_ENDPOINT`), so that a component
    // run by the local runner talks to the endpoints the command was given.
    if let Some(endpoint) = var("MLOPS_MONITORING_ENDPOINT") {
        config.monitoring_endpoint = url(&endpoint);
    }
    if let Some(endpoint) = var("MLOPS_VERTEX_ENDPOINT") {
        config.vertex_endpoint = url(&endpoint);
    }
    config.auth = match var("MLOPS_GCP_AUTH").as_deref().map(str::trim) {
        None | Some("adc") => Auth::ApplicationDefault,
        Some("anonymous") => Auth::Anonymous,
        Some(other) => {
            return Err(CoreError::InvalidSetting {
                name: "MLOPS_GCP_AUTH",
                value: other.to_string(),
                expected: "adc (Application Default Credentials) or anonymous",
            })
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> TableSource {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(
            parse("data/wa_churn.csv"),
            TableSource::Local("data/wa_churn.csv".into())
        );
        assert_eq!(
            parse("file:///abs/t.parquet"),
            TableSource::Local("/abs/t.parquet".into())
        );
        assert_eq!(
            parse("gs://my-bucket/tables/churn.parquet"),
            TableSource::Gcs {
                bucket: "my-bucket".into(),
                object: "tables/churn.parquet".into()
            }
        );
        assert_eq!(
            parse("bq://my-proj.mlops.wa_churn"),
            TableSource::BigQueryTable {
                project: "my-proj".into(),
                dataset: "mlops".into(),
                table: "wa_churn".into()
            }
        );
        assert_eq!(
            parse("bq://example.com:proj.d.t-1"),
            TableSource::BigQueryTable {
                project: "example.com:proj".into(),
                dataset: "d".into(),
                table: "t-1".into()
            }
        );
        for sql in [
            "SELECT * FROM `p.d.t`",
            "  select a from t",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "with\nx as (select 1) select * from x",
            "SELECT(1)",
        ] {
            assert_eq!(parse(sql), TableSource::Query(sql.trim().into()), "{sql}");
        }
        // Paths that only start like a keyword stay paths.
        for path in ["selection.csv", "select.csv", "withdrawals.parquet", "WITH"] {
            assert_eq!(parse(path), TableSource::Local(path.into()), "{path}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "data/x.csv",
            "gs://b-1/a/b.csv",
            "bq://p.d.t",
            "SELECT 1 AS x",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn bad_sources_name_the_value_and_what_is_accepted() {
        for (bad, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("bq://p.d", "bq://project.dataset.table"),
            ("bq://p..t", "bq://project.dataset.table"),
            ("bq://p.d-x.t", "bq://project.dataset.table"),
            ("bq://", "bq://project.dataset.table"),
            ("gs://bucket", "not an object"),
            ("gs://bucket/folder/", "not an object"),
            ("gs://bucket/t.json", ".csv or .parquet"),
            ("gs://B/t.csv", "bucket names"),
            ("s3://b/t.csv", "only local paths"),
        ] {
            let e = bad.parse::<TableSource>().unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains(reason), "{bad}: {e}");
            assert!(e.contains(ACCEPTED), "{bad}: {e}");
        }
    }

    #[test]
    fn sql_and_projects() {
        let t = parse("bq://p.d.t");
        assert_eq!(t.sql().unwrap(), "SELECT * FROM `p.d.t`");
        assert_eq!(t.project(Some("other")), Some("p"));
        let q = parse("SELECT 1");
        assert_eq!(q.sql().unwrap(), "SELECT 1");
        assert_eq!(q.project(Some("dflt")), Some("dflt"));
        assert_eq!(q.project(None), None);
        assert_eq!(q.project(Some(" ")), None);
        assert_eq!(parse("x.csv").sql(), None);
    }

    #[test]
    fn local_files_and_mounted_objects_need_no_cloud() {
        let mount = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let local = parse("data/x.csv");
        assert!(!local.needs_gcp(mount.path()));
        assert_eq!(
            fetch_with_mount(&local, None, scratch.path(), mount.path()).unwrap(),
            PathBuf::from("data/x.csv")
        );
        let object = parse("gs://bkt/t/x.parquet");
        assert!(!object.needs_gcp(mount.path()));
        assert_eq!(
            fetch_with_mount(&object, None, scratch.path(), mount.path()).unwrap(),
            mount.path().join("bkt/t/x.parquet")
        );
        let unmounted = mount.path().join("absent");
        assert!(object.needs_gcp(&unmounted));
        assert!(parse("bq://p.d.t").needs_gcp(mount.path()));
        assert!(parse("SELECT 1").needs_gcp(mount.path()));
        assert_eq!(object.scratch_name(), "x.parquet");
        assert_eq!(parse("bq://p.d.t").scratch_name(), "p.d.t.parquet");
    }

    /// Without the `gcp` feature, every source that would call Google Cloud is one error
    /// naming the source and the feature.
    #[cfg(not(feature = "gcp"))]
    #[test]
    fn without_gcp_cloud_sources_name_the_feature() {
        let scratch = tempfile::tempdir().unwrap();
        let unmounted = scratch.path().join("no-gcs");
        for s in ["gs://bkt/t.csv", "bq://p.d.t", "SELECT 1"] {
            let source = parse(s);
            assert!(connect(&source, Some("p")).unwrap().is_none());
            let e = fetch_with_mount(&source, None, scratch.path(), &unmounted)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("`{s}`"))
                    && e.contains(
                        "this build has no Google Cloud support: build with `--features gcp`"
                    ),
                "{e}"
            );
        }
    }

    #[cfg(feature = "gcp")]
    #[test]
    fn config_from_variables() {
        use std::collections::HashMap;
        let vars = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| map.get(k).cloned()
        };
        let c = gcp_config_from_vars("p", vars(&[])).unwrap();
        assert_eq!(c.project, "p");
        assert_eq!(c.region, DEFAULT_REGION);
        assert_eq!(c.storage_endpoint, "https://storage.googleapis.com");
        assert_eq!(c.auth, mlops_gcp::Auth::ApplicationDefault);

        let c = gcp_config_from_vars(
            "p",
            vars(&[
                ("GCP_REGION", "us-central1"),
                ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
                ("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:9050/"),
                ("MLOPS_GCP_AUTH", "anonymous"),
                ("MLOPS_MONITORING_ENDPOINT", "http://127.0.0.1:7000/"),
                ("MLOPS_VERTEX_ENDPOINT", "127.0.0.1:7000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.monitoring_endpoint, "http://127.0.0.1:7000");
        assert_eq!(c.vertex_endpoint, "http://127.0.0.1:7000");
        assert_eq!(c.region, "us-central1");
        assert_eq!(c.storage_endpoint, "http://127.0.0.1:4443");
        assert_eq!(c.bigquery_endpoint, "http://127.0.0.1:9050/bigquery/v2");
        assert_eq!(c.auth, mlops_gcp::Auth::Anonymous);

        let c = gcp_config_from_vars(
            "p",
            vars(&[
                ("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443"),
                ("BIGQUERY_EMULATOR_HOST", "http://h:1/bigquery/v2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.storage_endpoint, "http://127.0.0.1:4443");
        assert_eq!(c.bigquery_endpoint, "http://h:1/bigquery/v2");

        let e = gcp_config_from_vars("p", vars(&[("MLOPS_GCP_AUTH", "key")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MLOPS_GCP_AUTH") && e.contains("`key`") && e.contains("anonymous"),
            "{e}"
        );
    }

    #[cfg(feature = "gcp")]
    #[test]
    fn cloud_sources_without_a_connection_are_an_error() {
        let scratch = tempfile::tempdir().unwrap();
        let unmounted = scratch.path().join("no-gcs");
        let e = fetch_with_mount(&parse("bq://p.d.t"), None, scratch.path(), &unmounted)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`bq://p.d.t`") && e.contains("connection"),
            "{e}"
        );
    }
}
