//! Cloud Monitoring (monitoring v3) over its JSON REST API: custom metric descriptors, time
//! series, alert policies (applied idempotently by display name) and notification channels.
//!
//! These are plain JSON calls through [`crate::rest`] rather than `google-cloud-monitoring-v3`:
//! they need no new dependency and no client's RPCs compiled into this crate, and the bodies
//! are the same discovery-document JSON the loopback fake validates.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::client::Gcp;
use crate::error::{GcpError, Result};
use crate::DryRun;

/// Cloud Monitoring takes at most this many time series in one `timeSeries.create`.
pub const MAX_SERIES_PER_CALL: usize = 200;

/// A custom metric to declare (`metricDescriptors.create`; GAUGE, DOUBLE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDescriptorSpec {
    /// `custom.googleapis.com/...`.
    pub metric_type: String,
    /// UCUM unit (`1` for ratios and counts).
    pub unit: String,
    /// One sentence.
    pub description: String,
    /// Shown in the console.
    pub display_name: String,
    /// Label keys with their descriptions (all STRING).
    pub labels: Vec<(String, String)>,
}

/// One point of one series (`timeSeries.create`: one point per series per call).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeriesPoint {
    /// `custom.googleapis.com/...`.
    pub metric_type: String,
    /// Metric labels (every label of the descriptor, with a value).
    pub labels: BTreeMap<String, String>,
    /// End of the point's interval, RFC 3339 UTC.
    pub end_time: String,
    /// The value.
    pub value: f64,
}

/// What [`Gcp::apply_alert_policy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// No policy had the display name: created (its resource name).
    Created(String),
    /// A policy had the display name and differed: patched.
    Updated(String),
    /// A policy had the display name and every field asked for already.
    Unchanged(String),
}

impl Gcp {
    fn monitoring_url(&self, path: &str) -> String {
        format!(
            "{}/v3/{path}",
            self.config.monitoring_endpoint.trim_end_matches('/')
        )
    }

    fn monitoring_project(&self) -> String {
        format!("projects/{}", self.config.project)
    }

    /// Declare a GAUGE DOUBLE custom metric with its unit, description and labels. Creating a
    /// descriptor that exists with the same shape succeeds (Cloud Monitoring's create is an
    /// upsert), so this is safe to repeat.
    pub fn create_metric_descriptor(&self, spec: &MetricDescriptorSpec) -> Result<()> {
        let parent = self.monitoring_project();
        let labels: Vec<Value> = spec
            .labels
            .iter()
            .map(|(key, description)| {
                json!({"key": key, "valueType": "STRING", "description": description})
            })
            .collect();
        let body = json!({
            "type": spec.metric_type,
            "metricKind": "GAUGE",
            "valueType": "DOUBLE",
            "unit": spec.unit,
            "description": spec.description,
            "displayName": spec.display_name,
            "labels": labels,
        });
        if self.config.dry_run {
            DryRun::new(
                "monitoring.projects.metricDescriptors.create",
                &parent,
                &body,
            )
            .print();
            return Ok(());
        }
        let url = self.monitoring_url(&format!("{parent}/metricDescriptors"));
        self.call_json(
            "create metric descriptor",
            &spec.metric_type,
            reqwest::Method::POST,
            &url,
            &[],
            Some(&body),
        )?;
        Ok(())
    }

    /// Write points, at most [`MAX_SERIES_PER_CALL`] series per call, one point per series,
    /// on the `global` resource. Non-finite values are refused: Cloud Monitoring has no NaN.
    pub fn create_time_series(&self, points: &[TimeSeriesPoint]) -> Result<()> {
        if let Some(p) = points.iter().find(|p| !p.value.is_finite()) {
            return Err(GcpError::Invalid {
                field: "time series value",
                value: format!("{} = {}", p.metric_type, p.value),
                expected: "a finite number (write a NaN metric to the tables only)",
            });
        }
        let parent = self.monitoring_project();
        let url = self.monitoring_url(&format!("{parent}/timeSeries"));
        for chunk in points.chunks(MAX_SERIES_PER_CALL) {
            let series: Vec<Value> = chunk
                .iter()
                .map(|p| {
                    json!({
                        "metric": {"type": p.metric_type, "labels": p.labels},
                        "resource": {"type": "global", "labels": {"project_id": self.config.project}},
                        "metricKind": "GAUGE",
                        "valueType": "DOUBLE",
                        "points": [{
                            "interval": {"endTime": p.end_time},
                            "value": {"doubleValue": p.value},
                        }],
                    })
                })
                .collect();
            let body = json!({ "timeSeries": series });
            if self.config.dry_run {
                DryRun::new("monitoring.projects.timeSeries.create", &parent, &body).print();
                continue;
            }
            self.call_json(
                "create time series",
                &parent,
                reqwest::Method::POST,
                &url,
                &[],
                Some(&body),
            )?;
        }
        Ok(())
    }

