# The nprod environment. Keep in step with .github/variables/project_vars.env and nprod.env.
environment            = "nprod"
project_id             = "acme-nprod-churn"
region                 = "australia-southeast1"
bq_location            = "australia-southeast1"
bq_dataset             = "mlops"
artifact_registry_repo = "mlops"
pipeline_bucket        = "acme-nprod-churn-pipelines"
github_repository      = "acme/churn-mlops"
github_branch          = "main"
# Alerts: an existing channel id, or a Slack channel (token: TF_VAR_slack_auth_token).
notification_channel_id = ""
slack_channel           = "#mlops-alerts-nprod"
