//! Alerting as code: `POLICIES`, the Cloud Monitoring alert policies on the metrics the
//! monitoring components write (as the original template's `AlertPolicy` list). A policy names
//! its metric; the comparison and threshold come from `config/monitoring.yaml`'s
//! `alerts_threshold`, so changing a threshold is a config change, not a code change.
//!
//! Invariant: a policy watches only a metric of [`mlops_monitoring::METRICS`] (the test below
//! walks the list), and [`resolve`] refuses a policy whose metric has no threshold.
//!
//! ```
//! use mlops_monitoring::thresholds::MonitoringConfig;
//! let config = MonitoringConfig::shipped().unwrap();
//! let policies = vertex_pipelines::alerts::resolve(&config, "churn", &[]).unwrap();
//! let body = policies[0].body();
//! assert_eq!(body["conditions"][0]["conditionThreshold"]["comparison"], "COMPARISON_GT");
//! ```

use mlops_monitoring::thresholds::{Comparison, MonitoringConfig};
use serde::Serialize;
use serde_json::{json, Value};

/// Label every policy this template manages carries (`userLabels.managed-by`), so `apply`
/// never touches a policy someone made by hand.
pub const MANAGED_BY: &str = "mlops-template";

/// One alert policy on a catalogue metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Display name after the model name: the policy is `{model} {display_name}` and is
    /// matched by that display name when applied.
    pub display_name: &'static str,
    /// The metric key (`{group}/{name}`) in [`mlops_monitoring::METRICS`].
    pub metric: &'static str,
    /// How long the condition must hold before the policy fires, in seconds (0: at once;
    /// batch metrics have one point per run).
    pub duration_secs: u64,
    /// Alignment period of the condition, in seconds: at least the gap between two runs, so a
    /// daily point is seen.
    pub alignment_period_secs: u64,
    /// What to do when it fires (the policy's documentation, Markdown).
    pub runbook: &'static str,
}

const DAY: u64 = 86_400;

/// Every alert policy, in the order they are applied.
pub const POLICIES: &[AlertPolicy] = &[
    AlertPolicy {
        display_name: "prediction drift detected",
        metric: "prediction_drift/drift_detected",
        duration_secs: 0,
        alignment_period_secs: DAY,
        runbook: "The score distribution moved away from the training split. Compare the \
                  drift report of the inference run with the training data; retrain if the \
                  population changed.",
    },
    AlertPolicy {
        display_name: "prediction drift (PSI)",
        metric: "prediction_drift/psi",
        duration_secs: 0,
        alignment_period_secs: DAY,
        runbook: "The Population Stability Index of the scores crossed its threshold. See \
                  the inference run's drift report.",
    },
    AlertPolicy {
        display_name: "feature drift",
        metric: "feature_drift/features_drifted",
        duration_secs: 0,
        alignment_period_secs: DAY,
        runbook: "Input columns drifted from their training-split profiles; the drift \
                  report names them.",
    },
    AlertPolicy {
        display_name: "performance (AUC)",
        metric: "performance/auc",
        duration_secs: 0,
        alignment_period_secs: DAY,
        runbook: "AUC on the outcomes that arrived fell below its threshold. Retrain on \
                  recent data and compare with the champion.",
    },
    AlertPolicy {
        display_name: "estimated performance (AUC)",
        metric: "performance/estimated_auc",
        duration_secs: 0,
        alignment_period_secs: DAY,
        runbook: "AUC expected from the scores alone fell: outcomes have not arrived yet, \
                  but the model is likely degrading.",
    },
];

/// A policy with its threshold, model name and notification channels: everything its Cloud
/// Monitoring body needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedPolicy {
    /// `{model} {display_name}`: the name `apply` matches on.
    pub display_name: String,
    /// The metric key.
    pub metric: String,
    /// `custom.googleapis.com/{model}/{group}/{name}`.
    pub metric_type: String,
    /// The model name (metric prefix).
    pub model_name: String,
    /// `>` or `<`.
    pub comparison: Comparison,
    /// The threshold from `alerts_threshold`.
    pub threshold: f64,
    /// Seconds the condition must hold.
    pub duration_secs: u64,
    /// Alignment period, seconds.
    pub alignment_period_secs: u64,
    /// Notification channel names (`projects/P/notificationChannels/ID`).
    pub notification_channels: Vec<String>,
    /// The runbook.
    pub runbook: String,
}

/// A policy that cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertsError {
    /// Policies watch metrics missing from the catalogue or from `alerts_threshold`; every
    /// one is listed.
    #[error("alert policies cannot be resolved:\n  - {}", .0.join("\n  - "))]
    Unresolved(Vec<String>),
}

/// Every policy of [`POLICIES`] with its threshold from `config` and metric type under
/// `model_name`; all problems at once.
pub fn resolve(
    config: &MonitoringConfig,
    model_name: &str,
    notification_channels: &[String],
) -> Result<Vec<ResolvedPolicy>, AlertsError> {
    resolve_policies(POLICIES, config, model_name, notification_channels)
}

