//! Reading compiled IR: strict structural checks (every `componentRef`, `executorLabel`,
//! `producerTask`, output key and `componentInputParameter` resolves; no cycles) so that the
//! runner and tests catch a broken spec before anything runs. The typed model of the IR is
//! in [`model`].

pub mod model;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize as _;
use serde_json::Value;

use crate::compile::SCHEMA_VERSION;
use model::{ArtifactSource, IrComponent, ParameterSource, PipelineSpec, PipelineTaskSpec};

/// All problems with an IR document; empty when it is sound.
pub fn problems(ir: &Value) -> Vec<String> {
    if !ir.is_object() {
        return vec!["the document is not a JSON object (a KFP PipelineSpec is expected)".into()];
    }
    match PipelineSpec::deserialize(ir) {
        Ok(spec) => check(&spec),
        Err(e) => vec![format!("not a KFP PipelineSpec this runner can read: {e}")],
    }
}

/// All problems with a typed IR document; empty when it is sound.
pub fn check(ir: &PipelineSpec) -> Vec<String> {
    let mut p = Vec::new();
    match ir.schema_version.as_deref() {
        Some(SCHEMA_VERSION) => {}
        Some(other) => p.push(format!(
            "schemaVersion is `{other}`, expected `{SCHEMA_VERSION}`"
        )),
        None => p.push("schemaVersion is missing: this is not a KFP v2 PipelineSpec".into()),
    }
    if ir.pipeline_info.name.is_empty() {
        p.push("pipelineInfo.name is missing".into());
    }
    let Some(root) = &ir.root else {
        p.push("root is missing".into());
        return p;
    };
    check_component("root", root, &ir.components, &mut p, 0);
    for (name, comp) in &ir.components {
        if let Some(label) = &comp.executor_label {
            match ir.deployment_spec.executors.get(label) {
                None => p.push(format!(
                    "component `{name}`: executorLabel `{label}` is not in deploymentSpec.executors"
                )),
                Some(e) if e.container.as_ref().is_none_or(|c| c.image.is_empty()) => {
                    p.push(format!("executor `{label}`: container.image is missing"))
                }
                Some(_) => {}
            }
        } else if comp.dag.is_none() {
            p.push(format!(
                "component `{name}` has neither executorLabel nor dag"
            ));
        }
    }
    p
}

fn check_component(
    name: &str,
    comp: &IrComponent,
    components: &BTreeMap<String, IrComponent>,
    p: &mut Vec<String>,
    depth: usize,
) {
    if depth > 16 {
        p.push(format!(
            "component `{name}`: sub-DAGs nest too deeply (a cycle?)"
        ));
        return;
    }
    let Some(dag) = &comp.dag else {
        return;
    };
    let tasks = &dag.tasks;
    let my_params = comp.input_parameters();
    let my_artifacts = comp.input_artifacts();
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (task_name, task) in tasks {
        let here = format!("{name}: task `{task_name}`");
        let comp_ref = task.component_ref.name.as_str();
        if comp_ref.is_empty() {
            p.push(format!("{here}: componentRef.name is missing"));
            continue;
        }
        let Some(target) = components.get(comp_ref) else {
            p.push(format!(
                "{here}: componentRef `{comp_ref}` is not in components"
            ));
            continue;
        };
        for d in &task.dependent_tasks {
            if !tasks.contains_key(d) {
                p.push(format!("{here}: dependentTasks names unknown task `{d}`"));
            }
        }
        let mut deps: BTreeSet<String> = task.dependent_tasks.iter().cloned().collect();
        for (input, source) in &task.inputs.parameters {
            if !target.input_parameters().contains_key(input) {
                p.push(format!(
                    "{here}: input `{input}` is not an input of `{comp_ref}`"
                ));
            }
            match source {
                ParameterSource::ComponentInputParameter(param) => {
                    if !my_params.contains_key(param) {
                        p.push(format!(
                            "{here}: componentInputParameter `{param}` is not an input of `{name}`"
                        ));
                    }
                }
                ParameterSource::TaskOutputParameter(o) => {
                    deps.insert(o.producer_task.clone());
                    match producer(name, &o.producer_task, tasks, components) {
                        Ok(c) if c.output_parameters().contains_key(&o.output_parameter_key) => {}
                        Ok(_) => p.push(format!(
                            "{here}: `{}` has no output parameters `{}`",
                            o.producer_task, o.output_parameter_key
                        )),
                        Err(problem) => p.push(format!("{here}: {problem}")),
                    }
                }
                ParameterSource::RuntimeValue(_) => {}
            }
        }
        for (input, source) in &task.inputs.artifacts {
            if !target.input_artifacts().contains_key(input) {
                p.push(format!(
                    "{here}: input `{input}` is not an input of `{comp_ref}`"
                ));
            }
            match source {
                ArtifactSource::ComponentInputArtifact(art) => {
                    if !my_artifacts.contains_key(art) {
                        p.push(format!(
                            "{here}: componentInputArtifact `{art}` is not an input of `{name}`"
                        ));
                    }
                }
                ArtifactSource::TaskOutputArtifact(o) => {
                    deps.insert(o.producer_task.clone());
                    match producer(name, &o.producer_task, tasks, components) {
                        Ok(c) if c.output_artifacts().contains_key(&o.output_artifact_key) => {}
                        Ok(_) => p.push(format!(
                            "{here}: `{}` has no output artifacts `{}`",
                            o.producer_task, o.output_artifact_key
                        )),
                        Err(problem) => p.push(format!("{here}: {problem}")),
                    }
                }
            }
        }
        graph.insert(task_name.as_str(), deps);
        if target.dag.is_some() {
            check_component(comp_ref, target, components, p, depth + 1);
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        p.push(format!(
            "{name}: the task graph has a cycle through `{cycle}`"
        ));
    }
}
/// The component of task `producer` in the DAG of component `scope`, or the problem.
fn producer<'c>(
    scope: &str,
    producer: &str,
    tasks: &BTreeMap<String, PipelineTaskSpec>,
    components: &'c BTreeMap<String, IrComponent>,
) -> Result<&'c IrComponent, String> {
    let task = tasks
        .get(producer)
        .ok_or_else(|| format!("producerTask `{producer}` is not a task of `{scope}`"))?;
    components.get(&task.component_ref.name).ok_or_else(|| {
        format!(
            "`{producer}` has no outputs: its componentRef `{}` is not in components",
            task.component_ref.name
        )
    })
}

