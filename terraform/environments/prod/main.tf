# One environment of the MLOps template: the modules in ../../modules wired together.
module "apis" {
  source     = "../../modules/apis"
  project_id = var.project_id
}

module "artifact_registry" {
  source        = "../../modules/artifact_registry"
  project_id    = var.project_id
  region        = var.region
  repository_id = var.artifact_registry_repo
  depends_on    = [module.apis]
}

module "storage" {
  source      = "../../modules/storage"
  project_id  = var.project_id
  region      = var.region
  bucket_name = var.pipeline_bucket
  depends_on  = [module.apis]
}

module "bigquery" {
  source              = "../../modules/bigquery"
  project_id          = var.project_id
  dataset_id          = var.bq_dataset
  location            = var.bq_location
  deletion_protection = var.environment == "prod"
  depends_on          = [module.apis]
}

module "iam" {
  source              = "../../modules/iam"
  project_id          = var.project_id
  region              = var.region
  pipeline_bucket     = module.storage.name
  artifact_repository = module.artifact_registry.repository_id
  dataset_id          = module.bigquery.dataset_id
  github_repository   = var.github_repository
  github_branch       = var.github_branch
  depends_on          = [module.apis]
}

module "monitoring" {
  source                  = "../../modules/monitoring"
  project_id              = var.project_id
  environment             = var.environment
  notification_channel_id = var.notification_channel_id
  slack_channel           = var.slack_channel
  slack_auth_token        = var.slack_auth_token
  depends_on              = [module.apis]
}
