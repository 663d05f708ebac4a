//! The local model registry: numbered versions of bundles and aliases (`champion`), laid out
//! like Vertex Model Registry. Updates are atomic: a version folder appears whole (copied into
//! a temporary folder, then renamed), and an alias file is replaced by rename only after the
//! version it names exists. `history` keeps earlier champions for `rollback`.
//!
//! Every update (a new version number, an alias move) happens under an exclusive lock on
//! `<root>/<model>/.lock` (`File::lock`, an advisory `flock`), so concurrent pipeline runs on
//! one machine neither allocate the same version nor promote past a champion they did not
//! compare against ([`LocalRegistry::register_if_champion`]). The lock is per host: a registry
//! shared by several machines (a `/gcs/` mount) needs Vertex Model Registry's own checks.
//!
//! Reads fail closed: only a missing `aliases.json` (or model folder) means "no champion"; an
//! unreadable or malformed file, or an alias naming a missing version, is an error, never
//! silently "no aliases".
//!
//! ```text
//! <root>/<model>/versions/<n>/{model.json, metadata.json}
//! <root>/<model>/aliases.json      {"champion": 3}
//! <root>/<model>/history.json      [1, 3]   (champions, oldest first)
//! <root>/<model>/.lock             (empty; held while the registry is updated)
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use mlops_domain::write_atomic;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::ModelBundle;

/// The alias moved by promotion.
pub const CHAMPION: &str = "champion";

/// File holding the aliases of a model.
pub const ALIASES_FILE: &str = "aliases.json";
/// File holding the champions of a model, oldest first.
pub const HISTORY_FILE: &str = "history.json";
/// Lock file held during updates.
pub const LOCK_FILE: &str = ".lock";

/// A registry rooted at a folder.
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    root: PathBuf,
}

/// A version as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version number (1, 2, ...).
    pub version: u32,
    /// Aliases pointing at it.
    pub aliases: Vec<String>,
    /// Creation time of the bundle.
    pub created_at: String,
    /// Test metrics recorded in the bundle.
    pub metrics: BTreeMap<String, f64>,
    /// Bundle folder.
    pub path: String,
}

/// What [`LocalRegistry::register_if_champion`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The new version's number.
    pub version: u32,
    /// Whether `champion` now names the new version.
    pub promoted: bool,
    /// The champion found under the lock, before any move.
    pub champion_before: Option<u32>,
}

