output "pipeline_bucket" {
  description = "PIPELINE_BUCKET."
  value       = module.storage.url
}

output "pipelines_service_account" {
  description = "PIPELINE_SERVICE_ACCOUNT."
  value       = module.iam.pipelines_service_account
}

output "ci_service_account" {
  description = "GitHub environment variable CI_SERVICE_ACCOUNT."
  value       = module.iam.ci_service_account
}

output "workload_identity_provider" {
  description = "GitHub environment variable WORKLOAD_IDENTITY_PROVIDER."
  value       = module.iam.workload_identity_provider
}

output "notification_channel_id" {
  description = "The alert notification channel."
  value       = module.monitoring.notification_channel_id
}

output "predictions_table" {
  description = "Where mlops predict --out appends."
  value       = module.bigquery.predictions_table
}
