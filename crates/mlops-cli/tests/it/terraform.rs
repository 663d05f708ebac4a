//! The Terraform configuration against the README and the code, without `terraform init`
//! (no provider download): every file parses (python-hcl2, `tests/python/hcl_json.py`), every
//! resource `terraform/README.md` promises is declared, the BigQuery tables' schemas are the
//! ones the code declares, the bucket, repository and Workload Identity settings the README
//! describes are there, and each environment's backend and tfvars agree with
//! `.github/variables`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// Every file under `terraform/` as python-hcl2 parses it, keyed by relative path.
fn parsed() -> BTreeMap<String, Value> {
    let out = std::process::Command::new(python())
        .arg(root().join("tests/python/hcl_json.py"))
        .arg(root().join("terraform"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "HCL does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every resource block `(type.name, body, file)` in the modules.
fn resources(files: &BTreeMap<String, Value>) -> Vec<(String, Value, String)> {
    let mut all = Vec::new();
    for (file, doc) in files {
        for block in doc["resource"].as_array().into_iter().flatten() {
            for (kind, named) in block.as_object().into_iter().flatten() {
                for (name, body) in named.as_object().into_iter().flatten() {
                    all.push((format!("{kind}.{name}"), body.clone(), file.clone()));
                }
            }
        }
    }
    all
}

fn resource<'a>(all: &'a [(String, Value, String)], address: &str) -> &'a Value {
    &all.iter()
        .find(|(a, _, _)| a == address)
        .unwrap_or_else(|| panic!("no resource {address} in terraform/"))
        .1
}

/// The backticked `google_x.y` addresses of a Markdown text.
fn promised(markdown: &str) -> Vec<String> {
    markdown
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.starts_with("google_")
                && s.split_once('.').is_some_and(|(k, n)| {
                    !n.is_empty()
                        && (k.chars().chain(n.chars()))
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_promised_resource_is_declared() {
    let files = parsed();
    let all = resources(&files);
    let mut promises =
        promised(&std::fs::read_to_string(root().join("terraform/README.md")).unwrap());
    promises.extend(promised(
        &std::fs::read_to_string(root().join("README.md")).unwrap(),
    ));
    // What the issue asks for, whatever the READMEs say.
    for required in [
        "google_project_service.apis",
        "google_artifact_registry_repository.images",
        "google_storage_bucket.pipelines",
        "google_bigquery_dataset.mlops",
        "google_bigquery_table.predictions",
        "google_bigquery_table.monitoring_metrics",
        "google_service_account.pipelines",
        "google_service_account.ci",
        "google_iam_workload_identity_pool.github",
        "google_iam_workload_identity_pool_provider.github",
        "google_monitoring_notification_channel.slack",
    ] {
        assert!(
            promises.iter().any(|p| p == required),
            "terraform/README.md does not list {required}"
        );
    }
    let missing: Vec<&String> = promises
        .iter()
        .filter(|p| !all.iter().any(|(a, _, _)| a == *p))
        .collect();
    assert!(missing.is_empty(), "promised but not declared: {missing:?}");

    // The APIs module enables each API the README names.
    let apis = &files["modules/apis/main.tf"];
    let services = apis["variable"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v.get("services"))
        .unwrap()["default"]
        .to_string();
    for api in [
        "aiplatform",
        "artifactregistry",
        "bigquery",
        "storage",
        "monitoring",
        "iam",
    ] {
        assert!(
            services.contains(&format!("\"{api}.googleapis.com\"")),
            "{api} not enabled: {services}"
        );
    }
}

#[test]
fn settings_of_bucket_repository_and_identity_federation() {
    let all = resources(&parsed());
    let bucket = resource(&all, "google_storage_bucket.pipelines");
    assert_eq!(bucket["uniform_bucket_level_access"], Value::Bool(true));
    let rule = &bucket["lifecycle_rule"][0];
    assert_eq!(rule["action"][0]["type"], "Delete");
    assert_eq!(
        rule["condition"][0]["matches_prefix"][0], "pipeline_root/",
        "{rule}"
    );
    let repo = resource(&all, "google_artifact_registry_repository.images");
    assert_eq!(repo["format"], "DOCKER");
    // The models' region: the same variable the environments pass as GCP_REGION.
    assert_eq!(repo["location"], "${var.region}");
    let provider = resource(&all, "google_iam_workload_identity_pool_provider.github");
    let condition = provider["attribute_condition"].as_str().unwrap();
    assert!(
        condition.contains("assertion.repository == '${var.github_repository}'")
            && condition.contains("assertion.ref == 'refs/heads/${var.github_branch}'"),
        "{condition}"
    );
    // No Editor or Owner anywhere.
    let iam = std::fs::read_to_string(root().join("terraform/modules/iam/main.tf")).unwrap();
    assert!(!iam.contains("roles/editor") && !iam.contains("roles/owner"));
}

/// `(name, type, mode, description)` of a schema JSON file.
fn columns(path: &Path) -> Vec<(String, String, String, String)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("type"), s("mode"), s("description"))
        })
        .collect()
}

