# The pipeline bucket (PIPELINE_BUCKET): compiled pipelines under pipelines/, run artifacts
# under pipeline_root/. Uniform bucket-level access (IAM only, no ACLs), no public access, and
# a lifecycle rule that deletes old pipeline-root objects (run artifacts; registered models
# are copied to the Model Registry's own folder and kept).
variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Bucket location (the Vertex AI region)."
  type        = string
}

variable "bucket_name" {
  description = "Bucket name (PIPELINE_BUCKET without gs://)."
  type        = string
}

variable "pipeline_root_retention_days" {
  description = "Days a pipeline_root/ object is kept."
  type        = number
  default     = 90
}

resource "google_storage_bucket" "pipelines" {
  project                     = var.project_id
  name                        = var.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age            = var.pipeline_root_retention_days
      matches_prefix = ["pipeline_root/"]
    }
    action {
      type = "Delete"
    }
  }
}

output "name" {
  description = "Bucket name."
  value       = google_storage_bucket.pipelines.name
}

output "url" {
  description = "gs:// URL (the PIPELINE_BUCKET setting)."
  value       = google_storage_bucket.pipelines.url
}
