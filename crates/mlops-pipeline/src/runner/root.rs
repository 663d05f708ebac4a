//! Pipeline roots: a local folder, or `gs://bucket/prefix` as on Vertex AI.
//!
//! With a `gs://` root, artifact URIs are `gs://bucket/prefix/<job>/<task>/<output>` and steps
//! read and write them through a local stand-in for Vertex AI's Cloud Storage FUSE mount:
//! `<staging>/gcs/bucket/...`, named to the step in [`GCS_MOUNT_ENV`], which
//! [`crate::component::local_path`] uses instead of `/gcs`. The runner copies outputs to the
//! bucket after each step and inputs from it when the stand-in lacks them, through an
//! [`ArtifactStore`]; this crate never talks to Google itself (the CLI supplies the store),
//! so it stays cheap to build.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::component::GCS_MOUNT_ENV;
use crate::error::{PipelineError, Result};

/// Where artifacts live besides this machine: copies a file or a folder to a `gs://` URI and
/// back. Implemented over Cloud Storage by the CLI (`mlops_gcp`), and by test doubles.
pub trait ArtifactStore: Send + Sync {
    /// Copy `local` (a file, or a folder with everything under it) to `uri`
    /// (`gs://bucket/object`; a folder's files become `uri/<relative path>`).
    fn upload(&self, local: &Path, uri: &str) -> std::result::Result<(), String>;

    /// Copy `uri` (one object, or every object under `uri/`) to `local`, creating parent
    /// folders.
    fn download(&self, uri: &str, local: &Path) -> std::result::Result<(), String>;
}

/// Where a run keeps its jobs, artifacts and cache.
#[derive(Clone)]
pub enum PipelineRoot {
    /// A folder on this machine (relative to the caller's working directory).
    Local(PathBuf),
    /// A Cloud Storage location, as on Vertex AI.
    Gcs {
        /// `gs://bucket` or `gs://bucket/prefix`.
        uri: String,
        /// The local staging folder: the mount stand-in is `<staging>/gcs`, and run records,
        /// logs and cache entries stay under it.
        staging: PathBuf,
        /// Copies artifacts to and from the bucket.
        store: Arc<dyn ArtifactStore>,
    },
}

impl std::fmt::Debug for PipelineRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineRoot::Local(p) => f.debug_tuple("Local").field(p).finish(),
            PipelineRoot::Gcs { uri, staging, .. } => f
                .debug_struct("Gcs")
                .field("uri", uri)
                .field("staging", staging)
                .finish_non_exhaustive(),
        }
    }
}

impl PipelineRoot {
    /// The folder on this machine that mirrors the root (jobs, task folders, `.cache`): the
    /// folder itself, or the root's place in the mount stand-in,
    /// `<staging>/gcs/<bucket>/<prefix>`. Relative when the folder or `staging` is.
    pub fn local_dir(&self) -> Result<PathBuf> {
        match self {
            PipelineRoot::Local(p) => Ok(p.clone()),
            PipelineRoot::Gcs { uri, staging, .. } => Ok(staging.join("gcs").join(gcs_path(uri)?)),
        }
    }
}

/// `bucket/prefix` of a `gs://` root, checked: a bucket, and no empty, `.` or `..` parts.
fn gcs_path(uri: &str) -> Result<String> {
    let invalid = || PipelineError::InvalidRoot {
        value: uri.to_string(),
        expected: "gs://bucket or gs://bucket/prefix (no empty, `.` or `..` parts)",
    };
    let rest = uri.strip_prefix("gs://").ok_or_else(invalid)?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty()
        || rest
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid());
    }
    Ok(rest.to_string())
}

/// A root resolved for one run: absolute local folders, the URI prefix of artifacts, and the
/// store when artifacts also live in a bucket.
#[derive(Clone)]
pub(super) struct Layout {
    /// The local mirror of the root, absolute.
    pub(super) local_root: PathBuf,
    /// What artifact URIs start with: `gs://bucket/prefix`, or the local root.
    pub(super) uri_root: String,
    /// The mount stand-in (`<staging>/gcs`, absolute) for `gs://` roots.
    pub(super) mount: Option<PathBuf>,
    store: Option<Arc<dyn ArtifactStore>>,
}