#[test]
fn table_schemas_are_the_codes() {
    let all = resources(&parsed());
    let schemas = root().join("terraform/modules/bigquery/schemas");
    for (table, file) in [
        ("predictions", "predictions.json"),
        ("monitoring_metrics", "monitoring_metrics.json"),
    ] {
        let body = resource(&all, &format!("google_bigquery_table.{table}"));
        assert!(
            body["schema"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("schemas/{file}"))),
            "{table}: {body}"
        );
    }
    // Predictions: the columns `batch_predict` and `mlops predict --out bq://` create (the
    // pipelines' id column is `id`).
    let code: Vec<(String, String, String, String)> =
        mlops_core::predictions_bq::predictions_table_schema("id")
            .into_iter()
            .map(|c| (c.name, c.field_type, c.mode, c.description))
            .collect();
    assert_eq!(columns(&schemas.join("predictions.json")), code);
    // Monitoring metrics: the table the metrics sink creates.
    let code: Vec<(String, String, String, String)> =
        mlops_core::metrics_sink::metrics_table_schema()
            .into_iter()
            .map(|c| (c.name, c.field_type, c.mode, c.description))
            .collect();
    assert_eq!(columns(&schemas.join("monitoring_metrics.json")), code);
}

/// The variables the deploy workflow exports for `environment`: the output of
/// `.github/scripts/project_vars.sh` (which prints them when not run by GitHub Actions).
fn workflow_vars(environment: &str) -> BTreeMap<String, String> {
    let out = std::process::Command::new("bash")
        .arg(root().join(".github/scripts/project_vars.sh"))
        .arg(environment)
        .env_remove("GITHUB_ENV")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "project_vars.sh {environment}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environments_agree_with_the_workflow_variables() {
    let files = parsed();
    for env in ["nprod", "prod"] {
        let vars = workflow_vars(env);
        let project = vars["GCP_PROJECT_ID"].clone();
        let tfvars = &files[&format!("environments/{env}/terraform.tfvars")];
        assert_eq!(tfvars["environment"], env.to_string());
        assert_eq!(tfvars["project_id"], project, "{env}");
        assert_eq!(tfvars["region"], vars["GCP_REGION"], "{env}");
        assert_eq!(
            format!("gs://{}", tfvars["pipeline_bucket"].as_str().unwrap()),
            vars["PIPELINE_BUCKET"]
        );
        assert_eq!(
            tfvars["artifact_registry_repo"],
            vars["ARTIFACT_REGISTRY_REPO"]
        );
        assert_eq!(tfvars["bq_dataset"], vars["BQ_DATASET"]);
        let branch = if env == "prod" { "prod" } else { "main" };
        assert_eq!(tfvars["github_branch"], branch, "{env}");
        let backend =
            &files[&format!("environments/{env}/backend.tf")]["terraform"][0]["backend"][0]["gcs"];
        assert_eq!(backend["bucket"], vars["TF_STATE_BUCKET"].as_str(), "{env}");
        // The state bucket's name pattern: mlops-{project_prefix}-{environment}-{project_name}.
        let stem = format!("{}-{env}-{}", vars["PROJECT_PREFIX"], vars["PROJECT_NAME"]);
        assert_eq!(vars["TF_STATE_BUCKET"], format!("mlops-{stem}"));
        let modules = files[&format!("environments/{env}/main.tf")]["module"].to_string();
        for module in [
            "apis",
            "artifact_registry",
            "storage",
            "bigquery",
            "iam",
            "monitoring",
        ] {
            assert!(
                modules.contains(&format!("../../modules/{module}")),
                "{env} does not use {module}"
            );
        }
    }
}
