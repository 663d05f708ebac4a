//! `mlops-serve` as a process on loopback agrees with `mlops predict`; import refuses models
//! whose features are not in the config. (Serving models imported from Python: `interop.rs`;
//! the server's own process tests: `crates/mlops-serving/tests/process.rs`.)

use crate::common::*;

#[test]
fn server_predictions_equal_batch_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let csv = dir.path().join("batch.csv");
    predict(&model, &churn_csv(), &csv);
    let batch = read_probabilities(&csv, "churn_probability");

    let server = serve(&model);
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
