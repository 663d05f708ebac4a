//! `mlops pipelines submit|schedule|upload`, `mlops models` and `mlops endpoints` against the
//! loopback Vertex AI fake: every body validated against the aiplatform v1 discovery document,
//! every submitted `pipelineSpec` through the strict KFP check.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{fails, ok, run};
use crate::gcp::{mlops_cloud, Fake, BUCKET, PROJECT, REGION};
use vertex_pipelines::PIPELINE_DEFS;

fn location() -> String {
    format!("projects/{PROJECT}/locations/{REGION}")
}

#[test]
fn submit_sends_a_valid_pipeline_job_and_wait_follows_its_tasks() {
    let fake = Fake::start();
    let out = run(mlops_cloud(&fake).args([
        "pipelines",
        "submit",
        "training",
        "--param",
        "n_estimators=50",
        "--param",
        "learning_rate=0.2",
        "--wait",
        "--poll-seconds",
        "1",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("PIPELINE_STATE_SUCCEEDED"), "{stderr}");
    assert!(stderr.contains("✔ train"), "{stderr}");
    let created = fake.requests_to("aiplatform.projects.locations.pipelineJobs.create");
    assert_eq!(created.len(), 1, "{created:#?}");
    let job = &created[0]["body"];
    let runtime = &job["runtimeConfig"];
    // Typed by the IR: an integer and a float, not strings.
    assert_eq!(runtime["parameterValues"]["n_estimators"], json!(50));
    assert_eq!(runtime["parameterValues"]["learning_rate"], json!(0.2));
    assert_eq!(
        runtime["gcsOutputDirectory"],
        json!(format!("gs://{BUCKET}/pipeline_root"))
    );
    assert_eq!(
        job["serviceAccount"],
        json!(format!(
            "vertex-pipelines@{PROJECT}.iam.gserviceaccount.com"
        ))
    );
    assert_eq!(job["labels"]["git-sha"], json!("abc123def456"));
    assert_eq!(job["labels"]["pipeline"], json!("training"));
    let spec = &job["pipelineSpec"];
    assert_eq!(spec["pipelineInfo"]["name"], json!("training"));
    let image = format!("{REGION}-docker.pkg.dev/{PROJECT}/mlops/churn-mlops:abc123def456");
    assert!(
        spec.to_string().contains(&image),
        "the steps do not run {image}"
    );
    assert!(created[0]["query"]["pipelineJobId"][0]
        .as_str()
        .unwrap()
        .starts_with("training-"));
    fake.assert_no_violations();
}

#[test]
fn submit_refuses_unknown_and_mistyped_parameters_before_sending() {
    let fake = Fake::start();
    let err =
        fails(mlops_cloud(&fake).args(["pipelines", "submit", "training", "--param", "n_trees=5"]));
    assert!(err.contains("`n_trees` is not a parameter"), "{err}");
    let err = fails(mlops_cloud(&fake).args([
        "pipelines",
        "submit",
        "training",
        "--param",
        "max_depth=deep",
    ]));
    assert!(err.contains("max_depth"), "{err}");
    assert!(fake.requests().is_empty(), "something was sent");
}

#[test]
fn wait_exits_non_zero_with_the_failed_task_and_message() {
    let fake = Fake::start_with(&["--job-polls", "5"]);
    let child = mlops_cloud(&fake)
        .args([
            "pipelines",
            "submit",
            "training",
            "--wait",
            "--poll-seconds",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let job = loop {
        let created = fake.requests_to("aiplatform.projects.locations.pipelineJobs.create");
        if let Some(id) = created
            .first()
            .and_then(|c| c["query"]["pipelineJobId"][0].as_str())
        {
            break id.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job was created"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (status, body) = fake.control(
        "POST",
        &format!("/_fake/jobs/{job}/fail"),
        Some(&json!({"task": "train", "message": "out of memory in train"})),
    );
    assert_eq!(status, 200, "{body}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("PIPELINE_STATE_FAILED"), "{stderr}");
    assert!(stderr.contains("out of memory in train"), "{stderr}");
    fake.assert_no_violations();
}

#[test]
fn dry_run_prints_each_request_and_sends_nothing() {
    let fake = Fake::start();
    let out = ok(mlops_cloud(&fake).args(["--dry-run", "pipelines", "submit", "training"]));
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["dry_run"], json!(true));
    assert_eq!(
        line["method"],
        json!("aiplatform.projects.locations.pipelineJobs.create")
    );
    assert!(line["resource"].as_str().unwrap().starts_with(&location()));
    assert_eq!(line["body"]["displayName"], json!("training"));
    let out = ok(mlops_cloud(&fake).args(["--dry-run", "pipelines", "schedule"]));
    assert!(
        out.contains("aiplatform.projects.locations.schedules.create"),
        "{out}"
    );
    let out = ok(mlops_cloud(&fake).args(["--dry-run", "models", "promote", "3"]));
    assert!(out.contains("mergeVersionAliases"), "{out}");
    let out = ok(mlops_cloud(&fake).args([
        "--dry-run",
        "endpoints",
        "deploy",
        "--version",
        "3",
        "--traffic",
        "10",
    ]));
    assert!(out.contains("endpoints.deployModel"), "{out}");
    // Commands that only read print their reads and stop there.
    let out = ok(mlops_cloud(&fake).args([
        "--dry-run",
        "train",
        "--data",
        "bq://other-project.churn.customers",
        "--test-data",
        "gs://bucket/holdout.parquet",
        "--cv",
        "5",
    ]));
    let reads: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reads.len(), 2, "{out}");
    assert_eq!(reads[0]["method"], json!("bigquery.jobs.query"));
    assert_eq!(reads[0]["resource"], json!("projects/other-project"));
    assert_eq!(
        reads[0]["body"]["query"],
        json!("SELECT * FROM `other-project.churn.customers`")
    );
    assert_eq!(reads[1]["method"], json!("storage.objects.get"));
    assert_eq!(reads[1]["resource"], json!("gs://bucket/holdout.parquet"));
    let out = ok(mlops_cloud(&fake).args([
        "--dry-run",
        "pipelines",
        "run",
        "training",
        "--pipeline-root",
        &format!("gs://{BUCKET}/root"),
    ]));
    let plan: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(plan["pipeline_root"], json!(format!("gs://{BUCKET}/root")));
    assert!(
        plan["tasks"].as_array().unwrap().contains(&json!("train")),
        "{plan}"
    );
    assert!(
        fake.requests().is_empty(),
        "a dry run sent {:#?}",
        fake.requests()
    );
}

#[test]
fn schedule_is_idempotent_and_follows_new_commits() {
    let fake = Fake::start();
    let first = run(mlops_cloud(&fake).args(["pipelines", "schedule"]));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("create    training"), "{stderr}");
    let created = fake.requests_to("aiplatform.projects.locations.schedules.create");
    let scheduled = PIPELINE_DEFS
        .iter()
        .filter(|d| d.schedule.is_some())
        .count();
    assert_eq!(created.len(), scheduled);
    let training = created
        .iter()
        .find(|c| {
            c["body"]["displayName"]
                .as_str()
                .unwrap_or_default()
                .contains("training")
        })
        .unwrap_or_else(|| panic!("no training schedule in {created:#?}"));
    let body = &training["body"];
    assert_eq!(body["cron"], json!("TZ=Pacific/Auckland 0 3 * * 1"));
    assert_eq!(body["maxConcurrentRunCount"], json!("1"));
    assert!(body["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"].is_object());

    // The same commit again: nothing changes.
    let again = run(mlops_cloud(&fake).args(["pipelines", "schedule"]));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("unchanged training"), "{stderr}");
    assert_eq!(
        fake.requests_to("aiplatform.projects.locations.schedules.create")
            .len(),
        scheduled
    );
    assert!(fake
        .requests_to("aiplatform.projects.locations.schedules.patch")
        .is_empty());

    // A new commit (another image): the schedule is patched in place.
    let next = run(mlops_cloud(&fake)
        .env("IMAGE_TAG", "fedcba987654")
        .args(["pipelines", "schedule"]));
    let stderr = String::from_utf8_lossy(&next.stderr);
    assert!(next.status.success(), "{stderr}");
    assert!(stderr.contains("update    training"), "{stderr}");
    assert_eq!(
        fake.requests_to("aiplatform.projects.locations.schedules.patch")
            .len(),
        scheduled
    );
    fake.assert_no_violations();
}

/// Upload a model version straight to the fake, as the register-model step would.
fn seed_version(fake: &Fake, parent_model: Option<&str>) -> Value {
    let mut body = json!({"model": {
        "displayName": "churn_churn",
        "artifactUri": format!("gs://{BUCKET}/models/x"),
        "containerSpec": {"imageUri": "img", "command": ["mlops-serve"], "ports": [{"containerPort": 8080}],
                          "predictRoute": "/predict", "healthRoute": "/health"}
    }});
    if let Some(p) = parent_model {
        body["parentModel"] = json!(p);
    }
    let (status, op) = fake.control(
        "POST",
        &format!("/v1/{}/models:upload", location()),
        Some(&body),
    );
    assert_eq!(status, 200, "{op}");
    let name = op["name"].as_str().unwrap().to_string();
    loop {
        let (_, op) = fake.control("GET", &format!("/v1/{name}"), None);
        if op["done"] == json!(true) {
            return op["response"].clone();
        }
    }
}

#[test]
fn models_promote_and_rollback_move_the_champion_alias_on_vertex() {
    let fake = Fake::start();
    let first = seed_version(&fake, None);
    let model = first["model"].as_str().unwrap().to_string();
    seed_version(&fake, Some(&model));
    ok(mlops_cloud(&fake).args(["models", "promote", "1"]));
    ok(mlops_cloud(&fake).args(["models", "promote", "2"]));
    let listed = ok(mlops_cloud(&fake).args(["models", "list"]));
    let line = |v: &str| {
        listed
            .lines()
            .find(|l| l.trim_start().starts_with(v))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("2").contains("champion"), "{listed}");
    assert!(line("1").contains("previous-champion"), "{listed}");
    let back = ok(mlops_cloud(&fake).args(["models", "rollback"]));
    assert_eq!(back.trim(), "1");
    let shown: Value =
        serde_json::from_str(&ok(mlops_cloud(&fake).args(["models", "show", "champion"]))).unwrap();
    assert_eq!(shown["version"], json!("1"));
    let err = fails(mlops_cloud(&fake).args(["models", "rollback"]));
    assert!(err.contains("nothing to roll back to"), "{err}");
    let err = fails(mlops_cloud(&fake).args(["models", "promote", "9"]));
    assert!(err.contains("404"), "{err}");
    fake.assert_no_violations();
}

#[test]
fn endpoints_deploy_a_canary_with_its_share_of_the_traffic() {
    let fake = Fake::start();
    let first = seed_version(&fake, None);
    let model = first["model"].as_str().unwrap().to_string();
    seed_version(&fake, Some(&model));
    let v1 = ok(mlops_cloud(&fake).args(["endpoints", "deploy", "--version", "1"]));
    ok(mlops_cloud(&fake).args(["endpoints", "deploy", "--version", "2", "--traffic", "10"]));
    let deploys = fake.requests_to("aiplatform.projects.locations.endpoints.deployModel");
    assert_eq!(deploys.len(), 2);
    assert_eq!(deploys[1]["body"]["trafficSplit"]["0"], json!(10));
    assert_eq!(deploys[1]["body"]["trafficSplit"][v1.trim()], json!(90));
    let listed = ok(mlops_cloud(&fake).args(["endpoints", "list"]));
    assert!(
        listed.contains(" 90%") && listed.contains(" 10%"),
        "{listed}"
    );
    ok(mlops_cloud(&fake).args(["endpoints", "undeploy", "--deployed-model-id", v1.trim()]));
    let listed = ok(mlops_cloud(&fake).args(["endpoints", "list"]));
    assert!(
        listed.contains("100%") && !listed.contains(v1.trim()),
        "{listed}"
    );
    fake.assert_no_violations();
}

#[test]
fn cloud_commands_in_local_say_how_to_reach_the_cloud() {
    let err = fails(crate::common::mlops().args(["pipelines", "submit", "training"]));
    assert!(err.contains("ENVIRONMENT is local"), "{err}");
}

/// The fake's own tests: it accepts what Google accepts and refuses what Google refuses
/// (unknown fields, bad enums, >200 time series), fault injection, tokens, the metadata server.
#[test]
fn the_fake_passes_its_own_tests() {
    let out = std::process::Command::new(crate::common::python())
        .arg(crate::common::root().join("tests/python/test_gcp_fake.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
