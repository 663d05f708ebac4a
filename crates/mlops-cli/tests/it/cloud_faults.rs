//! How the Google Cloud calls behave when Google misbehaves (429, 503, timeouts, malformed
//! replies, 403) and how they authenticate (a service-account key's self-signed JWT, the
//! metadata server), against the loopback fake. Nothing leaves 127.0.0.1.

use std::time::{Duration, Instant};

use mlops_gcp::{Auth, Gcp, GcpConfig};
use serde_json::json;

use crate::common::{fails, ok, python};
use crate::gcp::{gcs_emulator, mlops_cloud, Fake, PROJECT, REGION};

/// A handle on the fake with a small retry budget: 3 attempts, 10 ms first back-off, 1 s per
/// attempt.
fn gcp(fake: &Fake) -> Gcp {
    let mut config = GcpConfig::new(PROJECT, REGION).all_endpoints(&fake.url());
    config.auth = Auth::Anonymous;
    config.max_attempts = 3;
    config.initial_backoff = Duration::from_millis(10);
    config.attempt_timeout = Duration::from_secs(1);
    Gcp::new(config).unwrap()
}

/// Requests whose path ends with `suffix`, faulted ones included.
fn count(fake: &Fake, suffix: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .count()
}

#[test]
fn a_429_is_retried_and_then_succeeds() {
    let fake = Fake::start();
    fake.fault("GET /v1/.*/schedules$", json!([{"status": 429}]));
    let schedules = gcp(&fake).list_schedules().unwrap();
    assert!(schedules.is_empty());
    assert_eq!(count(&fake, "/schedules"), 2);
    fake.assert_no_violations();
}

#[test]
fn repeated_503s_end_in_one_clear_failure_after_the_retry_budget() {
    let fake = Fake::start();
    fake.fault(
        "GET /v1/.*/schedules$",
        json!([{"status": 503}, {"status": 503}, {"status": 503}, {"status": 503}]),
    );
    let err = gcp(&fake).list_schedules().unwrap_err().to_string();
    assert!(
        err.starts_with("list schedules `projects/test-project"),
        "{err}"
    );
    assert!(err.contains("503") || err.contains("UNAVAILABLE"), "{err}");
    assert_eq!(count(&fake, "/schedules"), 3, "the budget is 3 attempts");
}

#[test]
fn a_timeout_is_retried_and_too_many_fail_naming_the_timeout() {
    let fake = Fake::start();
    fake.fault("GET /v1/.*/schedules$", json!([{"delay_s": 3}]));
    let started = Instant::now();
    gcp(&fake).list_schedules().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the slow attempt was awaited"
    );
    fake.fault(
        "GET /v1/.*/schedules$",
        json!([{"delay_s": 3}, {"delay_s": 3}, {"delay_s": 3}]),
    );
    let err = gcp(&fake)
        .list_schedules()
        .unwrap_err()
        .to_string()
        .to_lowercase();
    assert!(err.contains("time"), "{err}");
}

#[test]
fn a_malformed_reply_is_an_error_not_a_crash() {
    let fake = Fake::start();
    fake.fault(
        "GET /v1/.*/schedules$",
        json!([{"status": 200, "raw": "{\"schedules\": [not json"}]),
    );
    let err = gcp(&fake).list_schedules().unwrap_err().to_string();
    assert!(err.starts_with("list schedules"), "{err}");
}

#[test]
fn a_403_shows_googles_reason_and_the_role_that_grants_the_permission() {
    let fake = Fake::start();
    let body = json!({"error": {
        "code": 403,
        "message": "Permission 'aiplatform.schedules.list' denied on resource '//aiplatform.googleapis.com/projects/test-project/locations/australia-southeast1' (or it may not exist).",
        "status": "PERMISSION_DENIED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "aiplatform.googleapis.com",
            "metadata": {"permission": "aiplatform.schedules.list"}
        }]
    }});
    fake.fault(
        "GET /v1/.*/schedules$",
        json!([{"status": 403, "body": body}]),
    );
    let err = gcp(&fake).list_schedules().unwrap_err().to_string();
    assert!(err.contains("HTTP 403 IAM_PERMISSION_DENIED"), "{err}");
    assert!(
        err.contains("Permission 'aiplatform.schedules.list' denied"),
        "{err}"
    );
    assert!(err.contains("grant roles/aiplatform.user"), "{err}");
    assert_eq!(count(&fake, "/schedules"), 1, "a 403 is not retried");
    // The same through the CLI: one line naming the role.
    fake.fault(
        "GET /v1/.*/schedules$",
        json!([{"status": 403, "body": body}]),
    );
    let err = fails(mlops_cloud(&fake).args(["pipelines", "schedule"]));
    assert!(err.contains("grant roles/aiplatform.user"), "{err}");
}

