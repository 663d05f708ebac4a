//! The local model registry: numbered versions of bundles and aliases (`champion`), laid out
//! like Vertex Model Registry. Updates are atomic: a version folder appears whole (copied into
//! a temporary folder, then renamed), and an alias file is replaced by rename only after the
//! version it names exists. `history` keeps earlier champions for `rollback`.
//!
//! ```text
//! <root>/<model>/versions/<n>/{model.json, metadata.json}
//! <root>/<model>/aliases.json      {"champion": 3}
//! <root>/<model>/history.json      [1, 3]   (champions, oldest first)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlops_domain::write_atomic;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::ModelBundle;

/// The alias moved by promotion.
pub const CHAMPION: &str = "champion";

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

impl LocalRegistry {
    /// A registry at `root` (created on first registration).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalRegistry { root: root.into() }
    }

    fn model_dir(&self, model: &str) -> PathBuf {
        self.root.join(model)
    }

    fn versions_dir(&self, model: &str) -> PathBuf {
        self.model_dir(model).join("versions")
    }

    /// Version numbers present, ascending.
    pub fn versions(&self, model: &str) -> Vec<u32> {
        let mut v: Vec<u32> = std::fs::read_dir(self.versions_dir(model))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Aliases and the versions they name.
    pub fn aliases(&self, model: &str) -> BTreeMap<String, u32> {
        std::fs::read_to_string(self.model_dir(model).join("aliases.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn history(&self, model: &str) -> Vec<u32> {
        std::fs::read_to_string(self.model_dir(model).join("history.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Folder of a version.
    pub fn version_path(&self, model: &str, version: u32) -> PathBuf {
        self.versions_dir(model).join(version.to_string())
    }

    /// Resolve `champion`, another alias, or a version number to its bundle folder.
    pub fn resolve(&self, model: &str, alias_or_version: &str) -> Result<PathBuf> {
        let version = match alias_or_version.parse::<u32>() {
            Ok(v) => v,
            Err(_) => *self.aliases(model).get(alias_or_version).ok_or_else(|| {
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
        let versions = self.versions_dir(model);
        std::fs::create_dir_all(&versions).map_err(io("create folder", &versions))?;
        let version = self.versions(model).last().copied().unwrap_or(0) + 1;
        let target = self.version_path(model, version);
        bundle.save(&target)?;
        Ok(version)
    }

    /// Point `alias` at `version` (which must exist). Moving `champion` records history.
    pub fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<()> {
        if !self.version_path(model, version).is_dir() {
            return Err(err(format!("model `{model}` has no version {version}")));
        }
        let mut aliases = self.aliases(model);
        let previous = aliases.insert(alias.to_string(), version);
        let mut history = self.history(model);
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
        write_atomic(dir.join("history.json"), history.as_bytes())?;
        let aliases = serde_json::to_string_pretty(aliases).unwrap_or_default();
        write_atomic(dir.join("aliases.json"), aliases.as_bytes())?;
        Ok(())
    }

    /// Make `version` the champion.
    pub fn promote(&self, model: &str, version: u32) -> Result<()> {
        self.set_alias(model, CHAMPION, version)
    }

    /// Move `champion` back to the previous champion; returns it.
    pub fn rollback(&self, model: &str) -> Result<u32> {
        let mut history = self.history(model);
        let current = self.aliases(model).get(CHAMPION).copied();
        if history.last().copied() == current {
            history.pop();
        }
        let Some(previous) = history.pop() else {
            return Err(err(format!(
                "model `{model}` has no earlier champion to roll back to"
            )));
        };
        let mut aliases = self.aliases(model);
        aliases.insert(CHAMPION.to_string(), previous);
        history.push(previous);
        self.write_state(model, &aliases, &history)?;
        Ok(previous)
    }

    /// Every version with its aliases and metrics.
    pub fn list(&self, model: &str) -> Result<Vec<VersionInfo>> {
        let aliases = self.aliases(model);
        self.versions(model)
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
            reg.aliases("churn").get(CHAMPION),
            Some(&1),
            "registering does not promote"
        );
        reg.promote("churn", v2).unwrap();
        assert_eq!(
            reg.resolve("churn", CHAMPION).unwrap(),
            reg.version_path("churn", 2)
        );
        assert_eq!(reg.rollback("churn").unwrap(), 1);
        assert_eq!(reg.aliases("churn").get(CHAMPION), Some(&1));
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
            reg.versions("churn").is_empty(),
            "a broken bundle must not become a version"
        );
        assert!(reg
            .rollback("churn")
            .unwrap_err()
            .to_string()
            .contains("no earlier champion"));
    }
}
