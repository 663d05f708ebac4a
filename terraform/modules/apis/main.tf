# The Google APIs the template uses. disable_on_destroy is false so that destroying this
# configuration never switches off an API other things in the project rely on.
variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "services" {
  description = "APIs to enable."
  type        = set(string)
  default = [
    "aiplatform.googleapis.com",           # Vertex AI: pipelines, model registry, endpoints
    "artifactregistry.googleapis.com",     # the pipeline and serving images
    "bigquery.googleapis.com",             # training table, predictions, monitoring metrics
    "storage.googleapis.com",              # pipeline bucket
    "monitoring.googleapis.com",           # alert policies and the notification channel
    "logging.googleapis.com",              # step and server logs
    "iam.googleapis.com",                  # service accounts
    "iamcredentials.googleapis.com",       # service-account impersonation (WIF)
    "sts.googleapis.com",                  # Workload Identity Federation token exchange
    "cloudresourcemanager.googleapis.com", # project IAM bindings
  ]
}

resource "google_project_service" "apis" {
  for_each           = var.services
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

output "services" {
  description = "The enabled APIs (depend on this to wait for them)."
  value       = [for s in google_project_service.apis : s.service]
}
