//! Our compiled KFP v2 IR against the official KFP packages (tests/python/kfp_ir.py): a strict
//! parse with kfp-pipeline-spec's protos and a golden comparison with the kfp SDK's compiler on
//! the same pipeline written in Python. Plus our own reference checks
//! (`mlops_pipeline::ir::problems`) on every compiled file and on broken copies of it.

#[cfg(feature = "python-tests")]
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
#[cfg(feature = "python-tests")]
use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

/// `mlops pipelines compile --out DIR`: every pipeline's IR file, as printed.
fn compile_all(dir: &Path) -> Vec<PathBuf> {
    compile_all_with(dir, &[])
}

/// `mlops pipelines compile --out DIR` with extra environment variables (settings).
fn compile_all_with(dir: &Path, vars: &[(&str, &str)]) -> Vec<PathBuf> {
    let mut cmd = mlops();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let stdout = ok(cmd.args(["pipelines", "compile", "--out"]).arg(dir));
    let files: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    assert!(!files.is_empty(), "mlops pipelines compile wrote no file");
    for f in &files {
        assert!(
            f.starts_with(dir) && f.exists(),
            "{} was not written",
            f.display()
        );
    }
    files
}

/// Run `kfp_ir.py ARGS` with the test Python; (success, stdout + stderr).
#[cfg(feature = "python-tests")]
fn kfp_ir<S: AsRef<OsStr>>(args: &[S]) -> (bool, String) {
    let script = root().join("tests/python/kfp_ir.py");
    let python = python();
    let out = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let text = format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Set the value at a JSON pointer whose parent object must exist.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object {parent} in the compiled IR"))
        .insert(key.to_string(), value);
}

#[cfg(feature = "python-tests")]
#[test]
fn compiled_ir_parses_strictly_as_kfp_pipeline_spec_and_deployment_config() {
    let dir = tempfile::tempdir().unwrap();
    compile_all(dir.path());
    let (success, output) = kfp_ir(&[OsStr::new("check"), dir.path().as_os_str()]);
    assert!(success, "kfp_ir.py check failed:\n{output}");
    assert!(output.contains("ok   training.json"), "{output}");
}

/// The IR compiled for prod (Artifact Registry image, `defaultPipelineRoot`, BigQuery and
/// Vertex AI defaults) passes the same strict parse.
#[cfg(feature = "python-tests")]
#[test]
fn prod_compiled_ir_parses_strictly_as_kfp_pipeline_spec() {
    let dir = tempfile::tempdir().unwrap();
    let files = compile_all_with(
        dir.path(),
        &[
            ("ENVIRONMENT", "prod"),
            ("GCP_PROJECT_ID", "acme-churn-1"),
            ("PIPELINE_BUCKET", "gs://acme-pipelines/churn"),
            ("IMAGE_TAG", "3f2a9c1d0b7e"),
        ],
    );
    let training = read_json(files.iter().find(|f| f.ends_with("training.json")).unwrap());
    assert_eq!(
        training["defaultPipelineRoot"],
        "gs://acme-pipelines/churn/pipeline_root"
    );
    let (success, output) = kfp_ir(&[OsStr::new("check"), dir.path().as_os_str()]);
    assert!(success, "kfp_ir.py check failed on prod IR:\n{output}");
    assert!(output.contains("ok   training.json"), "{output}");
}

