//! Task caching. A cache key is the sha256 of everything that decides a step's outputs: its
//! component spec and executor, its parameter values, the **contents** of its input artifacts
//! (a digest of the files under each artifact's path, not its URI, so that a new job's copy of
//! the same bytes is a hit and changed bytes at the same place are a miss), and the digest of
//! the component binary. An entry is the task's outputs as JSON under `<root>/.cache/`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::TaskOutputs;
use crate::error::{io_err, Result};
use crate::executor::RuntimeArtifact;
use crate::ir::model::{ContainerSpec, IrComponent};

/// Content digests of artifacts by URI, each computed once per run.
#[derive(Debug, Default)]
pub(super) struct ArtifactDigests {
    by_uri: Mutex<HashMap<String, String>>,
}

impl ArtifactDigests {
    /// The digest of the files under `uri` (at `path` on this machine), from memory after the
    /// first call.
    pub(super) fn digest(&self, uri: &str, path: &Path) -> Result<String> {
        if let Some(d) = self.lock().get(uri) {
            return Ok(d.clone());
        }
        // Computed outside the lock: two tasks may race on one artifact; both get the same.
        let d = digest_path(path).map_err(io_err("read input artifact", path))?;
        self.lock().insert(uri.to_string(), d.clone());
        Ok(d)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A poisoned map is still a valid memo.
        self.by_uri
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the cache key covers.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    component: &'a IrComponent,
    executor: Option<&'a ContainerSpec>,
    parameters: &'a BTreeMap<String, Value>,
    artifacts: BTreeMap<&'a str, ArtifactKey<'a>>,
    binary: &'a str,
}

/// An input artifact as the cache key sees it: type, content and metadata, not its URI.
#[derive(Serialize)]
struct ArtifactKey<'a> {
    schema_title: &'a str,
    content: String,
    metadata: &'a Map<String, Value>,
}

/// What a cache key needs besides the task: where artifacts are on this machine, and the
/// digests computed so far in this run.
pub(super) struct Hashing<'a> {
    /// The component binary's digest.
    pub(super) binary: &'a str,
    pub(super) digests: &'a ArtifactDigests,
    /// An artifact URI's local path (the mount stand-in for `gs://` roots).
    pub(super) local_path: &'a dyn Fn(&str) -> PathBuf,
}

/// The cache key of a container task.
pub(super) fn cache_key(
    component: &IrComponent,
    executor: Option<&ContainerSpec>,
    params: &BTreeMap<String, Value>,
    artifacts: &BTreeMap<String, RuntimeArtifact>,
    hashing: &Hashing,
) -> Result<String> {
    let mut keyed = BTreeMap::new();
    for (name, a) in artifacts {
        let key = ArtifactKey {
            schema_title: &a.artifact_type.schema_title,
            content: hashing
                .digests
                .digest(&a.uri, &(hashing.local_path)(&a.uri))?,
            metadata: &a.metadata,
        };
        keyed.insert(name.as_str(), key);
    }
    let material = KeyMaterial {
        component,
        executor,
        parameters: params,
        artifacts: keyed,
        binary: hashing.binary,
    };
    // Serialising plain structs and maps cannot fail; an empty text would still be a key.
    let text = serde_json::to_string(&material).unwrap_or_default();
    Ok(hex(&Sha256::digest(text.as_bytes())))
}

/// A cache entry, unless it is missing, unreadable or names artifacts that are gone
/// (`available` says whether an artifact URI can be read on this machine; for `gs://` roots
/// it fetches what the mount stand-in lacks).
pub(super) fn read_cache(path: &Path, available: &dyn Fn(&str) -> bool) -> Option<TaskOutputs> {
    let text = std::fs::read_to_string(path).ok()?;
    let outputs: TaskOutputs = serde_json::from_str(&text).ok()?;
    outputs
        .artifacts
        .values()
        .all(|a| available(&a.uri))
        .then_some(outputs)
}

/// sha256 of a file, streamed.
pub(super) fn digest_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    hash_file(path, &mut hasher, &mut buf)?;
    Ok(hex(&hasher.finalize()))
}

/// sha256 over a file or a folder tree: entries in name order, each with its relative path,
/// kind and length, file contents streamed. Equal trees give equal digests wherever they are.
pub(super) fn digest_path(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    hash_tree(path, Path::new(""), &mut hasher, &mut buf)?;
    Ok(hex(&hasher.finalize()))
}

fn hash_tree(
    path: &Path,
    relative: &Path,
    hasher: &mut Sha256,
    buf: &mut [u8],
) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    let name = relative.as_os_str().as_encoded_bytes();
    if meta.is_dir() {
        hasher.update(b"d");
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name);
        let mut entries = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<Vec<_>>>()?;
        entries.sort();
        for entry in entries {
            hash_tree(&path.join(&entry), &relative.join(&entry), hasher, buf)?;
        }
    } else {
        hasher.update(b"f");
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name);
        hasher.update(meta.len().to_le_bytes());
        hash_file(path, hasher, buf)?;
    }
    Ok(())
}

