# The Docker repository of the pipeline image ({IMAGE_NAME}) and the serving image
# ({IMAGE_NAME}-serve), in the region of the models (GCP_REGION) so Vertex AI pulls locally.
variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the repository: the Vertex AI region (GCP_REGION)."
  type        = string
}

variable "repository_id" {
  description = "Repository name (ARTIFACT_REGISTRY_REPO)."
  type        = string
}

variable "keep_tagged_versions" {
  description = "Image versions kept by the clean-up policy (the most recent ones)."
  type        = number
  default     = 30
}

resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = var.repository_id
  format        = "DOCKER"
  description   = "Pipeline and serving images of the MLOps template, tagged with the git sha"

  # Every push adds two images tagged with the commit: keep the recent ones only.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_tagged_versions
    }
  }
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state = "UNTAGGED"
    }
  }
}

output "repository_id" {
  description = "Repository id."
  value       = google_artifact_registry_repository.images.repository_id
}

output "name" {
  description = "Full resource name (for IAM bindings)."
  value       = google_artifact_registry_repository.images.name
}
