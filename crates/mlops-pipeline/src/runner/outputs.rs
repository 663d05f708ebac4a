//! Outputs of a container task: where the step may write them (`<task folder>/<output>`, or
//! `gs://…/<job>/<task>/<output>` with a `gs://` root),
//! then reading them back from the executor output (or per-parameter files) and checking
//! every declared output against its definition.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::TaskOutputs;
use crate::executor::{ArtifactList, ExecutorOutput, OutputParameter, Outputs, RuntimeArtifact};
use crate::ir::model::IrComponent;

/// The executor input's `outputs` for `component` running in `task_dir`, its artifacts under
/// `task_uri` (the task folder itself for local roots).
pub(super) fn output_slots(component: &IrComponent, task_dir: &Path, task_uri: &str) -> Outputs {
    let mut outputs = Outputs {
        output_file: task_dir.join("executor_output.json").display().to_string(),
        ..Outputs::default()
    };
    for k in component.output_parameters().keys() {
        let output_file = task_dir.join("outputs").join(k).display().to_string();
        outputs
            .parameters
            .insert(k.clone(), OutputParameter { output_file });
    }
    for (k, def) in component.output_artifacts() {
        let artifact = RuntimeArtifact {
            name: k.clone(),
            artifact_type: def.artifact_type.clone(),
            uri: format!("{}/{k}", task_uri.trim_end_matches('/')),
            metadata: Map::new(),
        };
        outputs.artifacts.insert(
            k.clone(),
            ArtifactList {
                artifacts: vec![artifact],
            },
        );
    }
    outputs
}

/// Read the executor output (or per-parameter files) and check every declared output;
/// `local_path` says where an artifact URI is on this machine.
pub(super) fn read_outputs(
    outputs: &Outputs,
    component: &IrComponent,
    local_path: &dyn Fn(&str) -> PathBuf,
) -> std::result::Result<TaskOutputs, String> {
    let file = Path::new(&outputs.output_file);
    let written: ExecutorOutput = if file.exists() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read executor output {}: {e}", file.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "the component wrote invalid executor output to {}: {e}",
                file.display()
            )
        })?
    } else {
        ExecutorOutput::default()
    };
    let mut result = TaskOutputs::default();
    let defs = component.output_parameters();
    for (k, def) in defs {
        let value = match written.parameter_values.get(k) {
            Some(v) => v.clone(),
            None => {
                let path = outputs
                    .parameters
                    .get(k)
                    .map(|p| p.output_file.clone())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&path)
                    .map_err(|_| format!("output parameter `{k}` was not written"))?;
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
        };
        let ty = def.param_type();
        if !ty.accepts(&value) {
            return Err(format!(
                "output parameter `{k}` is {value}, not a {}",
                ty.ir_name()
            ));
        }
        result.parameters.insert(k.clone(), value);
    }
    if let Some(extra) = written
        .parameter_values
        .keys()
        .find(|k| !defs.contains_key(*k))
    {
        return Err(format!(
            "the executor output has an undeclared parameter `{extra}`"
        ));
    }
    for (k, list) in &outputs.artifacts {
        let mut artifact = list.artifacts.first().cloned().unwrap_or_default();
        if let Some(w) = written.artifacts.get(k).and_then(|l| l.artifacts.first()) {
            artifact.metadata = w.metadata.clone();
        }
        if !local_path(&artifact.uri).exists() {
            return Err(format!(
                "output artifact `{k}` was not written to {}",
                artifact.uri
            ));
        }
        result.artifacts.insert(k.clone(), artifact);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn component() -> IrComponent {
        serde_json::from_value(json!({
            "executorLabel": "exec-t",
            "outputDefinitions": {
                "parameters": {"auc": {"parameterType": "NUMBER_DOUBLE"}},
                "artifacts": {"model": {"artifactType": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn slots_are_under_the_task_folder_and_typed() {
        let slots = output_slots(&component(), Path::new("/r/job/t"), "/r/job/t");
        assert_eq!(slots.output_file, "/r/job/t/executor_output.json");
        assert_eq!(slots.parameters["auc"].output_file, "/r/job/t/outputs/auc");
        let model = &slots.artifacts["model"].artifacts[0];
        assert_eq!(model.uri, "/r/job/t/model");
        assert_eq!(model.artifact_type.schema_title, "system.Model");
    }

    #[test]
    fn executor_output_wins_and_artifacts_keep_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let slots = output_slots(&component(), dir.path(), &dir.path().display().to_string());
        std::fs::create_dir_all(dir.path().join("model")).unwrap();
        std::fs::create_dir_all(dir.path().join("outputs")).unwrap();
        std::fs::write(dir.path().join("outputs/auc"), "0.5").unwrap();
        std::fs::write(
            &slots.output_file,
            r#"{"parameterValues": {"auc": 0.9}, "artifacts": {"model": {"artifacts": [{"metadata": {"trees": 3}}]}}}"#,
        )
        .unwrap();
        let out = read_outputs(&slots, &component(), &|u: &str| PathBuf::from(u)).unwrap();
        assert_eq!(out.parameters["auc"], json!(0.9));
        assert_eq!(out.artifacts["model"].metadata["trees"], json!(3));
        assert_eq!(
            out.artifacts["model"].artifact_type.schema_title,
            "system.Model"
        );
    }

    #[test]
    fn parameter_files_are_read_when_there_is_no_executor_output() {
        let dir = tempfile::tempdir().unwrap();
        let slots = output_slots(&component(), dir.path(), &dir.path().display().to_string());
        std::fs::create_dir_all(dir.path().join("model")).unwrap();
        std::fs::create_dir_all(dir.path().join("outputs")).unwrap();
        std::fs::write(dir.path().join("outputs/auc"), "0.75").unwrap();
        let out = read_outputs(&slots, &component(), &|u: &str| PathBuf::from(u)).unwrap();
        assert_eq!(out.parameters["auc"], json!(0.75));
    }

    #[test]
    fn each_broken_contract_names_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let slots = output_slots(&component(), dir.path(), &dir.path().display().to_string());
        let cases = [
            (
                r#"{"parameterValues": {"auc": "high"}}"#,
                false,
                "output parameter `auc` is \"high\", not a NUMBER_DOUBLE",
            ),
            (
                r#"{"parameterValues": {"auc": 1, "acc": 1}}"#,
                true,
                "undeclared parameter `acc`",
            ),
            (
                r#"{"parameterValues": {"auc": 1}}"#,
                false,
                "output artifact `model` was not written",
            ),
            (r#"{}"#, true, "output parameter `auc` was not written"),
            ("not json", true, "wrote invalid executor output"),
        ];
        for (written, model_exists, expected) in cases {
            let model = dir.path().join("model");
            if model_exists {
                std::fs::create_dir_all(&model).unwrap();
            } else if model.exists() {
                std::fs::remove_dir_all(&model).unwrap();
            }
            std::fs::write(&slots.output_file, written).unwrap();
            let err = read_outputs(&slots, &component(), &|u: &str| PathBuf::from(u)).unwrap_err();
            assert!(
                err.contains(expected),
                "{written}: expected `{expected}`, got `{err}`"
            );
        }
    }
}
