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
            pipeline_root: PipelineRoot::Local(self.root()),
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

#[test]
fn a_step_gets_its_container_env() {
    let mut spec = ir(
        json!({}),
        json!({"probe": {"taskInfo": {"name": "probe"}, "componentRef": {"name": "comp-probe"}}}),
        json!({"comp-probe": {
            "executorLabel": "exec-probe",
            "outputDefinitions": {"parameters": {"project": {"parameterType": "STRING"}}}
        }}),
        &[(
            "exec-probe",
            json!([
                "sh",
                "-c",
                emit("project", "\\\"$GCP_PROJECT_ID\\\""),
                "probe",
                "{{$.outputs.output_file}}"
            ]),
        )],
    );
    spec["deploymentSpec"]["executors"]["exec-probe"]["container"]["env"] =
        json!([{"name": "GCP_PROJECT_ID", "value": "from-the-ir"}]);
    let f = Fixture::new(&spec);
    let record = f.run(&[]).unwrap();
    assert_eq!(
        record.tasks["probe"].outputs.parameters["project"],
        json!("from-the-ir")
    );
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

/// A bucket in a folder: `gs://b/x` is `<dir>/b/x`. Records what was copied, and can refuse
/// uploads.
#[derive(Default)]
struct FolderStore {
    dir: PathBuf,
    fail_uploads: bool,
    uploads: std::sync::Mutex<Vec<String>>,
    downloads: std::sync::Mutex<Vec<String>>,
}

impl FolderStore {
    fn object(&self, uri: &str) -> PathBuf {
        self.dir.join(uri.strip_prefix("gs://").unwrap())
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap())?;
        std::fs::copy(from, to)?;
    }
    Ok(())
}

impl ArtifactStore for FolderStore {
    fn upload(&self, local: &Path, uri: &str) -> std::result::Result<(), String> {
        if self.fail_uploads {
            return Err("403 Forbidden: the caller lacks storage.objects.create".into());
        }
        self.uploads.lock().unwrap().push(uri.to_string());
        copy_tree(local, &self.object(uri)).map_err(|e| e.to_string())
    }

    fn download(&self, uri: &str, local: &Path) -> std::result::Result<(), String> {
        self.downloads.lock().unwrap().push(uri.to_string());
        let object = self.object(uri);
        if !object.exists() {
            return Err(format!("404 no such object: {uri}"));
        }
        copy_tree(&object, local).map_err(|e| e.to_string())
    }
}

impl Fixture {
    fn staging(&self) -> PathBuf {
        self.dir.path().join("staging")
    }

    fn run_gcs(
        &self,
        store: &std::sync::Arc<FolderStore>,
        params: &[(&str, &str)],
    ) -> Result<RunRecord> {
        let opts = RunOptions {
            pipeline_root: PipelineRoot::Gcs {
                uri: "gs://b/root".into(),
                staging: self.staging(),
                store: store.clone(),
            },
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cache: true,
            component_binary: self.ir.clone(),
            max_parallel: 2,
        };
        run(&self.ir, &opts, &AtomicBool::new(false), &|_| {})
    }

    fn store(&self, fail_uploads: bool) -> std::sync::Arc<FolderStore> {
        std::sync::Arc::new(FolderStore {
            dir: self.dir.path().join("bucket"),
            fail_uploads,
            ..FolderStore::default()
        })
    }
}

#[test]
fn a_gcs_root_gives_gs_uris_and_uploads_outputs_and_the_run_record() {
    let f = Fixture::new(&copy_then_count());
    let src = source(&f, "a,b\n1,2\n");
    let store = f.store(false);
    let r = f.run_gcs(&store, &[("source", &src)]).unwrap();
    let job = &r.job_id;
    let uri = format!("gs://b/root/{job}/copy/data");
    assert_eq!(r.tasks["copy"].outputs.artifacts["data"].uri, uri);
    // `count` read the artifact through the mount stand-in (`.path` placeholder).
    assert_eq!(r.tasks["count"].outputs.parameters["bytes"], json!(8));
    let bucket = f.dir.path().join("bucket/b/root").join(job);
    assert_eq!(
        std::fs::read_to_string(bucket.join("copy/data/part.txt")).unwrap(),
        "a,b\n1,2\n"
    );
    let uploaded: RunRecord =
        serde_json::from_str(&std::fs::read_to_string(bucket.join("run.json")).unwrap()).unwrap();
    assert_eq!(uploaded, r);
    assert_eq!(
        *store.uploads.lock().unwrap(),
        [uri, format!("gs://b/root/{job}/run.json")]
    );
    // Record, logs and artifacts stay local too, in the stand-in's copy of the root.
    let local_job = f.staging().join("gcs/b/root").join(job);
    assert!(local_job.join("run.json").exists());
    assert!(local_job.join("copy/log.txt").exists());
    assert!(local_job.join("copy/data/part.txt").exists());
    assert!(f.staging().join("gcs/b/root/.cache").is_dir());
    assert!(store.downloads.lock().unwrap().is_empty());
    assert!(!f.root().exists(), "nothing under a local root");
}