fn hash_file(path: &Path, hasher: &mut Sha256, buf: &mut [u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::local_path;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn equal_trees_in_different_places_have_equal_digests() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("job-1/data"), dir.path().join("job-2/data"));
        tree(&a, &[("data.parquet", "rows"), ("part/x.txt", "x")]);
        tree(&b, &[("part/x.txt", "x"), ("data.parquet", "rows")]);
        assert_eq!(digest_path(&a).unwrap(), digest_path(&b).unwrap());
    }

    #[test]
    fn content_names_and_layout_all_change_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        tree(&base, &[("a.txt", "ab"), ("b.txt", "c")]);
        let d = digest_path(&base).unwrap();
        for (i, files) in [
            vec![("a.txt", "ab"), ("b.txt", "d")],   // content
            vec![("a.txt", "ab"), ("c.txt", "c")],   // name
            vec![("a.txt", "a"), ("b.txt", "bc")],   // same bytes, other split
            vec![("a.txt", "ab"), ("x/b.txt", "c")], // folder
        ]
        .into_iter()
        .enumerate()
        {
            let other = dir.path().join(format!("other-{i}"));
            tree(&other, &files);
            assert_ne!(digest_path(&other).unwrap(), d, "case {i}: {files:?}");
        }
    }

    #[test]
    fn a_single_file_and_a_missing_path() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("model.json");
        std::fs::write(&f, "{}").unwrap();
        assert_eq!(digest_path(&f).unwrap().len(), 64);
        assert_eq!(
            digest_file(&f).unwrap(),
            hex(&Sha256::digest(b"{}")),
            "digest_file is the plain sha256"
        );
        assert!(digest_path(&dir.path().join("gone")).is_err());
    }

    fn artifact(uri: &Path, metadata: Map<String, Value>) -> BTreeMap<String, RuntimeArtifact> {
        let a = RuntimeArtifact {
            name: "dataset".into(),
            uri: uri.display().to_string(),
            metadata,
            ..RuntimeArtifact::default()
        };
        [("dataset".to_string(), a)].into_iter().collect()
    }

    fn key(artifacts: &BTreeMap<String, RuntimeArtifact>, digests: &ArtifactDigests) -> String {
        let params = [("seed".to_string(), Value::from(7))].into_iter().collect();
        let hashing = Hashing {
            binary: "binary",
            digests,
            local_path: &local_path,
        };
        cache_key(&IrComponent::default(), None, &params, artifacts, &hashing).unwrap()
    }

    #[test]
    fn the_key_follows_artifact_content_not_uri() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("job-1/data"), dir.path().join("job-2/data"));
        tree(&a, &[("data.csv", "x,y\n1,0\n")]);
        tree(&b, &[("data.csv", "x,y\n1,0\n")]);
        let digests = ArtifactDigests::default();
        let k1 = key(&artifact(&a, Map::new()), &digests);
        assert_eq!(
            k1,
            key(&artifact(&b, Map::new()), &digests),
            "same bytes, new job"
        );
        tree(&b, &[("data.csv", "x,y\n1,0\n2,1\n")]);
        let fresh = ArtifactDigests::default();
        assert_ne!(k1, key(&artifact(&b, Map::new()), &fresh), "changed bytes");
        let mut meta = Map::new();
        meta.insert("rows".into(), Value::from(1));
        assert_ne!(
            k1,
            key(&artifact(&a, meta), &fresh),
            "metadata is input too"
        );
    }

    #[test]
    fn a_digest_is_computed_once_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("data");
        tree(&a, &[("data.csv", "1")]);
        let digests = ArtifactDigests::default();
        let uri = a.display().to_string();
        let first = digests.digest(&uri, &a).unwrap();
        // Changed on disk after the first read: the run keeps the digest it saw.
        tree(&a, &[("data.csv", "2")]);
        assert_eq!(digests.digest(&uri, &a).unwrap(), first);
        assert_ne!(ArtifactDigests::default().digest(&uri, &a).unwrap(), first);
    }

    #[test]
    fn a_missing_input_artifact_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let err = ArtifactDigests::default()
            .digest(&gone.display().to_string(), &gone)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("read input artifact") && err.contains("gone"),
            "{err}"
        );
    }

    #[test]
    fn cache_entries_whose_artifacts_are_gone_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        tree(&data, &[("f", "1")]);
        let outputs = TaskOutputs {
            parameters: BTreeMap::new(),
            artifacts: artifact(&data, Map::new()),
        };
        let entry = dir.path().join("k.json");
        std::fs::write(&entry, serde_json::to_string(&outputs).unwrap()).unwrap();
        let exists = |uri: &str| local_path(uri).exists();
        assert_eq!(read_cache(&entry, &exists), Some(outputs));
        std::fs::remove_dir_all(&data).unwrap();
        assert_eq!(read_cache(&entry, &exists), None);
        std::fs::write(&entry, "not json").unwrap();
        assert_eq!(read_cache(&entry, &exists), None);
    }
}