#[test]
fn storage_listing_retries_like_the_clients() {
    let gcs = gcs_emulator();
    let fake = Fake::start_with(&["--gcs-upstream", &gcs.url()]);
    let (status, body) = fake.control(
        "POST",
        &format!("/storage/v1/b?project={PROJECT}"),
        Some(&json!({"name": "fault-bucket"})),
    );
    assert!(status < 300, "{status} {body}");
    let gcp = gcp(&fake);
    gcp.upload_bytes(b"hello".to_vec(), "fault-bucket", "a/b.txt")
        .unwrap();
    fake.fault(
        "GET /storage/v1/b/fault-bucket/o$",
        json!([{"status": 429}, {"status": 503}]),
    );
    let listed = gcp.list("fault-bucket", "a/").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "a/b.txt");
    assert_eq!(listed[0].size, 5);
    assert_eq!(gcp.read_bytes("fault-bucket", "a/b.txt").unwrap(), b"hello");
    assert!(gcp.exists("fault-bucket", "a/b.txt").unwrap());
    assert!(!gcp.exists("fault-bucket", "a/c.txt").unwrap());
    fake.assert_no_violations();
}

/// A service-account key made for the test (RSA 2048, PKCS#8), as Google issues them.
fn service_account_key(dir: &std::path::Path) -> (std::path::PathBuf, serde_json::Value) {
    let script = r#"
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
print(json.dumps({"type": "service_account", "project_id": "test-project",
                  "private_key_id": "k1", "private_key": pem,
                  "client_email": "ci@test-project.iam.gserviceaccount.com",
                  "client_id": "1", "token_uri": sys.argv[1]}))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, "http://127.0.0.1:1/token"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = dir.join("key.json");
    std::fs::write(&path, key.to_string()).unwrap();
    (path, key)
}

#[test]
fn a_service_account_key_signs_tokens_the_api_accepts() {
    let fake = Fake::start_with(&["--require-auth"]);
    let home = tempfile::tempdir().unwrap();
    let (key_file, key) = service_account_key(home.path());
    // Unknown key: refused with Google's 401.
    let err = fails(
        mlops_cloud(&fake)
            .env_remove("MLOPS_GCP_AUTH")
            .env("HOME", home.path())
            .env("GOOGLE_APPLICATION_CREDENTIALS", &key_file)
            .args(["endpoints", "list"]),
    );
    assert!(
        err.contains("401") && err.contains("UNAUTHENTICATED") || err.contains("ACCESS_TOKEN"),
        "{err}"
    );
    // The same key once the fake knows its public half: accepted.
    let (status, body) = fake.control("POST", "/_fake/keys", Some(&key));
    assert_eq!(status, 200, "{body}");
    ok(mlops_cloud(&fake)
        .env_remove("MLOPS_GCP_AUTH")
        .env("HOME", home.path())
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key_file)
        .args(["endpoints", "list"]));
    let authorized = fake
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/v1/")))
        .all(|r| r["status"].as_u64().is_some_and(|s| s < 300) || r["status"] == 401);
    assert!(authorized);
}

#[test]
fn the_metadata_server_flow_works_against_a_loopback_metadata_host() {
    let fake = Fake::start_with(&["--require-auth"]);
    let home = tempfile::tempdir().unwrap();
    // No key file and no gcloud credentials in HOME: ADC asks the metadata server.
    ok(mlops_cloud(&fake)
        .env_remove("MLOPS_GCP_AUTH")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("HOME", home.path())
        .args(["endpoints", "list"]));
    let asked_metadata = fake.requests().iter().any(|r| {
        r["path"]
            .as_str()
            .is_some_and(|p| p.contains("/service-accounts/default/token"))
    });
    assert!(
        asked_metadata,
        "the token did not come from the metadata server"
    );
    fake.assert_no_violations();
}

/// Vertex AI hands an endpoint's container a `gs://` `AIP_STORAGE_URI` and no `/gcs` mount:
/// the server downloads the bundle and scores exactly as from a local folder.
#[test]
fn the_server_serves_a_bundle_from_the_bucket() {
    let gcs = gcs_emulator();
    let fake = Fake::start_with(&["--gcs-upstream", &gcs.url()]);
    let (status, body) = fake.control(
        "POST",
        &format!("/storage/v1/b?project={PROJECT}"),
        Some(&json!({"name": "model-bucket"})),
    );
    assert!(status < 300, "{status} {body}");
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    crate::common::train(&crate::common::churn_csv(), &model);
    let uploaded = gcp(&fake)
        .upload_dir(&model, "model-bucket", "models/churn_churn/1")
        .unwrap();
    assert!(
        uploaded.iter().any(|o| o.name.ends_with("/model.json")),
        "{uploaded:?}"
    );

    // The server process inherits these (nextest runs each test in its own process).
    std::env::set_var("STORAGE_EMULATOR_HOST", fake.url());
    std::env::set_var("MLOPS_GCP_AUTH", "anonymous");
    std::env::set_var(
        "GCE_METADATA_HOST",
        format!("127.0.0.1:{}", fake.process.port),
    );
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_mlops")).with_file_name("mlops-serve");
    let remote = mlops_serving::testing::Server::start(
        &binary,
        std::path::Path::new("gs://model-bucket/models/churn_churn/1"),
        false,
    );
    remote.wait_healthy();
    let local = crate::common::serve(&model);
    local.wait_healthy();
    let instances = mlops_serving::testing::churn_instances(&crate::common::churn_csv());
    let instances = &instances[..200];
    assert_eq!(remote.score(instances, 64), local.score(instances, 64));
    fake.assert_no_violations();
}
