//! The local runner: executes a **compiled IR file** (not the Rust pipeline objects) the way
//! Vertex AI Pipelines would: tasks in dependency order, independent tasks in parallel (bounded
//! by cores), one executor input per task with artifact URIs `<root>/<job>/<task>/<output>`,
//! the component binary as a subprocess started in its task folder, executor output read back,
//! trigger conditions evaluated, caching by (component spec, executor, parameters, input
//! artifact *contents*, binary digest), per-task logs and a run record (`<root>/<job>/run.json`).
//!
//! - `schedule`: DAG order and parallelism; `task`: one task (sub-DAG or container);
//! - `inputs`: where each input comes from; `step`: the subprocess;
//! - `cache`: cache keys and entries, artifact content digests; `outputs`: output checks;
//! - `record`: the run record.
//!
//! The root is a folder or `gs://bucket/prefix` ([`PipelineRoot`], `root`): with a `gs://`
//! root, artifact URIs are `gs://…/<job>/<task>/<output>` as on Vertex AI, steps reach them
//! through a local stand-in for the `/gcs` mount, and the runner copies outputs to the bucket
//! after each step (and inputs back when the stand-in lacks them) through an
//! [`ArtifactStore`]; run records, logs and cache entries stay local, in the stand-in's copy
//! of the root, and `run.json` is also uploaded at the end.
//!
//! Steps run in `<root>/<job>/<task>/`, not in the caller's folder, with the caller's folder in
//! `MLOPS_WORKDIR` ([`crate::component::WORKDIR_ENV`]): a component that takes a path
//! parameter (`data_path=data/x.csv`) resolves a relative one there
//! ([`crate::Context::path`]), so it keeps meaning what it means to the caller. Parameter
//! values themselves are passed as given: which strings are paths is the component's to say.

mod cache;
mod inputs;
mod outputs;
mod record;
mod root;
mod schedule;
mod step;
mod task;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde_json::Value;

use crate::error::{io_err, PipelineError, Result};
use crate::ir::model::PipelineSpec;

pub use record::{RunRecord, TaskOutputs, TaskRecord, TaskStatus};
pub use root::{ArtifactStore, PipelineRoot, GCS_MOUNT_ENV};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Pipeline root: jobs, artifacts and the cache live below it (a folder, or a bucket with
    /// a local staging folder).
    pub pipeline_root: PipelineRoot,
    /// `--param k=v` values, parsed by the declared types.
    pub params: Vec<(String, String)>,
    /// Reuse cached task outputs.
    pub cache: bool,
    /// The local component binary, used for executors whose command is `mlops-component`.
    pub component_binary: PathBuf,
    /// Tasks run at once.
    pub max_parallel: usize,
}

/// Progress events for a display.
#[derive(Debug, Clone)]
pub enum Event {
    /// A task started.
    Started(String),
    /// A task ended.
    Finished(String, TaskStatus, f64),
}

/// What every task of one run shares.
struct Ctx<'a> {
    ir: &'a PipelineSpec,
    /// The root resolved for this run: local mirror, artifact URIs, store.
    layout: root::Layout,
    /// `<root>/<job>` (the local mirror of it for `gs://` roots), absolute.
    job_dir: PathBuf,
    /// The job id, the folder name under the root.
    job_id: String,
    /// `<root>/.cache`, absolute.
    cache_dir: PathBuf,
    /// The component binary, absolute.
    component_binary: PathBuf,
    /// The caller's working directory, for relative program paths.
    caller_dir: PathBuf,
    opts: &'a RunOptions,
    binary_digest: String,
    digests: cache::ArtifactDigests,
    interrupt: &'a AtomicBool,
    events: &'a (dyn Fn(Event) + Sync),
}

impl Ctx<'_> {
    fn interrupted(&self) -> PipelineError {
        PipelineError::Interrupted {
            job: self.job_id.clone(),
        }
    }
}

/// The values a DAG's tasks can read: its component's inputs.
#[derive(Debug, Clone, Default)]
struct Scope {
    params: BTreeMap<String, Value>,
    artifacts: BTreeMap<String, crate::executor::RuntimeArtifact>,
}

