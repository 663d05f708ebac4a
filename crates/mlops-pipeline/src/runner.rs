//! The local runner: executes a **compiled IR file** (not the Rust pipeline objects) the way
//! Vertex AI Pipelines would: tasks in dependency order, independent tasks in parallel (bounded
//! by cores), one executor input per task with artifact URIs `<root>/<job>/<task>/<output>`,
//! the component binary as a subprocess, executor output read back, trigger conditions
//! evaluated, caching by (component spec, resolved inputs, binary digest), per-task logs and a
//! run record (`<root>/<job>/run.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{io_err, PipelineError, Result};
use crate::executor::{
    ArtifactList, ArtifactTypeJson, ExecutorInput, ExecutorOutput, Inputs, OutputParameter,
    Outputs, RuntimeArtifact,
};
use crate::types::ParamType;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Pipeline root: jobs, artifacts and the cache live below it.
    pub pipeline_root: PathBuf,
    /// `--param k=v` values, parsed by the declared types.
    pub params: Vec<(String, String)>,
    /// Reuse cached task outputs.
    pub cache: bool,
    /// The local component binary, used for executors whose command is `mlops-component`.
    pub component_binary: PathBuf,
    /// Tasks run at once.
    pub max_parallel: usize,
}

/// What happened to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Ran and succeeded.
    Succeeded,
    /// Outputs reused from an earlier run.
    Cached,
    /// Its condition was false.
    Skipped,
    /// Failed.
    Failed,
    /// Stopped by SIGINT.
    Interrupted,
    /// Not run because an upstream task failed or the run was interrupted.
    NotRun,
}

/// Outputs of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutputs {
    /// Output parameters.
    pub parameters: BTreeMap<String, Value>,
    /// Output artifacts.
    pub artifacts: BTreeMap<String, RuntimeArtifact>,
}

/// One task in the run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Outcome.
    pub status: TaskStatus,
    /// Wall seconds.
    pub seconds: f64,
    /// Log file, when it ran.
    pub log: Option<String>,
    /// Outputs, when it succeeded or was cached.
    pub outputs: TaskOutputs,
}

/// The run record written to `<root>/<job>/run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// Job id.
    pub job_id: String,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// Wall seconds.
    pub seconds: f64,
    /// Resolved pipeline parameters.
    pub parameters: BTreeMap<String, Value>,
    /// Tasks by path (`condition-1/register-model` inside conditions).
    pub tasks: BTreeMap<String, TaskRecord>,
    /// The error, when the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Progress events for a display.
#[derive(Debug, Clone)]
pub enum Event {
    /// A task started.
    Started(String),
    /// A task ended.
    Finished(String, TaskStatus, f64),
}

struct Ctx<'a> {
    ir: &'a Value,
    job_dir: PathBuf,
    cache_dir: PathBuf,
    opts: &'a RunOptions,
    binary_digest: String,
    interrupt: &'a AtomicBool,
    events: &'a (dyn Fn(Event) + Sync),
}

/// The values a DAG's tasks can read: its component's inputs.
#[derive(Debug, Clone, Default)]
struct Scope {
    params: BTreeMap<String, Value>,
    artifacts: BTreeMap<String, RuntimeArtifact>,
}

