//! Input resolution: where each input of a task comes from (the enclosing component's
//! inputs, an upstream task's outputs, a constant), and the defaults of optional inputs.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Scope, TaskOutputs};
use crate::error::{PipelineError, Result};
use crate::executor::RuntimeArtifact;
use crate::ir::model::{ArtifactSource, IrComponent, ParameterSource, PipelineTaskSpec};

/// Inputs of one task, resolved to values and artifacts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Resolved {
    pub(super) params: BTreeMap<String, Value>,
    pub(super) artifacts: BTreeMap<String, RuntimeArtifact>,
}

fn unresolved(what: String) -> PipelineError {
    PipelineError::Param(format!("cannot resolve {what}"))
}

/// The output `key` of task `producer`, from `outputs` (finished tasks of this DAG).
fn produced<'a, T>(
    outputs: &'a BTreeMap<String, TaskOutputs>,
    producer: &str,
    key: &str,
    field: impl Fn(&'a TaskOutputs) -> &'a BTreeMap<String, T>,
) -> Result<&'a T> {
    outputs
        .get(producer)
        .and_then(|t| field(t).get(key))
        .ok_or_else(|| unresolved(format!("`{producer}`.`{key}`")))
}

/// Resolve every input of `task` from its DAG's `scope` and its upstream tasks' `outputs`.
pub(super) fn resolve_inputs(
    task: &PipelineTaskSpec,
    scope: &Scope,
    outputs: &BTreeMap<String, TaskOutputs>,
) -> Result<Resolved> {
    let mut r = Resolved::default();
    for (name, src) in &task.inputs.parameters {
        let v = match src {
            ParameterSource::ComponentInputParameter(p) => scope
                .params
                .get(p)
                .cloned()
                .ok_or_else(|| unresolved(format!("input parameter `{p}`")))?,
            ParameterSource::TaskOutputParameter(o) => {
                produced(outputs, &o.producer_task, &o.output_parameter_key, |t| {
                    &t.parameters
                })?
                .clone()
            }
            ParameterSource::RuntimeValue(c) => c.constant.clone(),
        };
        r.params.insert(name.clone(), v);
    }
    for (name, src) in &task.inputs.artifacts {
        let a = match src {
            ArtifactSource::ComponentInputArtifact(p) => scope
                .artifacts
                .get(p)
                .cloned()
                .ok_or_else(|| unresolved(format!("input artifact `{p}`")))?,
            ArtifactSource::TaskOutputArtifact(o) => {
                produced(outputs, &o.producer_task, &o.output_artifact_key, |t| {
                    &t.artifacts
                })?
                .clone()
            }
        };
        r.artifacts.insert(name.clone(), a);
    }
    Ok(r)
}

/// Add the defaults of `component`'s optional input parameters that `params` does not set.
pub(super) fn with_defaults(
    component: &IrComponent,
    mut params: BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    for (k, def) in component.input_parameters() {
        if let (false, Some(v)) = (params.contains_key(k), &def.default_value) {
            params.insert(k.clone(), v.clone());
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(inputs: Value) -> PipelineTaskSpec {
        serde_json::from_value(json!({
            "taskInfo": {"name": "t"},
            "componentRef": {"name": "comp-t"},
            "inputs": inputs
        }))
        .unwrap()
    }

    fn artifact(uri: &str) -> RuntimeArtifact {
        RuntimeArtifact {
            name: "a".into(),
            uri: uri.into(),
            ..RuntimeArtifact::default()
        }
    }

    fn scope() -> Scope {
        Scope {
            params: [("seed".to_string(), json!(7))].into_iter().collect(),
            artifacts: [("pipelinechannel--train-model".to_string(), artifact("/m"))]
                .into_iter()
                .collect(),
        }
    }

    fn upstream() -> BTreeMap<String, TaskOutputs> {
        let out = TaskOutputs {
            parameters: [("is_better".to_string(), json!(true))]
                .into_iter()
                .collect(),
            artifacts: [("dataset".to_string(), artifact("/d"))]
                .into_iter()
                .collect(),
        };
        [("extract".to_string(), out)].into_iter().collect()
    }

    #[test]
    fn every_source_kind_resolves() {
        let t = task(json!({
            "parameters": {
                "seed": {"componentInputParameter": "seed"},
                "better": {"taskOutputParameter": {"producerTask": "extract", "outputParameterKey": "is_better"}},
                "n": {"runtimeValue": {"constant": 3}}
            },
            "artifacts": {
                "data": {"taskOutputArtifact": {"producerTask": "extract", "outputArtifactKey": "dataset"}},
                "model": {"componentInputArtifact": "pipelinechannel--train-model"}
            }
        }));
        let r = resolve_inputs(&t, &scope(), &upstream()).unwrap();
        assert_eq!(
            r.params,
            [
                ("better".to_string(), json!(true)),
                ("n".to_string(), json!(3)),
                ("seed".to_string(), json!(7)),
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(r.artifacts["data"].uri, "/d");
        assert_eq!(r.artifacts["model"].uri, "/m");
    }

    #[test]
    fn missing_inputs_are_errors_naming_them() {
        let cases = [
            (
                json!({"parameters": {"x": {"componentInputParameter": "sead"}}}),
                "cannot resolve input parameter `sead`",
            ),
            (
                json!({"parameters": {"x": {"taskOutputParameter": {"producerTask": "extract", "outputParameterKey": "auc"}}}}),
                "cannot resolve `extract`.`auc`",
            ),
            (
                json!({"parameters": {"x": {"taskOutputParameter": {"producerTask": "train", "outputParameterKey": "is_better"}}}}),
                "cannot resolve `train`.`is_better`",
            ),
            (
                json!({"artifacts": {"x": {"componentInputArtifact": "pipelinechannel--nope"}}}),
                "cannot resolve input artifact `pipelinechannel--nope`",
            ),
            (
                json!({"artifacts": {"x": {"taskOutputArtifact": {"producerTask": "extract", "outputArtifactKey": "model"}}}}),
                "cannot resolve `extract`.`model`",
            ),
        ];
        for (inputs, expected) in cases {
            let err = resolve_inputs(&task(inputs), &scope(), &upstream())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "expected `{expected}`, got `{err}`");
        }
    }

    #[test]
    fn defaults_fill_only_what_the_task_does_not_set() {
        let component: IrComponent = serde_json::from_value(json!({
            "executorLabel": "exec-t",
            "inputDefinitions": {"parameters": {
                "seed": {"parameterType": "NUMBER_INTEGER", "defaultValue": 1, "isOptional": true},
                "rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.3, "isOptional": true},
                "name": {"parameterType": "STRING"}
            }}
        }))
        .unwrap();
        let given = [("seed".to_string(), json!(7))].into_iter().collect();
        let params = with_defaults(&component, given);
        assert_eq!(params["seed"], json!(7));
        assert_eq!(params["rate"], json!(0.3));
        assert!(!params.contains_key("name"), "no default, not invented");
    }
}
