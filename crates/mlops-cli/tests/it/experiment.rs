//! `mlops experiment run|compare` on the shipped table: the three model types ranked by CV AUC
//! from the JSON, the store's files, the HTML report, and bad parameters refused before
//! training. Every command runs in a temporary folder with a temporary store.

use std::path::Path;

use serde_json::Value;

use crate::common::{churn_csv, fails, mlops, ok, root};

/// `mlops experiment run` of one model type with 3 folds into `store`, cwd `dir`.
pub fn experiment_run(
    dir: &Path,
    store: &Path,
    name: &str,
    model_type: &str,
    params: &[&str],
) -> Value {
    let mut cmd = mlops();
    cmd.current_dir(dir)
        .args([
            "experiment",
            "run",
            "--experiment",
            name,
            "--model-type",
            model_type,
        ])
        .arg("--data")
        .arg(churn_csv())
        .arg("--config")
        .arg(root().join("config/model.yaml"))
        .arg("--store")
        .arg(store)
        .args(["--cv", "3", "--json"]);
    for p in params {
        cmd.args(["--param", p]);
    }
    serde_json::from_str(&ok(&mut cmd)).unwrap()
}

#[test]
fn experiment_compare_ranks_boosted_trees_first_and_writes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let mut runs = Vec::new();
    for (model_type, params) in [
        ("logistic_regression", vec![]),
        ("decision_tree", vec!["max_depth=5"]),
        // Shallow trees and a smaller step: with the config's depth 6 and 200 rounds, boosted
        // trees overfit this table (3-fold CV AUC 0.829) and logistic regression (0.845) wins.
        ("boosted_trees", vec!["max_depth=3", "learning_rate=0.05"]),
    ] {
        let run = experiment_run(tmp.path(), &store, "churn-cv", model_type, &params);
        assert_eq!(run["model_type"], model_type);
        assert_eq!(run["cv_folds"], 3);
        let dir = Path::new(run["run_dir"].as_str().unwrap());
        assert_eq!(dir.parent().unwrap(), store.join("churn-cv"));
        for file in [
            "run.json",
            "roc.json",
            "model/model.json",
            "model/metadata.json",
        ] {
            assert!(
                dir.join(file).is_file(),
                "{file} missing in {}",
                dir.display()
            );
        }
        let data = &run["data"];
        assert_eq!(data["rows"], 7043);
        assert!(data["sha256"].as_str().unwrap().starts_with("sha256:"));
        assert!(run["metrics"]["cv_auc_mean"].as_f64().unwrap() > 0.7);
        runs.push(run);
    }
    assert_eq!(runs[1]["params"]["max_depth"], 5);
    assert_eq!(runs[2]["hyperparameters"]["max_depth"], 3);
    assert_eq!(runs[2]["hyperparameters"]["n_estimators"], 200);
    // The same table, the same fingerprint.
    assert_eq!(runs[0]["data"]["sha256"], runs[2]["data"]["sha256"]);

    let out = ok(mlops()
        .current_dir(tmp.path())
        .args(["experiment", "compare", "churn-cv", "--json", "--store"])
        .arg(&store));
    let ranking: Value = serde_json::from_str(&out).unwrap();
    let ranked = ranking["runs"].as_array().unwrap();
    assert_eq!(ranked.len(), 3);
    let aucs: Vec<f64> = ranked
        .iter()
        .map(|r| r["cv_auc_mean"].as_f64().unwrap())
        .collect();
    assert!(aucs.windows(2).all(|w| w[0] >= w[1]), "{aucs:?}");
    let order: Vec<&str> = ranked
        .iter()
        .map(|r| r["model_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        order[0], "boosted_trees",
        "ranking {order:?}, CV AUC {aucs:?}"
    );
    eprintln!("CV AUC by rank: {order:?} {aucs:?}");
    for (i, r) in ranked.iter().enumerate() {
        assert_eq!(r["rank"], i + 1);
    }

    let report = store.join("churn-cv/report.html");
    assert_eq!(ranking["report"], report.display().to_string());
    let html = std::fs::read_to_string(&report).unwrap();
    // One chart per figure: CV AUC per run, CV log loss per run, ROC curves (one per run).
    assert_eq!(html.matches("<svg").count(), 3, "{html}");
    assert_eq!(html.matches("<polyline").count(), 3);
    for run in &runs {
        assert!(html.contains(run["run_id"].as_str().unwrap()));
    }
    assert!(!html.contains("<script") && !html.contains("NaN"));

    // The text table, and a report where --out says.
    let elsewhere = tmp.path().join("reports/exp.html");
    let out = mlops()
        .current_dir(tmp.path())
        .args(["experiment", "compare", "churn-cv", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let first = table.lines().nth(1).unwrap();
    assert!(
        table.starts_with("RANK") && first.contains("boosted_trees"),
        "{table}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("exp.html"));
    assert!(elsewhere.is_file());
}

#[test]
fn experiment_bad_params_fail_before_training_and_corrupt_runs_fail_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let base = |cmd: &mut std::process::Command| {
        cmd.current_dir(tmp.path())
            .args(["experiment", "run", "--experiment", "bad"])
            .arg("--data")
            .arg(churn_csv())
            .arg("--config")
            .arg(root().join("config/model.yaml"))
            .arg("--store")
            .arg(&store);
    };
    let mut cmd = mlops();
    base(&mut cmd);
    let err = fails(cmd.args(["--param", "depth=3"]));
    assert!(
        err.contains("`depth`")
            && err.contains("`3`")
            && err.contains("expected one of")
            && err.contains("max_depth"),
        "{err}"
    );
    let mut cmd = mlops();
    base(&mut cmd);
    let err = fails(cmd.args(["--param", "max_depth=deep"]));
    assert!(
        err.contains("max_depth=deep") && err.contains("whole number"),
        "{err}"
    );
    let mut cmd = mlops();
    base(&mut cmd);
    let err = fails(cmd.args(["--model-type", "logistic_regression", "--param", "alpha=-2"]));
    assert!(
        err.contains("alpha=-2") && err.contains("expected >= 0"),
        "{err}"
    );
    let mut cmd = mlops();
    base(&mut cmd);
    let err = fails(cmd.args(["--param", "max_depth"]));
    assert!(err.contains("not key=value"), "{err}");
    let mut cmd = mlops();
    base(&mut cmd);
    let err = fails(cmd.args(["--model-type", "forest"]));
    assert!(
        err.contains("forest") && err.contains("boosted_trees"),
        "{err}"
    );
    let err = fails(
        mlops()
            .current_dir(tmp.path())
            .args(["experiment", "run", "--experiment", "Bad_Name", "--store"])
            .arg(&store)
            .arg("--config")
            .arg(root().join("config/model.yaml")),
    );
    assert!(err.contains("`Bad_Name`"), "{err}");
    // Nothing was trained or written.
    assert!(!store.exists());

    let err = fails(
        mlops()
            .current_dir(tmp.path())
            .args(["experiment", "compare", "bad", "--store"])
            .arg(&store),
    );
    assert!(err.contains("has no runs"), "{err}");
    let run = experiment_run(tmp.path(), &store, "bad", "logistic_regression", &[]);
    let run_json = Path::new(run["run_dir"].as_str().unwrap()).join("run.json");
    std::fs::write(&run_json, "{\"format_version\": 1, \"experiment\": ").unwrap();
    let err = fails(
        mlops()
            .current_dir(tmp.path())
            .args(["experiment", "compare", "bad", "--store"])
            .arg(&store),
    );
    assert!(
        err.contains("corrupt experiment run") && err.contains(&run_json.display().to_string()),
        "{err}"
    );
    assert!(!store.join("bad/report.html").exists());
}
