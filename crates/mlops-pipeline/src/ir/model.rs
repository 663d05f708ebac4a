//! A typed model of the parts of KFP's `PipelineSpec` (and the `PipelineDeploymentConfig`
//! inside `deploymentSpec`) that this crate writes and reads. Field names are the proto3 JSON
//! names; optional and empty fields are left out when writing, so that [`crate::compile`]
//! writes exactly what the kfp compiler writes. Unknown fields are ignored when reading.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::executor::ArtifactTypeJson;
use crate::types::ParamType;

/// `PipelineSpec`: the whole compiled pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// Name and description.
    #[serde(default)]
    pub pipeline_info: PipelineInfo,
    /// Who wrote it (`kfp-2.x.y`, `mlops-rs-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    /// IR schema version (`2.1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// The pipeline's own component: its parameters and top-level DAG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<IrComponent>,
    /// Components by name (`comp-train`, `comp-condition-1`).
    #[serde(default)]
    pub components: BTreeMap<String, IrComponent>,
    /// Executors.
    #[serde(default)]
    pub deployment_spec: DeploymentSpec,
    /// `defaultPipelineRoot`: where a run's artifacts go when the submitter names no root
    /// (`gs://bucket/pipeline_root` for the cloud; left out of locally compiled IR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pipeline_root: Option<String>,
}

/// `PipelineInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineInfo {
    /// Pipeline name (empty when missing).
    #[serde(default)]
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// KFP's `ComponentSpec`: an interface plus either an executor or a sub-DAG.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrComponent {
    /// Inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_definitions: Option<Definitions>,
    /// Outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_definitions: Option<Definitions>,
    /// The executor (`exec-train`) of a container component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_label: Option<String>,
    /// The tasks of a DAG component (root, conditions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<DagSpec>,
}

impl IrComponent {
    /// Input parameter definitions (empty when none).
    pub fn input_parameters(&self) -> &BTreeMap<String, ParameterSpec> {
        definitions_parameters(self.input_definitions.as_ref())
    }

    /// Input artifact definitions (empty when none).
    pub fn input_artifacts(&self) -> &BTreeMap<String, ArtifactSpec> {
        definitions_artifacts(self.input_definitions.as_ref())
    }

    /// Output parameter definitions (empty when none).
    pub fn output_parameters(&self) -> &BTreeMap<String, ParameterSpec> {
        definitions_parameters(self.output_definitions.as_ref())
    }

    /// Output artifact definitions (empty when none).
    pub fn output_artifacts(&self) -> &BTreeMap<String, ArtifactSpec> {
        definitions_artifacts(self.output_definitions.as_ref())
    }

    /// The DAG's tasks (empty for a container component).
    pub fn tasks(&self) -> &BTreeMap<String, PipelineTaskSpec> {
        static EMPTY: BTreeMap<String, PipelineTaskSpec> = BTreeMap::new();
        self.dag.as_ref().map_or(&EMPTY, |d| &d.tasks)
    }
}

fn definitions_parameters(d: Option<&Definitions>) -> &BTreeMap<String, ParameterSpec> {
    static EMPTY: BTreeMap<String, ParameterSpec> = BTreeMap::new();
    d.map_or(&EMPTY, |d| &d.parameters)
}

fn definitions_artifacts(d: Option<&Definitions>) -> &BTreeMap<String, ArtifactSpec> {
    static EMPTY: BTreeMap<String, ArtifactSpec> = BTreeMap::new();
    d.map_or(&EMPTY, |d| &d.artifacts)
}

/// `ComponentInputsSpec` / `ComponentOutputsSpec`: parameters and artifacts by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Definitions {
    /// Parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, ParameterSpec>,
    /// Artifacts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactSpec>,
}

impl Definitions {
    /// No parameter and no artifact.
    pub fn is_empty(&self) -> bool {
        self.parameters.is_empty() && self.artifacts.is_empty()
    }

    /// `Some(self)` unless empty: the IR leaves empty definitions out.
    pub fn non_empty(self) -> Option<Definitions> {
        (!self.is_empty()).then_some(self)
    }
}

