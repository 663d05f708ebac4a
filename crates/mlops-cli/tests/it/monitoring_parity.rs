//! The monitoring measures (crates/mlops-monitoring) equal a NumPy/SciPy/scikit-learn
//! implementation of the same definitions (tests/python/monitoring_ref.py) within 1e-9, on
//! random inputs and edge cases: ties, all-equal scores, empty bins, unseen levels, a single
//! class, scores at 0, 1 and on bin edges, more baseline rows than order statistics kept.
//! Needs Python with numpy, scipy and scikit-learn (feature `python-tests`).

use std::process::Command;

use mlops_monitoring::{
    estimate_performance, feature_drift, performance, score_drift, Binning, ColumnValues,
    FeatureProfile, Outcome, ScoreBaseline,
};
use serde_json::{json, Value};

use crate::common::*;

const TOLERANCE: f64 = 1e-9;

/// SplitMix64: a fixed generator, so every run checks the same inputs.
struct Rng(u64);

impl Rng {
    fn f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn scores(&mut self, n: usize, power: f64) -> Vec<f64> {
        (0..n).map(|_| self.f64().powf(power)).collect()
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.f64().max(1e-300), self.f64());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn round2(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 100.0).round() / 100.0).collect()
}

fn nullable(v: &[f64]) -> Value {
    json!(v
        .iter()
        .map(|x| if x.is_nan() { None } else { Some(*x) })
        .collect::<Vec<_>>())
}

fn outcome<T>(o: Outcome<T>, f: impl FnOnce(T) -> Value) -> Value {
    match o {
        Outcome::Computed(v) => f(v),
        Outcome::InsufficientData { .. } => json!({ "insufficient": true }),
    }
}

