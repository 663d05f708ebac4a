//! The runner on small IR files whose executors are shell commands.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::{json, Value};

use super::*;

/// An IR with `tasks` in the root DAG, `components` and `executors` (label → command).
fn ir(root_params: Value, tasks: Value, components: Value, executors: &[(&str, Value)]) -> Value {
    let executors: serde_json::Map<String, Value> = executors
        .iter()
        .map(|(label, command)| {
            let container = json!({"container": {"image": "sh", "command": command}});
            (label.to_string(), container)
        })
        .collect();
    json!({
        "pipelineInfo": {"name": "probe"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "test",
        "root": {"inputDefinitions": {"parameters": root_params}, "dag": {"tasks": tasks}},
        "components": components,
        "deploymentSpec": {"executors": executors}
    })
}

struct Fixture {
    dir: tempfile::TempDir,
    ir: PathBuf,
}

impl Fixture {
    fn new(ir: &Value) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ir.json");
        std::fs::write(&path, ir.to_string()).unwrap();
        Fixture { dir, ir: path }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn run(&self, params: &[(&str, &str)]) -> Result<RunRecord> {
        let opts = RunOptions {
            pipeline_root: self.root(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cache: true,
            // Any file will do: only its digest enters the cache key.
            component_binary: self.ir.clone(),
            max_parallel: 2,
        };
        run(&self.ir, &opts, &AtomicBool::new(false), &|_| {})
    }
}

fn status(record: &RunRecord, task: &str) -> TaskStatus {
    record.tasks[task].status
}

/// Write `{"parameterValues": {NAME: VALUE}}` to the executor output file (`$1`).
fn emit(name: &str, value_shell: &str) -> String {
    format!(r#"printf '{{"parameterValues": {{"{name}": %s}}}}' "{value_shell}" > "$1""#)
}

#[test]
fn a_step_runs_in_its_task_folder() {
    let f = Fixture::new(&ir(
        json!({}),
        json!({"probe": {"taskInfo": {"name": "probe"}, "componentRef": {"name": "comp-probe"}}}),
        json!({"comp-probe": {
            "executorLabel": "exec-probe",
            "outputDefinitions": {"parameters": {
                "cwd": {"parameterType": "STRING"},
                "workdir": {"parameterType": "STRING"}
            }}
        }}),
        &[(
            "exec-probe",
            json!([
                "sh",
                "-c",
                r#"printf '{"parameterValues": {"cwd": "%s", "workdir": "%s"}}' "$(pwd -P)" "$MLOPS_WORKDIR" > "$1""#,
                "probe",
                "{{$.outputs.output_file}}"
            ]),
        )],
    ));
    let record = f.run(&[]).unwrap();
    let cwd = record.tasks["probe"].outputs.parameters["cwd"].clone();
    let task_dir = f.root().join(&record.job_id).join("probe");
    let expected = task_dir.canonicalize().unwrap().display().to_string();
    assert_eq!(cwd, json!(expected));
    // Where the caller started the run, for components that resolve relative path parameters.
    let caller = std::env::current_dir().unwrap().display().to_string();
    assert_eq!(
        record.tasks["probe"].outputs.parameters["workdir"],
        json!(caller)
    );
    assert!(task_dir.join("log.txt").exists());
}

/// `copy` (never cached) copies the file named by `source` into its `data` artifact;
/// `count` (cached) reports the artifact's byte count.
fn copy_then_count() -> Value {
    ir(
        json!({"source": {"parameterType": "STRING"}}),
        json!({
            "copy": {
                "taskInfo": {"name": "copy"},
                "componentRef": {"name": "comp-copy"},
                "inputs": {"parameters": {"source": {"componentInputParameter": "source"}}},
                "cachingOptions": {"enableCache": false}
            },
            "count": {
                "taskInfo": {"name": "count"},
                "componentRef": {"name": "comp-count"},
                "dependentTasks": ["copy"],
                "inputs": {"artifacts": {"data": {"taskOutputArtifact": {"producerTask": "copy", "outputArtifactKey": "data"}}}},
                "cachingOptions": {"enableCache": true}
            }
        }),
        json!({
            "comp-copy": {
                "executorLabel": "exec-copy",
                "inputDefinitions": {"parameters": {"source": {"parameterType": "STRING"}}},
                "outputDefinitions": {"artifacts": {"data": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}}}
            },
            "comp-count": {
                "executorLabel": "exec-count",
                "inputDefinitions": {"artifacts": {"data": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}}},
                "outputDefinitions": {"parameters": {"bytes": {"parameterType": "NUMBER_INTEGER"}}}
            }
        }),
        &[
            (
                "exec-copy",
                json!([
                    "sh",
                    "-c",
                    "mkdir -p \"$1\" && cp \"$2\" \"$1/part.txt\"",
                    "copy",
                    "{{$.outputs.artifacts['data'].path}}",
                    "{{$.inputs.parameters['source']}}"
                ]),
            ),
            (
                "exec-count",
                json!([
                    "sh",
                    "-c",
                    emit("bytes", "$(wc -c < \"$2/part.txt\")"),
                    "count",
                    "{{$.outputs.output_file}}",
                    "{{$.inputs.artifacts['data'].path}}"
                ]),
            ),
        ],
    )
}

fn source(f: &Fixture, text: &str) -> String {
    let path = f.dir.path().join("table.csv");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn same_artifact_bytes_in_a_new_job_are_served_from_cache() {
    let f = Fixture::new(&copy_then_count());
    let src = source(&f, "a,b\n1,2\n");
    let r1 = f.run(&[("source", &src)]).unwrap();
    assert_eq!(status(&r1, "copy"), TaskStatus::Succeeded);
    assert_eq!(status(&r1, "count"), TaskStatus::Succeeded);
    let r2 = f.run(&[("source", &src)]).unwrap();
    assert_ne!(r1.job_id, r2.job_id);
    assert_eq!(
        status(&r2, "copy"),
        TaskStatus::Succeeded,
        "copy is never cached"
    );
    assert_eq!(
        status(&r2, "count"),
        TaskStatus::Cached,
        "same bytes, new URI"
    );
    assert_eq!(r2.tasks["count"].outputs.parameters["bytes"], json!(8));
}

#[test]
fn changed_artifact_bytes_at_the_same_path_run_again() {
    let f = Fixture::new(&copy_then_count());
    let src = source(&f, "a,b\n1,2\n");
    let r1 = f.run(&[("source", &src)]).unwrap();
    assert_eq!(r1.tasks["count"].outputs.parameters["bytes"], json!(8));
    // Same path, same parameters, more rows: the old result must not come back.
    source(&f, "a,b\n1,2\n3,4\n");
    let r2 = f.run(&[("source", &src)]).unwrap();
    assert_eq!(status(&r2, "count"), TaskStatus::Succeeded);
    assert_eq!(r2.tasks["count"].outputs.parameters["bytes"], json!(12));
}

/// `flag` emits `go` (from the `go` pipeline parameter); `condition-1` runs `after` when it
/// is true.
fn gated() -> Value {
    let after_task = json!({"taskInfo": {"name": "after"}, "componentRef": {"name": "comp-after"}});
    ir(
        json!({"go": {"parameterType": "BOOLEAN", "defaultValue": true, "isOptional": true}}),
        json!({
            "flag": {
                "taskInfo": {"name": "flag"},
                "componentRef": {"name": "comp-flag"},
                "inputs": {"parameters": {"go": {"componentInputParameter": "go"}}}
            },
            "condition-1": {
                "taskInfo": {"name": "condition-1"},
                "componentRef": {"name": "comp-condition-1"},
                "dependentTasks": ["flag"],
                "inputs": {"parameters": {"pipelinechannel--flag-go": {"taskOutputParameter": {"producerTask": "flag", "outputParameterKey": "go"}}}},
                "triggerPolicy": {"condition": "inputs.parameter_values['pipelinechannel--flag-go'] == true"}
            }
        }),
        json!({
            "comp-flag": {
                "executorLabel": "exec-flag",
                "inputDefinitions": {"parameters": {"go": {"parameterType": "BOOLEAN"}}},
                "outputDefinitions": {"parameters": {"go": {"parameterType": "BOOLEAN"}}}
            },
            "comp-condition-1": {
                "inputDefinitions": {"parameters": {"pipelinechannel--flag-go": {"parameterType": "BOOLEAN"}}},
                "dag": {"tasks": {"after": after_task}}
            },
            "comp-after": {"executorLabel": "exec-after"}
        }),
        &[
            (
                "exec-flag",
                json!([
                    "sh",
                    "-c",
                    emit("go", "$2"),
                    "flag",
                    "{{$.outputs.output_file}}",
                    "{{$.inputs.parameters['go']}}"
                ]),
            ),
            ("exec-after", json!(["true"])),
        ],
    )
}

#[test]
fn a_trigger_condition_runs_or_skips_its_sub_dag() {
    let f = Fixture::new(&gated());
    let r = f.run(&[]).unwrap();
    assert_eq!(status(&r, "condition-1"), TaskStatus::Succeeded);
    assert_eq!(status(&r, "condition-1/after"), TaskStatus::Succeeded);
    let r = f.run(&[("go", "false")]).unwrap();
    assert_eq!(status(&r, "condition-1"), TaskStatus::Skipped);
    assert!(!r.tasks.contains_key("condition-1/after"));
}

#[test]
fn a_failed_step_is_recorded_and_its_dependants_do_not_run() {
    let mut doc = copy_then_count();
    doc["root"]["inputDefinitions"]["parameters"]["source"]["defaultValue"] =
        json!("/nonexistent/table.csv");
    let f = Fixture::new(&doc);
    let err = f.run(&[]).unwrap_err().to_string();
    assert!(
        err.contains("task `copy` failed: the component exited with"),
        "{err}"
    );
    let job = std::fs::read_dir(f.root())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let record: RunRecord =
        serde_json::from_str(&std::fs::read_to_string(job.join("run.json")).unwrap()).unwrap();
    assert_eq!(record.status, "failed");
    assert_eq!(status(&record, "copy"), TaskStatus::Failed);
    assert_eq!(status(&record, "count"), TaskStatus::NotRun);
}

#[test]
fn params_resolve_by_declared_type_with_defaults() {
    let spec: PipelineSpec = serde_json::from_value(gated()).unwrap();
    let p = resolve_params(&spec, &[]).unwrap();
    assert_eq!(p["go"], json!(true));
    let p = resolve_params(&spec, &[("go".into(), "false".into())]).unwrap();
    assert_eq!(p["go"], json!(false));
    let err = resolve_params(&spec, &[("go".into(), "maybe".into())]).unwrap_err();
    assert!(err.to_string().contains("`go` (BOOLEAN)"), "{err}");
    let err = resolve_params(&spec, &[("stop".into(), "1".into())]).unwrap_err();
    assert!(
        err.to_string().contains("`stop` is not a parameter"),
        "{err}"
    );
    let spec: PipelineSpec = serde_json::from_value(copy_then_count()).unwrap();
    let err = resolve_params(&spec, &[]).unwrap_err();
    assert!(err.to_string().contains("`source` has no default"), "{err}");
}

#[test]
fn load_ir_refuses_what_is_not_a_sound_pipeline_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{").unwrap();
    let err = load_ir(&path).unwrap_err().to_string();
    assert!(
        err.contains("invalid pipeline IR") && err.contains("not JSON"),
        "{err}"
    );
    let mut doc = copy_then_count();
    doc["root"]["dag"]["tasks"]["count"]["dependentTasks"] = json!(["cpy"]);
    std::fs::write(&path, doc.to_string()).unwrap();
    let err = load_ir(&path).unwrap_err().to_string();
    assert!(
        err.contains("dependentTasks names unknown task `cpy`"),
        "{err}"
    );
    let err = load_ir(Path::new("/nonexistent/ir.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read `/nonexistent/ir.json`"), "{err}");
}
