//! The executor input a component receives through `{{$}}` and the executor output it writes
//! to `outputs.outputFile` (proto3 JSON names, as KFP and Vertex AI use them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `ExecutorInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorInput {
    /// Input values.
    #[serde(default)]
    pub inputs: Inputs,
    /// Where outputs go.
    #[serde(default)]
    pub outputs: Outputs,
}

/// `ExecutorInput.Inputs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    /// Parameter values by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameter_values: BTreeMap<String, Value>,
    /// Artifacts by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactList>,
}

/// `ExecutorInput.Outputs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    /// Output parameters by name, each with the file it may be written to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, OutputParameter>,
    /// Output artifacts by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactList>,
    /// Where to write the [`ExecutorOutput`].
    #[serde(default)]
    pub output_file: String,
}

/// `ExecutorInput.OutputParameter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputParameter {
    /// File for the value.
    pub output_file: String,
}

/// A list of artifacts (one for non-list ports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactList {
    /// The artifacts.
    pub artifacts: Vec<RuntimeArtifact>,
}

/// `RuntimeArtifact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeArtifact {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Type.
    #[serde(rename = "type", default)]
    pub artifact_type: ArtifactTypeJson,
    /// URI (`gs://…` on Vertex, a local path here).
    #[serde(default)]
    pub uri: String,
    /// Metadata (metric values, …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// `ArtifactTypeSchema` as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactTypeJson {
    /// e.g. `system.Model`.
    #[serde(default)]
    pub schema_title: String,
    /// `0.0.1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub schema_version: String,
}

/// `ExecutorOutput`: output parameter values and artifact metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorOutput {
    /// Output parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameter_values: BTreeMap<String, Value>,
    /// Output artifacts (with metadata).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactList>,
}
