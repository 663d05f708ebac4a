//! `mlops-serve` as a process on loopback: SIGTERM drains and exits 0; access log lines are
//! Cloud Logging JSON and the last one is written before exit.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::PathBuf;

use mlops_serving::testing::{churn_instances, http, Server};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mlops-serve"))
}

fn model() -> PathBuf {
    fixtures().join("churn_model")
}

fn instances() -> Vec<serde_json::Value> {
    churn_instances(&fixtures().join("rows.csv"))
}

#[test]
fn sigterm_finishes_cleanly() {
    let server = Server::start(&binary(), &model(), false);
    server.wait_healthy();
    server.terminate();
}

/// Access log lines are Cloud Logging JSON with an `httpRequest` object, one per request, and
/// the line logged just before exit still reaches stdout (the background writer is flushed).
#[test]
fn access_log_is_cloud_logging_json_and_flushed_on_exit() {
    let server = Server::start(&binary(), &model(), true);
    server.wait_healthy();
    let body = serde_json::json!({ "instances": &instances()[..3] }).to_string();
    assert_eq!(http(&server.addr, "POST", "/predict", Some(&body)).0, 200);
    assert_eq!(http(&server.addr, "GET", "/nowhere", None).0, 404);
    let lines = server.terminate();
    let access: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["target"] == "access")
        .collect();
    let find = |method: &str, url: &str| {
        access
            .iter()
            .find(|v| {
                v["httpRequest"]["requestMethod"] == method && v["httpRequest"]["requestUrl"] == url
            })
            .unwrap_or_else(|| panic!("no access line for {method} {url} in {lines:#?}"))
            .clone()
    };
    let predict = find("POST", "/predict");
    assert_eq!(predict["severity"], "INFO");
    assert_eq!(predict["message"], "POST /predict 200");
    assert_eq!(predict["httpRequest"]["status"], 200);
    assert_eq!(
        predict["httpRequest"]["requestSize"],
        body.len().to_string()
    );
    assert!(predict["httpRequest"]["latency"]
        .as_str()
        .unwrap()
        .ends_with('s'));
    assert!(predict["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(predict["request_id"].is_string());
    assert_eq!(find("GET", "/nowhere")["httpRequest"]["status"], 404);
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        last["message"],
        "shutting down; finishing in-flight requests"
    );
    // Health checks were logged too, each on its own line.
    assert!(
        access
            .iter()
            .filter(|v| v["httpRequest"]["requestUrl"] == "/health")
            .count()
            >= 1
    );
}
