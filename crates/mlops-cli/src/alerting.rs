//! `mlops alerting plan|check|apply`: the alert policies of `vertex_pipelines::alerts::POLICIES`
//! with thresholds from the monitoring config. `plan` prints the Cloud Monitoring bodies,
//! `check` evaluates them against the local metrics table, `apply` (feature `gcp`) creates or
//! updates them in Cloud Monitoring.

use std::path::{Path, PathBuf};

use mlops_domain::Settings;
use mlops_monitoring::sink::{latest_values, MetricRow};
use mlops_monitoring::thresholds::MonitoringConfig;
use serde::Serialize;
use vertex_pipelines::alerts::{self, ResolvedPolicy};

use crate::args::{AlertingCheckArgs, AlertingCommand};
use crate::context::BoxError;

/// Run one `mlops alerting` command.
pub fn run(settings: &Settings, dry_run: bool, command: AlertingCommand) -> Result<(), BoxError> {
    match command {
        AlertingCommand::Plan(args) => {
            let config = load_monitoring_config(settings, args.config.as_deref())?;
            let channels = configured_channel(settings)?
                .into_iter()
                .collect::<Vec<_>>();
            if channels.is_empty() {
                eprintln!(
                    "note: ALERT_NOTIFICATION_CHANNEL is not set: `mlops alerting apply` creates \
                     (or reuses) the Slack channel {} and fills notificationChannels",
                    settings.slack_channel_name
                );
            }
            let policies = alerts::resolve(&config, &settings.model_name_prefix, &channels)?;
            let bodies: Vec<serde_json::Value> =
                policies.iter().map(ResolvedPolicy::body).collect();
            println!("{}", serde_json::to_string_pretty(&bodies)?);
            Ok(())
        }
        AlertingCommand::Check(args) => check(settings, args),
        AlertingCommand::Apply(args) => {
            let config = load_monitoring_config(settings, args.config.as_deref())?;
            crate::cloud::alerting_apply(settings, dry_run, &config)
        }
    }
}

/// The monitoring config named by `--config`, else `MLOPS_MONITORING_CONFIG` (default
/// `config/monitoring.yaml`).
pub fn load_monitoring_config(
    settings: &Settings,
    path: Option<&Path>,
) -> Result<MonitoringConfig, BoxError> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&settings.monitoring_config));
    Ok(MonitoringConfig::from_file(path)?)
}

/// `ALERT_NOTIFICATION_CHANNEL` as a full resource name (an id is put under the project).
pub fn configured_channel(settings: &Settings) -> Result<Option<String>, BoxError> {
    let Some(channel) = &settings.alert_notification_channel else {
        return Ok(None);
    };
    if channel.starts_with("projects/") {
        return Ok(Some(channel.clone()));
    }
    let project = settings.project_id.as_deref().ok_or_else(|| {
        format!(
            "ALERT_NOTIFICATION_CHANNEL is the id `{channel}`: GCP_PROJECT_ID is needed to name it \
             (or give projects/P/notificationChannels/{channel})"
        )
    })?;
    Ok(Some(format!(
        "projects/{project}/notificationChannels/{channel}"
    )))
}

/// What `check` says of one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyCheck {
    /// The policy's display name.
    pub policy: String,
    /// The metric key it watches.
    pub metric: String,
    /// `>` or `<`.
    pub comparison: &'static str,
    /// The threshold.
    pub threshold: f64,
    /// `firing`, `ok` or `no_data`.
    pub status: &'static str,
    /// One entry per series of the metric (latest value each).
    pub series: Vec<SeriesCheck>,
}

/// One series' latest value against a policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesCheck {
    /// The row holding the latest value.
    #[serde(flatten)]
    pub row: MetricRow,
    /// Whether it crosses the threshold.
    pub fires: bool,
    /// `{metric} = {value} {>|<} {threshold}` when it fires, else why not.
    pub reason: String,
}