    /// Every resource of a paged monitoring list (`alertPolicies`, `notificationChannels`).
    fn list_all(&self, collection: &str, filter: Option<&str>) -> Result<Vec<Value>> {
        let parent = self.monitoring_project();
        let url = self.monitoring_url(&format!("{parent}/{collection}"));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("pageSize", "100".to_string())];
            if let Some(f) = filter {
                query.push(("filter", f.to_string()));
            }
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let page: Value = self.get_json("list", &parent, &url, &query)?;
            if let Some(items) = page[collection].as_array() {
                out.extend(items.iter().cloned());
            }
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Every alert policy of the project.
    pub fn list_alert_policies(&self) -> Result<Vec<Value>> {
        self.list_all("alertPolicies", None)
    }

    /// Create an alert policy from its JSON body; the created policy is returned.
    pub fn create_alert_policy(&self, body: &Value) -> Result<Value> {
        let parent = self.monitoring_project();
        if self.config.dry_run {
            DryRun::new("monitoring.projects.alertPolicies.create", &parent, body).print();
            return Ok(body.clone());
        }
        let url = self.monitoring_url(&format!("{parent}/alertPolicies"));
        self.call_json(
            "create alert policy",
            &parent,
            reqwest::Method::POST,
            &url,
            &[],
            Some(body),
        )
    }

    /// Replace the top-level fields of `body` in the policy `name`.
    pub fn patch_alert_policy(&self, name: &str, body: &Value) -> Result<Value> {
        let mask = update_mask(body);
        if self.config.dry_run {
            DryRun::new(
                "monitoring.projects.alertPolicies.patch",
                format!("{name}?updateMask={mask}"),
                body,
            )
            .print();
            return Ok(body.clone());
        }
        let url = self.monitoring_url(name);
        self.call_json(
            "update alert policy",
            name,
            reqwest::Method::PATCH,
            &url,
            &[("updateMask", mask)],
            Some(body),
        )
    }

    /// Create or update the policy with `body`'s `displayName`: created when none has it,
    /// patched when one differs in a field `body` sets, left alone otherwise. Two policies
    /// with that name are an error (which one to change is not ours to guess).
    pub fn apply_alert_policy(&self, body: &Value) -> Result<ApplyOutcome> {
        let display_name = body["displayName"].as_str().unwrap_or_default();
        if display_name.is_empty() {
            return Err(GcpError::Invalid {
                field: "alert policy displayName",
                value: String::new(),
                expected: "a display name (policies are applied by display name)",
            });
        }
        let existing = if self.config.dry_run {
            Vec::new()
        } else {
            self.list_alert_policies()?
        };
        let same_name: Vec<&Value> = existing
            .iter()
            .filter(|p| p["displayName"].as_str() == Some(display_name))
            .collect();
        match same_name.as_slice() {
            [] => {
                let created = self.create_alert_policy(body)?;
                Ok(ApplyOutcome::Created(
                    created["name"].as_str().unwrap_or(display_name).to_string(),
                ))
            }
            [one] => {
                let name = one["name"].as_str().unwrap_or_default().to_string();
                if contains(one, body) {
                    Ok(ApplyOutcome::Unchanged(name))
                } else {
                    self.patch_alert_policy(&name, body)?;
                    Ok(ApplyOutcome::Updated(name))
                }
            }
            _ => Err(GcpError::Invalid {
                field: "alert policy displayName",
                value: display_name.to_string(),
                expected: "at most one policy with that name (delete the duplicates)",
            }),
        }
    }

    /// Every notification channel of the project (optionally filtered, e.g. `type="slack"`).
    pub fn list_notification_channels(&self, filter: Option<&str>) -> Result<Vec<Value>> {
        self.list_all("notificationChannels", filter)
    }

