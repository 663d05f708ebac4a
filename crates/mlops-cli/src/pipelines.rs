//! `mlops pipelines list|compile|run`: pipelines from `PIPELINE_DEFS`, compiled to KFP v2 IR
//! (with the local or the cloud defaults, by `ENVIRONMENT`) and run locally by the IR runner.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlops_domain::{write_atomic, ModelConfig, Settings};
use mlops_pipeline::runner::{self, Event, PipelineRoot, RunOptions, RunRecord, TaskStatus};
use mlops_pipeline::{compile_to_string, CompileOptions};
use vertex_pipelines::defs::{self, PIPELINE_DEFS, SCHEDULE_TZ};

use crate::args::{CompileArgs, PipelinesCommand, RunArgs};
use crate::context::{load_config, BoxError};

/// Run one `mlops pipelines` command.
pub fn run(settings: &Settings, dry_run: bool, command: PipelinesCommand) -> Result<(), BoxError> {
    match command {
        PipelinesCommand::List => list(),
        PipelinesCommand::Compile(args) => compile(settings, args),
        PipelinesCommand::Run(args) if dry_run => print_run_plan(settings, &args),
        PipelinesCommand::Run(args) => run_and_summarise(settings, args),
        cloud @ (PipelinesCommand::Upload(_)
        | PipelinesCommand::Submit(_)
        | PipelinesCommand::Schedule(_)) => crate::cloud::pipelines(settings, dry_run, cloud),
    }
}

fn list() -> Result<(), BoxError> {
    let now = chrono::Utc::now();
    for def in PIPELINE_DEFS {
        let kind = if def.is_training {
            "training"
        } else {
            "scoring/monitoring"
        };
        match def.schedule {
            Some(cron) => {
                let runs = defs::next_runs(cron, now, 3)?;
                let shown: Vec<String> = runs
                    .iter()
                    .map(|t| t.format("%a %Y-%m-%d %H:%M %Z").to_string())
                    .collect();
                println!(
                    "{:<12} {kind:<20} cron `{cron}` ({SCHEDULE_TZ}); next: {}",
                    def.name,
                    shown.join(", ")
                );
            }
            None => println!("{:<12} {kind:<20} not scheduled", def.name),
        }
    }
    Ok(())
}

/// What the IR gets besides the pipelines, by environment. Locally: `image` or
/// `churn-mlops:local`, and no `defaultPipelineRoot` (the IR stays as it has always been; the
/// local runner takes its root from `--pipeline-root`). In nprod/prod: `image` or the
/// Artifact Registry image tagged [`image_tag`], and `defaultPipelineRoot` in the pipeline
/// bucket, so that nothing in the IR points at this machine.
pub fn compile_options(
    settings: &Settings,
    image: Option<&str>,
) -> Result<CompileOptions, BoxError> {
    let image = image.map(str::trim).filter(|i| !i.is_empty());
    if !settings.environment.is_cloud() {
        return Ok(match image {
            Some(image) => CompileOptions {
                image: image.to_string(),
                ..CompileOptions::default()
            },
            None => CompileOptions::default(),
        });
    }
    let image = match image {
        Some(image) => image.to_string(),
        None => settings.image_uri(&image_tag(settings)?),
    };
    Ok(CompileOptions {
        image,
        default_pipeline_root: Some(settings.pipeline_root()),
        env: cloud_env(settings),
        ..CompileOptions::default()
    })
}

/// The variables every step's container gets in nprod/prod: components that read BigQuery or
/// Cloud Storage (`extract_data` with a query, `gs://` outside the mount) bill the project
/// and use the region, as the commands do.
fn cloud_env(settings: &Settings) -> Vec<(String, String)> {
    let mut env = vec![
        ("GCP_REGION".to_string(), settings.region.clone()),
        ("BQ_LOCATION".to_string(), settings.bq_location.clone()),
        // The Cloud Monitoring metric prefix of the monitoring components.
        (
            "MODEL_NAME_PREFIX".to_string(),
            settings.model_name_prefix.clone(),
        ),
    ];
    if let Some(project) = &settings.project_id {
        env.insert(0, ("GCP_PROJECT_ID".to_string(), project.clone()));
    }
    env
}

/// The tag of the pipeline image: `IMAGE_TAG`, else `git rev-parse --short=12 HEAD` in the
/// working directory (CI pushes the image tagged with that sha). No fallback to a moving tag
/// such as `latest`: a compiled pipeline must name the exact image it was built for.
pub fn image_tag(settings: &Settings) -> Result<String, BoxError> {
    if let Some(tag) = &settings.image_tag {
        return Ok(tag.clone());
    }
    let failed = |why: String| -> BoxError {
        format!(
            "IMAGE_TAG is not set and `git rev-parse --short=12 HEAD` {why}; set IMAGE_TAG to \
             the tag the image was pushed with (the git sha), or pass --image"
        )
        .into()
    };
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .map_err(|e| failed(format!("could not start: {e}")))?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || sha.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr
            .lines()
            .next()
            .unwrap_or("no output")
            .trim()
            .to_string();
        return Err(failed(format!("failed ({reason})")));
    }
    Ok(sha)
}

