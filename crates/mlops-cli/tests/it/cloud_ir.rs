//! IR compiled for the cloud (`ENVIRONMENT=nprod|prod`) names only cloud resources: the
//! Artifact Registry image, a `gs://` default pipeline root, a BigQuery source table and the
//! Vertex AI Model Registry; IR compiled locally is what it has always been.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use mlops_cli::pipelines::{compile_options, compile_pipelines};
use mlops_domain::{ModelConfig, Settings};
use mlops_pipeline::CompileOptions;
use serde_json::Value;
use vertex_pipelines::PIPELINE_DEFS;

const TAG: &str = "3f2a9c1d0b7e";

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let vars: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_vars(&vars).unwrap()
}

/// Settings for `environment` (local, nprod or prod) with every cloud variable set, so that a
/// local compile also proves the cloud variables leave local IR alone.
fn settings_for(environment: &str) -> Settings {
    settings(&[
        ("ENVIRONMENT", environment),
        ("GCP_PROJECT_ID", "acme-churn-1"),
        ("GCP_REGION", "europe-west4"),
        ("PIPELINE_BUCKET", "gs://acme-pipelines/churn"),
        ("IMAGE_TAG", TAG),
    ])
}

fn config() -> ModelConfig {
    ModelConfig::from_file(root().join("config/model.yaml")).unwrap()
}

/// Every pipeline of `PIPELINE_DEFS` compiled as `mlops pipelines compile` does:
/// name → IR.
fn compiled(settings: &Settings) -> BTreeMap<&'static str, Value> {
    let options = compile_options(settings, None).unwrap();
    let all = compile_pipelines(settings, &config(), &options).unwrap();
    assert_eq!(all.len(), PIPELINE_DEFS.len());
    all.into_iter()
        .map(|(name, text)| (name, serde_json::from_str(&text).unwrap()))
        .collect()
}

