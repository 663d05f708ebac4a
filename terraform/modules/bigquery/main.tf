# The BigQuery dataset (BQ_DATASET) and the tables the code writes: batch predictions
# (the inference pipeline's batch-predict and `mlops predict --out bq://PROJECT.DATASET.predictions`,
# schema: crates/mlops-core/src/predictions_bq.rs) and monitoring metrics. The schemas are JSON files next to this one, checked
# against the code by crates/mlops-cli/tests/it/terraform.rs. The training table
# (BQ_SOURCE_TABLE) is loaded by the team, not managed here.
variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "dataset_id" {
  description = "Dataset id (BQ_DATASET)."
  type        = string
}

variable "location" {
  description = "Dataset location (BQ_LOCATION: US, EU or a region)."
  type        = string
}

variable "predictions_table" {
  description = "Table of batch predictions."
  type        = string
  default     = "predictions"
}

variable "monitoring_metrics_table" {
  description = "Table of monitoring metrics."
  type        = string
  default     = "monitoring_metrics"
}

variable "deletion_protection" {
  description = "Refuse to destroy the tables (true in prod)."
  type        = bool
  default     = true
}

resource "google_bigquery_dataset" "mlops" {
  project     = var.project_id
  dataset_id  = var.dataset_id
  location    = var.location
  description = "MLOps template: training data, predictions and monitoring metrics"
}

resource "google_bigquery_table" "predictions" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.mlops.dataset_id
  table_id            = var.predictions_table
  description         = "Batch predictions appended by mlops predict --out bq://"
  deletion_protection = var.deletion_protection
  # Declared by the code: crates/mlops-core/src/predictions_bq.rs (predictions_table_schema("id")).
  schema = file("${path.module}/schemas/predictions.json")

  time_partitioning {
    type  = "DAY"
    field = "scored_at"
  }
}

# MONITORING METRICS TABLE: the schema is the one agreed for the monitoring sink (recorded_at,
# pipeline, run_id, model_name, model_version, metric_group, metric, value, feature); when
# mlops_monitoring::sink declares its columns, schemas/monitoring_metrics.json must follow it.
resource "google_bigquery_table" "monitoring_metrics" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.mlops.dataset_id
  table_id            = var.monitoring_metrics_table
  description         = "Monitoring metrics (drift, performance, data quality) per pipeline run"
  deletion_protection = var.deletion_protection
  schema              = file("${path.module}/schemas/monitoring_metrics.json")

  time_partitioning {
    type  = "DAY"
    field = "recorded_at"
  }
}

output "dataset_id" {
  description = "Dataset id."
  value       = google_bigquery_dataset.mlops.dataset_id
}

output "predictions_table" {
  description = "Predictions table as bq:// URI."
  value       = "bq://${var.project_id}.${google_bigquery_dataset.mlops.dataset_id}.${google_bigquery_table.predictions.table_id}"
}