/// Every pipeline of `PIPELINE_DEFS` built with `settings` and compiled with `options`:
/// (name, IR JSON text). Schedules are checked on the way.
pub fn compile_pipelines(
    settings: &Settings,
    config: &ModelConfig,
    options: &CompileOptions,
) -> Result<Vec<(&'static str, String)>, BoxError> {
    let mut compiled = Vec::new();
    for def in PIPELINE_DEFS {
        if let Some(cron) = def.schedule {
            defs::next_runs(cron, chrono::Utc::now(), 1)
                .map_err(|e| format!("pipeline `{}`: {e}", def.name))?;
        }
        let mut pipeline = (def.build)(config, settings)?;
        set_serving_image(&mut pipeline, &serving_image_for(settings, &options.image));
        compiled.push((def.name, compile_to_string(&pipeline, options)));
    }
    Ok(compiled)
}

/// The image that serves the versions a pipeline registers: in nprod/prod the serving image
/// (`docker build --target serving`) pushed beside the pipeline image as `{IMAGE_NAME}-serve`
/// with the same tag; any other image (`--image`, local) serves as well (every image holds
/// `mlops-serve`).
pub fn serving_image_for(settings: &Settings, image: &str) -> String {
    let name = format!("/{}:", settings.image_name);
    match image.rsplit_once(&name) {
        Some((repo, tag)) if settings.environment.is_cloud() && !tag.contains('/') => {
            format!("{repo}/{}-serve:{tag}", settings.image_name)
        }
        _ => image.to_string(),
    }
}

/// Make `image` the `serving_image` parameter's default.
pub fn set_serving_image(pipeline: &mut mlops_pipeline::Pipeline, image: &str) {
    for p in pipeline
        .params
        .iter_mut()
        .filter(|p| p.name == "serving_image")
    {
        p.default = serde_json::json!(image);
    }
}

/// Compile every pipeline into `out` (see [`compile_options`] for `image`); returns the files
/// written.
pub fn compile_all(
    settings: &Settings,
    config_path: Option<&Path>,
    out: &Path,
    image: Option<&str>,
) -> Result<Vec<PathBuf>, BoxError> {
    let config = load_config(settings, config_path)?;
    let options = compile_options(settings, image)?;
    if settings.environment.is_cloud() {
        eprintln!(
            "compiling for {}: image {}, default pipeline root {}",
            settings.environment,
            options.image,
            options.default_pipeline_root.as_deref().unwrap_or_default()
        );
    }
    let mut written = Vec::new();
    for (name, ir) in compile_pipelines(settings, &config, &options)? {
        let path = out.join(format!("{name}.json"));
        write_atomic(&path, ir.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

fn compile(settings: &Settings, args: CompileArgs) -> Result<(), BoxError> {
    let out = args
        .out
        .unwrap_or_else(|| Path::new(&settings.local_root).join("pipelines"));
    let started = std::time::Instant::now();
    let files = compile_all(
        settings,
        args.config.as_deref(),
        &out,
        args.image.as_deref(),
    )?;
    for f in &files {
        println!("{}", f.display());
    }
    eprintln!(
        "compiled {} pipeline(s) in {:.3}s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `pipelines run --dry-run`: what a run writes to a `gs://` root depends on what its steps
/// produce, so instead of requests this prints the plan (one JSON line: the pipeline, its
/// root and its top-level tasks) and runs nothing.
fn print_run_plan(settings: &Settings, args: &RunArgs) -> Result<(), BoxError> {
    let root = args
        .pipeline_root
        .clone()
        .unwrap_or_else(|| settings.pipeline_root());
    let ir: mlops_pipeline::PipelineSpec = match &args.ir {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        )
        .map_err(|e| format!("{} is not KFP IR: {e}", path.display()))?,
        None => {
            let def = defs::find(&args.name)?;
            let config = load_config(settings, args.config.as_deref())?;
            let pipeline = (def.build)(&config, settings)?;
            mlops_pipeline::compile_spec(&pipeline, &CompileOptions::default())
        }
    };
    let tasks: Vec<&String> = ir
        .root
        .iter()
        .flat_map(|root| root.dag.iter())
        .flat_map(|dag| dag.tasks.keys())
        .collect();
    println!(
        "{}",
        serde_json::json!({"dry_run": true, "pipeline": args.name, "pipeline_root": root,
                           "tasks": tasks, "params": args.params})
    );
    eprintln!("dry run: the pipeline was not run and nothing was sent");
    Ok(())
}

fn component_binary() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("mlops-component");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "the component binary {} is missing; build it with `cargo build --release`",
            bin.display()
        )
        .into())
    }
}