fn err(message: String) -> ModelError {
    ModelError::Mismatch(message)
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ModelError + 'a {
    move |source| {
        ModelError::Domain(mlops_domain::DomainError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Read a JSON state file; `Ok(None)` only when the file does not exist.
fn read_state_file<T: DeserializeOwned>(path: &Path, expected: &'static str) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ModelError::RegistryState {
                path: path.to_path_buf(),
                problem: format!("cannot be read ({e})"),
                expected,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ModelError::RegistryState {
            path: path.to_path_buf(),
            problem: format!("is not valid ({e})"),
            expected,
        })
}

const ALIASES_SHAPE: &str =
    "a JSON object of alias names to version numbers, e.g. {\"champion\": 3}";
const HISTORY_SHAPE: &str = "a JSON array of version numbers, oldest champion first, e.g. [1, 3]";

/// The exclusive update lock of one model; released when dropped (closing the file releases
/// the `flock`, also when the process dies, so a crash never leaves a stale lock).
#[derive(Debug)]
struct UpdateLock {
    _file: File,
}

impl LocalRegistry {
    /// A registry at `root` (created on first registration).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalRegistry { root: root.into() }
    }

    /// The registry's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn model_dir(&self, model: &str) -> PathBuf {
        self.root.join(model)
    }

    fn versions_dir(&self, model: &str) -> PathBuf {
        self.model_dir(model).join("versions")
    }

    /// Take the model's update lock, waiting for another holder to finish.
    fn lock(&self, model: &str) -> Result<UpdateLock> {
        let dir = self.model_dir(model);
        std::fs::create_dir_all(&dir).map_err(io("create folder", &dir))?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open lock file", &path))?;
        file.lock().map_err(io("lock", &path))?;
        Ok(UpdateLock { _file: file })
    }

    /// Version numbers present, ascending (none when the model has no versions folder); an
    /// unreadable versions folder is an error, never "no versions" (a version number allocated
    /// without seeing every version could be reused).
    pub fn versions(&self, model: &str) -> Result<Vec<u32>> {
        let dir = self.versions_dir(model);
        let entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("list", &dir)(e)),
        };
        let mut v = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("list", &dir))?;
            // Temporary folders of an interrupted save (`.3.tmp-…`) are not versions.
            if let Some(n) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                v.push(n);
            }
        }
        v.sort_unstable();
        Ok(v)
    }

    /// Aliases and the versions they name; empty only when `aliases.json` does not exist.
    pub fn aliases(&self, model: &str) -> Result<BTreeMap<String, u32>> {
        let path = self.model_dir(model).join(ALIASES_FILE);
        Ok(read_state_file(&path, ALIASES_SHAPE)?.unwrap_or_default())
    }

    /// Earlier champions, oldest first; empty only when `history.json` does not exist.
    pub fn history(&self, model: &str) -> Result<Vec<u32>> {
        let path = self.model_dir(model).join(HISTORY_FILE);
        Ok(read_state_file(&path, HISTORY_SHAPE)?.unwrap_or_default())
    }

    /// The champion version, after checking the whole alias state: `Ok(None)` only when the
    /// model has no `champion` alias (no `aliases.json`, or no model folder). An unreadable
    /// `aliases.json` or `history.json`, or a champion naming a missing version, is an error.
    pub fn champion(&self, model: &str) -> Result<Option<u32>> {
        let aliases = self.aliases(model)?;
        self.history(model)?;
        let Some(&version) = aliases.get(CHAMPION) else {
            return Ok(None);
        };
        let path = self.version_path(model, version);
        if !path.join(crate::METADATA_FILE).is_file() {
            return Err(ModelError::RegistryState {
                path: self.model_dir(model).join(ALIASES_FILE),
                problem: format!(
                    "names {CHAMPION} version {version}, but {} holds no bundle",
                    path.display()
                ),
                expected: "every alias to name a registered version",
            });
        }
        Ok(Some(version))
    }

    /// Folder of a version.
    pub fn version_path(&self, model: &str, version: u32) -> PathBuf {
        self.versions_dir(model).join(version.to_string())
    }

    /// Resolve `champion`, another alias, or a version number to its bundle folder.
    pub fn resolve(&self, model: &str, alias_or_version: &str) -> Result<PathBuf> {
        let version = match alias_or_version.parse::<u32>() {
            Ok(v) => v,
            Err(_) => *self.aliases(model)?.get(alias_or_version).ok_or_else(|| {
                err(format!(
                    "model `{model}` has no alias `{alias_or_version}` in registry {}",
                    self.root.display()
                ))
            })?,
        };
        let path = self.version_path(model, version);
        if path.is_dir() {
            Ok(path)
        } else {
            Err(err(format!(
                "model `{model}` has no version {version} in registry {}",
                self.root.display()
            )))
        }
    }

    /// Register a bundle as a new version; returns its number. The bundle is checked by
    /// loading it first, so a broken bundle is never registered.
    pub fn register(&self, model: &str, bundle_dir: &Path) -> Result<u32> {
        let bundle = ModelBundle::load(bundle_dir)?;
        let _lock = self.lock(model)?;
        self.add_version(model, &bundle)
    }

    /// Allocate the next number and save the bundle there; the caller holds the lock.
    fn add_version(&self, model: &str, bundle: &ModelBundle) -> Result<u32> {
        let versions = self.versions_dir(model);
        std::fs::create_dir_all(&versions).map_err(io("create folder", &versions))?;
        let version = self.versions(model)?.last().copied().unwrap_or(0) + 1;
        bundle.save(self.version_path(model, version))?;
        Ok(version)
    }

    /// Register a bundle and make it champion only if `champion` still names
    /// `compared_against` (`None`: the registry had no champion), all under the update lock.
    /// This is the compare-and-swap that keeps concurrent runs from promoting a candidate
    /// over a champion it was never compared with: when the champion moved in between, the
    /// version is registered without the alias and [`Registration::promoted`] is false.
    ///
    /// The registry's state is checked before anything is written, so a corrupt
    /// `aliases.json` or `history.json` fails the call with nothing registered.
    pub fn register_if_champion(
        &self,
        model: &str,
        bundle_dir: &Path,
        compared_against: Option<u32>,
    ) -> Result<Registration> {
        let bundle = ModelBundle::load(bundle_dir)?;
        let _lock = self.lock(model)?;
        let champion_before = self.champion(model)?;
        let version = self.add_version(model, &bundle)?;
        let promoted = champion_before == compared_against;
        if promoted {
            self.move_alias(model, CHAMPION, version)?;
        }
        Ok(Registration {
            version,
            promoted,
            champion_before,
        })
    }

    /// Point `alias` at `version` (which must exist). Moving `champion` records history.
    pub fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<()> {
        let _lock = self.lock(model)?;
        self.move_alias(model, alias, version)
    }

    /// [`Self::set_alias`] without taking the lock (the caller holds it).
    fn move_alias(&self, model: &str, alias: &str, version: u32) -> Result<()> {
        if !self.version_path(model, version).is_dir() {
            return Err(err(format!("model `{model}` has no version {version}")));
        }
        let mut aliases = self.aliases(model)?;
        let mut history = self.history(model)?;
        let previous = aliases.insert(alias.to_string(), version);
        if alias == CHAMPION && previous != Some(version) {
            history.push(version);
        }
        self.write_state(model, &aliases, &history)
    }

    /// Write history, then aliases (each atomically).
    fn write_state(
        &self,
        model: &str,
        aliases: &BTreeMap<String, u32>,
        history: &[u32],
    ) -> Result<()> {
        let dir = self.model_dir(model);
        let history = serde_json::to_string(history).unwrap_or_default();
        write_atomic(dir.join(HISTORY_FILE), history.as_bytes())?;
        let aliases = serde_json::to_string_pretty(aliases).unwrap_or_default();
        write_atomic(dir.join(ALIASES_FILE), aliases.as_bytes())?;
        Ok(())
    }

    /// Make `version` the champion.
    pub fn promote(&self, model: &str, version: u32) -> Result<()> {
        self.set_alias(model, CHAMPION, version)
    }

    /// Move `champion` back to the previous champion; returns it.
    pub fn rollback(&self, model: &str) -> Result<u32> {
        let _lock = self.lock(model)?;
        let mut history = self.history(model)?;
        let mut aliases = self.aliases(model)?;
        let current = aliases.get(CHAMPION).copied();
        if history.last().copied() == current {
            history.pop();
        }
        let Some(previous) = history.pop() else {
            return Err(err(format!(
                "model `{model}` has no earlier champion to roll back to"
            )));
        };
        aliases.insert(CHAMPION.to_string(), previous);
        history.push(previous);
        self.write_state(model, &aliases, &history)?;
        Ok(previous)
    }

    /// Every version with its aliases and metrics.
    pub fn list(&self, model: &str) -> Result<Vec<VersionInfo>> {
        let aliases = self.aliases(model)?;
        self.versions(model)?
            .into_iter()
            .map(|v| {
                let path = self.version_path(model, v);
                let bundle = ModelBundle::load(&path)?;
                Ok(VersionInfo {
                    version: v,
                    aliases: aliases
                        .iter()
                        .filter(|(_, &n)| n == v)
                        .map(|(a, _)| a.clone())
                        .collect(),
                    created_at: bundle.metadata.created_at.clone(),
                    metrics: bundle.metadata.training.test_metrics.clone(),
                    path: path.display().to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../mlops-serving/tests/fixtures/churn_model")
    }

    #[test]
    fn register_promote_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::new(dir.path());
        assert!(reg.resolve("churn", CHAMPION).is_err());
        let v1 = reg.register("churn", &fixture()).unwrap();
        reg.promote("churn", v1).unwrap();
        let v2 = reg.register("churn", &fixture()).unwrap();
        assert_eq!((v1, v2), (1, 2));
        assert_eq!(
            reg.aliases("churn").unwrap().get(CHAMPION),
            Some(&1),
            "registering does not promote"
        );
        reg.promote("churn", v2).unwrap();
        assert_eq!(
            reg.resolve("churn", CHAMPION).unwrap(),
            reg.version_path("churn", 2)
        );
        assert_eq!(reg.rollback("churn").unwrap(), 1);
        assert_eq!(reg.aliases("churn").unwrap().get(CHAMPION), Some(&1));
        let listed = reg.list("churn").unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].aliases, vec![CHAMPION.to_string()]);
        assert!(listed[0].metrics.contains_key("auc"));
    }

    #[test]
    fn an_alias_never_names_a_missing_version_and_broken_bundles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::new(dir.path());
        let err = reg.promote("churn", 7).unwrap_err().to_string();
        assert!(err.contains("no version 7"), "{err}");
        assert!(!dir.path().join("churn/aliases.json").exists());
        let broken = dir.path().join("broken");
        std::fs::create_dir(&broken).unwrap();
        std::fs::write(broken.join("metadata.json"), "{").unwrap();
        assert!(reg.register("churn", &broken).is_err());
        assert!(
            reg.versions("churn").unwrap().is_empty(),
            "a broken bundle must not become a version"
        );
        assert!(reg
            .rollback("churn")
            .unwrap_err()
            .to_string()
            .contains("no earlier champion"));
    }

    /// A registry with version 1 as champion, for the fail-closed cases.
    fn with_champion() -> (tempfile::TempDir, LocalRegistry) {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::new(dir.path());
        let v1 = reg.register("churn", &fixture()).unwrap();
        reg.promote("churn", v1).unwrap();
        (dir, reg)
    }

    #[test]
    fn only_an_absent_alias_file_means_no_champion() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::new(dir.path());
        assert_eq!(reg.champion("churn").unwrap(), None, "no model folder");
        reg.register("churn", &fixture()).unwrap();
        assert_eq!(reg.champion("churn").unwrap(), None, "no aliases.json");
        reg.promote("churn", 1).unwrap();
        assert_eq!(reg.champion("churn").unwrap(), Some(1));
    }

    #[test]
    fn a_corrupt_alias_file_is_an_error_naming_it_and_nothing_is_registered() {
        let (dir, reg) = with_champion();
        let aliases = dir.path().join("churn").join(ALIASES_FILE);
        std::fs::write(&aliases, "{\"champion\": ").unwrap();
        let e = reg.champion("churn").unwrap_err().to_string();
        assert!(
            e.contains("aliases.json") && e.contains("is not valid") && e.contains("expected"),
            "{e}"
        );
        let e = reg
            .register_if_champion("churn", &fixture(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("aliases.json"), "{e}");
        assert_eq!(reg.versions("churn").unwrap(), [1], "nothing registered");
        assert!(reg.resolve("churn", CHAMPION).is_err());
        assert!(
            reg.promote("churn", 1).is_err(),
            "no write over a corrupt file"
        );
        assert_eq!(
            std::fs::read_to_string(&aliases).unwrap(),
            "{\"champion\": ",
            "the corrupt file is left for a human to inspect"
        );
    }

    #[test]
    fn an_alias_naming_a_missing_version_is_an_error() {
        let (dir, reg) = with_champion();
        std::fs::write(
            dir.path().join("churn").join(ALIASES_FILE),
            "{\"champion\": 7}",
        )
        .unwrap();
        let e = reg.champion("churn").unwrap_err().to_string();
        assert!(
            e.contains("champion version 7") && e.contains("aliases.json"),
            "{e}"
        );
        assert!(reg
            .register_if_champion("churn", &fixture(), Some(7))
            .is_err());
        assert_eq!(reg.versions("churn").unwrap(), [1], "nothing registered");
    }

    #[test]
    fn an_unreadable_history_is_an_error_and_nothing_is_registered() {
        let (dir, reg) = with_champion();
        let history = dir.path().join("churn").join(HISTORY_FILE);
        // A folder in place of the file: unreadable even when the tests run as root.
        std::fs::remove_file(&history).unwrap();
        std::fs::create_dir(&history).unwrap();
        let e = reg.champion("churn").unwrap_err().to_string();
        assert!(
            e.contains("history.json") && e.contains("cannot be read"),
            "{e}"
        );
        assert!(reg
            .register_if_champion("churn", &fixture(), Some(1))
            .is_err());
        assert_eq!(reg.versions("churn").unwrap(), [1], "nothing registered");
        assert!(reg.rollback("churn").is_err());
    }

    #[test]
    fn the_champion_moves_only_if_it_is_still_the_one_compared_against() {
        let (_dir, reg) = with_champion();
        let r = reg
            .register_if_champion("churn", &fixture(), Some(1))
            .unwrap();
        assert_eq!(
            r,
            Registration {
                version: 2,
                promoted: true,
                champion_before: Some(1)
            }
        );
        // Compared against version 1, but version 2 is champion now: registered, not promoted.
        let r = reg
            .register_if_champion("churn", &fixture(), Some(1))
            .unwrap();
        assert_eq!(
            (r.version, r.promoted, r.champion_before),
            (3, false, Some(2))
        );
        let r = reg.register_if_champion("churn", &fixture(), None).unwrap();
        assert_eq!((r.version, r.promoted), (4, false));
        assert_eq!(reg.champion("churn").unwrap(), Some(2));
        assert_eq!(reg.history("churn").unwrap(), [1, 2]);
    }

    /// Many runs at once, each promoting only over the champion it read: every promotion's
    /// `champion_before` equals what that run compared against, the history is exactly the
    /// chain of promotions, and version numbers are 1..=N with none lost or duplicated.
    #[test]
    fn concurrent_registrations_never_skip_a_champion_nor_reuse_a_version() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 3;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let results: Vec<(Option<u32>, Registration)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let reg = LocalRegistry::new(&root);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for _ in 0..ROUNDS {
                            // As compare_champion does: read the champion, then (later) register.
                            let compared = reg.champion("churn").unwrap();
                            std::thread::yield_now();
                            let r = reg.register_if_champion("churn", &fixture(), compared);
                            out.push((compared, r.unwrap()));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let reg = LocalRegistry::new(&root);
        let n = (THREADS * ROUNDS) as u32;
        let mut versions: Vec<u32> = results.iter().map(|(_, r)| r.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=n).collect::<Vec<_>>());
        assert_eq!(reg.versions("churn").unwrap(), (1..=n).collect::<Vec<_>>());
        let mut promotions: Vec<&(Option<u32>, Registration)> =
            results.iter().filter(|(_, r)| r.promoted).collect();
        promotions.sort_by_key(|(_, r)| r.version);
        assert!(!promotions.is_empty());
        let mut champion = None;
        for (compared, r) in &promotions {
            assert_eq!(*compared, r.champion_before, "{r:?}");
            assert_eq!(
                r.champion_before, champion,
                "promoted past an unseen champion"
            );
            champion = Some(r.version);
        }
        assert_eq!(reg.champion("churn").unwrap(), champion);
        let chain: Vec<u32> = promotions.iter().map(|(_, r)| r.version).collect();
        assert_eq!(reg.history("churn").unwrap(), chain);
        for (compared, r) in &results {
            if !r.promoted {
                assert_ne!(
                    *compared, r.champion_before,
                    "{r:?} should have been promoted"
                );
            }
        }
    }
}