impl Layout {
    /// Resolve `root` against the caller's folder `caller_dir`.
    pub(super) fn new(root: &PipelineRoot, caller_dir: &Path) -> Result<Layout> {
        let local_root = caller_dir.join(root.local_dir()?);
        Ok(match root {
            PipelineRoot::Local(_) => Layout {
                uri_root: local_root.display().to_string(),
                local_root,
                mount: None,
                store: None,
            },
            PipelineRoot::Gcs {
                uri,
                staging,
                store,
            } => Layout {
                uri_root: format!("gs://{}", gcs_path(uri)?),
                local_root,
                mount: Some(caller_dir.join(staging).join("gcs")),
                store: Some(store.clone()),
            },
        })
    }

    /// The URI of `relative` (`<job>/<task>/<output>`) under the root.
    pub(super) fn uri(&self, relative: &str) -> String {
        match self.mount {
            Some(_) => format!("{}/{relative}", self.uri_root),
            None => self.local_root.join(relative).display().to_string(),
        }
    }

    /// Where `uri` is on this machine: `gs://b/x` in the mount stand-in for `gs://` roots,
    /// otherwise as a step would see it ([`crate::component::local_path`]).
    pub(super) fn local_path(&self, uri: &str) -> PathBuf {
        match (&self.mount, uri.strip_prefix("gs://")) {
            (Some(mount), Some(rest)) => mount.join(rest),
            _ => crate::component::local_path(uri),
        }
    }

    /// [`Layout::local_path`] of `uri`, downloaded first when it is a `gs://` artifact the
    /// stand-in lacks (a cached task of an earlier run, a staging folder cleared since).
    /// Anything else is left as it is: whoever reads a missing path reports it.
    pub(super) fn ensure_local(&self, uri: &str) -> std::result::Result<PathBuf, String> {
        let path = self.local_path(uri);
        if let (Some(store), false, true) = (&self.store, path.exists(), uri.starts_with("gs://")) {
            store
                .download(uri, &path)
                .map_err(|e| format!("cannot download `{uri}` to {}: {e}", path.display()))?;
        }
        Ok(path)
    }

    /// Copy `local` to `uri` when artifacts live in a bucket; nothing for local roots.
    pub(super) fn upload(&self, local: &Path, uri: &str) -> std::result::Result<(), String> {
        match &self.store {
            Some(store) if uri.starts_with("gs://") => store.upload(local, uri),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl ArtifactStore for Nothing {
        fn upload(&self, _: &Path, _: &str) -> std::result::Result<(), String> {
            Ok(())
        }
        fn download(&self, uri: &str, _: &Path) -> std::result::Result<(), String> {
            Err(format!("no object `{uri}`"))
        }
    }

    fn gcs(uri: &str) -> PipelineRoot {
        PipelineRoot::Gcs {
            uri: uri.into(),
            staging: "staging".into(),
            store: Arc::new(Nothing),
        }
    }

    #[test]
    fn a_gcs_root_maps_into_the_mount_stand_in() {
        let root = gcs("gs://bkt/a/root/");
        assert_eq!(
            root.local_dir().unwrap(),
            Path::new("staging/gcs/bkt/a/root")
        );
        let layout = Layout::new(&root, Path::new("/work")).unwrap();
        assert_eq!(layout.uri("j/t/model"), "gs://bkt/a/root/j/t/model");
        assert_eq!(
            layout.local_path("gs://bkt/a/root/j/t/model"),
            Path::new("/work/staging/gcs/bkt/a/root/j/t/model")
        );
        assert_eq!(
            layout.mount.as_deref(),
            Some(Path::new("/work/staging/gcs"))
        );
        let err = layout.ensure_local("gs://bkt/a/root/gone").unwrap_err();
        assert!(
            err.contains("cannot download `gs://bkt/a/root/gone`") && err.contains("no object"),
            "{err}"
        );
    }

    #[test]
    fn a_local_root_is_unchanged() {
        let layout = Layout::new(&PipelineRoot::Local("root".into()), Path::new("/w")).unwrap();
        assert_eq!(layout.uri("j/t/model"), "/w/root/j/t/model");
        assert_eq!(
            layout.local_path("/w/root/j/t/model"),
            Path::new("/w/root/j/t/model")
        );
        assert!(layout.mount.is_none());
        assert!(layout.upload(Path::new("/w/x"), "/w/root/x").is_ok());
    }

    #[test]
    fn bad_gcs_roots_are_refused_naming_them() {
        for bad in ["gs://", "gs:///x", "gs://b//x", "gs://b/../x", "s3://b/x"] {
            let err = gcs(bad).local_dir().unwrap_err().to_string();
            assert!(
                err.contains(&format!("pipeline root `{bad}` is not gs://bucket")),
                "{err}"
            );
        }
    }
}
