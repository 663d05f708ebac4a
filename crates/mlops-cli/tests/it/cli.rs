//! The `mlops` commands end to end on the shipped data.

use crate::common::*;

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
    // The monitoring baseline describes the same training rows: every score (under 10,000
    // rows, so exact) and one profile per input column.
    let monitoring = &meta["monitoring"];
    assert_eq!(monitoring["scores"]["n"].as_u64(), Some(7043 - test_rows));
    assert_eq!(
        monitoring["scores"]["values"].as_array().unwrap().len() as u64,
        7043 - test_rows
    );
    let columns = meta["preprocessor"]["columns"].as_array().unwrap();
    let profiles = monitoring["features"].as_array().unwrap();
    assert_eq!(profiles.len(), columns.len());
    for (profile, column) in profiles.iter().zip(columns) {
        assert_eq!(profile["name"], column["name"]);
        assert_eq!(profile["distribution"]["kind"], column["kind"]);
    }
}

/// `--cv` without `--out` cross-validates and saves nothing (`model_dir` is null).
#[test]
fn cross_validation_adds_mean_and_std() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = ok(mlops()
        .current_dir(dir.path())
        .args(["train", "--json", "--cv", "3", "--config"])
        .arg(root().join("config/model.yaml"))
        .arg("--data")
        .arg(churn_csv()));
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["model_dir"].is_null(), "{stdout}");
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
    // Every variable the settings read, from the one list they are read by.
    for (var, _) in mlops_domain::settings::VARIABLES {
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

#[test]
fn train_without_out_or_cv_is_refused_naming_both() {
    let err = fails(mlops().args(["train", "--data"]).arg(churn_csv()));
    assert!(err.contains("--out") && err.contains("--cv"), "{err}");
}

/// Batch output carries the config's label values (`Yes`/`No`), as the server answers, and
/// they agree with the probability and the threshold (0.5).
#[test]
fn predicted_labels_are_the_configs_label_values() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let csv = dir.path().join("pred.csv");
    predict(&model, &churn_csv(), &csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "churn_probability,churn_predicted");
    let mut seen = std::collections::BTreeSet::new();
    for line in lines {
        let (p, label) = line.split_once(',').unwrap();
        let p: f64 = p.parse().unwrap();
        assert_eq!(label, if p >= 0.5 { "Yes" } else { "No" }, "{line}");
        seen.insert(label.to_string());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["No", "Yes"]);
}

/// A model saved without feature names (as `XGBClassifier` fitted on a NumPy array) is refused
/// with a pointer to `--feature-names`, and imported with the names from a file (lines or JSON)
/// it scores exactly as the original.
#[test]
fn import_without_feature_names_needs_and_accepts_a_names_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("model.json")).unwrap()).unwrap();
    let learner = &mut doc["learner"];
    let names: Vec<String> = learner["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    learner["feature_names"] = serde_json::json!([]);
    learner["feature_types"] = serde_json::json!([]);
    let nameless = dir.path().join("nameless.json");
    std::fs::write(&nameless, doc.to_string()).unwrap();

    let import = |names: Option<&std::path::Path>, out: &std::path::Path| {
        let mut cmd = mlops();
        cmd.args(["models", "import-xgboost", "--model"])
            .arg(&nameless)
            .arg("--out")
            .arg(out);
        if let Some(names) = names {
            cmd.arg("--feature-names").arg(names);
        }
        cmd
    };
    let err = fails(&mut import(None, &dir.path().join("refused")));
    assert!(
        err.contains("no feature names") && err.contains("--feature-names"),
        "{err}"
    );
    assert!(!dir.path().join("refused").exists());

    let lines = dir.path().join("names.txt");
    std::fs::write(&lines, names.join("\n")).unwrap();
    let json = dir.path().join("names.json");
    std::fs::write(&json, serde_json::to_string(&names).unwrap()).unwrap();
    let expected = dir.path().join("expected.csv");
    predict(&model, &churn_csv(), &expected);
    for file in [&lines, &json] {
        let imported = dir.path().join("imported");
        ok(&mut import(Some(file), &imported));
        let scored = dir.path().join("scored.csv");
        predict(&imported, &churn_csv(), &scored);
        assert_eq!(
            read_probabilities(&scored, "churn_probability"),
            read_probabilities(&expected, "churn_probability"),
            "{}",
            file.display()
        );
    }

    std::fs::write(&lines, "tenure\n").unwrap();
    let err = fails(&mut import(Some(&lines), &dir.path().join("short")));
    assert!(err.contains("1 feature names given"), "{err}");
}

/// A cause the error line already quotes is not printed again as `caused by:`.
#[test]
fn error_causes_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    let err = fails(
        mlops()
            .args(["predict", "--model"])
            .arg(&missing)
            .arg("--data")
            .arg(churn_csv())
            .arg("--out")
            .arg(dir.path().join("p.csv")),
    );
    let config_err = fails(
        mlops()
            .args(["train", "--cv", "2", "--config"])
            .arg(dir.path().join("none.yaml"))
            .arg("--data")
            .arg(churn_csv()),
    );
    for text in [&err, &config_err] {
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("mlops: error: "), "{text}");
        for (i, line) in lines.iter().enumerate().skip(1) {
            let cause = line.trim_start().trim_start_matches("caused by: ");
            assert!(
                !lines[i - 1].ends_with(cause),
                "cause printed twice:\n{text}"
            );
        }
    }
}

/// Columns the config does not name are listed once at info level and in `metadata.json`.
#[test]
fn columns_not_in_the_config_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let mut lines = text.lines();
    let mut widened = format!("{},customer_note,region\n", lines.next().unwrap());
    for line in lines {
        widened.push_str(&format!("{line},x,north\n"));
    }
    let data = dir.path().join("wide.csv");
    std::fs::write(&data, widened).unwrap();
    let model = dir.path().join("model");
    let out = run(mlops()
        .args(["-v", "train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&model));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("columns not in the model config are ignored"))
        .collect();
    assert_eq!(logged.len(), 1, "{stderr}");
    assert!(logged[0].contains("customer_note, region"), "{stderr}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("metadata.json")).unwrap())
            .unwrap();
    assert_eq!(
        meta["training"]["ignored_columns"],
        serde_json::json!(["customer_note", "region"])
    );
}
