//! One task: a condition or other sub-DAG (trigger evaluated, then its DAG run), or a
//! container step (defaults, cache lookup, executor input, the step, output checks, cache
//! entry).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::inputs::{with_defaults, Resolved};
use super::{
    cache, outputs, record, schedule, step, Ctx, Scope, TaskOutputs, TaskRecord, TaskStatus,
};
use crate::error::{io_err, PipelineError, Result};
use crate::executor::{ArtifactList, ExecutorInput, Inputs};
use crate::ir::model::{IrComponent, PipelineTaskSpec};

/// How a task ended.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) status: TaskStatus,
    pub(super) outputs: TaskOutputs,
    pub(super) seconds: f64,
    pub(super) log: Option<String>,
    /// Records of a sub-DAG's tasks.
    pub(super) nested: BTreeMap<String, TaskRecord>,
}

impl Finished {
    fn with_status(status: TaskStatus) -> Finished {
        Finished {
            status,
            outputs: TaskOutputs::default(),
            seconds: 0.0,
            log: None,
            nested: BTreeMap::new(),
        }
    }
}

/// Run task `name` (record path `path`) with its resolved inputs.
pub(super) fn run_task(
    ctx: &Ctx,
    name: &str,
    path: &str,
    task: &PipelineTaskSpec,
    inputs: Resolved,
) -> Result<Finished> {
    let started = Instant::now();
    let component = ctx
        .ir
        .component(&task.component_ref.name)
        .cloned()
        .unwrap_or_default();
    let mut finished = if component.dag.is_some() {
        run_sub_dag(ctx, name, path, task, &component, inputs)?
    } else {
        run_container(ctx, name, task, &component, inputs)?
    };
    finished.seconds = started.elapsed().as_secs_f64();
    Ok(finished)
}

/// A condition (or nested pipeline): evaluate the trigger, then run the sub-DAG.
fn run_sub_dag(
    ctx: &Ctx,
    name: &str,
    path: &str,
    task: &PipelineTaskSpec,
    component: &IrComponent,
    inputs: Resolved,
) -> Result<Finished> {
    if let Some(cond) = task.condition() {
        let fire = crate::cel::evaluate(cond, &inputs.params).map_err(|message| {
            PipelineError::TaskFailed {
                task: name.to_string(),
                message,
                log: PathBuf::new(),
                tail: String::new(),
            }
        })?;
        if !fire {
            return Ok(Finished::with_status(TaskStatus::Skipped));
        }
    }
    let scope = Scope {
        params: inputs.params,
        artifacts: inputs.artifacts,
    };
    let mut nested = BTreeMap::new();
    schedule::run_dag(ctx, component, &scope, &format!("{path}/"), &mut nested)?;
    Ok(Finished {
        nested,
        ..Finished::with_status(TaskStatus::Succeeded)
    })
}

/// A container step, or its cached outputs.
fn run_container(
    ctx: &Ctx,
    name: &str,
    task: &PipelineTaskSpec,
    component: &IrComponent,
    inputs: Resolved,
) -> Result<Finished> {
    let container = ctx.ir.container(component);
    let params = with_defaults(component, inputs.params);
    let task_dir = ctx.job_dir.join(name);
    let log_path = task_dir.join("log.txt");
    // With a gs:// root, inputs the mount stand-in lacks (outputs of a cached task of an
    // earlier run) come from the bucket first: the cache key hashes their content, and the
    // step reads them there.
    for (k, a) in &inputs.artifacts {
        ctx.layout.ensure_local(&a.uri).map_err(|m| {
            step::task_failed(name, format!("input artifact `{k}`: {m}"), &log_path)
        })?;
    }
    let cache_file = if task.enable_cache() {
        let hashing = cache::Hashing {
            binary: &ctx.binary_digest,
            digests: &ctx.digests,
            local_path: &|uri| ctx.layout.local_path(uri),
        };
        let key = cache::cache_key(component, container, &params, &inputs.artifacts, &hashing)?;
        Some(ctx.cache_dir.join(format!("{key}.json")))
    } else {
        None
    };
    if let (true, Some(file)) = (ctx.opts.cache, &cache_file) {
        // A cached artifact must be readable here: on this machine, or fetched from the bucket.
        let available = |uri: &str| ctx.layout.ensure_local(uri).is_ok_and(|p| p.exists());
        if let Some(outputs) = cache::read_cache(file, &available) {
            return Ok(Finished {
                outputs,
                ..Finished::with_status(TaskStatus::Cached)
            });
        }
    }

    std::fs::create_dir_all(&task_dir).map_err(io_err("create folder", &task_dir))?;
    let Some(container) = container else {
        return Err(step::task_failed(
            name,
            "the executor has no container".into(),
            &log_path,
        ));
    };
    let task_uri = ctx.layout.uri(&format!("{}/{name}", ctx.job_id));
    let slots = outputs::output_slots(component, &task_dir, &task_uri);
    let executor_input = ExecutorInput {
        inputs: Inputs {
            parameter_values: params,
            artifacts: inputs
                .artifacts
                .into_iter()
                .map(|(k, a)| (k, ArtifactList { artifacts: vec![a] }))
                .collect(),
        },
        outputs: slots,
    };
    step::run_step(ctx, name, container, &executor_input, &task_dir, &log_path)?;
    let local_path = |uri: &str| ctx.layout.local_path(uri);
    let result = outputs::read_outputs(&executor_input.outputs, component, &local_path)
        .map_err(|m| step::task_failed(name, m, &log_path))?;
    // Before the cache entry: an entry promises outputs that the bucket holds too.
    for (k, a) in &result.artifacts {
        ctx.layout
            .upload(&local_path(&a.uri), &a.uri)
            .map_err(|e| {
                step::task_failed(
                    name,
                    format!("cannot upload output artifact `{k}` to {}: {e}", a.uri),
                    &log_path,
                )
            })?;
    }
    if let Some(file) = &cache_file {
        record::write_json(file, &result, "write the cache entry")?;
    }
    Ok(Finished {
        outputs: result,
        log: Some(log_path.display().to_string()),
        ..Finished::with_status(TaskStatus::Succeeded)
    })
}
