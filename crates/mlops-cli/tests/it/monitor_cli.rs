//! `mlops monitor drift|performance` end to end on generated populations: no drift on an
//! unshifted one, drift and the moved columns on a shifted one, realised against estimated
//! performance, and bad inputs (no matching outcomes, an empty window, bad scores, a model
//! without a baseline) as "insufficient data" or one clear error, never a false alert.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{churn_csv, fails, mlops, ok, predict_command, train};

/// A trained model, an unshifted and a shifted population (ids, 20k rows each), and their
/// predictions tables, in one temporary folder.
struct Populations {
    dir: tempfile::TempDir,
    model: PathBuf,
    base: PathBuf,
    shifted: PathBuf,
    base_predictions: PathBuf,
    shifted_predictions: PathBuf,
}

impl Populations {
    fn new() -> Populations {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        train(&churn_csv(), &model);
        let gen = |name: &str, shift: &str| {
            let out = dir.path().join(name);
            ok(mlops()
                .args(["gen-data", "--rows", "20000", "--seed", "11"])
                .args(["--id-column", "id", "--shift", shift, "--out"])
                .arg(&out));
            out
        };
        let base = gen("base.csv", "0");
        let shifted = gen("shifted.csv", "0.5");
        let predictions = |data: &Path, name: &str| {
            let out = dir.path().join(name);
            ok(predict_command(&model, data, &out).args(["--table", "--id-column", "id"]));
            out
        };
        let base_predictions = predictions(&base, "base_predictions.parquet");
        let shifted_predictions = predictions(&shifted, "shifted_predictions.parquet");
        Populations {
            dir,
            model,
            base,
            shifted,
            base_predictions,
            shifted_predictions,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn outcomes(&self, predictions: &Path, data: &Path, name: &str) -> PathBuf {
        let out = self.path(name);
        ok(mlops()
            .args(["gen-outcomes", "--predictions"])
            .arg(predictions)
            .arg("--data")
            .arg(data)
            .arg("--out")
            .arg(&out));
        out
    }
}

fn drift_json(model: &Path, data: &Path, extra: &[&str]) -> Value {
    let text = ok(mlops()
        .args(["monitor", "drift", "--json", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .args(extra));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn performance_json(predictions: &Path, outcomes: &Path, extra: &[&str]) -> Value {
    let text = ok(mlops()
        .args(["monitor", "performance", "--json", "--predictions"])
        .arg(predictions)
        .arg("--outcomes")
        .arg(outcomes)
        .args(extra));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn feature<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["features"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no feature `{name}` in {report:#}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn monitor_drift_and_performance_on_generated_populations() {
    let p = Populations::new();

    // Unshifted rows, scored by the model: no drift, every profiled column compared.
    let base = drift_json(&p.model, &p.base, &[]);
    assert_eq!(base["score_source"], "scored");
    assert_eq!(base["drift_detected"], false, "{base:#}");
    assert!(f(&base["psi"]) < 0.1, "{base:#}");
    assert_eq!(base["drifted_features"], serde_json::json!([]));
    assert!(f(&feature(&base, "tenure")["psi"]) < 0.1);
    assert_eq!(base["features"]["not_supplied"], serde_json::json!([]));

    // The shifted population: drift, and the columns gen-data moved among the drifted ones.
    let shifted = drift_json(&p.model, &p.shifted, &[]);
    assert_eq!(shifted["drift_detected"], true, "{shifted:#}");
    let drifted: Vec<&str> = shifted["drifted_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for moved in ["tenure", "monthly_charges"] {
        assert!(drifted.contains(&moved), "{drifted:?}");
    }
    assert!(!drifted.contains(&"gender"), "{drifted:?}");
    assert!(f(&shifted["psi"]) > f(&base["psi"]));
    assert!(f(&feature(&shifted, "contract")["linf"]) > f(&feature(&base, "contract")["linf"]));
    assert_eq!(shifted["metrics"]["prediction_drift/drift_detected"], 1.0);

    // Its predictions table: the same score statistics from the probability column; the
    // input columns are not in it, so they are listed as not supplied, not as drifted.
    let table = drift_json(&p.model, &p.shifted_predictions, &[]);
    assert_eq!(table["score_source"], "probability_column");
    assert!(
        (f(&table["psi"]) - f(&shifted["psi"])).abs() < 1e-9,
        "{table:#}"
    );
    assert!((f(&table["ks"]) - f(&shifted["ks"])).abs() < 1e-9);
    assert!(table["features"]["not_supplied"]
        .as_array()
        .unwrap()
        .contains(&Value::from("tenure")));

    // --bins/--binning reach the computation; a bad value names the flag.
    let uniform = drift_json(
        &p.model,
        &p.shifted_predictions,
        &["--binning", "uniform", "--bins", "20"],
    );
    assert_eq!(uniform["binning"], "uniform");
    assert_eq!(uniform["bins"], 20);
    assert_ne!(uniform["psi"], table["psi"]);
    let err = fails(
        mlops()
            .args(["monitor", "drift", "--binning", "deciles", "--model"])
            .arg(&p.model)
            .arg("--data")
            .arg(&p.base),
    );
    assert!(
        err.contains("--binning") && err.contains("deciles"),
        "{err}"
    );

    // The text form and the HTML report.
    let report = p.path("drift.html");
    let text = ok(mlops()
        .args(["monitor", "drift", "--model"])
        .arg(&p.model)
        .arg("--data")
        .arg(&p.shifted)
        .arg("--report")
        .arg(&report));
    assert!(text.starts_with("drift DETECTED"), "{text}");
    assert!(text.contains("tenure"), "{text}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.matches("<svg").count() >= 2,
        "score and feature charts"
    );

    // Performance: realised next to estimated, both near each other on the unshifted
    // population; rows without an outcome are counted.
    let outcomes = p.outcomes(&p.base_predictions, &p.base, "base_outcomes.parquet");
    let perf = performance_json(&p.base_predictions, &outcomes, &[]);
    let realised = f(&perf["realised"]["auc"]);
    let estimated = f(&perf["estimated"]["auc"]);
    assert!(realised > 0.7, "{perf:#}");
    assert!(f(&perf["rows_without_outcome"]) > 0.0, "{perf:#}");
    assert_eq!(
        f(&perf["rows_with_outcome"]) + f(&perf["rows_without_outcome"]),
        20000.0
    );
    assert_eq!(perf["metrics"]["performance/insufficient_data"], 0.0);
    eprintln!("unshifted: realised AUC {realised:.4}, estimated {estimated:.4}");
    let shifted_outcomes = p.outcomes(&p.shifted_predictions, &p.shifted, "shifted_outcomes.csv");
    let sperf = performance_json(&p.shifted_predictions, &shifted_outcomes, &[]);
    eprintln!(
        "shifted: realised AUC {:.4}, estimated {:.4}",
        f(&sperf["realised"]["auc"]),
        f(&sperf["estimated"]["auc"])
    );
    let text = ok(mlops()
        .args(["monitor", "performance", "--predictions"])
        .arg(&p.base_predictions)
        .arg("--outcomes")
        .arg(&outcomes)
        .arg("--report")
        .arg(p.path("perf.html")));
    assert!(
        text.contains("REALISED") && text.contains("ESTIMATED"),
        "{text}"
    );

    // No outcome matches (another id column): insufficient data, and no alert although
    // `performance/auc < threshold` is configured.
    let other_ids = p.path("other_ids.csv");
    std::fs::write(&other_ids, "id,churned\nnobody,1\nnone,0\n").unwrap();
    let none = performance_json(&p.base_predictions, &other_ids, &[]);
    assert_eq!(none["realised"]["status"], "insufficient_data", "{none:#}");
    assert_eq!(none["metrics"]["performance/insufficient_data"], 1.0);
    assert!(none["metrics"].get("performance/auc").is_none());
    only_the_insufficient_data_alert(&none);
    // An empty window (every prediction was scored before it): the same.
    let old = p.path("old_predictions.csv");
    std::fs::write(
        &old,
        "id,probability,scored_at\na,0.2,2020-01-01T00:00:00Z\nb,0.7,2020-01-01T00:00:00Z\n",
    )
    .unwrap();
    let ab = p.path("ab.csv");
    std::fs::write(&ab, "id,churned\na,0\nb,1\n").unwrap();
    let empty = performance_json(&old, &ab, &["--window-days", "7"]);
    assert_eq!(empty["rows_outside_window"], 2);
    assert_eq!(empty["metrics"]["performance/insufficient_data"], 1.0);
    only_the_insufficient_data_alert(&empty);
}

/// The shipped config alerts on `performance/insufficient_data`; that must be the only alert
/// (no AUC, F1 or ECE alert computed from nothing).
fn only_the_insufficient_data_alert(report: &Value) {
    let fired: Vec<&str> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["metric"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["performance/insufficient_data"], "{report:#}");
}

#[test]
fn monitor_refuses_bad_scores_and_a_model_without_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);

    // NaN and out-of-range probabilities: one error naming how many and the first.
    for (bad, shown) in [("NaN", "NaN"), ("1.5", "1.5")] {
        let table = dir.path().join("bad.csv");
        std::fs::write(&table, format!("id,probability\na,0.2\nb,{bad}\nc,0.4\n")).unwrap();
        let err = fails(
            mlops()
                .args(["monitor", "drift", "--model"])
                .arg(&model)
                .arg("--data")
                .arg(&table),
        );
        assert!(err.contains(shown) && err.contains("probabilit"), "{err}");
        let outcomes = dir.path().join("o.csv");
        std::fs::write(&outcomes, "id,churned\na,0\nb,1\nc,0\n").unwrap();
        let err = fails(
            mlops()
                .args(["monitor", "performance", "--predictions"])
                .arg(&table)
                .arg("--outcomes")
                .arg(&outcomes),
        );
        assert!(err.contains(shown), "{err}");
    }

    // A bundle whose metadata.json lost its baseline: one error saying what to do.
    let meta_path = model.join("metadata.json");
    let mut meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    let obj = meta.as_object_mut().unwrap();
    obj.remove("monitoring");
    obj.insert(
        "score_distribution".into(),
        serde_json::json!({"edges": [], "counts": []}),
    );
    std::fs::write(&meta_path, serde_json::to_string(&meta).unwrap()).unwrap();
    let err = fails(
        mlops()
            .args(["monitor", "drift", "--model"])
            .arg(&model)
            .arg("--data")
            .arg(churn_csv()),
    );
    assert!(
        err.contains("no score baseline") && err.contains("mlops train"),
        "{err}"
    );
}

/// CBPE on customers the model never saw: the shipped table split by row (every fifth row
/// held out), the model trained on the rest and tested on the held-out rows (its calibration,
/// Platt scaling, is fitted on them, as on the reference period of NannyML's CBPE). Scored
/// with ids and joined with their real labels as outcomes, the estimated AUC is within 0.01
/// of the realised one, where the raw scores of the over-confident booster promise far more.
/// Populations generated from those rows (`gen-data` resamples and perturbs them) report
/// their gaps, unshifted and shifted.
#[test]
fn estimated_auc_tracks_realised_auc_on_unseen_customers() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let (mut train_rows, mut held_out) = (vec![header.to_string()], vec![format!("id,{header}")]);
    for (i, line) in lines.enumerate() {
        if i % 5 == 0 {
            held_out.push(format!("c{i},{line}"));
        } else {
            train_rows.push(line.to_string());
        }
    }
    let train_csv = dir.path().join("train.csv");
    let held_csv = dir.path().join("held_out.csv");
    std::fs::write(&train_csv, train_rows.join("\n") + "\n").unwrap();
    std::fs::write(&held_csv, held_out.join("\n") + "\n").unwrap();
    let model = dir.path().join("model");
    ok(mlops()
        .args(["train", "--data"])
        .arg(&train_csv)
        .arg("--test-data")
        .arg(&held_csv)
        .arg("--out")
        .arg(&model));

    // (realised, estimated through the calibration, estimated from the raw scores)
    let aucs = |population: &Path, name: &str| -> (f64, f64, f64) {
        let predictions = dir.path().join(format!("predictions_{name}.parquet"));
        ok(predict_command(&model, population, &predictions).args([
            "--table",
            "--id-column",
            "id",
        ]));
        let outcomes = dir.path().join(format!("outcomes_{name}.parquet"));
        ok(mlops()
            .args(["gen-outcomes", "--fraction", "1", "--predictions"])
            .arg(&predictions)
            .arg("--data")
            .arg(population)
            .arg("--out")
            .arg(&outcomes));
        let model_arg = model.to_str().unwrap();
        let calibrated = performance_json(&predictions, &outcomes, &["--model", model_arg]);
        assert_eq!(calibrated["calibrated"], true);
        let raw = performance_json(&predictions, &outcomes, &[]);
        assert_eq!(raw["calibrated"], false);
        let realised = f(&calibrated["realised"]["auc"]);
        assert_eq!(
            realised,
            f(&raw["realised"]["auc"]),
            "realised AUC needs no calibration"
        );
        (
            realised,
            f(&calibrated["estimated"]["auc"]),
            f(&raw["estimated"]["auc"]),
        )
    };
    let (realised, estimated, raw) = aucs(&held_csv, "held_out");
    eprintln!(
        "unseen customers: realised AUC {realised:.4}, estimated {estimated:.4} (raw scores: \
         {raw:.4})"
    );
    assert!(
        (estimated - realised).abs() < 0.01,
        "{estimated} vs {realised}"
    );
    assert!((raw - realised).abs() > 5.0 * (estimated - realised).abs());

    for shift in ["0", "0.5"] {
        let population = dir.path().join(format!("population_{shift}.parquet"));
        ok(mlops()
            .args([
                "gen-data",
                "--rows",
                "20000",
                "--seed",
                "11",
                "--id-column",
                "id",
            ])
            .args(["--shift", shift, "--source"])
            .arg(&held_csv)
            .arg("--out")
            .arg(&population));
        let (realised, estimated, raw) = aucs(&population, shift);
        eprintln!(
            "generated from them, shift {shift}: realised AUC {realised:.4}, estimated \
             {estimated:.4}, gap {:+.4} (raw scores: {raw:.4})",
            realised - estimated
        );
    }
}
