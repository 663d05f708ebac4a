//! Where an artifact lives: a local path, a `file://` URI, or a `gs://` object prefix.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::DomainError;

/// Folder where Vertex AI mounts Cloud Storage with FUSE (`gs://b/x` is `/gcs/b/x`).
pub const GCS_FUSE_ROOT: &str = "/gcs";

/// A location for data or model artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArtifactLocation {
    /// A path on this machine (from a plain path or a `file://` URI).
    Local(PathBuf),
    /// A Cloud Storage bucket and object name (or prefix).
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Object name or prefix, without a leading slash (may be empty).
        object: String,
    },
}

impl ArtifactLocation {
    /// The local path to use for this location: itself when local; for `gs://`, the FUSE path
    /// under `fuse_root` when that folder exists (as inside a Vertex AI pipeline step).
    pub fn local_path(&self, fuse_root: &Path) -> Option<PathBuf> {
        match self {
            ArtifactLocation::Local(p) => Some(p.clone()),
            ArtifactLocation::Gcs { bucket, object } => fuse_root
                .is_dir()
                .then(|| fuse_root.join(bucket).join(object)),
        }
    }

    /// A child location (`join("model.json")`).
    pub fn join(&self, name: &str) -> ArtifactLocation {
        match self {
            ArtifactLocation::Local(p) => ArtifactLocation::Local(p.join(name)),
            ArtifactLocation::Gcs { bucket, object } => ArtifactLocation::Gcs {
                bucket: bucket.clone(),
                object: if object.is_empty() {
                    name.to_string()
                } else {
                    format!("{}/{name}", object.trim_end_matches('/'))
                },
            },
        }
    }
}

impl FromStr for ArtifactLocation {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        let err = |reason| DomainError::Location {
            value: s.to_string(),
            reason,
        };
        if s.trim().is_empty() {
            return Err(err(
                "expected a path, file:// URI or gs://bucket/path, got an empty string",
            ));
        }
        if let Some(rest) = s.strip_prefix("gs://") {
            let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=222).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
                && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
                && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !valid_bucket {
                return Err(err(
                    "bucket names are 3-222 characters of a-z, 0-9, '-', '_' and '.'",
                ));
            }
            return Ok(ArtifactLocation::Gcs {
                bucket: bucket.to_string(),
                object: object.trim_start_matches('/').to_string(),
            });
        }
        if let Some(rest) = s.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(err(
                    "file:// URIs must hold an absolute path (file:///abs/path)",
                ));
            }
            return Ok(ArtifactLocation::Local(PathBuf::from(rest)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.contains('/') {
                return Err(err("only local paths, file:// and gs:// are supported"));
            }
        }
        Ok(ArtifactLocation::Local(PathBuf::from(s)))
    }
}

impl fmt::Display for ArtifactLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactLocation::Local(p) => write!(f, "{}", p.display()),
            ArtifactLocation::Gcs { bucket, object } => write!(f, "gs://{bucket}/{object}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            "data/x.csv".parse::<ArtifactLocation>().unwrap(),
            ArtifactLocation::Local("data/x.csv".into())
        );
        assert_eq!(
            "file:///tmp/x".parse::<ArtifactLocation>().unwrap(),
            ArtifactLocation::Local("/tmp/x".into())
        );
        let gcs: ArtifactLocation = "gs://my-bucket/root/model".parse().unwrap();
        assert_eq!(gcs.to_string(), "gs://my-bucket/root/model");
        assert_eq!(
            gcs.join("model.json").to_string(),
            "gs://my-bucket/root/model/model.json"
        );
    }

    #[test]
    fn rejects_bad_forms_naming_the_value() {
        for bad in ["", "s3://b/x", "gs://A/x", "file://relative"] {
            let err = bad.parse::<ArtifactLocation>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn gcs_maps_to_fuse_path_only_when_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let gcs: ArtifactLocation = "gs://bkt/a/b".parse().unwrap();
        assert_eq!(gcs.local_path(dir.path()), Some(dir.path().join("bkt/a/b")));
        assert_eq!(gcs.local_path(&dir.path().join("missing")), None);
    }
}
