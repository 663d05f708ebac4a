//! Reading compiled IR: strict structural checks (every `componentRef`, `executorLabel`,
//! `producerTask`, output key and `componentInputParameter` resolves; no cycles) so that the
//! runner and tests catch a broken spec before anything runs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::compile::SCHEMA_VERSION;

/// All problems with an IR document; empty when it is sound.
pub fn problems(ir: &Value) -> Vec<String> {
    let mut p = Vec::new();
    if !ir.is_object() {
        return vec!["the document is not a JSON object (a KFP PipelineSpec is expected)".into()];
    }
    match ir.get("schemaVersion").and_then(Value::as_str) {
        Some(SCHEMA_VERSION) => {}
        Some(other) => p.push(format!(
            "schemaVersion is `{other}`, expected `{SCHEMA_VERSION}`"
        )),
        None => p.push("schemaVersion is missing: this is not a KFP v2 PipelineSpec".into()),
    }
    if ir
        .pointer("/pipelineInfo/name")
        .and_then(Value::as_str)
        .is_none()
    {
        p.push("pipelineInfo.name is missing".into());
    }
    let empty = serde_json::Map::new();
    let components = ir
        .get("components")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let executors = ir
        .pointer("/deploymentSpec/executors")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let Some(root) = ir.get("root") else {
        p.push("root is missing".into());
        return p;
    };
    check_component("root", root, components, &mut p, 0);
    for (name, comp) in components {
        if let Some(label) = comp.get("executorLabel").and_then(Value::as_str) {
            match executors.get(label) {
                None => p.push(format!("component `{name}`: executorLabel `{label}` is not in deploymentSpec.executors")),
                Some(e) if e.pointer("/container/image").and_then(Value::as_str).is_none() => {
                    p.push(format!("executor `{label}`: container.image is missing"))
                }
                Some(_) => {}
            }
        } else if comp.get("dag").is_none() {
            p.push(format!(
                "component `{name}` has neither executorLabel nor dag"
            ));
        }
    }
    p
}

/// A task's `dependentTasks` (empty when absent).
pub(crate) fn dependent_tasks(task: &Value) -> BTreeSet<String> {
    task.get("dependentTasks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn names(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn check_component(
    name: &str,
    comp: &Value,
    components: &serde_json::Map<String, Value>,
    p: &mut Vec<String>,
    depth: usize,
) {
    if depth > 16 {
        p.push(format!(
            "component `{name}`: sub-DAGs nest too deeply (a cycle?)"
        ));
        return;
    }
    let Some(tasks) = comp.pointer("/dag/tasks").and_then(Value::as_object) else {
        return;
    };
    let my_params = names(comp.pointer("/inputDefinitions/parameters"));
    let my_artifacts = names(comp.pointer("/inputDefinitions/artifacts"));
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (task_name, task) in tasks {
        let here = format!("{name}: task `{task_name}`");
        let Some(comp_ref) = task.pointer("/componentRef/name").and_then(Value::as_str) else {
            p.push(format!("{here}: componentRef.name is missing"));
            continue;
        };
        let Some(target) = components.get(comp_ref) else {
            p.push(format!(
                "{here}: componentRef `{comp_ref}` is not in components"
            ));
            continue;
        };
        let target_params = names(target.pointer("/inputDefinitions/parameters"));
        let target_artifacts = names(target.pointer("/inputDefinitions/artifacts"));
        let mut deps = dependent_tasks(task);
        for d in &deps {
            if !tasks.contains_key(d) {
                p.push(format!("{here}: dependentTasks names unknown task `{d}`"));
            }
        }
        for (kind, defined) in [
            ("parameters", &target_params),
            ("artifacts", &target_artifacts),
        ] {
            let Some(inputs) = task
                .pointer(&format!("/inputs/{kind}"))
                .and_then(Value::as_object)
            else {
                continue;
            };
            for (input, source) in inputs {
                if !defined.contains(input) {
                    p.push(format!(
                        "{here}: input `{input}` is not an input of `{comp_ref}`"
                    ));
                }
                if let Some(param) = source
                    .get("componentInputParameter")
                    .and_then(Value::as_str)
                {
                    if !my_params.contains(param) {
                        p.push(format!(
                            "{here}: componentInputParameter `{param}` is not an input of `{name}`"
                        ));
                    }
                }
                if let Some(art) = source.get("componentInputArtifact").and_then(Value::as_str) {
                    if !my_artifacts.contains(art) {
                        p.push(format!(
                            "{here}: componentInputArtifact `{art}` is not an input of `{name}`"
                        ));
                    }
                }
                for (key, out_key, defs) in [
                    ("taskOutputParameter", "outputParameterKey", "parameters"),
                    ("taskOutputArtifact", "outputArtifactKey", "artifacts"),
                ] {
                    let Some(out) = source.get(key) else { continue };
                    let producer = out
                        .get("producerTask")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let output = out.get(out_key).and_then(Value::as_str).unwrap_or("");
                    let Some(prod) = tasks.get(producer) else {
                        p.push(format!(
                            "{here}: producerTask `{producer}` is not a task of `{name}`"
                        ));
                        continue;
                    };
                    deps.insert(producer.to_string());
                    let prod_comp = prod
                        .pointer("/componentRef/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let outs = components
                        .get(prod_comp)
                        .map(|c| names(c.pointer(&format!("/outputDefinitions/{defs}"))))
                        .unwrap_or_default();
                    if !outs.contains(output) {
                        p.push(format!(
                            "{here}: `{producer}` has no output {defs} `{output}`"
                        ));
                    }
                }
            }
        }
        if let Some(cond) = task.pointer("/triggerPolicy/condition") {
            if !cond.is_string() {
                p.push(format!("{here}: triggerPolicy.condition is not a string"));
            }
        }
        graph.insert(task_name.as_str(), deps);
        if target.get("dag").is_some() {
            check_component(comp_ref, target, components, p, depth + 1);
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        p.push(format!(
            "{name}: the task graph has a cycle through `{cycle}`"
        ));
    }
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
