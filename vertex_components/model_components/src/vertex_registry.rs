//! The Vertex AI Model Registry as `compare_champion` and `register_model` use it (cargo
//! feature `gcp`; the registry parameter `vertex://projects/{p}/locations/{r}`).
//!
//! A version's bundle stays where the pipeline wrote it (its `gs://` Model artifact), so the
//! registry's `artifactUri` is that folder and nothing is copied. Vertex has no
//! compare-and-swap on aliases: the champion is read again just before the alias moves, and
//! the alias moves only if it is still the one `compare_champion` compared against (the
//! window between that read and the move is a single request). The alias moves only after the
//! upload's operation succeeded, so it never names a version that does not exist; if the move
//! fails, the new version is deleted again and the step fails.

use std::path::Path;

use mlops_gcp::vertex::{ModelUpload, ModelVersion};
use mlops_gcp::{Gcp, GcpConfig, GcpError};
use mlops_model::{ModelBundle, Registration, CHAMPION};
use mlops_pipeline::component::{ComponentError, StepContext};

/// The alias of the version `champion` last left (where `mlops models rollback` goes).
pub const PREVIOUS_CHAMPION: &str = "previous-champion";

/// A `vertex://` registry.
pub struct VertexRegistry {
    gcp: Gcp,
    uri: String,
}

/// `vertex://projects/{p}/locations/{r}` → (p, r).
pub fn parse_uri(uri: &str) -> Result<(String, String), ComponentError> {
    let parts: Vec<&str> = uri
        .strip_prefix("vertex://")
        .unwrap_or_default()
        .split('/')
        .collect();
    match parts.as_slice() {
        ["projects", p, "locations", r] if !p.is_empty() && !r.is_empty() => {
            Ok((p.to_string(), r.to_string()))
        }
        _ => Err(ComponentError::invalid_input(
            "registry",
            format!("`{uri}`"),
            "a folder or vertex://projects/{project}/locations/{region}",
        )),
    }
}

impl VertexRegistry {
    /// Connect to the registry `uri` names (endpoints and credentials from the environment).
    pub fn open(uri: &str) -> Result<VertexRegistry, ComponentError> {
        let (project, region) = parse_uri(uri)?;
        let gcp = Gcp::new(GcpConfig::from_env(project, region))
            .step("connect to the Vertex AI Model Registry")?;
        Ok(VertexRegistry {
            gcp,
            uri: uri.to_string(),
        })
    }

    fn model(&self, name: &str) -> Result<Option<ModelVersion>, ComponentError> {
        self.gcp
            .find_model(name)
            .step_with(|| format!("find model `{name}` in {}", self.uri))
    }

    /// The champion's version and bundle folder, or `None` when the model or the alias does
    /// not exist yet. Any other failure is an error (fail closed).
    pub fn champion(&self, name: &str) -> Result<Option<(u32, String)>, ComponentError> {
        let Some(model) = self.model(name)? else {
            return Ok(None);
        };
        match self
            .gcp
            .model_version(&format!("{}@{CHAMPION}", model.model))
        {
            Ok(v) => Ok(Some((version_number(&v)?, v.artifact_uri))),
            Err(GcpError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e).step_with(|| format!("read the {CHAMPION} of model `{name}`")),
        }
    }

    /// Load a bundle from its `gs://` folder: the `/gcs/` mount inside Vertex AI, else a
    /// download into `scratch`.
    pub fn load_bundle(
        &self,
        artifact_uri: &str,
        scratch: &Path,
    ) -> Result<ModelBundle, ComponentError> {
        let local = mlops_pipeline::component::local_path(artifact_uri);
        if local.is_dir() {
            return ModelBundle::load(&local)
                .step_with(|| format!("load the bundle {artifact_uri}"));
        }
        let (bucket, prefix) = split_gs(artifact_uri)?;
        self.gcp
            .download_prefix(&bucket, &prefix, scratch)
            .step_with(|| format!("download the bundle {artifact_uri}"))?;
        ModelBundle::load(scratch).step_with(|| format!("load the bundle {artifact_uri}"))
    }