/// `ParameterSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterSpec {
    /// `STRING`, `NUMBER_INTEGER`, … (kept as text: a reader falls back to `STRING`).
    #[serde(default)]
    pub parameter_type: String,
    /// Default value (`null` is a default too).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_value: Option<Value>,
    /// Optional (has a default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_optional: Option<bool>,
    /// One line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ParameterSpec {
    /// A definition of type `ty`.
    pub fn of(ty: ParamType) -> ParameterSpec {
        ParameterSpec {
            parameter_type: ty.ir_name().to_string(),
            ..ParameterSpec::default()
        }
    }

    /// The type, `STRING` when absent or unknown.
    pub fn param_type(&self) -> ParamType {
        ParamType::from_ir(&self.parameter_type).unwrap_or(ParamType::String)
    }
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `ArtifactSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSpec {
    /// `{schemaTitle, schemaVersion}`.
    #[serde(default)]
    pub artifact_type: ArtifactTypeJson,
    /// One line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `DagSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DagSpec {
    /// Tasks by name.
    #[serde(default)]
    pub tasks: BTreeMap<String, PipelineTaskSpec>,
}

/// `PipelineTaskSpec`: one task of a DAG.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTaskSpec {
    /// Display name.
    #[serde(default)]
    pub task_info: TaskInfo,
    /// The component it runs.
    #[serde(default)]
    pub component_ref: ComponentRef,
    /// Tasks that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependent_tasks: Vec<String>,
    /// Where its inputs come from.
    #[serde(default, skip_serializing_if = "TaskInputs::is_empty")]
    pub inputs: TaskInputs,
    /// Caching switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching_options: Option<CachingOptions>,
    /// Run only when a condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_policy: Option<TriggerPolicy>,
}

impl PipelineTaskSpec {
    /// Is caching on for this task?
    pub fn enable_cache(&self) -> bool {
        self.caching_options
            .as_ref()
            .is_some_and(|c| c.enable_cache)
    }

    /// The trigger condition (CEL), if any.
    pub fn condition(&self) -> Option<&str> {
        self.trigger_policy
            .as_ref()
            .and_then(|t| t.condition.as_deref())
    }

    /// Every task this one waits for: `dependentTasks` and the producers of its inputs.
    pub fn upstream(&self) -> std::collections::BTreeSet<String> {
        let mut d: std::collections::BTreeSet<String> =
            self.dependent_tasks.iter().cloned().collect();
        d.extend(self.inputs.producers().map(str::to_string));
        d
    }
}

/// `PipelineTaskInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// `ComponentRef`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRef {
    /// Key in `components` (empty when missing).
    #[serde(default)]
    pub name: String,
}

/// `TaskInputsSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInputs {
    /// Parameters by input name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, ParameterSource>,
    /// Artifacts by input name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactSource>,
}

impl TaskInputs {
    /// No inputs.
    pub fn is_empty(&self) -> bool {
        self.parameters.is_empty() && self.artifacts.is_empty()
    }

    /// The tasks whose outputs these inputs read.
    pub fn producers(&self) -> impl Iterator<Item = &str> {
        let params = self.parameters.values().filter_map(|s| match s {
            ParameterSource::TaskOutputParameter(o) => Some(o.producer_task.as_str()),
            _ => None,
        });
        let artifacts = self.artifacts.values().filter_map(|s| match s {
            ArtifactSource::TaskOutputArtifact(o) => Some(o.producer_task.as_str()),
            ArtifactSource::ComponentInputArtifact(_) => None,
        });
        params.chain(artifacts)
    }
}

/// Where an input parameter's value comes from (`InputParameterSpec`, one field set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ParameterSource {
    /// An input of the enclosing component.
    ComponentInputParameter(String),
    /// Another task's output parameter.
    TaskOutputParameter(TaskOutputParameter),
    /// A constant.
    RuntimeValue(RuntimeValue),
}

/// `InputParameterSpec.TaskOutputParameterSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutputParameter {
    /// The task.
    #[serde(default)]
    pub producer_task: String,
    /// Its output.
    #[serde(default)]
    pub output_parameter_key: String,
}

/// `ValueOrRuntimeParameter`: a constant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeValue {
    /// The value.
    #[serde(default)]
    pub constant: Value,
}

/// Where an input artifact comes from (`InputArtifactSpec`, one field set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactSource {
    /// Another task's output artifact.
    TaskOutputArtifact(TaskOutputArtifact),
    /// An input artifact of the enclosing component.
    ComponentInputArtifact(String),
}

/// `InputArtifactSpec.TaskOutputArtifactSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutputArtifact {
    /// The task.
    #[serde(default)]
    pub producer_task: String,
    /// Its output.
    #[serde(default)]
    pub output_artifact_key: String,
}

