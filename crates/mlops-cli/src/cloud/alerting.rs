//! `mlops alerting apply`: declare the custom metrics, make sure the notification channel
//! exists, then create or update every policy of `POLICIES` by display name. Running it twice
//! changes nothing the second time.

use mlops_core::metrics_sink::CloudMonitoringSink;
use mlops_domain::Settings;
use mlops_gcp::monitoring::ApplyOutcome;
use mlops_monitoring::thresholds::MonitoringConfig;
use vertex_pipelines::alerts;

use crate::context::BoxError;

/// Apply the alert policies (and what they need) to the settings' project.
pub fn apply(
    settings: &Settings,
    dry_run: bool,
    config: &MonitoringConfig,
) -> Result<(), BoxError> {
    let gcp = super::connect(settings, dry_run)?;
    let prefix = &settings.model_name_prefix;
    // A policy on a metric type Cloud Monitoring does not know is refused: declare them first.
    CloudMonitoringSink::new(&gcp, prefix).create_descriptors()?;
    let channel = match crate::alerting::configured_channel(settings)? {
        Some(channel) => channel,
        None => {
            let (name, created) = gcp.ensure_slack_channel(
                &format!("{prefix} ml alerts"),
                &settings.slack_channel_name,
                settings.slack_auth_token.as_ref().map(|t| t.expose()),
            )?;
            let verb = if created { "created" } else { "unchanged" };
            println!(
                "{verb:<9}  notification channel {name} (Slack {})",
                settings.slack_channel_name
            );
            name
        }
    };
    let policies = alerts::resolve(config, prefix, &[channel])?;
    for policy in &policies {
        let (verb, name) = match gcp.apply_alert_policy(&policy.body())? {
            ApplyOutcome::Created(name) => ("created", name),
            ApplyOutcome::Updated(name) => ("updated", name),
            ApplyOutcome::Unchanged(name) => ("unchanged", name),
        };
        println!("{verb:<9}  alert policy `{}` {name}", policy.display_name);
    }
    Ok(())
}
