//! DAG order and parallelism: a task starts when every task it waits for (its
//! `dependentTasks` and the producers of its inputs) has succeeded or was cached, with at most
//! `max_parallel` tasks at once; a task whose upstream did not succeed is skipped; after the
//! first failure or an interrupt nothing new starts and the rest are recorded `not_run`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use super::inputs::resolve_inputs;
use super::task::{run_task, Finished};
use super::{Ctx, Event, Scope, TaskOutputs, TaskRecord, TaskStatus};
use crate::error::{PipelineError, Result};
use crate::ir::model::IrComponent;

/// Run one DAG to completion (or first failure), tasks in parallel as dependencies allow.
pub(super) fn run_dag(
    ctx: &Ctx,
    component: &IrComponent,
    scope: &Scope,
    prefix: &str,
    records: &mut BTreeMap<String, TaskRecord>,
) -> Result<()> {
    let tasks = component.tasks();
    let deps: BTreeMap<&str, BTreeSet<String>> = tasks
        .iter()
        .map(|(name, t)| (name.as_str(), t.upstream()))
        .collect();
    let mut outputs: BTreeMap<String, TaskOutputs> = BTreeMap::new();
    // Finished tasks only; tasks in flight are in `in_flight`.
    let mut status: BTreeMap<String, TaskStatus> = BTreeMap::new();
    let mut in_flight: BTreeSet<String> = BTreeSet::new();
    let mut first_error: Option<PipelineError> = None;
    let (tx, rx) = mpsc::channel::<(String, Result<Finished>)>();
    std::thread::scope(|s| loop {
        // Start every ready task, up to the parallelism bound.
        let stop = first_error.is_some() || ctx.interrupt.load(Ordering::SeqCst);
        if !stop {
            for (name, d) in &deps {
                if in_flight.len() >= ctx.opts.max_parallel.max(1) {
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
                        TaskRecord::without_outputs(TaskStatus::Skipped),
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
        if in_flight.is_empty() {
            break;
        }
        let Ok((name, result)) = rx.recv() else { break };
        in_flight.remove(&name);
        let path = format!("{prefix}{name}");
        match result {
            Ok(done) => {
                (ctx.events)(Event::Finished(path.clone(), done.status, done.seconds));
                records.extend(done.nested);
                records.insert(
                    path,
                    TaskRecord {
                        status: done.status,
                        seconds: done.seconds,
                        log: done.log,
                        outputs: done.outputs.clone(),
                    },
                );
                status.insert(name.clone(), done.status);
                outputs.insert(name, done.outputs);
            }
            Err(e) => {
                let st = if matches!(e, PipelineError::Interrupted { .. }) {
                    TaskStatus::Interrupted
                } else {
                    TaskStatus::Failed
                };
                (ctx.events)(Event::Finished(path.clone(), st, 0.0));
                records.insert(path, TaskRecord::without_outputs(st));
                status.insert(name, st);
                if first_error.is_none() || st == TaskStatus::Interrupted {
                    first_error = Some(e);
                }
            }
        }
    });
    for name in tasks.keys() {
        if !status.contains_key(name) {
            records.insert(
                format!("{prefix}{name}"),
                TaskRecord::without_outputs(TaskStatus::NotRun),
            );
        }
    }
    if first_error.is_none() && ctx.interrupt.load(Ordering::SeqCst) {
        first_error = Some(ctx.interrupted());
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
