//! `mlops pipelines ...`, `mlops models list|show|promote|rollback` and `mlops demo`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlops_domain::{write_atomic, Settings};
use mlops_model::LocalRegistry;
use mlops_pipeline::runner::{self, Event, RunOptions, RunRecord, TaskStatus};
use mlops_pipeline::{compile_to_string, ImageConfig};
use vertex_pipelines::defs::{self, PIPELINE_DEFS, SCHEDULE_TZ};

use crate::cli::{CompileArgs, DemoArgs, RegistryArgs, RunArgs};
use crate::commands::{load_config, BoxError};

pub fn list() -> Result<(), BoxError> {
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
    let image = ImageConfig {
        image: image.to_string(),
        ..Default::default()
    };
    let mut written = Vec::new();
    for def in PIPELINE_DEFS {
        if let Some(cron) = def.schedule {
            defs::next_runs(cron, chrono::Utc::now(), 1)
                .map_err(|e| format!("pipeline `{}`: {e}", def.name))?;
        }
        let pipeline = (def.build)(&config)?;
        let path = out.join(format!("{}.json", def.name));
        write_atomic(&path, compile_to_string(&pipeline, &image).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

pub fn compile(settings: &Settings, args: CompileArgs) -> Result<(), BoxError> {
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
            let pipeline = (def.build)(&config)?;
            let path = root.join("compiled").join(format!("{}.json", def.name));
            write_atomic(
                &path,
                compile_to_string(&pipeline, &ImageConfig::default()).as_bytes(),
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

fn summarise(record: &RunRecord) {
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

pub fn run(settings: &Settings, args: RunArgs) -> Result<(), BoxError> {
    let record = run_pipeline(settings, &args)?;
    summarise(&record);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    }
    Ok(())
}

pub fn demo(settings: &Settings, args: DemoArgs) -> Result<(), BoxError> {
    let run_args = RunArgs {
        name: "training".into(),
        params: vec![],
        pipeline_root: args.pipeline_root,
        no_cache: false,
        ir: None,
        config: None,
        json: false,
    };
    let record = run_pipeline(settings, &run_args)?;
    summarise(&record);
    let registry = LocalRegistry::new(Path::new(&settings.local_root).join("registry"));
    let name = &settings.model_name_prefix;
    println!(
        "training pipeline: {} in {:.2}s (job {})",
        record.status, record.seconds, record.job_id
    );
    for v in registry.list(name)? {
        let auc = v.metrics.get("auc").copied().unwrap_or(f64::NAN);
        println!(
            "  {name} v{} {:<10} test AUC {auc:.4}  {}",
            v.version,
            v.aliases.join(","),
            v.created_at
        );
    }
    // Batch scoring with the champion, as the inference pipeline will do.
    let champion = registry.resolve(name, mlops_model::CHAMPION)?;
    let bundle = mlops_model::ModelBundle::load(&champion)?;
    let data = Path::new("data/wa_churn.csv");
    let out = Path::new(&settings.local_root).join("predictions/wa_churn.parquet");
    let t = mlops_core::predict::predict_file(&bundle, data, &out)?;
    let m = mlops_core::train::evaluate_file(&bundle, data)?;
    println!(
        "batch prediction with the champion: {} rows in {:.3}s -> {} (in-sample AUC {:.4})",
        t.rows,
        t.read + t.encode + t.score + t.write,
        out.display(),
        m.auc
    );
    Ok(())
}

fn registry_of(settings: &Settings, args: &RegistryArgs) -> (LocalRegistry, String) {
    let root = args
        .registry
        .clone()
        .unwrap_or_else(|| Path::new(&settings.local_root).join("registry"));
    (
        LocalRegistry::new(root),
        args.name
            .clone()
            .unwrap_or_else(|| settings.model_name_prefix.clone()),
    )
}

pub fn models_list(settings: &Settings, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    let versions = registry.list(&name)?;
    if versions.is_empty() {
        println!("no versions of `{name}` registered");
    }
    for v in versions {
        let auc = v.metrics.get("auc").copied().unwrap_or(f64::NAN);
        println!(
            "{name} v{:<4} {:<12} auc {auc:.4}  {}  {}",
            v.version,
            v.aliases.join(","),
            v.created_at,
            v.path
        );
    }
    Ok(())
}

pub fn models_show(settings: &Settings, version: &str, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    let path = registry.resolve(&name, version)?;
    let bundle = mlops_model::ModelBundle::load(&path)?;
    println!("{}", serde_json::to_string_pretty(&bundle.metadata)?);
    Ok(())
}

pub fn models_promote(
    settings: &Settings,
    version: u32,
    args: RegistryArgs,
) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    registry.promote(&name, version)?;
    println!("{name}: champion -> v{version}");
    Ok(())
}

pub fn models_rollback(settings: &Settings, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    let v = registry.rollback(&name)?;
    println!("{name}: champion -> v{v}");
    Ok(())
}
