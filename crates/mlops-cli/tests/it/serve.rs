//! `mlops-serve` as a process on loopback: it agrees with `mlops predict`, import refuses
//! models whose features are not in the config, and the server shuts down cleanly on SIGTERM.
//! (Serving models imported from Python: `interop.rs`.)

use crate::common::*;

#[test]
fn server_predictions_equal_batch_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let csv = dir.path().join("batch.csv");
    predict(&model, &churn_csv(), &csv);
    let batch = read_probabilities(&csv, "churn_probability");

    let server = Server::start(&model);
    let healthy_after = server.wait_healthy();
    assert!(
        healthy_after.as_secs_f64() < 5.0,
        "healthy after {healthy_after:?}"
    );
    let served = server.score(&churn_instances(), 64);
    assert_eq!(served.len(), batch.len());
    let worst = max_abs_diff(&served, &batch);
    assert!(
        worst < 1e-6,
        "largest difference between server and batch: {worst}"
    );
}

#[test]
fn import_refuses_a_model_whose_features_are_not_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let text = std::fs::read_to_string(model.join("model.json"))
        .unwrap()
        .replace("\"tenure\"", "\"age\"");
    let renamed = dir.path().join("renamed.json");
    std::fs::write(&renamed, text).unwrap();
    let err = fails(
        mlops()
            .args(["models", "import-xgboost", "--model"])
            .arg(&renamed)
            .arg("--out")
            .arg(dir.path().join("out")),
    );
    assert!(
        err.contains("`age`") && err.contains("not columns of the config"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn sigterm_finishes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let server = Server::start(&model);
    server.wait_healthy();
    server.terminate();
}

/// Access log lines are Cloud Logging JSON with an `httpRequest` object, one per request, and
/// the line logged just before exit still reaches stdout (the background writer is flushed).
#[test]
fn access_log_is_cloud_logging_json_and_flushed_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let server = Server::start_with(&model, true);
    server.wait_healthy();
    let body = serde_json::json!({ "instances": &churn_instances()[..3] }).to_string();
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
