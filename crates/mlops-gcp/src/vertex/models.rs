//! Vertex AI Model Registry: model versions and their aliases.

use std::collections::BTreeMap;

use google_cloud_aiplatform_v1::client::ModelService;
use google_cloud_aiplatform_v1::model::{
    EnvVar, Model, ModelContainerSpec, Port, UploadModelRequest,
};
use google_cloud_lro::Poller;

use super::{full_name, vertex_client};

use crate::client::{api_error, Gcp};
use crate::error::{GcpError, Result};
use crate::DryRun;

/// A new model version to register.
#[derive(Debug, Clone, Default)]
pub struct ModelUpload {
    /// Display name of the model (all versions share it): `{prefix}_churn`.
    pub display_name: String,
    /// The existing model to add a version to (`projects/../models/ID`), or `None` for the
    /// first version.
    pub parent_model: Option<String>,
    /// Folder of the bundle in Cloud Storage (`gs://bucket/models/churn/3`).
    pub artifact_uri: String,
    /// Serving image (`{region}-docker.pkg.dev/{project}/{repo}/{image}:{sha}`).
    pub image_uri: String,
    /// Entrypoint of the serving container.
    pub command: Vec<String>,
    /// Environment of the serving container.
    pub env: BTreeMap<String, String>,
    /// Port the server listens on.
    pub port: i32,
    /// Prediction route.
    pub predict_route: String,
    /// Health route.
    pub health_route: String,
    /// Version description (the metrics summary).
    pub version_description: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Aliases given to the new version at upload (none: aliases move after the upload
    /// succeeded, see [`Gcp::merge_version_aliases`]).
    pub version_aliases: Vec<String>,
}

/// One model version in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    /// Model resource name (`projects/../models/ID`).
    pub model: String,
    /// Version id (`1`, `2`, ...).
    pub version_id: String,
    /// Display name.
    pub display_name: String,
    /// Aliases on this version (`default`, `champion`).
    pub aliases: Vec<String>,
    /// Bundle folder.
    pub artifact_uri: String,
    /// When the version was created (RFC 3339), if known.
    pub created: Option<String>,
    /// Version description.
    pub description: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl ModelVersion {
    fn from_message(m: &Model) -> ModelVersion {
        // `name` may carry `@version`; the version id is also a field.
        let model = m.name.split('@').next().unwrap_or(&m.name).to_string();
        ModelVersion {
            model,
            version_id: m.version_id.clone(),
            display_name: m.display_name.clone(),
            aliases: m.version_aliases.clone(),
            artifact_uri: m.artifact_uri.clone(),
            created: m
                .version_create_time
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_string)),
            description: m.version_description.clone(),
            labels: m
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// `projects/../models/ID@VERSION`: the name of exactly this version.
    pub fn versioned_name(&self) -> String {
        format!("{}@{}", self.model, self.version_id)
    }
}

impl ModelUpload {
    fn to_message(&self, parent: &str) -> UploadModelRequest {
        let mut container = ModelContainerSpec::default();
        container.image_uri = self.image_uri.clone();
        container.command = self.command.clone();
        container.env = self
            .env
            .iter()
            .map(|(k, v)| {
                let mut e = EnvVar::default();
                e.name = k.clone();
                e.value = v.clone();
                e
            })
            .collect();
        let mut port = Port::default();
        port.container_port = self.port;
        container.ports = vec![port];
        container.predict_route = self.predict_route.clone();
        container.health_route = self.health_route.clone();
        let mut model = Model::default();
        model.display_name = self.display_name.clone();
        model.artifact_uri = self.artifact_uri.clone();
        model.container_spec = Some(container);
        model.version_description = self.version_description.clone();
        model.version_aliases = self.version_aliases.clone();
        model.labels = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut request = UploadModelRequest::default();
        request.parent = parent.to_string();
        request.parent_model = self.parent_model.clone().unwrap_or_default();
        request.model = Some(model);
        request
    }
}

impl Gcp {
    fn models(&self) -> Result<&ModelService> {
        vertex_client!(self, models, ModelService, "Vertex AI models")
    }

