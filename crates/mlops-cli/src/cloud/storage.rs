//! Cloud Storage behind the local runner's `gs://` pipeline roots: the runner
//! (`mlops_pipeline`, which has no Google dependency) copies artifacts through the
//! [`ArtifactStore`] made here.

use std::path::Path;
use std::sync::Arc;

use mlops_domain::Settings;
use mlops_gcp::Gcp;
use mlops_pipeline::runner::ArtifactStore;

use crate::context::BoxError;

/// Artifacts in Cloud Storage: a file is one object, a folder one object per file under
/// `<uri>/`.
#[derive(Debug)]
pub struct GcsArtifacts {
    gcp: Gcp,
}

impl GcsArtifacts {
    /// Over an existing connection.
    pub fn new(gcp: Gcp) -> GcsArtifacts {
        GcsArtifacts { gcp }
    }
}

/// The store for a `gs://` pipeline root, connected with [`super::connect_storage`].
pub fn artifact_store(settings: &Settings) -> Result<Arc<dyn ArtifactStore>, BoxError> {
    Ok(Arc::new(GcsArtifacts::new(super::connect_storage(
        settings,
    )?)))
}

/// `gs://bucket/object` split, with an object name.
fn split(uri: &str) -> Result<(&str, &str), String> {
    uri.strip_prefix("gs://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, object)| !bucket.is_empty() && !object.is_empty())
        .ok_or_else(|| format!("artifact URI `{uri}` is not gs://bucket/object"))
}

/// An error and its causes on one line (the runner puts it in a task failure).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        source = cause.source();
    }
    text
}

impl ArtifactStore for GcsArtifacts {
    fn upload(&self, local: &Path, uri: &str) -> Result<(), String> {
        let (bucket, object) = split(uri)?;
        let done = if local.is_dir() {
            self.gcp.upload_dir(local, bucket, object).map(drop)
        } else {
            self.gcp.upload_file(local, bucket, object).map(drop)
        };
        done.map_err(|e| chain(&e))
    }

    fn download(&self, uri: &str, local: &Path) -> Result<(), String> {
        let (bucket, object) = split(uri)?;
        // A file artifact is one object; otherwise it is a folder of objects under `uri/`.
        if self.gcp.exists(bucket, object).map_err(|e| chain(&e))? {
            // Written to a temporary file and renamed into place by `download_file`.
            return self
                .gcp
                .download_file(bucket, object, local)
                .map(drop)
                .map_err(|e| chain(&e));
        }
        // A folder appears whole: downloaded beside its place, then renamed into it, so that
        // a failed download never looks like an artifact.
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("`{}` has no file name", local.display()))?;
        let temp = local.with_file_name(format!(".{name}.download-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        let result = self
            .gcp
            .download_prefix(bucket, object, &temp)
            .map_err(|e| chain(&e))
            .and_then(|_| {
                std::fs::rename(&temp, local)
                    .map_err(|e| format!("cannot rename into `{}`: {e}", local.display()))
            });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_must_name_an_object_in_a_bucket() {
        assert_eq!(split("gs://b/root/j/t/model"), Ok(("b", "root/j/t/model")));
        for bad in ["gs://b", "gs://b/", "gs:///x", "/local/x"] {
            let err = split(bad).unwrap_err();
            assert!(
                err.contains(&format!("`{bad}` is not gs://bucket/object")),
                "{err}"
            );
        }
    }
}