/// Read and check an IR file.
pub fn load_ir(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    let ir: Value = serde_json::from_str(&text).map_err(|e| PipelineError::InvalidIr {
        path: path.to_path_buf(),
        problems: vec![format!("not JSON: {e}")],
    })?;
    let problems = crate::ir::problems(&ir);
    if problems.is_empty() {
        Ok(ir)
    } else {
        Err(PipelineError::InvalidIr {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Resolve `--param` values against the root's input definitions.
pub fn resolve_params(ir: &Value, given: &[(String, String)]) -> Result<BTreeMap<String, Value>> {
    let defs = ir
        .pointer("/root/inputDefinitions/parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let Some(def) = defs.get(name) else {
            let known: Vec<&String> = defs.keys().collect();
            return Err(PipelineError::Param(format!(
                "`{name}` is not a parameter of this pipeline; parameters: {}",
                known
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let ty = def
            .get("parameterType")
            .and_then(Value::as_str)
            .and_then(ParamType::from_ir)
            .unwrap_or(ParamType::String);
        let v = ty
            .parse_cli(value)
            .map_err(|e| PipelineError::Param(format!("`{name}` ({}): {e}", ty.ir_name())))?;
        out.insert(name.clone(), v);
    }
    for (name, def) in &defs {
        if out.contains_key(name) {
            continue;
        }
        match def.get("defaultValue") {
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

fn digest_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_err("open component binary", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err("create folder", parent))?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| PipelineError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, text).map_err(io_err("write", &temp))?;
    std::fs::rename(&temp, path).map_err(io_err("rename into", path))
}

/// Run a compiled pipeline. `interrupt` is polled (set it from a SIGINT handler).
pub fn run(
    ir_path: &Path,
    opts: &RunOptions,
    interrupt: &AtomicBool,
    events: &(dyn Fn(Event) + Sync),
) -> Result<RunRecord> {
    let ir = load_ir(ir_path)?;
    let params = resolve_params(&ir, &opts.params)?;
    let pipeline = ir
        .pointer("/pipelineInfo/name")
        .and_then(Value::as_str)
        .unwrap_or("pipeline")
        .to_string();
    let now = chrono::Utc::now();
    let job_id = format!(
        "{pipeline}-{}-{:04x}",
        now.format("%Y%m%d%H%M%S"),
        now.timestamp_subsec_micros() & 0xffff
    );
    let job_dir = opts.pipeline_root.join(&job_id);
    std::fs::create_dir_all(&job_dir).map_err(io_err("create folder", &job_dir))?;
    let ctx = Ctx {
        ir: &ir,
        job_dir: job_dir.clone(),
        cache_dir: opts.pipeline_root.join(".cache"),
        opts,
        binary_digest: digest_file(&opts.component_binary)?,
        interrupt,
        events,
    };
    let started = Instant::now();
    let mut record = RunRecord {
        pipeline,
        job_id: job_id.clone(),
        status: "running".into(),
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seconds: 0.0,
        parameters: params.clone(),
        tasks: BTreeMap::new(),
        error: None,
    };
    let root = ir.get("root").cloned().unwrap_or(Value::Null);
    let scope = Scope {
        params,
        artifacts: BTreeMap::new(),
    };
    let result = run_dag(&ctx, &root, &scope, "", &mut record.tasks);
    record.seconds = started.elapsed().as_secs_f64();
    let run_json = job_dir.join("run.json");
    match result {
        Ok(()) => {
            record.status = "succeeded".into();
            write_json(&run_json, &record)?;
            Ok(record)
        }
        Err(e) => {
            record.status = if matches!(e, PipelineError::Interrupted { .. }) {
                "interrupted"
            } else {
                "failed"
            }
            .into();
            record.error = Some(e.to_string());
            write_json(&run_json, &record)?;
            Err(e)
        }
    }
}

/// Run one DAG to completion (or first failure), tasks in parallel as dependencies allow.
fn run_dag(
    ctx: &Ctx,
    component: &Value,
    scope: &Scope,
    prefix: &str,
    records: &mut BTreeMap<String, TaskRecord>,
) -> Result<()> {
    let empty = Map::new();
    let tasks = component
        .pointer("/dag/tasks")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let deps: BTreeMap<&str, BTreeSet<String>> = tasks
        .iter()
        .map(|(name, t)| {
            let mut d = crate::ir::dependent_tasks(t);
            for kind in ["parameters", "artifacts"] {
                if let Some(inputs) = t
                    .pointer(&format!("/inputs/{kind}"))
                    .and_then(Value::as_object)
                {
                    for src in inputs.values() {
                        for key in ["taskOutputParameter", "taskOutputArtifact"] {
                            if let Some(p) = src
                                .pointer(&format!("/{key}/producerTask"))
                                .and_then(Value::as_str)
                            {
                                d.insert(p.to_string());
                            }
                        }
                    }
                }
            }
            (name.as_str(), d)
        })
        .collect();
    let mut outputs: BTreeMap<String, TaskOutputs> = BTreeMap::new();
    // Finished tasks only; tasks in flight are in `in_flight`.
    let mut status: BTreeMap<String, TaskStatus> = BTreeMap::new();
    let mut in_flight: BTreeSet<String> = BTreeSet::new();
    let mut running = 0usize;
    let mut first_error: Option<PipelineError> = None;
    let (tx, rx) = mpsc::channel::<(
        String,
        Result<(
            TaskStatus,
            TaskOutputs,
            f64,
            Option<String>,
            BTreeMap<String, TaskRecord>,
        )>,
    )>();
    std::thread::scope(|s| {
        loop {
            // Start every ready task, up to the parallelism bound.
            let stop = first_error.is_some() || ctx.interrupt.load(Ordering::SeqCst);
            if !stop {
                for (name, d) in &deps {
                    if running >= ctx.opts.max_parallel.max(1) {
                        break;
                    }
                    if status.contains_key(*name) || in_flight.contains(*name) {
                        continue;
                    }
                    let upstream: Vec<TaskStatus> =
                        d.iter().filter_map(|u| status.get(u).copied()).collect();
                    if upstream.len() < d.len() {
                        continue;
                    }
                    if upstream
                        .iter()
                        .any(|u| !matches!(u, TaskStatus::Succeeded | TaskStatus::Cached))
                    {
                        status.insert(name.to_string(), TaskStatus::Skipped);
                        records.insert(
                            format!("{prefix}{name}"),
                            TaskRecord {
                                status: TaskStatus::Skipped,
                                seconds: 0.0,
                                log: None,
                                outputs: TaskOutputs::default(),
                            },
                        );
                        continue;
                    }
                    let task = &tasks[*name];
                    let resolved = match resolve_inputs(task, scope, &outputs) {
                        Ok(r) => r,
                        Err(e) => {
                            first_error = Some(e);
                            break;
                        }
                    };
                    in_flight.insert(name.to_string());
                    running += 1;
                    let tx = tx.clone();
                    let name = name.to_string();
                    let path = format!("{prefix}{name}");
                    s.spawn(move || {
                        (ctx.events)(Event::Started(path.clone()));
                        let result = run_task(ctx, &name, &path, task, resolved);
                        let _ = tx.send((name, result));
                    });
                }
            }
            if running == 0 {
                break;
            }
            let Ok((name, result)) = rx.recv() else { break };
            running -= 1;
            in_flight.remove(&name);
            let path = format!("{prefix}{name}");
            match result {
                Ok((st, out, secs, log, nested)) => {
                    (ctx.events)(Event::Finished(path.clone(), st, secs));
                    records.extend(nested);
                    records.insert(
                        path,
                        TaskRecord {
                            status: st,
                            seconds: secs,
                            log,
                            outputs: out.clone(),
                        },
                    );
                    status.insert(name.clone(), st);
                    outputs.insert(name, out);
                }
                Err(e) => {
                    let st = if matches!(e, PipelineError::Interrupted { .. }) {
                        TaskStatus::Interrupted
                    } else {
                        TaskStatus::Failed
                    };
                    (ctx.events)(Event::Finished(path.clone(), st, 0.0));
                    records.insert(
                        path,
                        TaskRecord {
                            status: st,
                            seconds: 0.0,
                            log: None,
                            outputs: TaskOutputs::default(),
                        },
                    );
                    status.insert(name, st);
                    if first_error.is_none() || st == TaskStatus::Interrupted {
                        first_error = Some(e);
                    }
                }
            }
        }
    });
    for name in tasks.keys() {
        if !status.contains_key(name) {
            records.insert(
                format!("{prefix}{name}"),
                TaskRecord {
                    status: TaskStatus::NotRun,
                    seconds: 0.0,
                    log: None,
                    outputs: TaskOutputs::default(),
                },
            );
        }
    }
    if first_error.is_none() && ctx.interrupt.load(Ordering::SeqCst) {
        first_error = Some(PipelineError::Interrupted {
            job: ctx
                .job_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        });
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Inputs of one task, resolved to values and artifacts.
#[derive(Debug, Clone, Default)]
struct Resolved {
    params: BTreeMap<String, Value>,
    artifacts: BTreeMap<String, RuntimeArtifact>,
}

fn resolve_inputs(
    task: &Value,
    scope: &Scope,
    outputs: &BTreeMap<String, TaskOutputs>,
) -> Result<Resolved> {
    let mut r = Resolved::default();
    let inputs = |kind: &str| {
        task.pointer(&format!("/inputs/{kind}"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    };
    for (name, src) in inputs("parameters") {
        let v = match resolve_source(src, &PARAMETER_SOURCES, &scope.params, outputs, |t| {
            &t.parameters
        }) {
            Some(v) => v?,
            None => match src.pointer("/runtimeValue/constant") {
                Some(c) => c.clone(),
                None => {
                    return Err(unresolved(format!(
                        "parameter `{name}`: unsupported source {src}"
                    )))
                }
            },
        };
        r.params.insert(name.clone(), v);
    }
    for (name, src) in inputs("artifacts") {
        let a = resolve_source(src, &ARTIFACT_SOURCES, &scope.artifacts, outputs, |t| {
            &t.artifacts
        })
        .unwrap_or_else(|| {
            Err(unresolved(format!(
                "artifact `{name}`: unsupported source {src}"
            )))
        })?;
        r.artifacts.insert(name.clone(), a);
    }
    Ok(r)
}

/// The IR field names of an input's two common sources, for parameters or for artifacts.
struct SourceKinds {
    /// What the enclosing component's inputs are called in errors.
    label: &'static str,
    /// An input of the enclosing component (`componentInputParameter`).
    input: &'static str,
    /// Another task's output (`taskOutputParameter`), whose key is in `output_key`.
    task_output: &'static str,
    output_key: &'static str,
}

const PARAMETER_SOURCES: SourceKinds = SourceKinds {
    label: "input parameter",
    input: "componentInputParameter",
    task_output: "taskOutputParameter",
    output_key: "outputParameterKey",
};

const ARTIFACT_SOURCES: SourceKinds = SourceKinds {
    label: "input artifact",
    input: "componentInputArtifact",
    task_output: "taskOutputArtifact",
    output_key: "outputArtifactKey",
};

fn unresolved(what: String) -> PipelineError {
    PipelineError::Param(format!("cannot resolve {what}"))
}

/// Resolve an input that comes from the enclosing component's inputs or from an upstream
/// task's outputs; `None` when `src` is neither.
fn resolve_source<T: Clone>(
    src: &Value,
    kinds: &SourceKinds,
    scope: &BTreeMap<String, T>,
    outputs: &BTreeMap<String, TaskOutputs>,
    produced: impl Fn(&TaskOutputs) -> &BTreeMap<String, T>,
) -> Option<Result<T>> {
    if let Some(p) = src.get(kinds.input).and_then(Value::as_str) {
        return Some(
            scope
                .get(p)
                .cloned()
                .ok_or_else(|| unresolved(format!("{} `{p}`", kinds.label))),
        );
    }
    let o = src.get(kinds.task_output)?;
    let producer = o.get("producerTask").and_then(Value::as_str).unwrap_or("");
    let key = o
        .get(kinds.output_key)
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(
        outputs
            .get(producer)
            .and_then(|t| produced(t).get(key))
            .cloned()
            .ok_or_else(|| unresolved(format!("`{producer}`.`{key}`"))),
    )
}

type TaskResult = (
    TaskStatus,
    TaskOutputs,
    f64,
    Option<String>,
    BTreeMap<String, TaskRecord>,
);

fn run_task(
    ctx: &Ctx,
    name: &str,
    path: &str,
    task: &Value,
    inputs: Resolved,
) -> Result<TaskResult> {
    let started = Instant::now();
    let comp_name = task
        .pointer("/componentRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let component = ctx
        .ir
        .pointer(&format!("/components/{comp_name}"))
        .cloned()
        .unwrap_or(Value::Null);
    if component.get("dag").is_some() {
        // A condition (or nested pipeline): evaluate the trigger, then run the sub-DAG.
        if let Some(cond) = task
            .pointer("/triggerPolicy/condition")
            .and_then(Value::as_str)
        {
            let fire = crate::cel::evaluate(cond, &inputs.params).map_err(|m| {
                PipelineError::TaskFailed {
                    task: name.to_string(),
                    message: m,
                    log: PathBuf::new(),
                    tail: String::new(),
                }
            })?;
            if !fire {
                return Ok((
                    TaskStatus::Skipped,
                    TaskOutputs::default(),
                    started.elapsed().as_secs_f64(),
                    None,
                    BTreeMap::new(),
                ));
            }
        }
        let scope = Scope {
            params: inputs.params,
            artifacts: inputs.artifacts,
        };
        let mut nested = BTreeMap::new();
        run_dag(ctx, &component, &scope, &format!("{path}/"), &mut nested)?;
        return Ok((
            TaskStatus::Succeeded,
            TaskOutputs::default(),
            started.elapsed().as_secs_f64(),
            None,
            nested,
        ));
    }
    let exec_label = component
        .get("executorLabel")
        .and_then(Value::as_str)
        .unwrap_or("");
    let executor = ctx
        .ir
        .pointer(&format!("/deploymentSpec/executors/{exec_label}/container"))
        .cloned()
        .unwrap_or(Value::Null);

    // Defaults of optional inputs that the task does not set.
    let mut params = inputs.params;
    if let Some(defs) = component
        .pointer("/inputDefinitions/parameters")
        .and_then(Value::as_object)
    {
        for (k, def) in defs {
            if !params.contains_key(k) {
                if let Some(v) = def.get("defaultValue") {
                    params.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let caching = task
        .pointer("/cachingOptions/enableCache")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        && ctx.opts.cache;
    let key = cache_key(
        &component,
        &executor,
        &params,
        &inputs.artifacts,
        &ctx.binary_digest,
    );
    let cache_file = ctx.cache_dir.join(format!("{key}.json"));
    if caching {
        if let Some(outputs) = read_cache(&cache_file) {
            return Ok((
                TaskStatus::Cached,
                outputs,
                started.elapsed().as_secs_f64(),
                None,
                BTreeMap::new(),
            ));
        }
    }

    let task_dir = ctx.job_dir.join(name);
    std::fs::create_dir_all(&task_dir).map_err(io_err("create folder", &task_dir))?;
    let mut outputs = Outputs {
        output_file: task_dir.join("executor_output.json").display().to_string(),
        ..Default::default()
    };
    if let Some(defs) = component
        .pointer("/outputDefinitions/parameters")
        .and_then(Value::as_object)
    {
        for k in defs.keys() {
            outputs.parameters.insert(
                k.clone(),
                OutputParameter {
                    output_file: task_dir.join("outputs").join(k).display().to_string(),
                },
            );
        }
    }
    let mut out_types = BTreeMap::new();
    if let Some(defs) = component
        .pointer("/outputDefinitions/artifacts")
        .and_then(Value::as_object)
    {
        for (k, def) in defs {
            let ty: ArtifactTypeJson =
                serde_json::from_value(def.get("artifactType").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default();
            out_types.insert(k.clone(), ty.clone());
            let artifact = RuntimeArtifact {
                name: k.clone(),
                artifact_type: ty,
                uri: task_dir.join(k).display().to_string(),
                metadata: Map::new(),
            };
            outputs.artifacts.insert(
                k.clone(),
                ArtifactList {
                    artifacts: vec![artifact],
                },
            );
        }
    }
    let executor_input = ExecutorInput {
        inputs: Inputs {
            parameter_values: params.clone(),
            artifacts: inputs
                .artifacts
                .iter()
                .map(|(k, a)| {
                    (
                        k.clone(),
                        ArtifactList {
                            artifacts: vec![a.clone()],
                        },
                    )
                })
                .collect(),
        },
        outputs: outputs.clone(),
    };
    let input_json = serde_json::to_string(&executor_input).unwrap_or_default();
    let log_path = task_dir.join("log.txt");
    // The container's `command` or `args`, placeholders substituted.
    let substituted = |field: &str| -> Vec<String> {
        executor
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.as_str()
                    .map(|s| substitute(s, &input_json, &executor_input))
            })
            .collect()
    };
    let command = substituted("command");
    let args = substituted("args");
    let Some(program) = command.first() else {
        return Err(task_failed(
            name,
            "the executor has no command".into(),
            &log_path,
        ));
    };
    let program = if Path::new(program)
        .file_name()
        .is_some_and(|f| f == "mlops-component")
    {
        ctx.opts.component_binary.clone()
    } else {
        PathBuf::from(program)
    };
    let log = std::fs::File::create(&log_path).map_err(io_err("create", &log_path))?;
    let log_err = log.try_clone().map_err(io_err("open", &log_path))?;
    let mut child = Command::new(&program)
        .args(&command[1..])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| {
            task_failed(
                name,
                format!("cannot start `{}`: {e}", program.display()),
                &log_path,
            )
        })?;
    let exit = loop {
        if let Some(status) = child.try_wait().map_err(io_err("wait for", &program))? {
            break status;
        }
        if ctx.interrupt.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PipelineError::Interrupted {
                job: ctx
                    .job_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if !exit.success() {
        return Err(task_failed(
            name,
            format!("the component exited with {exit}"),
            &log_path,
        ));
    }
    let result = read_outputs(&outputs, &out_types, &component)
        .map_err(|m| task_failed(name, m, &log_path))?;
    if task
        .pointer("/cachingOptions/enableCache")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        write_json(&cache_file, &result)?;
    }
    Ok((
        TaskStatus::Succeeded,
        result,
        started.elapsed().as_secs_f64(),
        Some(log_path.display().to_string()),
        BTreeMap::new(),
    ))
}

fn task_failed(task: &str, message: String, log: &Path) -> PipelineError {
    PipelineError::TaskFailed {
        task: task.to_string(),
        message,
        log: log.to_path_buf(),
        tail: tail(log, 20),
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16_384)));
    let mut text = String::new();
    let _ = f.read_to_string(&mut text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Replace the placeholders this runner supports in one argument.
fn substitute(arg: &str, input_json: &str, input: &ExecutorInput) -> String {
    if arg == "{{$}}" {
        return input_json.to_string();
    }
    let mut out = arg.replace("{{$.outputs.output_file}}", &input.outputs.output_file);
    for (k, v) in &input.inputs.parameter_values {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("{{{{$.inputs.parameters['{k}']}}}}"), &text);
    }
    for (k, list) in input
        .inputs
        .artifacts
        .iter()
        .chain(&input.outputs.artifacts)
    {
        if let Some(a) = list.artifacts.first() {
            for side in ["inputs", "outputs"] {
                out = out.replace(&format!("{{{{$.{side}.artifacts['{k}'].uri}}}}"), &a.uri);
                out = out.replace(&format!("{{{{$.{side}.artifacts['{k}'].path}}}}"), &a.uri);
            }
        }
    }
    out
}

fn cache_key(
    component: &Value,
    executor: &Value,
    params: &BTreeMap<String, Value>,
    artifacts: &BTreeMap<String, RuntimeArtifact>,
    binary: &str,
) -> String {
    let material = json!({
        "component": component,
        "executor": executor,
        "parameters": params,
        "artifacts": artifacts.iter().map(|(k, a)| (k.clone(), json!({"uri": a.uri, "metadata": a.metadata}))).collect::<BTreeMap<_, _>>(),
        "binary": binary,
    });
    hex(&Sha256::digest(material.to_string().as_bytes()))
}

fn read_cache(path: &Path) -> Option<TaskOutputs> {
    let text = std::fs::read_to_string(path).ok()?;
    let outputs: TaskOutputs = serde_json::from_str(&text).ok()?;
    // A cache entry whose artifacts were deleted is a miss.
    outputs
        .artifacts
        .values()
        .all(|a| Path::new(&a.uri).exists())
        .then_some(outputs)
}

/// Read the executor output (or per-parameter files) and check every declared output.
fn read_outputs(
    outputs: &Outputs,
    out_types: &BTreeMap<String, ArtifactTypeJson>,
    component: &Value,
) -> std::result::Result<TaskOutputs, String> {
    let file = Path::new(&outputs.output_file);
    let written: ExecutorOutput = if file.exists() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read executor output {}: {e}", file.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "the component wrote invalid executor output to {}: {e}",
                file.display()
            )
        })?
    } else {
        ExecutorOutput::default()
    };
    let mut result = TaskOutputs::default();
    let defs = component
        .pointer("/outputDefinitions/parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, def) in &defs {
        let value = match written.parameter_values.get(k) {
            Some(v) => v.clone(),
            None => {
                let path = outputs
                    .parameters
                    .get(k)
                    .map(|p| p.output_file.clone())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&path)
                    .map_err(|_| format!("output parameter `{k}` was not written"))?;
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
        };
        let ty = def
            .get("parameterType")
            .and_then(Value::as_str)
            .and_then(ParamType::from_ir)
            .unwrap_or(ParamType::String);
        if !ty.accepts(&value) {
            return Err(format!(
                "output parameter `{k}` is {value}, not a {}",
                ty.ir_name()
            ));
        }
        result.parameters.insert(k.clone(), value);
    }
    if let Some(extra) = written
        .parameter_values
        .keys()
        .find(|k| !defs.contains_key(*k))
    {
        return Err(format!(
            "the executor output has an undeclared parameter `{extra}`"
        ));
    }
    for (k, list) in &outputs.artifacts {
        let mut artifact = list.artifacts.first().cloned().unwrap_or_default();
        if let Some(w) = written.artifacts.get(k).and_then(|l| l.artifacts.first()) {
            artifact.metadata = w.metadata.clone();
        }
        if !Path::new(&artifact.uri).exists() {
            return Err(format!(
                "output artifact `{k}` was not written to {}",
                artifact.uri
            ));
        }
        if let Some(t) = out_types.get(k) {
            artifact.artifact_type = t.clone();
        }
        result.artifacts.insert(k.clone(), artifact);
    }
    Ok(result)
}
