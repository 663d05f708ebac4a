//! Cloud Monitoring and the BigQuery metrics table (feature `cloud-tests`): `mlops alerting
//! apply` against the loopback fake (every body validated against the monitoring v3 discovery
//! document), and metric rows written through the sinks and read back.

use mlops_core::metrics_sink::{BigQuerySink, CloudMonitoringSink, METRICS_TABLE};
use mlops_gcp::{Auth, Gcp, GcpConfig};
use mlops_monitoring::sink::{MetricRow, MetricsSink};
use vertex_pipelines::alerts::POLICIES;

use crate::common::ok;
use crate::gcp::{bq_emulator, mlops_cloud, Fake, PROJECT};

const ALERTS: &str = "monitoring.projects.alertPolicies.";
const CHANNELS: &str = "monitoring.projects.notificationChannels.";

fn lines_starting(text: &str, verb: &str) -> usize {
    text.lines().filter(|l| l.starts_with(verb)).count()
}

#[test]
fn alerting_apply_creates_then_changes_nothing_then_updates_a_threshold() {
    let fake = Fake::start();
    let apply = |config: Option<&std::path::Path>| {
        let mut cmd = mlops_cloud(&fake);
        cmd.env("SLACK_AUTH_TOKEN", "xoxb-test-token")
            .args(["alerting", "apply"]);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        ok(&mut cmd)
    };
    let first = apply(None);
    assert_eq!(
        lines_starting(&first, "created"),
        POLICIES.len() + 1,
        "{first}"
    );
    assert!(!first.contains("xoxb-test-token"), "the token was printed");
    let second = apply(None);
    assert_eq!(
        lines_starting(&second, "unchanged"),
        POLICIES.len() + 1,
        "{second}"
    );
    assert_eq!(
        fake.requests_to(&format!("{ALERTS}create")).len(),
        POLICIES.len()
    );
    assert_eq!(fake.requests_to(&format!("{CHANNELS}create")).len(), 1);
    assert!(fake.requests_to(&format!("{ALERTS}patch")).is_empty());
    let descriptors = fake.requests_to("monitoring.projects.metricDescriptors.create");
    assert_eq!(descriptors.len(), 2 * mlops_monitoring::METRICS.len());

    // Every policy notifies the created Slack channel, with the shipped thresholds.
    let created = fake.requests_to(&format!("{ALERTS}create"));
    let channel = &fake.requests_to(&format!("{CHANNELS}create"))[0]["body"];
    assert_eq!(channel["labels"]["channel_name"], "#ml-alerts");
    assert_eq!(channel["labels"]["auth_token"], "xoxb-test-token");
    let auc = created
        .iter()
        .map(|r| &r["body"])
        .find(|b| b["displayName"] == "churn performance (AUC)")
        .expect("the AUC policy");
    assert_eq!(
        auc["conditions"][0]["conditionThreshold"]["comparison"],
        "COMPARISON_LT"
    );
    assert_eq!(
        auc["notificationChannels"].as_array().map(Vec::len),
        Some(1)
    );

    // A changed threshold in the config patches that policy only.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("monitoring.yaml");
    let shipped =
        std::fs::read_to_string(crate::common::root().join("config/monitoring.yaml")).unwrap();
    let changed = shipped.replace(
        "performance/auc: {comparison: \"<\", value: 0.7}",
        "performance/auc: {comparison: \"<\", value: 0.65}",
    );
    assert_ne!(changed, shipped, "the shipped AUC threshold line moved");
    std::fs::write(&config, changed).unwrap();
    let third = apply(Some(&config));
    assert_eq!(lines_starting(&third, "updated"), 1, "{third}");
    let patches = fake.requests_to(&format!("{ALERTS}patch"));
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0]["body"]["conditions"][0]["conditionThreshold"]["thresholdValue"],
        0.65
    );
    fake.assert_no_violations();
}

#[test]
fn an_existing_channel_from_settings_is_used_and_dry_run_sends_nothing() {
    let fake = Fake::start();
    let out = ok(mlops_cloud(&fake)
        .env("ALERT_NOTIFICATION_CHANNEL", "12345")
        .args(["--dry-run", "alerting", "apply"]));
    assert!(fake.requests_to(&format!("{ALERTS}create")).is_empty());
    let dry: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let policy = dry
        .iter()
        .find(|d| d["method"] == "monitoring.projects.alertPolicies.create")
        .expect("a dry-run policy line");
    assert_eq!(
        policy["body"]["notificationChannels"][0],
        format!("projects/{PROJECT}/notificationChannels/12345")
    );
}

fn row(run: &str, key: &str, value: f64) -> MetricRow {
    MetricRow::new("inference", run, "churn", "1", key, value).unwrap()
}

#[test]
fn metric_rows_reach_cloud_monitoring_and_bigquery() {
    let fake = Fake::start();
    let bq = bq_emulator(PROJECT, "mlops");
    let mut config = GcpConfig::new(PROJECT, "us-central1").all_endpoints("http://127.0.0.1:9");
    config.monitoring_endpoint = fake.url();
    config.bigquery_endpoint = format!("{}/bigquery/v2", bq.url());
    config.auth = Auth::Anonymous;
    config.max_attempts = 2;
    let gcp = Gcp::new(config).unwrap();

    // 250 series: two timeSeries.create calls (at most 200 series each).
    let rows: Vec<MetricRow> = (0..250)
        .map(|i| {
            row("r1", "feature_drift/max_psi", f64::from(i) / 1000.0).with_feature(&format!("f{i}"))
        })
        .chain([row("r1", "performance/auc", f64::NAN)])
        .collect();
    let monitoring = CloudMonitoringSink::new(&gcp, "churn");
    monitoring.create_descriptors().unwrap();
    monitoring.write(&rows).unwrap();
    let calls = fake.requests_to("monitoring.projects.timeSeries.create");
    let sizes: Vec<usize> = calls
        .iter()
        .map(|c| c["body"]["timeSeries"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [200, 50], "NaN left out, at most 200 a call");
    fake.assert_no_violations();

    let sink = BigQuerySink::new(&gcp, "mlops", METRICS_TABLE, "US");
    let written = vec![
        row("r1", "prediction_drift/psi", 0.125),
        row("r1", "performance/auc", f64::NAN),
    ];
    sink.write(&written).unwrap();
    let mut read = Vec::new();
    gcp.query(
        &format!(
            "SELECT metric_group, metric_name, value, run_id FROM `{PROJECT}.mlops.{METRICS_TABLE}` ORDER BY metric_name"
        ),
        100,
        &mut |_, page| {
            read.extend(page);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(read[0][0].as_deref(), Some("performance"));
    assert_eq!(read[0][2], None, "NaN is NULL");
    assert_eq!(read[1][1].as_deref(), Some("psi"));
    assert_eq!(
        read[1][2].as_deref().map(|v| v.parse::<f64>().unwrap()),
        Some(0.125)
    );
}
