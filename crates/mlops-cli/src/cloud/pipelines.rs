//! `mlops pipelines upload|submit|schedule`: the compiled IR on Vertex AI.

use std::collections::BTreeMap;
use std::time::Duration;

use mlops_domain::Settings;
use mlops_gcp::vertex::{JobStatus, PipelineJobRequest};
use mlops_gcp::Gcp;
use mlops_pipeline::PipelineSpec;
use serde_json::{Map, Value};

use super::{bucket, connect, label_value, under};
use crate::args::{CloudCompileArgs, PipelinesCommand, SubmitArgs};
use crate::context::{load_config, BoxError};
use crate::pipelines::{compile_options, compile_pipelines, image_tag};

/// Run `mlops pipelines upload|submit|schedule`.
pub fn run(settings: &Settings, dry_run: bool, command: PipelinesCommand) -> Result<(), BoxError> {
    match command {
        PipelinesCommand::Upload(args) => upload(settings, dry_run, &args),
        PipelinesCommand::Submit(args) => submit(settings, dry_run, &args),
        PipelinesCommand::Schedule(args) => super::schedules::apply(settings, dry_run, &args),
        other => Err(format!("not a Google Cloud command: {other:?}").into()),
    }
}

/// A pipeline compiled for the cloud: name, IR text, and the tag of its image.
pub(crate) struct Compiled {
    pub name: &'static str,
    pub ir: String,
    pub tag: String,
}

/// Every pipeline compiled with the cloud defaults (image, pipeline root, sources, registry).
pub(crate) fn compile_for_cloud(
    settings: &Settings,
    args: &CloudCompileArgs,
) -> Result<Vec<Compiled>, BoxError> {
    super::require_cloud(settings)?;
    let config = load_config(settings, args.config.as_deref())?;
    let options = compile_options(settings, args.image.as_deref())?;
    let tag = match &args.image {
        Some(image) => image.rsplit(':').next().unwrap_or(image).to_string(),
        None => image_tag(settings)?,
    };
    Ok(compile_pipelines(settings, &config, &options)?
        .into_iter()
        .map(|(name, ir)| Compiled {
            name,
            ir,
            tag: tag.clone(),
        })
        .collect())
}

fn upload(settings: &Settings, dry_run: bool, args: &CloudCompileArgs) -> Result<(), BoxError> {
    let compiled = compile_for_cloud(settings, args)?;
    let (bucket, prefix) = bucket(settings)?;
    let gcp = connect(settings, dry_run)?;
    for c in &compiled {
        for folder in [c.tag.as_str(), "latest"] {
            let object = under(&prefix, &format!("pipelines/{folder}/{}.json", c.name));
            gcp.upload_bytes(c.ir.clone().into_bytes(), &bucket, &object)?;
            if !dry_run {
                println!("gs://{bucket}/{object}");
            }
        }
    }
    Ok(())
}

/// The PipelineJob for `name` with `--param` values typed by the IR (unknown names and bad
/// values are refused here, before anything is sent).
pub(crate) fn job_request(
    settings: &Settings,
    compiled: &Compiled,
    params: &[String],
    job_id: String,
) -> Result<PipelineJobRequest, BoxError> {
    let spec: PipelineSpec = serde_json::from_str(&compiled.ir)?;
    let mut given = Vec::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--param `{p}` is not name=value"))?;
        given.push((k.trim().to_string(), v.to_string()));
    }
    // Validates every given value against the root's parameter types; only the given ones
    // are sent (the IR carries the defaults).
    let resolved = mlops_pipeline::runner::resolve_params(&spec, &given)?;
    let parameter_values: BTreeMap<String, Value> = given
        .iter()
        .filter_map(|(k, _)| resolved.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    let pipeline_spec: Map<String, Value> = serde_json::from_str(&compiled.ir)?;
    Ok(PipelineJobRequest {
        job_id,
        display_name: compiled.name.to_string(),
        pipeline_spec,
        parameter_values,
        gcs_output_directory: settings.pipeline_root(),
        service_account: settings
            .pipeline_service_account
            .clone()
            .unwrap_or_default(),
        labels: labels(settings, compiled),
    })
}

/// Labels of every job the template submits or schedules: which pipeline, which commit, which
/// environment, and that the template manages it (how `schedule` finds its own schedules).
pub(crate) fn labels(settings: &Settings, compiled: &Compiled) -> BTreeMap<String, String> {
    [
        ("managed-by", "mlops-template".to_string()),
        ("model-prefix", label_value(&settings.model_name_prefix)),
        ("pipeline", label_value(compiled.name)),
        ("git-sha", label_value(&compiled.tag)),
        ("environment", settings.environment.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn submit(settings: &Settings, dry_run: bool, args: &SubmitArgs) -> Result<(), BoxError> {
    vertex_pipelines::defs::find(&args.name)?;
    let compiled = compile_for_cloud(settings, &args.compile)?
        .into_iter()
        .find(|c| c.name == args.name)
        .ok_or_else(|| format!("pipeline `{}` did not compile", args.name))?;
    let job_id = format!(
        "{}-{}",
        label_value(&args.name).replace('_', "-"),
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    );
    let request = job_request(settings, &compiled, &args.params, job_id)?;
    let gcp = connect(settings, dry_run)?;
    let status = gcp.submit_pipeline_job(&request)?;
    if dry_run {
        return Ok(());
    }
    println!("{}", status.name);
    eprintln!(
        "submitted `{}` as {} ({})",
        args.name, status.name, status.state
    );
    if args.wait {
        let last = follow(
            &gcp,
            &status.name,
            Duration::from_secs(args.poll_seconds.max(1)),
        )?;
        if !last.succeeded {
            return Err(format!(
                "pipeline job {} ended {}: {}",
                last.name,
                last.state,
                last.error.as_deref().unwrap_or("no error message")
            )
            .into());
        }
    }
    Ok(())
}

/// Poll the job until it ends, printing each task whose state changed (as the local runner
/// prints its steps); returns the final state.
pub(crate) fn follow(gcp: &Gcp, name: &str, every: Duration) -> Result<JobStatus, BoxError> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut job_state = String::new();
    loop {
        let status = gcp.pipeline_job(name)?;
        if status.state != job_state {
            eprintln!("job {}", status.state);
            job_state = status.state.clone();
        }
        for task in &status.tasks {
            if seen.get(&task.task) != Some(&task.state) {
                let mark = match task.state.as_str() {
                    "SUCCEEDED" => "✔",
                    "SKIPPED" => "–",
                    "FAILED" | "CANCELLED" => "✘",
                    _ => "▶",
                };
                match &task.error {
                    Some(e) => eprintln!("  {mark} {} {}: {e}", task.task, task.state),
                    None => eprintln!("  {mark} {} {}", task.task, task.state),
                }
                seen.insert(task.task.clone(), task.state.clone());
            }
        }
        if status.done {
            return Ok(status);
        }
        std::thread::sleep(every);
    }
}
