//! The `mlops` commands end to end on the shipped data.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;

#[test]
fn train_json_reports_the_metrics_and_saves_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let stdout = ok(mlops()
        .args(["train", "--json", "--data"])
        .arg(churn_csv())
        .arg("--out")
        .arg(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "auc",
        "logloss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "rows",
    ] {
        assert!(v[key].is_number(), "missing {key} in {stdout}");
    }
    // Rows are held out by a hash of their key: about 20 % of 7043 (binomial sd 34).
    let test_rows = v["rows"].as_u64().unwrap();
    assert!(
        (1309..=1509).contains(&test_rows),
        "{test_rows} held-out rows"
    );
    assert!(v["auc"].as_f64().unwrap() > 0.80, "{stdout}");
    assert_eq!(entries(&out), ["metadata.json", "model.json"]);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metadata.json")).unwrap()).unwrap();
    assert!(meta["data_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(meta["feature_names"].as_array().unwrap().len(), 40);
    assert_eq!(
        meta["score_distribution"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        7043 - test_rows,
        "the score distribution covers the training rows"
    );
}

#[test]
fn cross_validation_adds_mean_and_std() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = ok(mlops()
        .args(["train", "--json", "--cv", "3", "--data"])
        .arg(churn_csv())
        .arg("--out")
        .arg(dir.path().join("m")));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mean = v["cv_auc_mean"].as_f64().unwrap();
    let std = v["cv_auc_std"].as_f64().unwrap();
    assert!(
        mean > 0.8 && mean < 0.9 && std > 0.0 && std < 0.05,
        "{stdout}"
    );
    assert!(v["cv_f1_mean"].is_number());
}

#[test]
fn predict_keeps_row_order_and_evaluate_agrees_with_train() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let out = dir.path().join("pred.parquet");
    predict(&model, &churn_csv(), &out);
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    let csv = dir.path().join("pred.csv");
    predict(&model, &churn_csv(), &csv);
    let p = read_probabilities(&csv, "churn_probability");
    assert_eq!(p.len(), 7043);
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    // The other tree kernels write the same bytes as the default (AVX-512 where the CPU has
    // it): 13 full 512-row blocks, a tail, and the blank total_charges cells.
    for kernel in ["avx2", "portable"] {
        let other = dir.path().join(format!("{kernel}.csv"));
        ok(predict_command(&model, &churn_csv(), &other).env("MLOPS_PREDICT_KERNEL", kernel));
        assert_eq!(
            std::fs::read(&other).unwrap(),
            std::fs::read(&csv).unwrap(),
            "{kernel}"
        );
    }
    let v = evaluate_json(&model, &churn_csv());
    assert_eq!(v["rows"], 7043);
    // In-sample AUC on the whole table is above the held-out AUC.
    assert!(v["auc"].as_f64().unwrap() > 0.84, "{v}");
}

#[test]
fn gen_data_writes_the_schema_and_shift_moves_the_population() {
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("same.parquet");
    let shifted = dir.path().join("shifted.csv");
    ok(mlops()
        .args(["gen-data", "--rows", "5000", "--seed", "3", "--out"])
        .arg(&same));
    ok(mlops()
        .args([
            "gen-data", "--rows", "5000", "--seed", "3", "--shift", "1", "--out",
        ])
        .arg(&shifted));
    let model = dir.path().join("model");
    train(&same, &model);
    // A model trained on generated data still scores the real table well.
    let v = evaluate_json(&model, &churn_csv());
    assert!(v["auc"].as_f64().unwrap() > 0.8, "{v}");
    // The shifted table's mean monthly charge is higher.
    let mean = |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let i = header.iter().position(|h| *h == "monthly_charges").unwrap();
        let vals: Vec<f64> = lines
            .filter_map(|l| l.split(',').nth(i)?.parse().ok())
            .collect();
        vals.iter().sum::<f64>() / vals.len() as f64
    };
    let real = mean(&churn_csv());
    assert!(
        mean(&shifted) > real * 1.2,
        "shifted mean {} vs real {real}",
        mean(&shifted)
    );
}

#[test]
fn help_documents_environment_variables() {
    let out = ok(mlops().arg("--help"));
    for var in [
        "ENVIRONMENT",
        "PIPELINE_BUCKET",
        "MODEL_NAME_PREFIX",
        "GCP_PROJECT_ID",
    ] {
        assert!(out.contains(var), "--help does not mention {var}");
    }
}

#[test]
fn invalid_settings_are_listed_together() {
    let out = run(mlops()
        .env("ENVIRONMENT", "prod")
        .env("GCP_REGION", "nowhere")
        .args(["evaluate", "--model", "x", "--data", "y"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GCP_PROJECT_ID is missing") && err.contains("PIPELINE_BUCKET is missing"),
        "{err}"
    );
}
