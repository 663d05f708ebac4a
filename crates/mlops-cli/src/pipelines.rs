//! `mlops pipelines list|compile|run`: pipelines from `PIPELINE_DEFS`, compiled to KFP v2 IR
//! and run locally by the IR runner.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlops_domain::{write_atomic, Settings};
use mlops_pipeline::runner::{self, Event, RunOptions, RunRecord, TaskStatus};
use mlops_pipeline::{compile_to_string, CompileOptions};
use vertex_pipelines::defs::{self, PIPELINE_DEFS, SCHEDULE_TZ};

use crate::args::{CompileArgs, PipelinesCommand, RunArgs};
use crate::context::{load_config, BoxError};

/// Run one `mlops pipelines` command.
pub fn run(settings: &Settings, command: PipelinesCommand) -> Result<(), BoxError> {
    match command {
        PipelinesCommand::List => list(),
        PipelinesCommand::Compile(args) => compile(settings, args),
        PipelinesCommand::Run(args) => run_and_summarise(settings, args),
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

/// Compile every pipeline into `out`; returns the files written.
pub fn compile_all(
    settings: &Settings,
    config_path: Option<&Path>,
    out: &Path,
    image: &str,
) -> Result<Vec<PathBuf>, BoxError> {
    let config = load_config(settings, config_path)?;
    let image = CompileOptions {
        image: image.to_string(),
        ..Default::default()
    };
    let mut written = Vec::new();
    for def in PIPELINE_DEFS {
        if let Some(cron) = def.schedule {
            defs::next_runs(cron, chrono::Utc::now(), 1)
                .map_err(|e| format!("pipeline `{}`: {e}", def.name))?;
        }
        let pipeline = (def.build)(&config, settings)?;
        let path = out.join(format!("{}.json", def.name));
        write_atomic(&path, compile_to_string(&pipeline, &image).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

fn compile(settings: &Settings, args: CompileArgs) -> Result<(), BoxError> {
    let out = args
        .out
        .unwrap_or_else(|| Path::new(&settings.local_root).join("pipelines"));
    let started = std::time::Instant::now();
    let files = compile_all(settings, args.config.as_deref(), &out, &args.image)?;
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

/// Run a pipeline (compiling it first unless `ir` is given) and return its record.
pub fn run_pipeline(settings: &Settings, args: &RunArgs) -> Result<RunRecord, BoxError> {
    let root = args
        .pipeline_root
        .clone()
        .unwrap_or_else(|| Path::new(&settings.local_root).join("pipeline_root"));
    let ir_path = match &args.ir {
        Some(p) => p.clone(),
        None => {
            let def = defs::find(&args.name)?;
            let config = load_config(settings, args.config.as_deref())?;
            let pipeline = (def.build)(&config, settings)?;
            let path = root.join("compiled").join(format!("{}.json", def.name));
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