/// Evaluate every policy against the latest value of each series in `rows`.
pub fn evaluate(policies: &[ResolvedPolicy], rows: &[MetricRow]) -> Vec<PolicyCheck> {
    let latest = latest_values(rows);
    policies
        .iter()
        .map(|p| {
            let threshold = mlops_monitoring::thresholds::Threshold {
                comparison: p.comparison,
                value: p.threshold,
            };
            let symbol = p.comparison.symbol();
            let series: Vec<SeriesCheck> = latest
                .iter()
                .filter(|r| r.key() == p.metric)
                .map(|r| {
                    let fires = threshold.fires(r.value);
                    let reason = if fires {
                        format!("{} = {} {symbol} {}", p.metric, r.value, p.threshold)
                    } else if r.value.is_nan() {
                        format!("{} could not be computed (NaN): no alert", p.metric)
                    } else {
                        format!("{} = {} is not {symbol} {}", p.metric, r.value, p.threshold)
                    };
                    SeriesCheck {
                        row: r.clone(),
                        fires,
                        reason,
                    }
                })
                .collect();
            let status = if series.iter().any(|s| s.fires) {
                "firing"
            } else if series.is_empty() {
                "no_data"
            } else {
                "ok"
            };
            PolicyCheck {
                policy: p.display_name.clone(),
                metric: p.metric.clone(),
                comparison: symbol,
                threshold: p.threshold,
                status,
                series,
            }
        })
        .collect()
}

fn check(settings: &Settings, args: AlertingCheckArgs) -> Result<(), BoxError> {
    let config = load_monitoring_config(settings, args.config.as_deref())?;
    let policies = alerts::resolve(&config, &settings.model_name_prefix, &[])?;
    let rows = crate::metrics::read_rows(settings, &args.table)?;
    let checks = evaluate(&policies, &rows);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
        return Ok(());
    }
    for c in &checks {
        match c.status {
            "no_data" => println!(
                "no data  {}: no `{}` in the metrics table",
                c.policy, c.metric
            ),
            status => {
                for s in &c.series {
                    let r = &s.row;
                    let feature = r
                        .feature
                        .as_deref()
                        .map(|f| format!(", feature {f}"))
                        .unwrap_or_default();
                    println!(
                        "{:<7}  {}: {} ({} run {}, model {} v{}{feature}, {})",
                        if s.fires { "FIRING" } else { status },
                        c.policy,
                        s.reason,
                        r.pipeline,
                        r.run_id,
                        r.model_name,
                        r.model_version,
                        r.recorded_at_rfc3339()
                    );
                }
            }
        }
    }
    let firing = checks.iter().filter(|c| c.status == "firing").count();
    eprintln!("{firing} of {} policies would fire", checks.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_says_which_policies_fire_and_why() {
        let config = MonitoringConfig::shipped().unwrap();
        let policies = alerts::resolve(&config, "churn", &[]).unwrap();
        let psi_threshold = config.threshold("prediction_drift/psi").unwrap().value;
        let row = |run: &str, secs: i64, key: &str, value: f64| {
            let mut r = MetricRow::new("inference", run, "churn", "1", key, value).unwrap();
            r.recorded_at = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
            r
        };
        let rows = vec![
            row("r1", 0, "prediction_drift/psi", psi_threshold / 2.0),
            row("r2", 10, "prediction_drift/psi", psi_threshold * 2.0),
            row("r2", 10, "performance/auc", f64::NAN),
        ];
        let checks = evaluate(&policies, &rows);
        let by_metric = |m: &str| checks.iter().find(|c| c.metric == m).unwrap();
        let psi = by_metric("prediction_drift/psi");
        assert_eq!(psi.status, "firing");
        assert_eq!(psi.series.len(), 1, "only the latest value counts");
        assert_eq!(
            psi.series[0].reason,
            format!(
                "prediction_drift/psi = {} > {psi_threshold}",
                psi_threshold * 2.0
            )
        );
        let auc = by_metric("performance/auc");
        assert_eq!(auc.status, "ok", "NaN never fires");
        assert!(auc.series[0].reason.contains("NaN"));
        assert_eq!(
            by_metric("feature_drift/features_drifted").status,
            "no_data"
        );
    }
}
