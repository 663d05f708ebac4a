//! `mlops-serve` as a process on loopback: it agrees with `mlops predict`, serves models
//! imported from Python XGBoost with Python's probabilities, and shuts down cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;

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
fn python_model_imported_serves_python_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let py = python_model(dir.path());
    let imported = dir.path().join("imported");
    ok(mlops()
        .args(["models", "import-xgboost", "--model"])
        .arg(py.join("model.json"))
        .arg("--out")
        .arg(&imported));
    let expected: Vec<f64> =
        serde_json::from_str(&std::fs::read_to_string(py.join("probabilities.json")).unwrap())
            .unwrap();

    let server = Server::start(&imported);
    server.wait_healthy();
    let served = server.score(&churn_instances(), 500);
    assert_eq!(served.len(), expected.len());
    let worst = max_abs_diff(&served, &expected);
    assert!(
        worst < 1e-5,
        "largest difference from Python xgboost: {worst}"
    );
}

#[test]
fn python_model_with_pandas_column_order_is_imported_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let py = dir.path().join("py");
    std::fs::create_dir(&py).unwrap();
    interop(&[
        "train-pandas",
        churn_csv().to_str().unwrap(),
        py.to_str().unwrap(),
    ]);
    let imported = dir.path().join("imported");
    ok(mlops()
        .args(["models", "import-xgboost", "--model"])
        .arg(py.join("model.json"))
        .arg("--out")
        .arg(&imported));
    let expected: Vec<f64> =
        serde_json::from_str(&std::fs::read_to_string(py.join("probabilities.json")).unwrap())
            .unwrap();
    // Batch scoring and serving both agree with Python.
    let csv = dir.path().join("batch.csv");
    predict(&imported, &churn_csv(), &csv);
    let batch = read_probabilities(&csv, "churn_probability");
    let server = Server::start(&imported);
    server.wait_healthy();
    let served = server.score(&churn_instances(), 64);
    for (name, got) in [("batch", &batch), ("server", &served)] {
        assert_eq!(got.len(), expected.len());
        let worst = max_abs_diff(got, &expected);
        assert!(
            worst < 1e-5,
            "{name}: largest difference from Python xgboost: {worst}"
        );
    }
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
    let mut server = Server::start(&model);
    server.wait_healthy();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            break;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
