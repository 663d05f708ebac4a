# Service accounts with least-privilege roles (the README's "Terraform" section lists each
# role and why), and Workload Identity Federation for GitHub Actions: a pool and an OIDC
# provider whose attribute condition admits only this repository's deploy branch, allowed to
# impersonate the CI account. No key is created.
variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "pipeline_bucket" {
  description = "Name of the pipeline bucket."
  type        = string
}

variable "artifact_repository" {
  description = "Artifact Registry repository id."
  type        = string
}

variable "region" {
  description = "Region of the Artifact Registry repository."
  type        = string
}

variable "dataset_id" {
  description = "BigQuery dataset id."
  type        = string
}

variable "pipelines_account_id" {
  description = "Account id of the pipelines' service account (PIPELINE_SERVICE_ACCOUNT)."
  type        = string
  default     = "vertex-pipelines"
}

variable "ci_account_id" {
  description = "Account id of the CI service account (the GitHub workflows)."
  type        = string
  default     = "github-ci"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository allowed to deploy."
  type        = string
}

variable "github_branch" {
  description = "The branch that deploys this environment (main for nprod, prod for prod)."
  type        = string
}

variable "wif_pool_id" {
  description = "Workload Identity pool id."
  type        = string
  default     = "github"
}

# --- the pipelines' service account: what pipeline steps and the serving containers run as ---

resource "google_service_account" "pipelines" {
  project      = var.project_id
  account_id   = var.pipelines_account_id
  display_name = "Vertex AI pipelines (MLOps template)"
}

locals {
  pipelines_member = "serviceAccount:${google_service_account.pipelines.email}"
  ci_member        = "serviceAccount:${google_service_account.ci.email}"
  # Project-level roles (resource-level ones follow below, scoped to one bucket, dataset or
  # repository).
  pipelines_project_roles = [
    "roles/aiplatform.user",         # register models, read the champion, run batch steps
    "roles/bigquery.jobUser",        # run the queries that read the training table
    "roles/logging.logWriter",       # step logs
    "roles/monitoring.metricWriter", # monitoring metrics as time series
  ]
  ci_project_roles = [
    # Deploying: upload and submit pipelines, schedules, models and endpoints.
    "roles/aiplatform.user",
    # mlops alerting apply: create and update alert policies; read notification channels.
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.notificationChannelEditor",
    # terraform plan/apply of this configuration: APIs, service accounts and their
    # bindings, the bucket, the repository, the dataset and the WIF pool.
    "roles/serviceusage.serviceUsageAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/storage.admin",
    "roles/artifactregistry.admin",
    "roles/bigquery.dataOwner",
  ]
}

resource "google_project_iam_member" "pipelines" {
  for_each = toset(local.pipelines_project_roles)
  project  = var.project_id
  role     = each.value
  member   = local.pipelines_member
}

resource "google_storage_bucket_iam_member" "pipelines_bucket" {
  bucket = var.pipeline_bucket
  role   = "roles/storage.objectAdmin" # read and write run artifacts and model bundles
  member = local.pipelines_member
}

resource "google_bigquery_dataset_iam_member" "pipelines_dataset" {
  project    = var.project_id
  dataset_id = var.dataset_id
  role       = "roles/bigquery.dataEditor" # read the training table, append predictions and metrics
  member     = local.pipelines_member
}

resource "google_artifact_registry_repository_iam_member" "pipelines_images" {
  project    = var.project_id
  location   = var.region
  repository = var.artifact_repository
  role       = "roles/artifactregistry.reader" # pull the pipeline and serving images
  member     = local.pipelines_member
}

# --- the CI service account: what the GitHub workflows run as ---

resource "google_service_account" "ci" {
  project      = var.project_id
  account_id   = var.ci_account_id
  display_name = "GitHub Actions deploy (MLOps template)"
}

resource "google_project_iam_member" "ci" {
  for_each = toset(local.ci_project_roles)
  project  = var.project_id
  role     = each.value
  member   = local.ci_member
}

# Submitting a PipelineJob or schedule that runs as the pipelines' account needs actAs on it
# (and on nothing else).
resource "google_service_account_iam_member" "ci_acts_as_pipelines" {
  service_account_id = google_service_account.pipelines.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.ci_member
}

resource "google_artifact_registry_repository_iam_member" "ci_images" {
  project    = var.project_id
  location   = var.region
  repository = var.artifact_repository
  role       = "roles/artifactregistry.writer" # push the images tagged with the commit
  member     = local.ci_member
}

# --- Workload Identity Federation for GitHub Actions ---

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = var.wif_pool_id
  display_name              = "GitHub Actions"
  description               = "OIDC tokens of GitHub Actions runs of ${var.github_repository}"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions OIDC"
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Only this repository's deploy branch gets a token at all.
  attribute_condition = "assertion.repository == '${var.github_repository}' && assertion.ref == 'refs/heads/${var.github_branch}'"
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "ci_workload_identity" {
  service_account_id = google_service_account.ci.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

output "pipelines_service_account" {
  description = "PIPELINE_SERVICE_ACCOUNT."
  value       = google_service_account.pipelines.email
}

output "ci_service_account" {
  description = "The CI_SERVICE_ACCOUNT variable of the GitHub environment."
  value       = google_service_account.ci.email
}

output "workload_identity_provider" {
  description = "The WORKLOAD_IDENTITY_PROVIDER variable of the GitHub environment."
  value       = google_iam_workload_identity_pool_provider.github.name
}
