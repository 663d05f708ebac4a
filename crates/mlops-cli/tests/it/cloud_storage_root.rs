//! `mlops pipelines run --pipeline-root gs://…`: a local run (ENVIRONMENT=local) whose
//! artifacts go to Cloud Storage as on Vertex AI, against fake-gcs-server behind the fake's
//! validating proxy (every Storage request checked against the storage v1 discovery document).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{fails, mlops, run};
use crate::gcp::{gcs_emulator, Fake, BUCKET, PROJECT};

/// `mlops` locally with a private `MLOPS_LOCAL_ROOT`, Cloud Storage at `fake`.
fn mlops_local_gcs(fake: &Fake, local_root: &Path) -> Command {
    let mut cmd = mlops();
    cmd.env("ENVIRONMENT", "local")
        .env("MLOPS_LOCAL_ROOT", local_root)
        .env("GCP_PROJECT_ID", PROJECT)
        .env("MLOPS_GCP_AUTH", "anonymous")
        .env("STORAGE_EMULATOR_HOST", fake.url())
        // Never the real metadata server, whatever the credentials setting.
        .env(
            "GCE_METADATA_HOST",
            format!("127.0.0.1:{}", fake.process.port),
        )
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json");
    cmd
}

/// An HTTP/1.1 chunked body, joined (the proxy relays large listings chunked).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// Every object name under `prefix`, listed through the fake (JSON API).
fn objects(fake: &Fake, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/storage/v1/b/{BUCKET}/o?prefix={prefix}");
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={t}"));
        }
        let (status, body) = fake.control("GET", &path, None);
        let page = match body {
            Value::String(text) => serde_json::from_str(&dechunk(&text)).unwrap(),
            page => page,
        };
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().into_iter().flatten() {
            names.push(item["name"].as_str().unwrap().to_string());
        }
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    names.sort();
    names
}

fn record(out: &std::process::Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_local_run_with_a_gcs_root_keeps_its_artifacts_in_the_bucket() {
    let gcs = gcs_emulator();
    let fake = Fake::start_with(&["--gcs-upstream", &gcs.url()]);
    let (status, body) = fake.control(
        "POST",
        &format!("/storage/v1/b?project={PROJECT}"),
        Some(&json!({"name": BUCKET})),
    );
    assert_eq!(status, 200, "cannot create the bucket: {body}");
    let dir = tempfile::tempdir().unwrap();
    let root = format!("gs://{BUCKET}/root");
    let training = |dir: &Path| {
        let mut cmd = mlops_local_gcs(&fake, dir);
        cmd.args([
            "pipelines",
            "run",
            "training",
            "--json",
            "--pipeline-root",
            &root,
        ]);
        record(&run(&mut cmd))
    };

    let r1 = training(dir.path());
    assert_eq!(r1["status"], "succeeded");
    let job = r1["job_id"].as_str().unwrap();
    let model_uri = r1["tasks"]["train"]["outputs"]["artifacts"]["model"]["uri"]
        .as_str()
        .unwrap();
    assert_eq!(model_uri, format!("{root}/{job}/train/model"));
    let names = objects(&fake, "root/");
    for expected in [
        format!("root/{job}/train/model/model.json"),
        format!("root/{job}/train/model/metadata.json"),
        format!("root/{job}/extract-data/dataset/data.parquet"),
        format!("root/{job}/run.json"),
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:#?}");
    }
    assert!(
        names
            .iter()
            .all(|n| !n.contains("/.cache/") && !n.ends_with("log.txt")),
        "cache entries and logs stay local: {names:#?}"
    );
    // The champion went into the local registry, read through the mount stand-in.
    assert!(dir.path().join("registry/churn/aliases.json").exists());
    // Record, logs and cache stay local, in the staging copy of the root.
    let staged = dir.path().join("gcs_staging/gcs").join(BUCKET).join("root");
    assert!(staged.join(job).join("run.json").exists());
    assert!(staged.join(job).join("train/log.txt").exists());
    assert!(staged.join(".cache").is_dir());

    // The staging copy of the job gone: the next run's cached tasks fetch their outputs from
    // the bucket (folders: listed and downloaded object by object).
    std::fs::remove_dir_all(staged.join(job)).unwrap();
    let r2 = training(dir.path());
    assert_eq!(r2["status"], "succeeded");
    for task in ["validate-data", "train", "evaluate"] {
        assert_eq!(r2["tasks"][task]["status"], "cached", "{task}");
    }
    assert_eq!(r2["tasks"]["compare-champion"]["status"], "succeeded");
    assert!(staged.join(job).join("train/model/model.json").exists());
    fake.assert_no_violations();
}

#[test]
fn a_gcs_root_needs_a_project_and_a_valid_bucket() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        mlops_local_gcs(&fake, dir.path())
            .env_remove("GCP_PROJECT_ID")
            .args([
                "pipelines",
                "run",
                "training",
                "--pipeline-root",
                "gs://b-1/root",
            ]),
    );
    assert!(
        err.contains("a gs:// pipeline root needs GCP_PROJECT_ID"),
        "{err}"
    );
    let err = fails(mlops_local_gcs(&fake, dir.path()).args([
        "pipelines",
        "run",
        "training",
        "--pipeline-root",
        "gs://Bad_Bucket/root",
    ]));
    assert!(
        err.contains("--pipeline-root") && err.contains("gs://Bad_Bucket/root"),
        "{err}"
    );
    assert!(fake.requests().is_empty(), "something was sent");
}
