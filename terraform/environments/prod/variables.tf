variable "environment" {
  description = "nprod or prod."
  type        = string
  validation {
    condition     = contains(["nprod", "prod"], var.environment)
    error_message = "environment must be nprod or prod."
  }
}

variable "project_id" {
  description = "Google Cloud project id (GCP_PROJECT_ID)."
  type        = string
}

variable "region" {
  description = "Vertex AI region, also of the repository and the bucket (GCP_REGION)."
  type        = string
}

variable "bq_location" {
  description = "BigQuery location (BQ_LOCATION)."
  type        = string
}

variable "bq_dataset" {
  description = "BigQuery dataset (BQ_DATASET)."
  type        = string
  default     = "mlops"
}

variable "artifact_registry_repo" {
  description = "Artifact Registry repository (ARTIFACT_REGISTRY_REPO)."
  type        = string
  default     = "mlops"
}

variable "pipeline_bucket" {
  description = "Pipeline bucket name (PIPELINE_BUCKET without gs://)."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the GitHub repository allowed to deploy."
  type        = string
}

variable "github_branch" {
  description = "The branch that deploys this environment."
  type        = string
}

variable "notification_channel_id" {
  description = "An existing Cloud Monitoring channel; empty to make the Slack one."
  type        = string
  default     = ""
}

variable "slack_channel" {
  description = "Slack channel for alerts (with slack_auth_token)."
  type        = string
  default     = ""
}

variable "slack_auth_token" {
  description = "Slack bot token: TF_VAR_slack_auth_token (the SLACK_AUTH_TOKEN secret in CI)."
  type        = string
  default     = ""
  sensitive   = true
}