/// Run a pipeline on this machine (compiling it first unless `ir` is given) and return its
/// record. Only with `ENVIRONMENT=local`: in nprod/prod the pipeline's defaults name cloud
/// resources (a BigQuery table, the Vertex AI Model Registry) that the local components do not
/// read, so a run would fail half-way whatever its root; it is refused up front instead.
pub fn run_pipeline(settings: &Settings, args: &RunArgs) -> Result<RunRecord, BoxError> {
    if settings.environment.is_cloud() {
        return Err(format!(
            "`mlops pipelines run` runs pipelines on this machine, so it needs ENVIRONMENT=local \
             (ENVIRONMENT is `{}`): in nprod/prod the pipelines read BigQuery and register into \
             the Vertex AI Model Registry, and run on Vertex AI through `mlops pipelines submit` \
             (coming with the cloud clients). Unset ENVIRONMENT to run locally.",
            settings.environment
        )
        .into());
    }
    let root = pipeline_root(settings, args.pipeline_root.as_deref())?;
    let ir_path = match &args.ir {
        Some(p) => p.clone(),
        None => {
            let def = defs::find(&args.name)?;
            let config = load_config(settings, args.config.as_deref())?;
            let pipeline = (def.build)(&config, settings)?;
            let path = root
                .local_dir()?
                .join("compiled")
                .join(format!("{}.json", def.name));
            write_atomic(
                &path,
                compile_to_string(&pipeline, &CompileOptions::default()).as_bytes(),
            )?;
            path
        }
    };
    let mut params = Vec::new();
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--param `{p}` is not name=value"))?;
        params.push((k.trim().to_string(), v.to_string()));
    }
    let opts = RunOptions {
        pipeline_root: root,
        params,
        cache: !args.no_cache,
        component_binary: component_binary()?,
        max_parallel: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // A second Ctrl-C while stopping is ignored; the run record is always written.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let events = |e: Event| match e {
        Event::Started(task) => eprintln!("  ▶ {task}"),
        Event::Finished(task, status, secs) => {
            let mark = match status {
                TaskStatus::Succeeded => "✔",
                TaskStatus::Cached => "✔ (cached)",
                TaskStatus::Skipped => "– skipped",
                _ => "✘",
            };
            eprintln!("  {mark} {task} {secs:.2}s");
        }
    };
    eprintln!(
        "running pipeline `{}` from {}",
        args.name,
        ir_path.display()
    );
    Ok(runner::run(&ir_path, &opts, &interrupt, &events)?)
}

/// The folder under `MLOPS_LOCAL_ROOT` that stands in for Vertex AI's Cloud Storage mount
/// when the pipeline root is `gs://`: steps read and write `gs://b/x` at `gcs_staging/gcs/b/x`,
/// and the run records, logs and cache entries stay there.
pub const GCS_STAGING: &str = "gcs_staging";

/// The pipeline root `given` (else the settings' default): a folder, or `gs://bucket/prefix`
/// with artifacts copied to Cloud Storage (needs the `gcp` build and GCP_PROJECT_ID; the
/// bucket's name is checked before connecting).
pub fn pipeline_root(settings: &Settings, given: Option<&str>) -> Result<PipelineRoot, BoxError> {
    let text = given.map_or_else(|| settings.pipeline_root(), str::to_string);
    if !text.starts_with("gs://") {
        return Ok(PipelineRoot::Local(PathBuf::from(text)));
    }
    // Checked before connecting: a typo is reported as such, not as a Cloud Storage error.
    text.parse::<mlops_domain::ArtifactLocation>()
        .map_err(|e| format!("--pipeline-root: {e}"))?;
    let staging = Path::new(&settings.local_root).join(GCS_STAGING);
    let root = PipelineRoot::Gcs {
        uri: text,
        staging,
        store: crate::cloud::artifact_store(settings)?,
    };
    root.local_dir()?;
    Ok(root)
}

/// Task states and output parameters of a run, on stderr.
pub fn summarise(record: &RunRecord) {
    eprintln!(
        "{} {} in {:.2}s",
        record.job_id, record.status, record.seconds
    );
    for (task, t) in &record.tasks {
        let params: Vec<String> = t
            .outputs
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        eprintln!(
            "  {task:<28} {:<12} {:>6.2}s  {}",
            format!("{:?}", t.status).to_lowercase(),
            t.seconds,
            params.join(" ")
        );
    }
}

fn run_and_summarise(settings: &Settings, args: RunArgs) -> Result<(), BoxError> {
    let record = run_pipeline(settings, &args)?;
    summarise(&record);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    }
    Ok(())
}
