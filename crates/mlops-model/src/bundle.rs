//! A model bundle on disk: a folder with `model.json` and `metadata.json`, written and replaced
//! as a whole (a reader never sees a half-written bundle) and checked for consistency on load.

use std::path::{Path, PathBuf};

use mlops_booster::{from_xgboost_json, to_xgboost_json};
use mlops_domain::{write_atomic, DomainError, ModelType};

use crate::error::{ModelError, Result};
use crate::estimator::{Estimator, LogisticModel};
use crate::metadata::{ModelMetadata, FORMAT_VERSION};
use crate::preprocess::Preprocessor;

/// File name of the metadata sidecar.
pub const METADATA_FILE: &str = "metadata.json";
/// File name of the model.
pub const MODEL_FILE: &str = "model.json";

/// A model with its metadata.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    /// The sidecar.
    pub metadata: ModelMetadata,
    /// The fitted estimator.
    pub estimator: Estimator,
}

fn invalid(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::InvalidFile {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Domain(DomainError::Io {
        action,
        path: path.to_path_buf(),
        source,
    })
}

impl ModelBundle {
    /// Bundle an estimator with its metadata, checking that they agree.
    pub fn new(metadata: ModelMetadata, estimator: Estimator) -> Result<Self> {
        check_consistency(&metadata, &estimator)?;
        Ok(ModelBundle {
            metadata,
            estimator,
        })
    }

    /// The learnt preprocessing.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.metadata.preprocessor
    }

    /// Probabilities for an encoded row-major matrix.
    pub fn predict_proba(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.estimator.predict_proba(x)
    }

    /// The model file's text.
    pub fn model_json(&self) -> Result<String> {
        Ok(match &self.estimator {
            Estimator::Trees { booster, .. } => to_xgboost_json(booster)?,
            Estimator::Logistic(m) => serde_json::to_string_pretty(m)
                .map_err(|e| invalid(Path::new(MODEL_FILE), e.to_string()))?,
        })
    }

    /// Write the bundle to `dir`, replacing any bundle there. Files are written into a
    /// temporary sibling folder which is then renamed into place.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let model = self.model_json()?;
        let metadata = serde_json::to_string_pretty(&self.metadata)
            .map_err(|e| invalid(&dir.join(METADATA_FILE), e.to_string()))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| io_err("create folder", &parent, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir_all(&temp).map_err(|e| io_err("create folder", &temp, e))?;
        let written = write_atomic(temp.join(&self.metadata.model_file), model.as_bytes())
            .and_then(|()| write_atomic(temp.join(METADATA_FILE), metadata.as_bytes()));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e.into());
        }
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old).map_err(|e| io_err("move aside", dir, e))?;
        }
        if let Err(e) = std::fs::rename(&temp, dir) {
            if had_old {
                let _ = std::fs::rename(&old, dir);
            }
            let _ = std::fs::remove_dir_all(&temp);
            return Err(io_err("rename into", dir, e));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    }

    /// Load and check a bundle folder.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let meta_path = dir.join(METADATA_FILE);
        let text =
            std::fs::read_to_string(&meta_path).map_err(|e| io_err("read", &meta_path, e))?;
        let metadata: ModelMetadata =
            serde_json::from_str(&text).map_err(|e| invalid(&meta_path, e.to_string()))?;
        if metadata.format_version != FORMAT_VERSION {
            return Err(invalid(
                &meta_path,
                format!(
                    "format_version is {}, this software reads version {FORMAT_VERSION}",
                    metadata.format_version
                ),
            ));
        }
        if metadata.model_file.contains('/') || metadata.model_file.contains("..") {
            return Err(invalid(
                &meta_path,
                format!(
                    "model_file `{}` must be a plain file name",
                    metadata.model_file
                ),
            ));
        }
        let model_path = dir.join(&metadata.model_file);
        let text =
            std::fs::read_to_string(&model_path).map_err(|e| io_err("read", &model_path, e))?;
        let estimator = match metadata.model_type {
            ModelType::BoostedTrees | ModelType::DecisionTree => Estimator::trees(
                from_xgboost_json(&text).map_err(|e| invalid(&model_path, e.to_string()))?,
            )?,
            ModelType::LogisticRegression => {
                let m: LogisticModel =
                    serde_json::from_str(&text).map_err(|e| invalid(&model_path, e.to_string()))?;
                m.validate().map_err(|e| invalid(&model_path, e))?;
                Estimator::Logistic(m)
            }
        };
        ModelBundle::new(metadata, estimator)
    }
}

fn check_consistency(metadata: &ModelMetadata, estimator: &Estimator) -> Result<()> {
    let expected = metadata.preprocessor.n_features();
    if metadata.feature_names != metadata.preprocessor.feature_names() {
        return Err(ModelError::Mismatch(
            "metadata.json feature_names do not follow its preprocessor's columns".into(),
        ));
    }
    if estimator.n_features() != expected {
        return Err(ModelError::Mismatch(format!(
            "the model expects {} features, metadata.json describes {expected}",
            estimator.n_features()
        )));
    }
    if let Estimator::Trees { booster, .. } = estimator {
        if !booster.feature_names.is_empty() {
            if let Some((i, (a, b))) = booster
                .feature_names
                .iter()
                .zip(&metadata.feature_names)
                .enumerate()
                .find(|(_, (a, b))| a != b)
            {
                return Err(ModelError::Mismatch(format!(
                    "feature {i} is `{a}` in the model but `{b}` in metadata.json"
                )));
            }
        }
    }
    Ok(())
}