/// Every string value in `v` with its JSON pointer.
fn strings(v: &Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((at, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                strings(
                    item,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// Why `s` looks like something on this machine, if it does.
fn local_reference(s: &str) -> Option<&'static str> {
    let prefixes = ["/", "./", "../", "local/", "data/"];
    if prefixes.iter().any(|p| s.starts_with(p)) {
        return Some("a local path");
    }
    if s.contains("churn-mlops:local") {
        return Some("the local image");
    }
    if s.ends_with(".csv") || s.ends_with(".parquet") {
        return Some("a local table file");
    }
    None
}

/// The root parameter's default, if the pipeline has that parameter.
fn default_of<'a>(ir: &'a Value, param: &str) -> Option<&'a Value> {
    ir["root"]["inputDefinitions"]["parameters"]
        .get(param)
        .map(|p| &p["defaultValue"])
}

fn executor_images(ir: &Value) -> Vec<(String, Value)> {
    ir["deploymentSpec"]["executors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, e)| (name.clone(), e["container"]["image"].clone()))
        .collect()
}

#[test]
fn cloud_ir_names_only_cloud_resources_in_nprod_and_prod() {
    for environment in ["nprod", "prod"] {
        let settings = settings_for(environment);
        let mut saw_training = false;
        for (name, ir) in compiled(&settings) {
            let what = format!("{environment} {name}");
            let problems = mlops_pipeline::ir::problems(&ir);
            assert!(problems.is_empty(), "{what}: {problems:#?}");

            let mut all = Vec::new();
            strings(&ir, String::new(), &mut all);
            let local: Vec<String> = all
                .iter()
                .filter_map(|(at, s)| local_reference(s).map(|why| format!("{at} = `{s}` ({why})")))
                .collect();
            assert!(
                local.is_empty(),
                "{what} still points at this machine:\n{}",
                local.join("\n")
            );

            let images = executor_images(&ir);
            assert!(!images.is_empty(), "{what}: no executor");
            for (executor, image) in images {
                assert_eq!(
                    image,
                    "europe-west4-docker.pkg.dev/acme-churn-1/mlops/churn-mlops:3f2a9c1d0b7e",
                    "{what}: {executor}"
                );
                // A step that reads BigQuery or Cloud Storage knows its project and region.
                assert_eq!(
                    ir["deploymentSpec"]["executors"][&executor]["container"]["env"],
                    serde_json::json!([
                        {"name": "GCP_PROJECT_ID", "value": "acme-churn-1"},
                        {"name": "GCP_REGION", "value": "europe-west4"},
                        {"name": "BQ_LOCATION", "value": settings.bq_location},
                        {"name": "MODEL_NAME_PREFIX", "value": "churn"}
                    ]),
                    "{what}: {executor}"
                );
            }
            assert_eq!(
                ir["defaultPipelineRoot"], "gs://acme-pipelines/churn/pipeline_root",
                "{what}"
            );
            if let Some(data) = default_of(&ir, "data_path") {
                assert_eq!(data, "bq://acme-churn-1.mlops.wa_churn", "{what}");
            }
            if let Some(registry) = default_of(&ir, "registry") {
                assert_eq!(
                    registry, "vertex://projects/acme-churn-1/locations/europe-west4",
                    "{what}"
                );
            }
            if let Some(model) = default_of(&ir, "model_name") {
                assert_eq!(model, "churn_churn", "{what}");
            }
            // Registered versions are served by the serving image of the same commit.
            if let Some(image) = default_of(&ir, "serving_image") {
                assert_eq!(
                    image,
                    "europe-west4-docker.pkg.dev/acme-churn-1/mlops/churn-mlops-serve:3f2a9c1d0b7e",
                    "{what}"
                );
            }
            saw_training |= name == "training";
        }
        assert!(saw_training, "the training pipeline was not compiled");
    }
}

#[test]
fn local_ir_keeps_the_local_defaults() {
    let plain = settings(&[]);
    // `compile_options` adds nothing locally: the IR is what the default options compile.
    assert_eq!(
        compile_options(&plain, None).unwrap(),
        CompileOptions::default()
    );
    let local = compiled(&plain);
    for def in PIPELINE_DEFS {
        let ir = &local[def.name];
        let expected = mlops_pipeline::compile(
            &(def.build)(&config(), &plain).unwrap(),
            &CompileOptions::default(),
        );
        assert_eq!(ir, &expected, "{}", def.name);
        assert!(ir.get("defaultPipelineRoot").is_none(), "{}", def.name);
        for (executor, image) in executor_images(ir) {
            assert_eq!(image, "churn-mlops:local", "{}: {executor}", def.name);
        }
        // Cloud variables set while ENVIRONMENT=local change nothing.
        assert_eq!(
            &compiled(&settings_for("local"))[def.name],
            ir,
            "{}",
            def.name
        );
    }
    // The training pipeline's defaults, as they were before the cloud settings existed.
    let training = &local["training"];
    assert_eq!(
        default_of(training, "data_path").unwrap(),
        "data/wa_churn.csv"
    );
    assert_eq!(default_of(training, "registry").unwrap(), "local/registry");
    assert_eq!(default_of(training, "model_name").unwrap(), "churn");
}

/// Cloud and local IR differ only where the environment matters: the image (of the steps and
/// of the served versions), the default pipeline root and the three defaults that name data,
/// registry and model.
#[test]
fn cloud_and_local_ir_differ_only_in_the_environment_defaults() {
    let local = compiled(&settings(&[]));
    let cloud = compiled(&settings_for("prod"));
    for (name, ir) in &cloud {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        strings(&local[name], String::new(), &mut a);
        strings(ir, String::new(), &mut b);
        let a: BTreeMap<_, _> = a.into_iter().collect();
        let b: BTreeMap<_, _> = b.into_iter().collect();
        let changed: Vec<&String> = b
            .iter()
            .filter(|(at, s)| a.get(*at) != Some(s))
            .map(|(at, _)| at)
            .collect();
        for at in &changed {
            let expected = at.ends_with("/container/image")
                || at.contains("/container/env/")
                || at.as_str() == "/defaultPipelineRoot"
                || [
                    "/root/inputDefinitions/parameters/data_path/defaultValue",
                    "/root/inputDefinitions/parameters/registry/defaultValue",
                    "/root/inputDefinitions/parameters/model_name/defaultValue",
                    "/root/inputDefinitions/parameters/serving_image/defaultValue",
                    "/root/inputDefinitions/parameters/predictions_table/defaultValue",
                    "/root/inputDefinitions/parameters/outcomes_table/defaultValue",
                    "/root/inputDefinitions/parameters/metrics_table/defaultValue",
                ]
                .contains(&at.as_str());
            assert!(expected, "{name}: {at} differs between local and prod IR");
        }
        assert!(
            a.keys().all(|at| b.contains_key(at)),
            "{name}: prod IR lost a field"
        );
    }
}

/// `mlops pipelines compile` in prod with the given extra environment, run in `cwd`.
fn compile_prod(cwd: &Path, out: &Path, extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = mlops();
    cmd.current_dir(cwd)
        .env("ENVIRONMENT", "prod")
        .env("GCP_PROJECT_ID", "acme-churn-1")
        .env("PIPELINE_BUCKET", "gs://acme-pipelines")
        // No repository above the temporary folder is found by git.
        .env("GIT_CEILING_DIRECTORIES", cwd.parent().unwrap())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["pipelines", "compile", "--config"])
        .arg(root().join("config/model.yaml"))
        .arg("--out")
        .arg(out);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn images_in(out: &Path) -> Vec<String> {
    let ir: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("training.json")).unwrap()).unwrap();
    executor_images(&ir)
        .into_iter()
        .map(|(_, image)| image.as_str().unwrap().to_string())
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn prod_image_tag_defaults_to_the_git_sha_of_the_working_directory() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    git(
        repo.path(),
        &["commit", "-q", "--allow-empty", "-m", "first"],
    );
    let sha = git(repo.path(), &["rev-parse", "--short=12", "HEAD"]);
    let out = tempfile::tempdir().unwrap();
    let result = compile_prod(repo.path(), out.path(), &[]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let expected =
        format!("australia-southeast1-docker.pkg.dev/acme-churn-1/mlops/churn-mlops:{sha}");
    assert!(
        images_in(out.path()).iter().all(|i| *i == expected),
        "{:?}",
        images_in(out.path())
    );
}

#[test]
fn prod_image_tag_and_image_override_win_over_git() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ir");
    let result = compile_prod(
        dir.path(),
        &out,
        &[("IMAGE_TAG", "v1.2.3"), ("IMAGE_NAME", "churn")],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let tagged = "australia-southeast1-docker.pkg.dev/acme-churn-1/mlops/churn:v1.2.3";
    assert!(
        images_in(&out).iter().all(|i| i == tagged),
        "{:?}",
        images_in(&out)
    );
    // --image (or MLOPS_IMAGE) overrides the Artifact Registry default, git or no git.
    let result = compile_prod(
        dir.path(),
        &out,
        &[("MLOPS_IMAGE", "registry.test/churn:abc")],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(images_in(&out)
        .iter()
        .all(|i| i == "registry.test/churn:abc"));
}

#[test]
fn prod_compile_without_image_tag_outside_git_names_image_tag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ir");
    let result = compile_prod(dir.path(), &out, &[]);
    assert!(!result.status.success(), "compiled without an image tag");
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(
        err.contains("IMAGE_TAG is not set and `git rev-parse --short=12 HEAD` failed")
            && err.contains("set IMAGE_TAG"),
        "{err}"
    );
    assert!(!out.exists(), "a failed compile wrote {}", out.display());
}

#[test]
fn pipelines_run_in_prod_is_refused_pointing_to_submit() {
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().join("root");
    let err = fails(
        mlops()
            .env("ENVIRONMENT", "prod")
            .env("GCP_PROJECT_ID", "acme-churn-1")
            .env("PIPELINE_BUCKET", "gs://acme-pipelines")
            .args(["pipelines", "run", "training", "--pipeline-root"])
            .arg(&root),
    );
    assert!(
        err.contains("needs ENVIRONMENT=local (ENVIRONMENT is `prod`)")
            && err.contains("mlops pipelines submit"),
        "{err}"
    );
    assert!(!root.exists(), "a refused run created {}", root.display());
}