    /// Create a notification channel from its JSON body; its resource name is returned.
    pub fn create_notification_channel(&self, body: &Value) -> Result<String> {
        let parent = self.monitoring_project();
        if self.config.dry_run {
            let mut shown = body.clone();
            // A dry run prints bodies: never a token.
            if let Some(token) = shown["labels"].get_mut("auth_token") {
                *token = Value::String("<redacted>".into());
            }
            DryRun::new(
                "monitoring.projects.notificationChannels.create",
                &parent,
                &shown,
            )
            .print();
            return Ok(format!("{parent}/notificationChannels/DRY_RUN"));
        }
        let url = self.monitoring_url(&format!("{parent}/notificationChannels"));
        let created = self.call_json(
            "create notification channel",
            &parent,
            reqwest::Method::POST,
            &url,
            &[],
            Some(body),
        )?;
        Ok(created["name"].as_str().unwrap_or_default().to_string())
    }

    /// The Slack channel posting to `channel_name` (`#ml-alerts`): an existing one of that
    /// name, else one created with `auth_token` (a Slack bot token). Returns its resource name
    /// and whether it was created.
    pub fn ensure_slack_channel(
        &self,
        display_name: &str,
        channel_name: &str,
        auth_token: Option<&str>,
    ) -> Result<(String, bool)> {
        let existing = if self.config.dry_run {
            Vec::new()
        } else {
            self.list_notification_channels(Some("type=\"slack\""))?
        };
        if let Some(found) = existing
            .iter()
            .find(|c| c["labels"]["channel_name"].as_str() == Some(channel_name))
        {
            return Ok((
                found["name"].as_str().unwrap_or_default().to_string(),
                false,
            ));
        }
        let token = auth_token.ok_or_else(|| GcpError::Invalid {
            field: "Slack auth token",
            value: "(unset)".into(),
            expected: "SLACK_AUTH_TOKEN to create the Slack channel, or \
                       ALERT_NOTIFICATION_CHANNEL naming an existing channel",
        })?;
        let body = slack_channel_body(display_name, channel_name, token);
        Ok((self.create_notification_channel(&body)?, true))
    }
}

/// The NotificationChannel body of a Slack channel: `labels.channel_name` and the token in
/// `labels.auth_token` (the Slack descriptor's label; Cloud Monitoring redacts it in replies).
/// The monitoring v3 discovery document has no `sensitiveLabels` field, so the token cannot go
/// there over REST.
pub fn slack_channel_body(display_name: &str, channel_name: &str, auth_token: &str) -> Value {
    json!({
        "type": "slack",
        "displayName": display_name,
        "labels": {"channel_name": channel_name, "auth_token": auth_token},
        "enabled": true,
    })
}

/// The top-level fields of a body, comma-separated, as an `updateMask`.
fn update_mask(body: &Value) -> String {
    body.as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// Whether `have` already holds every field `want` sets: objects by key (extra keys in `have`,
/// such as server-set names, are ignored), arrays element by element, numbers as f64 (a
/// server may return `0` for `0.0`).
pub fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w.iter().all(|(k, wv)| {
            h.get(k).is_some_and(|hv| contains(hv, wv)) || is_empty(wv) && h.get(k).is_none()
        }),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(hv, wv)| contains(hv, wv))
        }
        (Value::Number(h), Value::Number(w)) => h.as_f64() == w.as_f64(),
        (h, w) => h == w,
    }
}

// proto3 JSON leaves out empty lists and maps: asking for one is met by its absence.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_ignores_server_fields_and_number_spelling() {
        let have = json!({"name": "projects/p/alertPolicies/1", "displayName": "a",
            "conditions": [{"name": "c/1", "conditionThreshold": {"thresholdValue": 0}}],
            "enabled": true});
        let want = json!({"displayName": "a",
            "conditions": [{"conditionThreshold": {"thresholdValue": 0.0}}],
            "notificationChannels": []});
        assert!(contains(&have, &want));
        let changed = json!({"displayName": "a",
            "conditions": [{"conditionThreshold": {"thresholdValue": 0.5}}]});
        assert!(!contains(&have, &changed));
        let more = json!({"displayName": "a", "notificationChannels": ["x"]});
        assert!(!contains(&have, &more));
    }

    #[test]
    fn update_mask_lists_top_level_fields() {
        assert_eq!(
            update_mask(&json!({"displayName": "a", "conditions": [], "userLabels": {}})),
            "conditions,displayName,userLabels"
        );
    }

    #[test]
    fn slack_body_has_the_channel_and_token() {
        let b = slack_channel_body("ml alerts", "#ml-alerts", "xoxb-1");
        assert_eq!(b["labels"]["channel_name"], "#ml-alerts");
        assert_eq!(b["labels"]["auth_token"], "xoxb-1");
    }
}