#[cfg(feature = "python-tests")]
#[test]
fn strict_parse_rejects_unknown_fields_and_wrong_types_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let files = compile_all(dir.path());
    let training = files.iter().find(|f| f.ends_with("training.json")).unwrap();
    let cases: [(&str, &str, Value, &str); 4] = [
        (
            // deploymentSpec is a free-form Struct inside PipelineSpec: only the separate
            // PipelineDeploymentConfig parse can catch a misspelt resources field.
            "misspelt resource field",
            "/deploymentSpec/executors/exec-train/container/resources",
            json!({ "resourceCpuLimt": "2" }),
            "PipelineDeploymentConfig.executors[exec-train].container.resources.resourceCpuLimt",
        ),
        (
            "number where the proto wants a string",
            "/deploymentSpec/executors/exec-train/container/resources",
            json!({ "resourceCpuLimit": 2 }),
            "PipelineDeploymentConfig.executors[exec-train].container.resources.resourceCpuLimit",
        ),
        (
            "string where the proto wants a bool",
            "/root/dag/tasks/train/cachingOptions",
            json!({ "enableCache": "yes" }),
            "PipelineSpec.root.dag.tasks[train].cachingOptions.enableCache",
        ),
        (
            "unknown parameterType enum value",
            "/components/comp-train/inputDefinitions/parameters/seed/parameterType",
            json!("INT"),
            "PipelineSpec.components[comp-train].inputDefinitions.parameters[seed].parameterType",
        ),
    ];
    for (what, pointer, value, field) in cases {
        let mut doc = read_json(training);
        set(&mut doc, pointer, value);
        let bad = tempfile::tempdir().unwrap();
        std::fs::write(
            bad.path().join("training.json"),
            serde_json::to_string_pretty(&doc).unwrap(),
        )
        .unwrap();
        let (success, output) = kfp_ir(&[OsStr::new("check"), bad.path().as_os_str()]);
        assert!(!success, "{what}: kfp_ir.py check accepted it:\n{output}");
        assert!(
            output.contains(&format!("field: {field}")),
            "{what}: the failure does not name `{field}`:\n{output}"
        );
    }
}

#[cfg(feature = "python-tests")]
#[test]
fn training_ir_matches_the_kfp_sdk_compiler_output() {
    let dir = tempfile::tempdir().unwrap();
    let files = compile_all(dir.path());
    let training = files.iter().find(|f| f.ends_with("training.json")).unwrap();
    let (success, output) = kfp_ir(&[OsStr::new("golden"), training.as_os_str()]);
    assert!(
        success,
        "our training IR differs from what kfp's compiler writes for the same pipeline:\n{output}"
    );
}

#[test]
fn ir_reference_checks_pass_on_compiled_pipelines_and_name_each_breakage() {
    let dir = tempfile::tempdir().unwrap();
    let files = compile_all(dir.path());
    for f in &files {
        let problems = mlops_pipeline::ir::problems(&read_json(f));
        assert!(problems.is_empty(), "{}: {problems:#?}", f.display());
    }

    let training = read_json(files.iter().find(|f| f.ends_with("training.json")).unwrap());
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "componentRef to a missing component",
            "/root/dag/tasks/train/componentRef/name",
            json!("comp-missing"),
            "componentRef `comp-missing` is not in components",
        ),
        (
            "producerTask that does not exist",
            "/root/dag/tasks/evaluate/inputs/artifacts/model/taskOutputArtifact/producerTask",
            json!("trainer"),
            "producerTask `trainer` is not a task of `root`",
        ),
        (
            "output key the producer does not have",
            "/root/dag/tasks/evaluate/inputs/artifacts/model/taskOutputArtifact/outputArtifactKey",
            json!("modle"),
            "`train` has no output artifacts `modle`",
        ),
        (
            "dependentTasks cycle",
            "/root/dag/tasks/extract-data/dependentTasks",
            json!(["evaluate"]),
            "the task graph has a cycle",
        ),
        (
            "dependentTasks naming an unknown task",
            "/root/dag/tasks/evaluate/dependentTasks",
            json!(["train", "tarin"]),
            "dependentTasks names unknown task `tarin`",
        ),
        (
            "pipeline parameter that does not exist",
            "/root/dag/tasks/train/inputs/parameters/seed/componentInputParameter",
            json!("sead"),
            "componentInputParameter `sead` is not an input of `root`",
        ),
        (
            "sub-DAG input the condition component does not declare",
            "/components/comp-condition-1/dag/tasks/register-model/inputs/artifacts/model/componentInputArtifact",
            json!("pipelinechannel--train-modle"),
            "componentInputArtifact `pipelinechannel--train-modle` is not an input of `comp-condition-1`",
        ),
        (
            "executorLabel with no executor",
            "/components/comp-train/executorLabel",
            json!("exec-nope"),
            "executorLabel `exec-nope` is not in deploymentSpec.executors",
        ),
        (
            "wrong schemaVersion",
            "/schemaVersion",
            json!("2.0.0"),
            "schemaVersion is `2.0.0`",
        ),
    ];
    for (what, pointer, value, expected) in cases {
        let mut doc = training.clone();
        set(&mut doc, pointer, value);
        let problems = mlops_pipeline::ir::problems(&doc);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem containing `{expected}`, got {problems:#?}"
        );
    }
}
