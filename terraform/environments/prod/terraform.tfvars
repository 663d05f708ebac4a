# The prod environment. Keep in step with .github/variables/project_vars.env and prod.env.
environment            = "prod"
project_id             = "acme-prod-churn"
region                 = "australia-southeast1"
bq_location            = "australia-southeast1"
bq_dataset             = "mlops"
artifact_registry_repo = "mlops"
pipeline_bucket        = "acme-prod-churn-pipelines"
github_repository      = "acme/churn-mlops"
github_branch          = "prod"
# Alerts: an existing channel id, or a Slack channel (token: TF_VAR_slack_auth_token).
notification_channel_id = ""
slack_channel           = "#mlops-alerts-prod"
