//! The local runner executing compiled IR end to end: champion/challenger gate, caching,
//! SIGINT, and one clear error for each kind of bad input.

use std::path::Path;

use crate::common::*;
use serde_json::Value;

/// `mlops pipelines run training` with a private pipeline root and registry.
fn run_training(dir: &Path, extra: &[&str]) -> std::process::Output {
    let registry = format!("registry={}", dir.join("registry").display());
    let mut cmd = mlops();
    cmd.args(["pipelines", "run", "training", "--json", "--pipeline-root"])
        .arg(dir.join("root"))
        .args(["--param", &registry])
        .args(extra);
    run(&mut cmd)
}

fn record(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "run failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status(rec: &Value, task: &str) -> String {
    rec["tasks"][task]["status"]
        .as_str()
        .unwrap_or("absent")
        .to_string()
}

fn champion(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("registry/churn/aliases.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["champion"].clone()
}

#[test]
fn champion_challenger_gate_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    // Run 1: no champion yet, so the candidate is registered as version 1 and champion.
    let r1 = record(&run_training(dir.path(), &[]));
    assert_eq!(r1["status"], "succeeded");
    for t in [
        "extract-data",
        "validate-data",
        "train",
        "evaluate",
        "compare-champion",
        "condition-1/register-model",
    ] {
        assert_eq!(status(&r1, t), "succeeded", "{t} in run 1");
    }
    assert_eq!(
        r1["tasks"]["compare-champion"]["outputs"]["parameters"]["is_better"],
        true
    );
    assert_eq!(champion(dir.path()), 1);
    let metrics = &r1["tasks"]["evaluate"]["outputs"]["artifacts"]["metrics"]["metadata"];
    assert!(metrics["auc"].as_f64().unwrap() > 0.8, "{metrics}");
    let report = r1["tasks"]["evaluate"]["outputs"]["artifacts"]["report"]["uri"]
        .as_str()
        .unwrap();
    assert!(std::fs::read_to_string(report).unwrap().contains("<svg"));

    // Run 2, same inputs: extract-data reads a table behind a path, so it always runs (the
    // table may have changed); it extracts the same bytes, so the steps after it are served
    // from cache (keyed by their input artifacts' content); the candidate equals the champion,
    // so no new version.
    let r2 = record(&run_training(dir.path(), &[]));
    assert_eq!(status(&r2, "extract-data"), "succeeded", "never cached");
    for t in ["validate-data", "train", "evaluate"] {
        assert_eq!(status(&r2, t), "cached", "{t} in run 2");
    }
    assert_eq!(status(&r2, "compare-champion"), "succeeded");
    assert_eq!(status(&r2, "condition-1"), "skipped");
    assert_eq!(champion(dir.path()), 1);

    // A worse configuration trains a weaker model that does not move the champion.
    let r3 = record(&run_training(dir.path(), &["--param", "n_estimators=1"]));
    assert_eq!(status(&r3, "train"), "succeeded");
    assert_eq!(
        r3["tasks"]["compare-champion"]["outputs"]["parameters"]["is_better"],
        false
    );
    assert_eq!(status(&r3, "condition-1"), "skipped");
    assert_eq!(champion(dir.path()), 1);
    let versions = std::fs::read_dir(dir.path().join("registry/churn/versions"))
        .unwrap()
        .count();
    assert_eq!(versions, 1);

    // --no-cache runs everything again.
    let r4 = record(&run_training(dir.path(), &["--no-cache"]));
    assert_eq!(status(&r4, "train"), "succeeded");
    // The run record is on disk too.
    let job = r4["job_id"].as_str().unwrap();
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("root").join(job).join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(on_disk["status"], "succeeded");
}