#[test]
fn a_step_under_a_gcs_root_is_told_the_mount_stand_in() {
    let f = Fixture::new(&ir(
        json!({}),
        json!({"probe": {"taskInfo": {"name": "probe"}, "componentRef": {"name": "comp-probe"}}}),
        json!({"comp-probe": {
            "executorLabel": "exec-probe",
            "outputDefinitions": {"parameters": {"mount": {"parameterType": "STRING"}}}
        }}),
        &[(
            "exec-probe",
            json!([
                "sh",
                "-c",
                emit("mount", "\\\"$MLOPS_GCS_MOUNT\\\""),
                "probe",
                "{{$.outputs.output_file}}"
            ]),
        )],
    ));
    let r = f.run_gcs(&f.store(false), &[]).unwrap();
    let mount = f.staging().join("gcs").display().to_string();
    assert_eq!(r.tasks["probe"].outputs.parameters["mount"], json!(mount));
}

#[test]
fn cached_outputs_missing_from_staging_are_downloaded() {
    // `copy` cached this time, `count` never: the second run reuses `copy` and runs `count`
    // on its artifact, which only the bucket still has.
    let mut doc = copy_then_count();
    doc["root"]["dag"]["tasks"]["copy"]["cachingOptions"]["enableCache"] = json!(true);
    doc["root"]["dag"]["tasks"]["count"]["cachingOptions"]["enableCache"] = json!(false);
    let f = Fixture::new(&doc);
    let src = source(&f, "a,b\n1,2\n");
    let store = f.store(false);
    let r1 = f.run_gcs(&store, &[("source", &src)]).unwrap();
    let staged_job = f.staging().join("gcs/b/root").join(&r1.job_id);
    std::fs::remove_dir_all(&staged_job).unwrap();
    let r2 = f.run_gcs(&store, &[("source", &src)]).unwrap();
    assert_eq!(status(&r2, "copy"), TaskStatus::Cached);
    assert_eq!(status(&r2, "count"), TaskStatus::Succeeded);
    assert_eq!(r2.tasks["count"].outputs.parameters["bytes"], json!(8));
    let uri = format!("gs://b/root/{}/copy/data", r1.job_id);
    assert_eq!(r2.tasks["copy"].outputs.artifacts["data"].uri, uri);
    assert_eq!(*store.downloads.lock().unwrap(), [uri]);
    assert!(staged_job.join("copy/data/part.txt").exists());
}

#[test]
fn a_failed_upload_fails_the_task_naming_the_uri() {
    let f = Fixture::new(&copy_then_count());
    let src = source(&f, "a,b\n1,2\n");
    let err = f
        .run_gcs(&f.store(true), &[("source", &src)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task `copy` failed: cannot upload output artifact `data` to gs://b/root/")
            && err.contains("/copy/data: 403 Forbidden"),
        "{err}"
    );
    let job = std::fs::read_dir(f.staging().join("gcs/b/root"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.ends_with(".cache"))
        .unwrap();
    let record: RunRecord =
        serde_json::from_str(&std::fs::read_to_string(job.join("run.json")).unwrap()).unwrap();
    assert_eq!(status(&record, "copy"), TaskStatus::Failed);
    assert_eq!(status(&record, "count"), TaskStatus::NotRun);
    assert!(
        !f.staging().join("gcs/b/root/.cache").exists(),
        "no cache entry for outputs the bucket lacks"
    );
}