    /// Upload the bundle at `artifact_uri` as a new version of `name` (served by `image`), and
    /// make it champion if the champion is still `compared`.
    pub fn register_if_champion(
        &self,
        name: &str,
        artifact_uri: &str,
        compared: Option<u32>,
        image: &str,
        description: &str,
    ) -> Result<Registration, ComponentError> {
        if !artifact_uri.starts_with("gs://") {
            return Err(ComponentError::Refused(format!(
                "the Vertex AI Model Registry serves bundles from Cloud Storage, and this one is at `{artifact_uri}`: run the pipeline with a gs:// pipeline root"
            )));
        }
        let existing = self.model(name)?;
        let upload = ModelUpload {
            display_name: name.to_string(),
            parent_model: existing.as_ref().map(|m| m.model.clone()),
            artifact_uri: artifact_uri.to_string(),
            image_uri: image.to_string(),
            command: vec!["mlops-serve".into()],
            env: Default::default(),
            port: 8080,
            predict_route: "/predict".into(),
            health_route: "/health".into(),
            version_description: description.to_string(),
            labels: [("managed-by".to_string(), "mlops-template".to_string())].into(),
            version_aliases: Vec::new(),
        };
        let version = self
            .gcp
            .upload_model(&upload)
            .step_with(|| format!("upload a new version of `{name}` to {}", self.uri))?;
        let number = version_number(&version)?;
        let champion_before = self.champion(name)?;
        let before = champion_before.as_ref().map(|c| c.0);
        let promoted = before == compared;
        if promoted {
            if let Err(e) = self.promote(&version, champion_before.as_ref().map(|c| c.0)) {
                // Undo: a version the pipeline could not finish registering is not left behind.
                let undo = self.gcp.delete_model_version(&version.versioned_name());
                return Err(e).step_with(|| match undo {
                    Ok(()) => format!(
                        "move {CHAMPION} to version {number} (the version was deleted again)"
                    ),
                    Err(u) => format!(
                        "move {CHAMPION} to version {number} (and deleting it again failed: {u})"
                    ),
                });
            }
        }
        Ok(Registration {
            version: number,
            promoted,
            champion_before: before,
        })
    }

    fn promote(&self, version: &ModelVersion, before: Option<u32>) -> Result<(), GcpError> {
        if let Some(old) = before {
            let old_name = format!("{}@{old}", version.model);
            self.gcp
                .merge_version_aliases(&old_name, &[PREVIOUS_CHAMPION.to_string()])?;
        }
        self.gcp
            .merge_version_aliases(&version.versioned_name(), &[CHAMPION.to_string()])?;
        Ok(())
    }
}

fn version_number(v: &ModelVersion) -> Result<u32, ComponentError> {
    v.version_id.parse().map_err(|_| {
        ComponentError::Refused(format!(
            "model {} has version id `{}`, expected a number",
            v.model, v.version_id
        ))
    })
}

fn split_gs(uri: &str) -> Result<(String, String), ComponentError> {
    uri.strip_prefix("gs://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(b, o)| (b.to_string(), o.trim_end_matches('/').to_string()))
        .filter(|(b, o)| !b.is_empty() && !o.is_empty())
        .ok_or_else(|| {
            ComponentError::invalid_input("artifact URI", format!("`{uri}`"), "gs://bucket/folder")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_uris_name_project_and_region() {
        assert_eq!(
            parse_uri("vertex://projects/p-1/locations/europe-west4").unwrap(),
            ("p-1".into(), "europe-west4".into())
        );
        for bad in [
            "vertex://projects/p",
            "vertex://p/r",
            "vertex://projects//locations/r",
        ] {
            assert!(parse_uri(bad).unwrap_err().to_string().contains(bad));
        }
    }
}
