# Where alerts go: a Slack notification channel made here (its bot token from a secret:
# TF_VAR_slack_auth_token, the SLACK_AUTH_TOKEN secret in CI), or a channel that already
# exists (notification_channel_id). `mlops alerting apply` attaches its policies to the output.
variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "environment" {
  description = "nprod or prod (in the channel's name)."
  type        = string
}

variable "notification_channel_id" {
  description = "An existing channel (projects/P/notificationChannels/ID); empty to make a Slack channel."
  type        = string
  default     = ""
}

variable "slack_channel" {
  description = "Slack channel name, e.g. #mlops-alerts (used without notification_channel_id)."
  type        = string
  default     = ""
}

variable "slack_auth_token" {
  description = "Slack bot token (a secret: pass it as TF_VAR_slack_auth_token)."
  type        = string
  default     = ""
  sensitive   = true
}

locals {
  make_slack = var.notification_channel_id == "" && var.slack_channel != ""
}

resource "google_monitoring_notification_channel" "slack" {
  count        = local.make_slack ? 1 : 0
  project      = var.project_id
  display_name = "MLOps alerts (${var.environment})"
  type         = "slack"
  labels = {
    channel_name = var.slack_channel
  }
  sensitive_labels {
    auth_token = var.slack_auth_token
  }
}

output "notification_channel_id" {
  description = "The channel alert policies notify (empty when none is configured)."
  value       = local.make_slack ? google_monitoring_notification_channel.slack[0].id : var.notification_channel_id
}