/// [`resolve`] over any policy list (tests use their own).
pub fn resolve_policies(
    policies: &[AlertPolicy],
    config: &MonitoringConfig,
    model_name: &str,
    notification_channels: &[String],
) -> Result<Vec<ResolvedPolicy>, AlertsError> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for p in policies {
        let Some(metric) = mlops_monitoring::metrics::find(p.metric) else {
            problems.push(format!(
                "policy `{}` watches `{}`, which no component writes (nearest known: {})",
                p.display_name,
                p.metric,
                mlops_monitoring::thresholds::nearest_keys(p.metric, 3).join(", ")
            ));
            continue;
        };
        let Some(threshold) = config.threshold(p.metric) else {
            problems.push(format!(
                "policy `{}` watches `{}`, which has no entry in alerts_threshold",
                p.display_name, p.metric
            ));
            continue;
        };
        out.push(ResolvedPolicy {
            display_name: format!("{model_name} {}", p.display_name),
            metric: p.metric.to_string(),
            metric_type: metric.metric_type(model_name),
            model_name: model_name.to_string(),
            comparison: threshold.comparison,
            threshold: threshold.value,
            duration_secs: p.duration_secs,
            alignment_period_secs: p.alignment_period_secs,
            notification_channels: notification_channels.to_vec(),
            runbook: p.runbook.to_string(),
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(AlertsError::Unresolved(problems))
    }
}

impl ResolvedPolicy {
    /// The Cloud Monitoring `AlertPolicy` body (monitoring v3): one threshold condition on the
    /// custom metric, the notification channels and the `managed-by` label.
    pub fn body(&self) -> Value {
        json!({
            "displayName": self.display_name,
            "combiner": "OR",
            "conditions": [{
                "displayName": format!(
                    "{} {} {}",
                    self.metric,
                    self.comparison.symbol(),
                    self.threshold
                ),
                "conditionThreshold": {
                    "filter": format!(
                        "metric.type=\"{}\" AND resource.type=\"global\"",
                        self.metric_type
                    ),
                    "comparison": self.comparison.cloud_monitoring(),
                    "thresholdValue": self.threshold,
                    "duration": format!("{}s", self.duration_secs),
                    "aggregations": [{
                        "alignmentPeriod": format!("{}s", self.alignment_period_secs),
                        // Batch metrics have one point per run: the max of the period is it.
                        "perSeriesAligner": "ALIGN_MAX",
                    }],
                    "trigger": {"count": 1},
                    // No run, no point: not an alert (a missed run is another policy's job).
                    "evaluationMissingData": "EVALUATION_MISSING_DATA_NO_OP",
                },
            }],
            "notificationChannels": self.notification_channels,
            "documentation": {"content": self.runbook, "mimeType": "text/markdown"},
            "userLabels": {"managed-by": MANAGED_BY},
            "enabled": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_watches_a_metric_that_components_write() {
        for p in POLICIES {
            assert!(
                mlops_monitoring::METRICS
                    .iter()
                    .any(|m| m.key() == p.metric),
                "policy `{}` watches `{}`, which is not in METRICS",
                p.display_name,
                p.metric
            );
        }
        let mut names: Vec<&str> = POLICIES.iter().map(|p| p.display_name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), POLICIES.len(), "display names must be unique");
    }

    #[test]
    fn shipped_config_resolves_every_policy() {
        let config = MonitoringConfig::shipped().unwrap();
        let channels = vec!["projects/p/notificationChannels/1".to_string()];
        let resolved = resolve(&config, "churn", &channels).unwrap();
        assert_eq!(resolved.len(), POLICIES.len());
        let auc = resolved
            .iter()
            .find(|p| p.metric == "performance/auc")
            .unwrap();
        let t = config.threshold("performance/auc").unwrap();
        assert_eq!((auc.comparison, auc.threshold), (t.comparison, t.value));
        let body = auc.body();
        let cond = &body["conditions"][0]["conditionThreshold"];
        assert_eq!(
            cond["filter"],
            "metric.type=\"custom.googleapis.com/churn/performance/auc\" AND resource.type=\"global\""
        );
        assert_eq!(cond["comparison"], "COMPARISON_LT");
        assert_eq!(cond["thresholdValue"], t.value);
        assert_eq!(cond["duration"], "0s");
        assert_eq!(body["displayName"], "churn performance (AUC)");
        assert_eq!(body["notificationChannels"][0], channels[0]);
        assert_eq!(body["userLabels"]["managed-by"], MANAGED_BY);
    }

    #[test]
    fn unknown_metrics_and_missing_thresholds_are_all_reported() {
        let config = MonitoringConfig::from_yaml_str("alerts_threshold: {}").unwrap();
        let policies = [
            AlertPolicy {
                metric: "performance/acu",
                ..POLICIES[0]
            },
            POLICIES[1],
        ];
        let err = resolve_policies(&policies, &config, "churn", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "`performance/acu`, which no component writes (nearest known: performance/auc"
            ),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "`{}`, which has no entry in alerts_threshold",
                POLICIES[1].metric
            )),
            "{err}"
        );
    }
}