fn find_cycle(graph: &BTreeMap<&str, BTreeSet<String>>) -> Option<String> {
    let mut indegree: BTreeMap<&str, usize> = BTreeMap::new();
    for (task, deps) in graph {
        let known = deps
            .iter()
            .filter(|d| graph.contains_key(d.as_str()))
            .count();
        indegree.insert(task, known);
    }
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut done = 0;
    while let Some(t) = ready.pop() {
        done += 1;
        for (other, deps) in graph {
            if deps.contains(t) {
                if let Some(d) = indegree.get_mut(other) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(other);
                    }
                }
            }
        }
    }
    if done == graph.len() {
        None
    } else {
        indegree
            .into_iter()
            .find(|(_, d)| *d > 0)
            .map(|(k, _)| k.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DATASET: &str = "system.Dataset";

    /// A small sound IR: `a` → `b`, and `condition-1` running `c` on `a`'s artifact.
    fn sound() -> Value {
        let ty = json!({"artifactType": {"schemaTitle": DATASET, "schemaVersion": "0.0.1"}});
        json!({
            "pipelineInfo": {"name": "p"},
            "schemaVersion": "2.1.0",
            "root": {
                "inputDefinitions": {"parameters": {"seed": {"parameterType": "NUMBER_INTEGER"}}},
                "dag": {"tasks": {
                    "a": {"taskInfo": {"name": "a"}, "componentRef": {"name": "comp-a"}},
                    "b": {
                        "taskInfo": {"name": "b"},
                        "componentRef": {"name": "comp-b"},
                        "dependentTasks": ["a"],
                        "inputs": {
                            "parameters": {
                                "x": {"taskOutputParameter": {"producerTask": "a", "outputParameterKey": "p"}},
                                "s": {"componentInputParameter": "seed"}
                            },
                            "artifacts": {"y": {"taskOutputArtifact": {"producerTask": "a", "outputArtifactKey": "d"}}}
                        }
                    },
                    "condition-1": {
                        "taskInfo": {"name": "condition-1"},
                        "componentRef": {"name": "comp-condition-1"},
                        "inputs": {
                            "parameters": {"pipelinechannel--a-p": {"taskOutputParameter": {"producerTask": "a", "outputParameterKey": "p"}}},
                            "artifacts": {"pipelinechannel--a-d": {"taskOutputArtifact": {"producerTask": "a", "outputArtifactKey": "d"}}}
                        },
                        "triggerPolicy": {"condition": "inputs.parameter_values['pipelinechannel--a-p'] == true"}
                    }
                }}
            },
            "components": {
                "comp-a": {
                    "executorLabel": "exec-a",
                    "outputDefinitions": {"parameters": {"p": {"parameterType": "BOOLEAN"}}, "artifacts": {"d": ty}}
                },
                "comp-b": {
                    "executorLabel": "exec-b",
                    "inputDefinitions": {
                        "parameters": {"x": {"parameterType": "BOOLEAN"}, "s": {"parameterType": "NUMBER_INTEGER"}},
                        "artifacts": {"y": ty}
                    }
                },
                "comp-c": {"executorLabel": "exec-c", "inputDefinitions": {"artifacts": {"y": ty}}},
                "comp-condition-1": {
                    "inputDefinitions": {
                        "parameters": {"pipelinechannel--a-p": {"parameterType": "BOOLEAN"}},
                        "artifacts": {"pipelinechannel--a-d": ty}
                    },
                    "dag": {"tasks": {"c": {
                        "taskInfo": {"name": "c"},
                        "componentRef": {"name": "comp-c"},
                        "inputs": {"artifacts": {"y": {"componentInputArtifact": "pipelinechannel--a-d"}}}
                    }}}
                }
            },
            "deploymentSpec": {"executors": {
                "exec-a": {"container": {"image": "i", "command": ["x"]}},
                "exec-b": {"container": {"image": "i", "command": ["x"]}},
                "exec-c": {"container": {"image": "i", "command": ["x"]}}
            }}
        })
    }

    /// Set the value at a JSON pointer whose parent object exists.
    fn set(doc: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let object = doc.pointer_mut(parent).and_then(Value::as_object_mut);
        object
            .unwrap_or_else(|| panic!("no {parent}"))
            .insert(key.to_string(), value);
    }

    fn remove(doc: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no {parent}"))
            .remove(key);
    }

    #[test]
    fn a_sound_document_has_no_problem() {
        assert_eq!(problems(&sound()), Vec::<String>::new());
    }

    #[test]
    fn each_broken_reference_is_named() {
        let tasks = "/root/dag/tasks";
        let cases: Vec<(String, Value, &str)> = vec![
            ("/schemaVersion".into(), json!("2.0.0"), "schemaVersion is `2.0.0`, expected `2.1.0`"),
            ("/pipelineInfo/name".into(), json!(""), "pipelineInfo.name is missing"),
            (format!("{tasks}/a/componentRef/name"), json!(""), "root: task `a`: componentRef.name is missing"),
            (format!("{tasks}/a/componentRef/name"), json!("comp-z"), "componentRef `comp-z` is not in components"),
            (format!("{tasks}/b/dependentTasks"), json!(["a", "z"]), "task `b`: dependentTasks names unknown task `z`"),
            (format!("{tasks}/b/inputs/parameters/s/componentInputParameter"), json!("sead"), "componentInputParameter `sead` is not an input of `root`"),
            (format!("{tasks}/b/inputs/parameters/q"), json!({"runtimeValue": {"constant": 1}}), "input `q` is not an input of `comp-b`"),
            (format!("{tasks}/b/inputs/artifacts/y/taskOutputArtifact/producerTask"), json!("z"), "producerTask `z` is not a task of `root`"),
            (format!("{tasks}/b/inputs/artifacts/y/taskOutputArtifact/outputArtifactKey"), json!("e"), "`a` has no output artifacts `e`"),
            (format!("{tasks}/b/inputs/parameters/x/taskOutputParameter/outputParameterKey"), json!("q"), "`a` has no output parameters `q`"),
            ("/components/comp-condition-1/dag/tasks/c/inputs/artifacts/y/componentInputArtifact".into(), json!("pipelinechannel--a-e"), "componentInputArtifact `pipelinechannel--a-e` is not an input of `comp-condition-1`"),
            (format!("{tasks}/a/dependentTasks"), json!(["b"]), "root: the task graph has a cycle through `a`"),
            ("/components/comp-a/executorLabel".into(), json!("exec-z"), "component `comp-a`: executorLabel `exec-z` is not in deploymentSpec.executors"),
            ("/deploymentSpec/executors/exec-a/container/image".into(), json!(""), "executor `exec-a`: container.image is missing"),
            ("/components/comp-condition-1/dag/tasks/c/componentRef/name".into(), json!("comp-condition-1"), "sub-DAGs nest too deeply"),
            (format!("{tasks}/a/triggerPolicy"), json!({"condition": 1}), "not a KFP PipelineSpec this runner can read"),
        ];
        for (pointer, value, expected) in cases {
            let mut doc = sound();
            set(&mut doc, &pointer, value.clone());
            let p = problems(&doc);
            assert!(
                p.iter().any(|x| x.contains(expected)),
                "{pointer} = {value}: expected `{expected}` in {p:#?}"
            );
        }
    }

    #[test]
    fn missing_parts_are_named() {
        for (pointer, expected) in [
            ("/schemaVersion", "schemaVersion is missing"),
            ("/root", "root is missing"),
            (
                "/components/comp-condition-1/dag",
                "component `comp-condition-1` has neither executorLabel nor dag",
            ),
        ] {
            let mut doc = sound();
            remove(&mut doc, pointer);
            let p = problems(&doc);
            assert!(p.iter().any(|x| x.contains(expected)), "{pointer}: {p:#?}");
        }
        assert_eq!(
            problems(&json!([1])),
            ["the document is not a JSON object (a KFP PipelineSpec is expected)"]
        );
    }
}