/// The source table replaced at the same path: the next run reads the new rows (extract-data is
/// never cached, and the steps after it are keyed by the content of the dataset they get).
#[test]
fn a_table_replaced_at_the_same_path_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("table.csv");
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let write_rows = |n: usize| std::fs::write(&data, lines[..=n].join("\n") + "\n").unwrap();
    let param = format!("data_path={}", data.display());
    let rows = |rec: &Value| rec["tasks"]["validate-data"]["outputs"]["parameters"]["rows"].clone();

    write_rows(3000);
    let r1 = record(&run_training(dir.path(), &["--param", &param]));
    assert_eq!(rows(&r1), 3000);
    write_rows(5000);
    let r2 = record(&run_training(dir.path(), &["--param", &param]));
    for t in ["extract-data", "validate-data", "train", "evaluate"] {
        assert_eq!(status(&r2, t), "succeeded", "{t} after the table changed");
    }
    assert_eq!(rows(&r2), 5000);
}

#[test]
fn sigint_records_the_run_as_interrupted_and_the_next_run_resumes() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let registry = format!("registry={}", dir.path().join("registry").display());
    let mut child = mlops()
        .args(["pipelines", "run", "training", "--pipeline-root"])
        .arg(dir.path().join("root"))
        .args(["--param", &registry, "--param", "n_estimators=20000"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Wait until training is under way, then interrupt.
    for line in lines.by_ref() {
        if line.unwrap().contains("▶ train") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "an interrupted run must exit non-zero");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    let jobs: Vec<_> = std::fs::read_dir(dir.path().join("root"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("training-"))
        .collect();
    assert_eq!(jobs.len(), 1);
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(jobs[0].path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(rec["status"], "interrupted");
    assert_eq!(rec["tasks"]["train"]["status"], "interrupted");
    assert_eq!(rec["tasks"]["extract-data"]["status"], "succeeded");
    // Nothing was registered, and the finished tasks' artifacts are intact.
    assert!(!dir.path().join("registry/churn/aliases.json").exists());
    let dataset = rec["tasks"]["extract-data"]["outputs"]["artifacts"]["dataset"]["uri"]
        .as_str()
        .unwrap();
    assert!(Path::new(dataset).join("data.parquet").exists());
    // The next run resumes: extract-data runs again (never cached: its table may have
    // changed) and extracts the same bytes, so validate-data comes from the cache.
    let r = record(&run_training(dir.path(), &[]));
    assert_eq!(status(&r, "extract-data"), "succeeded");
    assert_eq!(status(&r, "validate-data"), "cached");
    assert_eq!(status(&r, "train"), "succeeded");
    assert_eq!(champion(dir.path()), 1);
}

#[test]
fn bad_pipeline_names_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let err = fails(
        mlops()
            .args(["pipelines", "run", "nope", "--pipeline-root"])
            .arg(&root),
    );
    assert!(
        err.contains("unknown pipeline `nope`; pipelines: training"),
        "{err}"
    );
    // `pipelines run training --param PARAM`, expected to fail.
    let with_param = |param: &str| {
        fails(
            mlops()
                .args(["pipelines", "run", "training", "--param", param])
                .arg("--pipeline-root")
                .arg(&root),
        )
    };
    let err = with_param("depth=3");
    assert!(
        err.contains("`depth` is not a parameter of this pipeline") && err.contains("max_depth"),
        "{err}"
    );
    let err = with_param("max_depth=deep");
    assert!(
        err.contains("`max_depth` (NUMBER_INTEGER): `deep` is not an integer"),
        "{err}"
    );
    let err = with_param("max_depth");
    assert!(err.contains("is not name=value"), "{err}");
}

#[test]
fn malformed_and_non_kfp_ir_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let err = fails(
        mlops()
            .args(["pipelines", "run", "training", "--ir"])
            .arg(&bad)
            .arg("--pipeline-root")
            .arg(dir.path()),
    );
    assert!(
        err.contains("invalid pipeline IR") && err.contains("not JSON"),
        "{err}"
    );
    std::fs::write(
        &bad,
        r#"{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"}"#,
    )
    .unwrap();
    let err = fails(
        mlops()
            .args(["pipelines", "run", "training", "--ir"])
            .arg(&bad)
            .arg("--pipeline-root")
            .arg(dir.path()),
    );
    assert!(
        err.contains("schemaVersion is missing: this is not a KFP v2 PipelineSpec"),
        "{err}"
    );
}

#[test]
fn a_failing_component_stops_its_dependants_and_names_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_training(dir.path(), &["--param", "data_path=/nonexistent/churn.csv"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("task `extract-data` failed"), "{err}");
    assert!(
        err.contains("last lines of") && err.contains("/nonexistent/churn.csv"),
        "the log tail should show the cause: {err}"
    );
    let job = std::fs::read_dir(dir.path().join("root"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("training-"))
        .unwrap();
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(job.path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["tasks"]["extract-data"]["status"], "failed");
    assert_eq!(rec["tasks"]["train"]["status"], "not_run");
}

/// A one-task IR whose executor is a shell command, to test the runner's contract checks.
fn one_task_ir(dir: &Path, script: &str) -> std::path::PathBuf {
    let ir = serde_json::json!({
        "pipelineInfo": {"name": "probe"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "test",
        "root": {"dag": {"tasks": {"probe": {
            "taskInfo": {"name": "probe"},
            "componentRef": {"name": "comp-probe"},
            "cachingOptions": {"enableCache": false}
        }}}},
        "components": {"comp-probe": {
            "executorLabel": "exec-probe",
            "outputDefinitions": {"parameters": {"answer": {"parameterType": "NUMBER_INTEGER"}}}
        }},
        "deploymentSpec": {"executors": {"exec-probe": {"container": {
            "image": "probe", "command": ["sh", "-c", script, "probe", "{{$.outputs.output_file}}"]
        }}}}
    });
    let path = dir.join("probe.json");
    std::fs::write(&path, ir.to_string()).unwrap();
    path
}

fn run_ir(ir: &Path, root: &Path) -> String {
    fails(
        mlops()
            .args(["pipelines", "run", "probe", "--ir"])
            .arg(ir)
            .arg("--pipeline-root")
            .arg(root),
    )
}

#[test]
fn component_exit_codes_and_executor_output_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_ir(
        &one_task_ir(dir.path(), "echo boom >&2; exit 3"),
        dir.path(),
    );
    assert!(
        err.contains("task `probe` failed: the component exited with exit status: 3")
            && err.contains("boom"),
        "{err}"
    );
    let err = run_ir(
        &one_task_ir(dir.path(), "echo 'not json' > \"$1\""),
        dir.path(),
    );
    assert!(err.contains("wrote invalid executor output"), "{err}");
    let err = run_ir(
        &one_task_ir(
            dir.path(),
            "echo '{\"parameterValues\": {\"answer\": \"x\"}}' > \"$1\"",
        ),
        dir.path(),
    );
    assert!(
        err.contains("output parameter `answer` is \"x\", not a NUMBER_INTEGER"),
        "{err}"
    );
    let err = run_ir(&one_task_ir(dir.path(), "true"), dir.path());
    assert!(
        err.contains("output parameter `answer` was not written"),
        "{err}"
    );
    // And the contract works when followed.
    let ok_ir = one_task_ir(
        dir.path(),
        "echo '{\"parameterValues\": {\"answer\": 42}}' > \"$1\"",
    );
    let out = ok(mlops()
        .args(["pipelines", "run", "probe", "--json", "--ir"])
        .arg(&ok_ir)
        .arg("--pipeline-root")
        .arg(dir.path()));
    let rec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rec["tasks"]["probe"]["outputs"]["parameters"]["answer"], 42);
}

#[test]
fn list_shows_next_runs_in_auckland_time() {
    let out = ok(mlops().args(["pipelines", "list"]));
    assert!(
        out.contains("training") && out.contains("Pacific/Auckland") && out.contains("NZ"),
        "{out}"
    );
}

/// `mlops pipelines run NAME` with the same private root and registry as `run_training`, and
/// private predictions and metrics tables.
fn run_named(dir: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = mlops();
    cmd.args(["pipelines", "run", name, "--json", "--pipeline-root"])
        .arg(dir.join("root"))
        .args([
            "--param",
            &format!("predictions_table={}", dir.join("predictions").display()),
        ])
        .args([
            "--param",
            &format!("metrics_table={}", dir.join("metrics.jsonl").display()),
        ])
        .args(extra);
    if name == "inference" {
        cmd.args([
            "--param",
            &format!("registry={}", dir.join("registry").display()),
        ]);
    }
    run(&mut cmd)
}

/// `mlops gen-data` from the shipped table with ids, shifted by `shift`.
fn population(dir: &Path, shift: &str, seed: &str) -> std::path::PathBuf {
    let out = dir.join(format!("customers-{shift}.parquet"));
    ok(mlops()
        .args([
            "gen-data",
            "--rows",
            "5000",
            "--seed",
            seed,
            "--shift",
            shift,
            "--id-column",
            "id",
            "--out",
        ])
        .arg(&out));
    out
}

#[test]
fn inference_scores_with_the_champion_and_detects_drift_of_a_shifted_population() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No champion yet: one clear refusal naming the way out.
    let out = run_named(d, "inference", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no champion"), "{stderr}");
    assert!(stderr.contains("training pipeline"), "{stderr}");

    record(&run_training(d, &[]));
    let same = population(d, "0", "1");
    let data = format!("data_path={}", same.display());
    let rec = record(&run_named(
        d,
        "inference",
        &["--param", &data, "--param", "id_column=id"],
    ));
    let predict = &rec["tasks"]["batch-predict"]["outputs"]["parameters"];
    assert_eq!(predict["model_version"], "1");
    assert_eq!(predict["rows"], 5000);
    let drift = &rec["tasks"]["prediction-drift"]["outputs"]["parameters"];
    assert_eq!(drift["drift_detected"], false, "{drift}");
    assert_eq!(drift["drifted_features"], "", "{drift}");

    let shifted = population(d, "0.5", "2");
    let data = format!("data_path={}", shifted.display());
    let rec = record(&run_named(
        d,
        "inference",
        &["--param", &data, "--param", "id_column=id"],
    ));
    let drift = &rec["tasks"]["prediction-drift"]["outputs"]["parameters"];
    assert_eq!(drift["drift_detected"], true, "{drift}");
    let moved = drift["drifted_features"].as_str().unwrap();
    for column in ["tenure", "contract"] {
        assert!(
            moved.split(',').any(|c| c == column),
            "{column} not in {moved}"
        );
    }
    // A column the shift does not touch is not reported.
    assert!(!moved.split(',').any(|c| c == "female"), "{moved}");
    let report = std::fs::read_to_string(
        rec["tasks"]["prediction-drift"]["outputs"]["artifacts"]["report"]["uri"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        report.contains("<svg") && report.contains("tenure"),
        "report without charts"
    );

    // One Parquet file per run in the predictions table, in the table's layout.
    let mut files: Vec<_> = std::fs::read_dir(d.join("predictions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let df = mlops_core::table::read_table(&files[0]).unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "probability",
            "label",
            "model_name",
            "model_version",
            "scored_at"
        ]
    );

    // Outcomes for the first batch, then the monitoring pipeline over both batches: the
    // shifted batch has no outcome yet and is counted, not dropped.
    let outcomes = d.join("outcomes");
    std::fs::create_dir_all(&outcomes).unwrap();
    ok(mlops()
        .args(["gen-outcomes", "--predictions"])
        .arg(&files[0])
        .arg("--data")
        .arg(&same)
        .arg("--out")
        .arg(outcomes.join("batch1.parquet"))
        .args(["--fraction", "1"]));
    let table = format!("outcomes_table={}", outcomes.display());
    let rec = record(&run_named(
        d,
        "monitoring",
        &["--param", &table, "--param", "id_column=id"],
    ));
    let perf = &rec["tasks"]["performance-monitoring"]["outputs"]["parameters"];
    assert_eq!(perf["rows_without_outcome"], 5000, "{perf}");
    let auc = perf["auc"].as_f64().unwrap();
    let estimated = perf["estimated_auc"].as_f64().unwrap();
    assert!(auc > 0.75, "{perf}");
    assert!(estimated > 0.75, "{perf}");
    // Every metric went to the metrics table, which `mlops metrics show` reads.
    let lines = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert!(lines.contains("\"performance\"") && lines.contains("\"prediction_drift\""));
}
