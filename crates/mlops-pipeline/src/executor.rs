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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The executor input of CONTRACTS.md §2, as KFP writes it.
    fn kfp_input() -> Value {
        json!({
            "inputs": {
                "parameterValues": {"threshold": 0.5},
                "artifacts": {"data": {"artifacts": [{
                    "name": "data",
                    "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"},
                    "uri": "gs://b/run/extract/data",
                    "metadata": {"rows": 3000}
                }]}}
            },
            "outputs": {
                "parameters": {"auc": {"outputFile": "/gcs/b/run/evaluate/auc"}},
                "artifacts": {"model": {"artifacts": [{
                    "name": "model",
                    "type": {"schemaTitle": "system.Model"},
                    "uri": "gs://b/run/train/model"
                }]}},
                "outputFile": "/gcs/b/run/train/executor_output.json"
            }
        })
    }

    #[test]
    fn executor_input_round_trips_in_proto3_json() {
        let input: ExecutorInput = serde_json::from_value(kfp_input()).unwrap();
        assert_eq!(input.inputs.parameter_values["threshold"], json!(0.5));
        let data = &input.inputs.artifacts["data"].artifacts[0];
        assert_eq!(data.artifact_type.schema_title, "system.Dataset");
        assert_eq!(data.metadata["rows"], json!(3000));
        assert_eq!(
            input.outputs.parameters["auc"].output_file,
            "/gcs/b/run/evaluate/auc"
        );
        assert_eq!(
            input.outputs.artifacts["model"].artifacts[0]
                .artifact_type
                .schema_version,
            ""
        );
        assert_eq!(serde_json::to_value(&input).unwrap(), kfp_input());
    }

    #[test]
    fn executor_output_round_trips_and_leaves_empty_parts_out() {
        let written = json!({
            "parameterValues": {"is_better": true, "auc": 0.91},
            "artifacts": {"metrics": {"artifacts": [{
                "name": "metrics",
                "type": {"schemaTitle": "system.Metrics", "schemaVersion": "0.0.1"},
                "uri": "/r/j/evaluate/metrics",
                "metadata": {"auc": 0.91}
            }]}}
        });
        let out: ExecutorOutput = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(out.parameter_values["is_better"], json!(true));
        assert_eq!(serde_json::to_value(&out).unwrap(), written);
        assert_eq!(
            serde_json::to_value(ExecutorOutput::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn missing_parts_read_as_empty_and_unknown_fields_are_ignored() {
        let input: ExecutorInput =
            serde_json::from_value(json!({"outputs": {"outputFile": "/o.json"}, "extra": 1}))
                .unwrap();
        assert!(input.inputs.parameter_values.is_empty());
        assert_eq!(input.outputs.output_file, "/o.json");
        let out: ExecutorOutput =
            serde_json::from_value(json!({"artifacts": {"m": {"artifacts": [{}]}}})).unwrap();
        assert_eq!(out.artifacts["m"].artifacts[0], RuntimeArtifact::default());
    }
}