/// Our values for one case, in the reference's layout.
fn ours(case: &Value) -> Value {
    let floats = |key: &str| -> Vec<f64> {
        case[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let levels = |key: &str| -> Vec<Option<String>> {
        case[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    match case["kind"].as_str().unwrap() {
        "score_drift" => {
            let base = ScoreBaseline::from_scores(&floats("baseline")).unwrap();
            let binning: Binning = case["binning"].as_str().unwrap().parse().unwrap();
            let bins = case["bins"].as_u64().unwrap() as usize;
            let o = score_drift(&base, &floats("current"), binning, bins).unwrap();
            outcome(o, |d| {
                json!({
                    "baseline_n": base.n, "baseline_values": base.values, "edges": d.edges,
                    "baseline": d.baseline, "current": d.current, "psi": d.psi,
                    "js_distance": d.js_distance, "wasserstein": d.wasserstein, "ks": d.ks,
                })
            })
        }
        "feature_numeric" => {
            let bins = case["bins"].as_u64().unwrap() as usize;
            let profile = FeatureProfile::numeric("x", &floats("train"), bins).unwrap();
            let mlops_monitoring::Distribution::Numeric { cuts, proportions } =
                profile.distribution.clone()
            else {
                panic!("numeric profile expected")
            };
            let current = floats("current");
            let o = feature_drift(&profile, ColumnValues::Numeric(&current)).unwrap();
            outcome(o, |d| {
                json!({
                    "cuts": cuts, "profile": proportions,
                    "missing_fraction": profile.missing_fraction, "baseline": d.baseline,
                    "current": d.current, "psi": d.psi, "js_distance": d.js_distance,
                })
            })
        }
        "feature_levels" => {
            let (train, current) = (levels("train"), levels("current"));
            let train: Vec<Option<&str>> = train.iter().map(Option::as_deref).collect();
            let current: Vec<Option<&str>> = current.iter().map(Option::as_deref).collect();
            let profile = FeatureProfile::categorical("c", &train);
            let o = feature_drift(&profile, ColumnValues::Levels(&current)).unwrap();
            outcome(o, |d| {
                json!({
                    "buckets": d.buckets, "baseline": d.baseline, "current": d.current,
                    "js_distance": d.js_distance, "linf": d.linf, "unseen_rows": d.unseen_rows,
                })
            })
        }
        "performance" => {
            let labels: Vec<bool> = floats("labels").iter().map(|&y| y == 1.0).collect();
            let threshold = case["threshold"].as_f64().unwrap();
            let o = performance(&floats("scores"), &labels, threshold).unwrap();
            outcome(o, |p| {
                json!({
                    "rows": p.rows, "auc": p.auc, "logloss": p.logloss, "accuracy": p.accuracy,
                    "precision": p.precision, "recall": p.recall, "f1": p.f1, "brier": p.brier,
                    "ece": p.ece, "positive_rate": p.positive_rate,
                })
            })
        }
        "cbpe" => {
            let threshold = case["threshold"].as_f64().unwrap();
            let o = estimate_performance(&floats("scores"), threshold).unwrap();
            outcome(o, |e| {
                json!({
                    "auc": e.auc, "precision": e.precision, "recall": e.recall, "f1": e.f1,
                    "accuracy": e.accuracy, "confusion": e.confusion,
                })
            })
        }
        "calibration" => {
            let labels: Vec<bool> = floats("labels").iter().map(|&y| y == 1.0).collect();
            let c = mlops_monitoring::Calibration::fit(&floats("scores"), &labels).unwrap();
            json!({"a": c.a, "b": c.b})
        }
        other => panic!("unknown case kind {other}"),
    }
}

/// Every number within [`TOLERANCE`], everything else equal; returns the paths that differ.
fn compare(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > TOLERANCE {
                out.push(format!("{path}: ours {x}, reference {y}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: {} values, reference {}", x.len(), y.len()));
                return;
            }
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                compare(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut kx: Vec<_> = x.keys().collect();
            let mut ky: Vec<_> = y.keys().collect();
            kx.sort();
            ky.sort();
            if kx != ky {
                out.push(format!("{path}: keys {kx:?}, reference {ky:?}"));
                return;
            }
            for k in kx {
                compare(&format!("{path}.{k}"), &x[k], &y[k], out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: ours {a}, reference {b}")),
    }
}

fn cases() -> Vec<Value> {
    let mut rng = Rng(11);
    let mut cases = Vec::new();
    let mut add = |name: &str, kind: &str, mut fields: Value| {
        fields["name"] = json!(name);
        fields["kind"] = json!(kind);
        cases.push(fields);
    };

    // Score drift.
    let base = rng.scores(3000, 2.0);
    let cur = rng.scores(1500, 1.5);
    for (binning, bins) in [
        ("uniform", 10),
        ("quantile", 10),
        ("quantile", 7),
        ("uniform", 3),
    ] {
        add(
            &format!("scores_random_{binning}_{bins}"),
            "score_drift",
            json!({"baseline": base, "current": cur, "binning": binning, "bins": bins}),
        );
    }
    let large = rng.scores(25_003, 3.0);
    let cur = rng.scores(2000, 2.5);
    for binning in ["uniform", "quantile"] {
        add(
            &format!("scores_order_statistics_{binning}"),
            "score_drift",
            json!({"baseline": large, "current": cur, "binning": binning, "bins": 20}),
        );
    }
    let tied_base = round2(&rng.scores(2000, 2.0));
    let tied_cur = round2(&rng.scores(800, 1.0));
    for binning in ["uniform", "quantile"] {
        add(
            &format!("scores_ties_{binning}"),
            "score_drift",
            json!({"baseline": tied_base, "current": tied_cur, "binning": binning, "bins": 10}),
        );
        add(
            &format!("scores_all_equal_{binning}"),
            "score_drift",
            json!({"baseline": vec![0.3; 200], "current": rng.scores(300, 1.0),
                   "binning": binning, "bins": 10}),
        );
    }
    let low: Vec<f64> = rng.scores(500, 1.0).iter().map(|s| s * 0.5).collect();
    let high: Vec<f64> = rng.scores(400, 1.0).iter().map(|s| 0.5 + s * 0.5).collect();
    add(
        "scores_empty_bins",
        "score_drift",
        json!({"baseline": low, "current": high, "binning": "uniform", "bins": 10}),
    );
    let on_edges: Vec<f64> = (0..=20).map(|i| f64::from(i) / 20.0).collect();
    add(
        "scores_on_edges",
        "score_drift",
        json!({"baseline": on_edges, "current": [0.0, 0.1, 0.7, 1.0, 1.0],
               "binning": "uniform", "bins": 10}),
    );
    add(
        "scores_no_current",
        "score_drift",
        json!({"baseline": base, "current": [], "binning": "quantile", "bins": 10}),
    );

    // Numeric features.
    let train: Vec<f64> = (0..3000)
        .map(|_| {
            if rng.f64() < 0.05 {
                f64::NAN
            } else {
                40.0 + 10.0 * rng.normal()
            }
        })
        .collect();
    let current: Vec<f64> = (0..1200)
        .map(|_| {
            if rng.f64() < 0.15 {
                f64::NAN
            } else {
                45.0 + 12.0 * rng.normal()
            }
        })
        .collect();
    add(
        "numeric_random",
        "feature_numeric",
        json!({"train": nullable(&train), "current": nullable(&current), "bins": 10}),
    );
    let ints: Vec<f64> = (0..1000).map(|_| (rng.f64() * 6.0).floor()).collect();
    let ints_cur: Vec<f64> = (0..700).map(|_| (rng.f64() * 8.0).floor()).collect();
    add(
        "numeric_ties_on_cuts",
        "feature_numeric",
        json!({"train": ints, "current": ints_cur, "bins": 10}),
    );
    add(
        "numeric_constant",
        "feature_numeric",
        json!({"train": vec![4.0; 50], "current": [3.0, 4.0, 5.0, 4.0], "bins": 10}),
    );
    add(
        "numeric_all_missing_now",
        "feature_numeric",
        json!({"train": nullable(&train[..300]), "current": [null, null], "bins": 5}),
    );
    add(
        "numeric_no_current",
        "feature_numeric",
        json!({"train": [1.0, 2.0], "current": [], "bins": 10}),
    );

    // Levels.
    let pick = |rng: &mut Rng, levels: &[&str], missing: f64| -> Value {
        if rng.f64() < missing {
            Value::Null
        } else {
            json!(levels[(rng.f64() * levels.len() as f64) as usize])
        }
    };
    let train: Vec<Value> = (0..2000)
        .map(|_| pick(&mut rng, &["a", "b", "c", "d", "e"], 0.05))
        .collect();
    let current: Vec<Value> = (0..900)
        .map(|_| pick(&mut rng, &["a", "b", "c", "z", "y"], 0.1))
        .collect();
    add(
        "levels_unseen",
        "feature_levels",
        json!({"train": train, "current": current}),
    );
    let binary: Vec<Value> = (0..500).map(|_| pick(&mut rng, &["0", "1"], 0.0)).collect();
    let binary_cur: Vec<Value> = (0..300).map(|_| pick(&mut rng, &["1"], 0.2)).collect();
    add(
        "levels_binary",
        "feature_levels",
        json!({"train": binary, "current": binary_cur}),
    );
    add(
        "levels_all_unseen",
        "feature_levels",
        json!({"train": ["a", "a", "b"], "current": ["q", "r"]}),
    );

    // Performance.
    let scores = rng.scores(2000, 1.5);
    let labels: Vec<u8> = scores.iter().map(|&p| u8::from(rng.f64() < p)).collect();
    add(
        "performance_random",
        "performance",
        json!({"scores": scores, "labels": labels, "threshold": 0.5}),
    );
    let tied = round2(&scores);
    add(
        "performance_ties_threshold_0_3",
        "performance",
        json!({"scores": tied, "labels": labels, "threshold": 0.3}),
    );
    add(
        "performance_single_class",
        "performance",
        json!({"scores": [0.2, 0.9, 0.5], "labels": [1, 1, 1], "threshold": 0.5}),
    );
    add(
        "performance_certain_mistakes",
        "performance",
        json!({"scores": [0.0, 1.0, 1.0, 0.0, 0.5], "labels": [1, 0, 1, 0, 1], "threshold": 0.5}),
    );
    add(
        "performance_no_predicted_positive",
        "performance",
        json!({"scores": [0.1, 0.2, 0.3], "labels": [0, 1, 0], "threshold": 0.9}),
    );
    add(
        "performance_no_rows",
        "performance",
        json!({"scores": [], "labels": [], "threshold": 0.5}),
    );

    // Estimated performance.
    add(
        "cbpe_random",
        "cbpe",
        json!({"scores": scores, "threshold": 0.5}),
    );
    add(
        "cbpe_ties",
        "cbpe",
        json!({"scores": tied, "threshold": 0.3}),
    );
    add(
        "cbpe_all_equal",
        "cbpe",
        json!({"scores": vec![0.4; 100], "threshold": 0.5}),
    );
    add(
        "cbpe_certain",
        "cbpe",
        json!({"scores": [0.0, 1.0, 1.0, 0.0, 0.7], "threshold": 0.7}),
    );
    add(
        "cbpe_all_zero",
        "cbpe",
        json!({"scores": [0.0, 0.0], "threshold": 0.5}),
    );

    // Platt scaling: over-confident scores (labels drawn from a softer probability) and
    // calibrated ones.
    let soft: Vec<u8> = scores
        .iter()
        .map(|&p| u8::from(rng.f64() < 0.5 + (p - 0.5) * 0.6))
        .collect();
    add(
        "calibration_overconfident",
        "calibration",
        json!({"scores": scores, "labels": soft}),
    );
    add(
        "calibration_calibrated",
        "calibration",
        json!({"scores": scores, "labels": labels}),
    );
    cases
}

/// The fitted calibration's parameters agree with scikit-learn's `LogisticRegression` to
/// this much: both are iterative fits (Newton's method here, L-BFGS there) of the same loss.
const CALIBRATION_TOLERANCE: f64 = 1e-6;

#[test]
fn monitoring_measures_equal_the_numpy_scipy_sklearn_reference() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out_path = dir.path().join("reference.json");
    let out = Command::new(python())
        .arg(root().join("tests/python/monitoring_ref.py"))
        .arg(&cases_path)
        .arg(&out_path)
        .output()
        .expect("cannot start python");
    assert!(
        out.status.success(),
        "monitoring_ref.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    let mut differences = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        if case["kind"] == "calibration" {
            for k in ["a", "b"] {
                let (x, y) = (
                    ours(case)[k].as_f64().unwrap(),
                    reference[name][k].as_f64().unwrap(),
                );
                if (x - y).abs() > CALIBRATION_TOLERANCE {
                    differences.push(format!("{name}.{k}: ours {x}, reference {y}"));
                }
            }
            continue;
        }
        compare(name, &ours(case), &reference[name], &mut differences);
    }
    assert!(
        differences.is_empty(),
        "{} difference(s):\n{}",
        differences.len(),
        differences.join("\n")
    );
    // The edge cases took the paths they were written for.
    assert_eq!(reference["performance_single_class"]["auc"], Value::Null);
    assert_eq!(reference["scores_no_current"]["insufficient"], json!(true));
    assert_eq!(reference["cbpe_all_zero"]["auc"], Value::Null);
    let slope = reference["calibration_overconfident"]["a"]
        .as_f64()
        .unwrap();
    assert!(slope < 0.8, "over-confident scores are shrunk: a = {slope}");
    assert_eq!(reference["levels_all_unseen"]["unseen_rows"], json!(2));
    assert_eq!(
        reference["scores_order_statistics_quantile"]["baseline_values"]
            .as_array()
            .unwrap()
            .len(),
        10_000
    );
}