    /// Upload a new model version and wait for the operation; returns the version.
    pub fn upload_model(&self, upload: &ModelUpload) -> Result<ModelVersion> {
        let parent = self.config.location();
        let message = upload.to_message(&parent);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.models.upload",
                &parent,
                &message,
            )
            .print();
            return Ok(ModelVersion {
                model: upload
                    .parent_model
                    .clone()
                    .unwrap_or_else(|| full_name(self, "models", "DRY_RUN")),
                version_id: "DRY_RUN".into(),
                display_name: upload.display_name.clone(),
                aliases: upload.version_aliases.clone(),
                artifact_uri: upload.artifact_uri.clone(),
                created: None,
                description: upload.version_description.clone(),
                labels: upload.labels.clone(),
            });
        }
        let client = self.models()?;
        let response = self
            .block(
                self.options(client.upload_model())
                    .with_request(message)
                    .poller()
                    .until_done(),
            )
            .map_err(|e| api_error("upload model", &parent, e))?;
        if response.model.is_empty() {
            return Err(GcpError::Failed {
                action: "upload model",
                resource: parent,
                message: "the operation finished without naming the model".into(),
            });
        }
        let versioned = format!("{}@{}", response.model, response.model_version_id);
        self.model_version(&versioned)
    }

    /// One version: `projects/../models/ID@VERSION` or `@ALIAS`, or the default version.
    pub fn model_version(&self, name: &str) -> Result<ModelVersion> {
        let name = full_name(self, "models", name);
        let client = self.models()?;
        let model = self
            .block(self.options(client.get_model()).set_name(&name).send())
            .map_err(|e| api_error("get model", &name, e))?;
        Ok(ModelVersion::from_message(&model))
    }

    /// The model with this display name (its default version), if any. Two models with the
    /// same display name are an error: which one is meant cannot be told.
    pub fn find_model(&self, display_name: &str) -> Result<Option<ModelVersion>> {
        let parent = self.config.location();
        let client = self.models()?;
        let filter = format!("display_name=\"{display_name}\"");
        let page = self
            .block(
                self.options(client.list_models())
                    .set_parent(&parent)
                    .set_filter(&filter)
                    .send(),
            )
            .map_err(|e| api_error("list models", &parent, e))?;
        let found: Vec<ModelVersion> = page
            .models
            .iter()
            .filter(|m| m.display_name == display_name)
            .map(ModelVersion::from_message)
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(GcpError::Failed {
                action: "find model",
                resource: display_name.to_string(),
                message: format!(
                    "{} models share this display name ({}); keep one or set MODEL_NAME_PREFIX",
                    found.len(),
                    found
                        .iter()
                        .map(|m| m.model.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Every version of a model, oldest first.
    pub fn model_versions(&self, model: &str) -> Result<Vec<ModelVersion>> {
        let name = full_name(self, "models", model);
        let client = self.models()?;
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .block(
                    self.options(client.list_model_versions())
                        .set_name(&name)
                        .set_page_token(&token)
                        .send(),
                )
                .map_err(|e| api_error("list model versions", &name, e))?;
            out.extend(page.models.iter().map(ModelVersion::from_message));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        out.sort_by_key(|v| v.version_id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(out)
    }

    /// Add (`alias`) or remove (`-alias`) aliases on one version; an alias added here leaves
    /// the version that had it (`models.mergeVersionAliases`).
    pub fn merge_version_aliases(
        &self,
        versioned_name: &str,
        aliases: &[String],
    ) -> Result<ModelVersion> {
        let name = full_name(self, "models", versioned_name);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.models.mergeVersionAliases",
                &name,
                &serde_json::json!({"versionAliases": aliases}),
            )
            .print();
            return Ok(ModelVersion {
                model: name.split('@').next().unwrap_or(&name).to_string(),
                version_id: name.rsplit('@').next().unwrap_or_default().to_string(),
                display_name: String::new(),
                aliases: aliases.to_vec(),
                artifact_uri: String::new(),
                created: None,
                description: String::new(),
                labels: BTreeMap::new(),
            });
        }
        let client = self.models()?;
        let model = self
            .block(
                self.options(client.merge_version_aliases())
                    .set_name(&name)
                    .set_version_aliases(aliases.iter().cloned())
                    .send(),
            )
            .map_err(|e| api_error("move model aliases", &name, e))?;
        Ok(ModelVersion::from_message(&model))
    }

    /// Delete one version (used to undo an upload whose alias could not be set).
    pub fn delete_model_version(&self, versioned_name: &str) -> Result<()> {
        let name = full_name(self, "models", versioned_name);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.models.deleteVersion",
                &name,
                &serde_json::Value::Null,
            )
            .print();
            return Ok(());
        }
        let client = self.models()?;
        self.block(
            self.options(client.delete_model_version())
                .set_name(&name)
                .poller()
                .until_done(),
        )
        .map_err(|e| api_error("delete model version", &name, e))
    }
}