/// `CachingOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachingOptions {
    /// Reuse earlier outputs for the same inputs.
    #[serde(default)]
    pub enable_cache: bool,
}

/// `TriggerPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerPolicy {
    /// CEL over `inputs.parameter_values[…]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// `PipelineDeploymentConfig`: executors by label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Executors (`exec-train`).
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorSpec>,
}

/// `PipelineDeploymentConfig.ExecutorSpec` (container executors only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorSpec {
    /// The container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSpec>,
}

/// `PipelineContainerSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// Image reference (empty when missing).
    #[serde(default)]
    pub image: String,
    /// Entrypoint, placeholders allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments, placeholders allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Limits and requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Environment variables of the container (`PipelineContainerSpec.EnvVar`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

/// `PipelineContainerSpec.EnvVar`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// `PipelineContainerSpec.ResourceSpec`: string quantities, and the numbers older backends read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU limit (`"2"`, `"500m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_cpu_limit: Option<String>,
    /// CPU limit as a number (deprecated field, still written by kfp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    /// Memory limit (`"4G"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_memory_limit: Option<String>,
    /// Memory limit in GB (deprecated field, still written by kfp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<f64>,
    /// CPU request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_cpu_request: Option<String>,
    /// Memory request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_memory_request: Option<String>,
}

impl PipelineSpec {
    /// A component by name.
    pub fn component(&self, name: &str) -> Option<&IrComponent> {
        self.components.get(name)
    }

    /// The container of a component's executor.
    pub fn container(&self, component: &IrComponent) -> Option<&ContainerSpec> {
        let label = component.executor_label.as_deref()?;
        self.deployment_spec
            .executors
            .get(label)?
            .container
            .as_ref()
    }

    /// The root's input parameter definitions.
    pub fn root_parameters(&self) -> &BTreeMap<String, ParameterSpec> {
        definitions_parameters(
            self.root
                .as_ref()
                .and_then(|r| r.input_definitions.as_ref()),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn task_sources_round_trip_in_proto3_json() {
        let task = json!({
            "taskInfo": {"name": "train"},
            "componentRef": {"name": "comp-train"},
            "dependentTasks": ["extract-data"],
            "inputs": {
                "parameters": {
                    "seed": {"componentInputParameter": "seed"},
                    "n": {"runtimeValue": {"constant": 3}},
                    "ok": {"taskOutputParameter": {"producerTask": "check", "outputParameterKey": "ok"}}
                },
                "artifacts": {
                    "dataset": {"taskOutputArtifact": {"producerTask": "extract-data", "outputArtifactKey": "dataset"}},
                    "model": {"componentInputArtifact": "pipelinechannel--train-model"}
                }
            },
            "cachingOptions": {"enableCache": true},
            "triggerPolicy": {"condition": "inputs.parameter_values['x'] == true"}
        });
        let typed: PipelineTaskSpec = serde_json::from_value(task.clone()).unwrap();
        assert!(typed.enable_cache());
        assert_eq!(
            typed.condition(),
            Some("inputs.parameter_values['x'] == true")
        );
        assert_eq!(
            typed.upstream().into_iter().collect::<Vec<_>>(),
            ["check", "extract-data"]
        );
        assert_eq!(serde_json::to_value(&typed).unwrap(), task);
    }

    #[test]
    fn empty_parts_are_left_out_and_unknown_fields_ignored() {
        let task: PipelineTaskSpec = serde_json::from_value(json!({
            "taskInfo": {"name": "t"},
            "componentRef": {"name": "comp-t"},
            "retryPolicy": {"maxRetryCount": 2}
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&task).unwrap(),
            json!({"taskInfo": {"name": "t"}, "componentRef": {"name": "comp-t"}})
        );
        let spec: PipelineSpec = serde_json::from_value(json!({})).unwrap();
        assert!(spec.root.is_none());
        assert!(spec.root_parameters().is_empty());
    }

    #[test]
    fn an_unknown_input_source_is_an_error_naming_it() {
        let err = serde_json::from_value::<ParameterSource>(json!({"taskFinalStatus": {}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("taskFinalStatus"), "{err}");
    }

    #[test]
    fn parameter_types_fall_back_to_string() {
        let p: ParameterSpec = serde_json::from_value(json!({"parameterType": "INT"})).unwrap();
        assert_eq!(p.param_type(), ParamType::String);
        assert_eq!(
            ParameterSpec::of(ParamType::Bool).param_type(),
            ParamType::Bool
        );
    }
}
