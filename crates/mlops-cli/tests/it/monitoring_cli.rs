//! `mlops metrics show` and `mlops alerting plan|check` on a local metrics table.

use mlops_monitoring::sink::{LocalSink, MetricRow, MetricsSink};
use mlops_monitoring::thresholds::MonitoringConfig;
use serde_json::Value;
use vertex_pipelines::alerts::POLICIES;

use crate::common::{fails, mlops, ok};

fn table_with(rows: &[(&str, &str, &str, f64)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<MetricRow> = rows
        .iter()
        .map(|(pipeline, run, key, value)| {
            MetricRow::new(pipeline, run, "churn", "1", key, *value).unwrap()
        })
        .collect();
    for r in &rows {
        // One write per row: each run gets its own, later timestamp.
        LocalSink::new(dir.path())
            .write(std::slice::from_ref(r))
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    dir
}

#[test]
fn metrics_show_prints_the_latest_value_of_each_series() {
    let dir = table_with(&[
        ("inference", "r1", "prediction_drift/psi", 0.1),
        ("inference", "r2", "prediction_drift/psi", 0.3),
        ("monitoring", "m1", "performance/auc", 0.8),
    ]);
    let root = dir.path().to_str().unwrap();
    let text = ok(mlops().args(["metrics", "show", "--pipeline-root", root]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].contains("prediction_drift/psi") && lines[1].contains("0.3"),
        "{text}"
    );
    assert!(
        lines[2].contains("performance/auc") && lines[2].contains("0.8"),
        "{text}"
    );
    let json = ok(mlops().args([
        "metrics",
        "show",
        "--pipeline-root",
        root,
        "--pipeline",
        "inference",
        "--last",
        "1",
        "--json",
    ]));
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["run_id"], "r2");
}

#[test]
fn metrics_show_refuses_a_corrupt_table_naming_the_line() {
    let dir = table_with(&[("inference", "r1", "prediction_drift/psi", 0.1)]);
    let path = dir.path().join("metrics/metrics.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("not json\n");
    std::fs::write(&path, text).unwrap();
    let err = fails(mlops().args([
        "metrics",
        "show",
        "--pipeline-root",
        dir.path().to_str().unwrap(),
    ]));
    assert!(err.contains("line 2 is corrupt"), "{err}");
}

#[test]
fn alerting_check_says_which_policies_would_fire() {
    let psi = MonitoringConfig::shipped()
        .unwrap()
        .threshold("prediction_drift/psi")
        .unwrap()
        .value;
    let dir = table_with(&[("inference", "r1", "prediction_drift/psi", psi * 3.0)]);
    let root = dir.path().to_str().unwrap();
    let text = ok(mlops().args(["alerting", "check", "--pipeline-root", root]));
    assert!(
        text.contains(&format!("prediction_drift/psi = {} > {psi}", psi * 3.0)),
        "{text}"
    );
    let json = ok(mlops().args(["alerting", "check", "--pipeline-root", root, "--json"]));
    let checks: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(checks.len(), POLICIES.len());
    let firing: Vec<&Value> = checks.iter().filter(|c| c["status"] == "firing").collect();
    assert_eq!(firing.len(), 1, "{json}");
    assert_eq!(firing[0]["metric"], "prediction_drift/psi");
}

#[test]
fn alerting_plan_prints_one_body_per_policy_and_refuses_a_bad_config() {
    let json = ok(mlops().args(["alerting", "plan"]));
    let bodies: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(bodies.len(), POLICIES.len());
    assert!(bodies
        .iter()
        .all(|b| b["userLabels"]["managed-by"] == "mlops-template"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("monitoring.yaml");
    std::fs::write(
        &bad,
        "alerts_threshold:\n  performance/acu: {comparison: '<', value: 0.7}\n  performance/f1: {comparison: '=', value: 1}\n",
    )
    .unwrap();
    let err = fails(mlops().args(["alerting", "plan", "--config", bad.to_str().unwrap()]));
    assert!(err.contains("unknown metric `performance/acu`"), "{err}");
    assert!(err.contains("performance/f1.comparison is `=`"), "{err}");
}
