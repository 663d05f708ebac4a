# State in the bucket mlops-{project_prefix}-{environment}-{project_name}, made by hand once
# (README: "From an empty project to a scheduled pipeline"). CI passes the same name with
# -backend-config="bucket=$TF_STATE_BUCKET" from .github/variables.
terraform {
  backend "gcs" {
    bucket = "mlops-acme-nprod-churn"
    prefix = "terraform/state"
  }
}