/// Read and check an IR file.
pub fn load_ir(path: &Path) -> Result<PipelineSpec> {
    let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    let invalid = |problems| PipelineError::InvalidIr {
        path: path.to_path_buf(),
        problems,
    };
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| invalid(vec![format!("not JSON: {e}")]))?;
    let problems = crate::ir::problems(&doc);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    serde_json::from_value(doc).map_err(|e| invalid(vec![e.to_string()]))
}

/// Resolve `--param` values against the root's input definitions.
pub fn resolve_params(
    ir: &PipelineSpec,
    given: &[(String, String)],
) -> Result<BTreeMap<String, Value>> {
    let defs = ir.root_parameters();
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let Some(def) = defs.get(name) else {
            let known: Vec<&str> = defs.keys().map(String::as_str).collect();
            return Err(PipelineError::Param(format!(
                "`{name}` is not a parameter of this pipeline; parameters: {}",
                known.join(", ")
            )));
        };
        let ty = def.param_type();
        let v = ty
            .parse_cli(value)
            .map_err(|e| PipelineError::Param(format!("`{name}` ({}): {e}", ty.ir_name())))?;
        out.insert(name.clone(), v);
    }
    for (name, def) in defs {
        if out.contains_key(name) {
            continue;
        }
        match &def.default_value {
            Some(v) => {
                out.insert(name.clone(), v.clone());
            }
            None => {
                return Err(PipelineError::Param(format!(
                    "`{name}` has no default; pass --param {name}=VALUE"
                )))
            }
        }
    }
    Ok(out)
}

/// Run a compiled pipeline. `interrupt` is polled (set it from a SIGINT handler).
pub fn run(
    ir_path: &Path,
    opts: &RunOptions,
    interrupt: &AtomicBool,
    events: &(dyn Fn(Event) + Sync),
) -> Result<RunRecord> {
    let ir = load_ir(ir_path)?;
    let caller_dir = std::env::current_dir().map_err(io_err("read", "the working directory"))?;
    let params = resolve_params(&ir, &opts.params)?;
    let pipeline = if ir.pipeline_info.name.is_empty() {
        "pipeline".to_string()
    } else {
        ir.pipeline_info.name.clone()
    };
    let now = chrono::Utc::now();
    let job_id = format!(
        "{pipeline}-{}-{:04x}",
        now.format("%Y%m%d%H%M%S"),
        now.timestamp_subsec_micros() & 0xffff
    );
    // Steps run in their own folders, so every path handed to them is absolute.
    let layout = root::Layout::new(&opts.pipeline_root, &caller_dir)?;
    let root = layout.local_root.clone();
    let job_dir = root.join(&job_id);
    std::fs::create_dir_all(&job_dir).map_err(io_err("create folder", &job_dir))?;
    let component_binary = caller_dir.join(&opts.component_binary);
    let ctx = Ctx {
        ir: &ir,
        layout: layout.clone(),
        job_dir: job_dir.clone(),
        job_id: job_id.clone(),
        cache_dir: root.join(".cache"),
        binary_digest: cache::digest_file(&component_binary)
            .map_err(io_err("read component binary", &component_binary))?,
        component_binary,
        caller_dir,
        opts,
        digests: cache::ArtifactDigests::default(),
        interrupt,
        events,
    };
    let started = Instant::now();
    let mut record = RunRecord {
        pipeline,
        job_id,
        status: "running".into(),
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seconds: 0.0,
        parameters: params.clone(),
        tasks: BTreeMap::new(),
        error: None,
    };
    let scope = Scope {
        params,
        artifacts: BTreeMap::new(),
    };
    let root_component = ir.root.clone().unwrap_or_default();
    let result = schedule::run_dag(&ctx, &root_component, &scope, "", &mut record.tasks);
    record.seconds = started.elapsed().as_secs_f64();
    record.finish(&result);
    let record_path = job_dir.join("run.json");
    record::write_json(&record_path, &record, "write the run record")?;
    let record_uri = layout.uri(&format!("{}/run.json", record.job_id));
    let uploaded =
        layout
            .upload(&record_path, &record_uri)
            .map_err(|message| PipelineError::Store {
                action: "upload the run record to",
                uri: record_uri,
                message,
            });
    // A failed run reports its own error; the record is still on this machine.
    result.and(uploaded).map(|()| record)
}

#[cfg(test)]
mod tests;
