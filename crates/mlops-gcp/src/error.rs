//! Errors of Google Cloud calls: what was attempted, on what, and Google's own reason.

use std::path::PathBuf;

/// A failed Google Cloud call or a local problem around one.
#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    /// The API answered with an error (after the retry budget, for retryable ones).
    #[error("{action} `{resource}`: {}", describe(.status, .reason, .message, .hint))]
    Api {
        /// What was attempted (`create pipeline job`).
        action: &'static str,
        /// The resource it was attempted on.
        resource: String,
        /// HTTP status (or the gRPC code's usual HTTP status).
        status: u16,
        /// Google's reason (`IAM_PERMISSION_DENIED`, `PERMISSION_DENIED`, ...), when given.
        reason: Option<String>,
        /// Google's message.
        message: String,
        /// What to do about it (the IAM role that grants a missing permission).
        hint: Option<String>,
    },
    /// No answer: connection refused, timeouts after the retry budget, malformed replies.
    #[error("{action} `{resource}`: {detail}")]
    Transport {
        /// What was attempted.
        action: &'static str,
        /// The resource it was attempted on.
        resource: String,
        /// What went wrong, in one line.
        detail: String,
    },
    /// Credentials could not be found or used.
    #[error("Google Cloud credentials: {0}")]
    Credentials(String),
    /// A client could not be built (bad endpoint, TLS).
    #[error("cannot create the {client} client: {detail}")]
    Client {
        /// Which client.
        client: &'static str,
        /// Why.
        detail: String,
    },
    /// A value the caller passed is not what Google Cloud accepts.
    #[error("{field} is `{value}`, expected {expected}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A long-running operation or job finished in failure.
    #[error("{action} `{resource}` failed: {message}")]
    Failed {
        /// What was waited for.
        action: &'static str,
        /// The resource.
        resource: String,
        /// The error the service recorded.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read`, `write`, `create`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// `Result` of this crate.
pub type Result<T, E = GcpError> = std::result::Result<T, E>;

fn describe(status: &u16, reason: &Option<String>, message: &str, hint: &Option<String>) -> String {
    let mut out = format!("HTTP {status}");
    if let Some(reason) = reason {
        out.push_str(&format!(" {reason}"));
    }
    out.push_str(&format!(": {message}"));
    if let Some(hint) = hint {
        out.push_str(&format!(" ({hint})"));
    }
    out
}

/// The predefined IAM role that grants `permission`, for the roles this template needs
/// (the same list `terraform/` grants; ARCHITECTURE.md explains each).
pub fn role_for_permission(permission: &str) -> Option<&'static str> {
    let (service, rest) = permission.split_once('.')?;
    let role = match service {
        "aiplatform" => "roles/aiplatform.user",
        "storage" if rest.starts_with("objects.get") || rest.starts_with("objects.list") => {
            "roles/storage.objectViewer"
        }
        "storage" if rest.starts_with("objects.") => "roles/storage.objectUser",
        "storage" => "roles/storage.admin",
        "bigquery" if rest.starts_with("jobs.") => "roles/bigquery.jobUser",
        "bigquery" if rest.starts_with("tables.getData") || rest == "tables.get" => {
            "roles/bigquery.dataViewer"
        }
        "bigquery" => "roles/bigquery.dataEditor",
        "monitoring" if rest.starts_with("timeSeries.create") => "roles/monitoring.metricWriter",
        "monitoring" if rest.starts_with("alertPolicies.") => "roles/monitoring.alertPolicyEditor",
        "monitoring" if rest.starts_with("notificationChannels.") => {
            "roles/monitoring.notificationChannelEditor"
        }
        "monitoring" => "roles/monitoring.editor",
        "iam" if rest == "serviceAccounts.actAs" => "roles/iam.serviceAccountUser",
        "artifactregistry" => "roles/artifactregistry.writer",
        _ => return None,
    };
    Some(role)
}

/// The hint for a 403: the permission Google named and the role that grants it.
pub(crate) fn permission_hint(permission: Option<&str>, message: &str) -> Option<String> {
    let permission = permission.map(str::to_string).or_else(|| {
        // Some services only name the permission in the message: `Permission 'x.y.z' denied`.
        let start = message.find("Permission '")? + "Permission '".len();
        let end = message[start..].find('\'')?;
        Some(message[start..start + end].to_string())
    })?;
    Some(match role_for_permission(&permission) {
        Some(role) => format!("missing permission {permission}: grant {role}"),
        None => format!("missing permission {permission}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_map_to_the_roles_that_grant_them() {
        assert_eq!(
            role_for_permission("aiplatform.pipelineJobs.create"),
            Some("roles/aiplatform.user")
        );
        assert_eq!(
            role_for_permission("storage.objects.get"),
            Some("roles/storage.objectViewer")
        );
        assert_eq!(
            role_for_permission("storage.objects.create"),
            Some("roles/storage.objectUser")
        );
        assert_eq!(
            role_for_permission("bigquery.jobs.create"),
            Some("roles/bigquery.jobUser")
        );
        assert_eq!(
            role_for_permission("monitoring.timeSeries.create"),
            Some("roles/monitoring.metricWriter")
        );
        assert_eq!(role_for_permission("compute.instances.get"), None);
        assert_eq!(role_for_permission("nonsense"), None);
    }

    #[test]
    fn hint_reads_the_permission_from_details_or_message() {
        assert_eq!(
            permission_hint(Some("aiplatform.models.upload"), "denied").as_deref(),
            Some("missing permission aiplatform.models.upload: grant roles/aiplatform.user")
        );
        assert_eq!(
            permission_hint(
                None,
                "Permission 'bigquery.tables.getData' denied on table t"
            )
            .as_deref(),
            Some("missing permission bigquery.tables.getData: grant roles/bigquery.dataViewer")
        );
        assert_eq!(
            permission_hint(None, "The caller does not have permission"),
            None
        );
    }

    #[test]
    fn api_errors_show_status_reason_message_and_hint() {
        let e = GcpError::Api {
            action: "create pipeline job",
            resource: "projects/p/locations/r".into(),
            status: 403,
            reason: Some("IAM_PERMISSION_DENIED".into()),
            message: "Permission 'aiplatform.pipelineJobs.create' denied".into(),
            hint: Some("grant roles/aiplatform.user".into()),
        };
        assert_eq!(
            e.to_string(),
            "create pipeline job `projects/p/locations/r`: HTTP 403 IAM_PERMISSION_DENIED: \
             Permission 'aiplatform.pipelineJobs.create' denied (grant roles/aiplatform.user)"
        );
    }
}
