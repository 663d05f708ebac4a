//! `mlops pipelines schedule`: make Vertex AI's schedules match `PIPELINE_DEFS`, idempotently.
//!
//! The template's schedules are the ones whose job carries the labels
//! `managed-by=mlops-template` and this `model-prefix`; schedules made by hand or by another
//! copy of the template are never touched. What changed is told by the cron, the concurrency
//! limit and a `spec-sha` label (a hash of the compiled IR and its parameters): the same
//! commit applied twice is a no-op.

use mlops_domain::Settings;
use mlops_gcp::vertex::{ScheduleInfo, ScheduleRequest};
use sha2::{Digest, Sha256};
use vertex_pipelines::defs::{PIPELINE_DEFS, SCHEDULE_TZ};

use super::pipelines::{compile_for_cloud, job_request};
use super::{connect, label_value};
use crate::args::CloudCompileArgs;
use crate::context::BoxError;

/// Runs of one schedule that may overlap (a slow run never doubles up with the next).
const MAX_CONCURRENT_RUNS: i64 = 1;

/// A schedule `PIPELINE_DEFS` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Pipeline name.
    pub pipeline: String,
    /// Cron with time zone, or `None` for a pipeline without a schedule.
    pub cron: Option<String>,
    /// Hash of the IR and parameters the runs would use.
    pub spec_sha: String,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No schedule yet: create it.
    Create(String),
    /// Cron, concurrency or job changed: patch it (and resume it if it was paused).
    Update(String, String),
    /// Paused but wanted: resume it.
    Resume(String, String),
    /// Already as wanted.
    Unchanged(String, String),
    /// The pipeline no longer has a schedule: pause it (kept, so history stays visible).
    Pause(String, String),
    /// The pipeline left `PIPELINE_DEFS`: delete its schedule.
    Delete(String, String),
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Create(p) => write!(f, "create    {p}"),
            Action::Update(p, n) => write!(f, "update    {p} ({n})"),
            Action::Resume(p, n) => write!(f, "resume    {p} ({n})"),
            Action::Unchanged(p, n) => write!(f, "unchanged {p} ({n})"),
            Action::Pause(p, n) => write!(f, "pause     {p} ({n})"),
            Action::Delete(p, n) => write!(f, "delete    {p} ({n})"),
        }
    }
}

/// What to do to make `existing` (the template's own schedules) match `desired`.
pub fn plan(desired: &[Desired], existing: &[ScheduleInfo]) -> Vec<Action> {
    let mut actions = Vec::new();
    let pipeline_of = |s: &ScheduleInfo| s.job_labels.get("pipeline").cloned().unwrap_or_default();
    for d in desired {
        let label = label_value(&d.pipeline);
        let mine: Vec<&ScheduleInfo> = existing
            .iter()
            .filter(|s| pipeline_of(s) == label)
            .collect();
        match (&d.cron, mine.first()) {
            (Some(_), None) => actions.push(Action::Create(d.pipeline.clone())),
            (Some(cron), Some(s)) => {
                let same = &s.cron == cron
                    && s.max_concurrent_run_count == MAX_CONCURRENT_RUNS
                    && s.job_labels.get("spec-sha") == Some(&d.spec_sha);
                let action = if !same {
                    Action::Update(d.pipeline.clone(), s.name.clone())
                } else if s.state == "PAUSED" {
                    Action::Resume(d.pipeline.clone(), s.name.clone())
                } else {
                    Action::Unchanged(d.pipeline.clone(), s.name.clone())
                };
                actions.push(action);
            }
            (None, Some(s)) if s.state != "PAUSED" => {
                actions.push(Action::Pause(d.pipeline.clone(), s.name.clone()))
            }
            (None, _) => {}
        }
        // Duplicates (two schedules for one pipeline) would run it twice: keep the first.
        for extra in mine.iter().skip(1) {
            actions.push(Action::Delete(d.pipeline.clone(), extra.name.clone()));
        }
    }
    for s in existing {
        let p = pipeline_of(s);
        if !desired.iter().any(|d| label_value(&d.pipeline) == p) {
            actions.push(Action::Delete(p, s.name.clone()));
        }
    }
    actions
}

/// Compile, plan, print the plan, then apply it (or print the requests with `--dry-run`).
pub fn apply(settings: &Settings, dry_run: bool, args: &CloudCompileArgs) -> Result<(), BoxError> {
    let compiled = compile_for_cloud(settings, args)?;
    let mut desired = Vec::new();
    let mut requests = std::collections::BTreeMap::new();
    for def in PIPELINE_DEFS {
        let c = compiled
            .iter()
            .find(|c| c.name == def.name)
            .ok_or_else(|| format!("pipeline `{}` did not compile", def.name))?;
        let mut job = job_request(settings, c, &[], String::new())?;
        let spec_sha = {
            let digest = Sha256::digest(c.ir.as_bytes());
            digest
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        job.labels.insert("spec-sha".into(), spec_sha.clone());
        let cron = def.schedule.map(|c| format!("TZ={SCHEDULE_TZ} {c}"));
        if let Some(cron) = &cron {
            requests.insert(
                def.name.to_string(),
                ScheduleRequest {
                    display_name: format!("{}-{}", settings.model_name_prefix, def.name),
                    cron: cron.clone(),
                    max_concurrent_run_count: MAX_CONCURRENT_RUNS,
                    job,
                },
            );
        }
        desired.push(Desired {
            pipeline: def.name.to_string(),
            cron,
            spec_sha,
        });
    }
    let gcp = connect(settings, dry_run)?;
    // In a dry run nothing is read either: the plan assumes no schedule exists yet.
    let existing: Vec<ScheduleInfo> = if dry_run {
        Vec::new()
    } else {
        let prefix = label_value(&settings.model_name_prefix);
        gcp.list_schedules()?
            .into_iter()
            .filter(|s| {
                s.job_labels.get("managed-by").map(String::as_str) == Some("mlops-template")
                    && s.job_labels.get("model-prefix") == Some(&prefix)
            })
            .collect()
    };
    let actions = plan(&desired, &existing);
    eprintln!("schedule plan ({}):", settings.environment);
    for a in &actions {
        eprintln!("  {a}");
    }
    let request = |p: &str| {
        requests
            .get(p)
            .ok_or_else(|| format!("no schedule request for `{p}`"))
    };
    for a in &actions {
        match a {
            Action::Create(p) => {
                let s = gcp.create_schedule(request(p)?)?;
                if !dry_run {
                    println!("created {}", s.name);
                }
            }
            Action::Update(p, name) => {
                gcp.update_schedule(name, request(p)?)?;
                if existing
                    .iter()
                    .any(|s| &s.name == name && s.state == "PAUSED")
                {
                    gcp.resume_schedule(name)?;
                }
                if !dry_run {
                    println!("updated {name}");
                }
            }
            Action::Resume(_, name) => gcp.resume_schedule(name)?,
            Action::Pause(_, name) => gcp.pause_schedule(name)?,
            Action::Delete(_, name) => gcp.delete_schedule(name)?,
            Action::Unchanged(..) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn existing(name: &str, pipeline: &str, cron: &str, sha: &str, state: &str) -> ScheduleInfo {
        ScheduleInfo {
            name: name.into(),
            display_name: String::new(),
            cron: cron.into(),
            state: state.into(),
            max_concurrent_run_count: MAX_CONCURRENT_RUNS,
            job_labels: BTreeMap::from([
                ("pipeline".to_string(), pipeline.to_string()),
                ("spec-sha".to_string(), sha.to_string()),
            ]),
        }
    }

    fn desired(pipeline: &str, cron: Option<&str>, sha: &str) -> Desired {
        Desired {
            pipeline: pipeline.into(),
            cron: cron.map(str::to_string),
            spec_sha: sha.into(),
        }
    }

    #[test]
    fn plan_creates_updates_resumes_pauses_and_deletes() {
        let cron = "TZ=Pacific/Auckland 0 3 * * 1";
        let want = [
            desired("training", Some(cron), "aaa"),
            desired("inference", Some(cron), "bbb"),
            desired("monitoring", None, "ccc"),
            desired("batch", Some(cron), "ddd"),
            desired("fresh", Some(cron), "eee"),
        ];
        let have = [
            existing("s/1", "training", cron, "aaa", "ACTIVE"),
            existing(
                "s/2",
                "inference",
                "TZ=Pacific/Auckland 0 0 * * *",
                "bbb",
                "ACTIVE",
            ),
            existing("s/3", "monitoring", cron, "ccc", "ACTIVE"),
            existing("s/4", "batch", cron, "ddd", "PAUSED"),
            existing("s/5", "retired", cron, "zzz", "ACTIVE"),
        ];
        let actions = plan(&want, &have);
        assert_eq!(
            actions,
            vec![
                Action::Unchanged("training".into(), "s/1".into()),
                Action::Update("inference".into(), "s/2".into()),
                Action::Pause("monitoring".into(), "s/3".into()),
                Action::Resume("batch".into(), "s/4".into()),
                Action::Create("fresh".into()),
                Action::Delete("retired".into(), "s/5".into()),
            ]
        );
    }

    #[test]
    fn a_new_commit_updates_and_applying_twice_changes_nothing() {
        let cron = "TZ=Pacific/Auckland 0 3 * * 1";
        let have = [existing("s/1", "training", cron, "old", "ACTIVE")];
        assert_eq!(
            plan(&[desired("training", Some(cron), "new")], &have),
            vec![Action::Update("training".into(), "s/1".into())]
        );
        let have = [existing("s/1", "training", cron, "new", "ACTIVE")];
        assert_eq!(
            plan(&[desired("training", Some(cron), "new")], &have),
            vec![Action::Unchanged("training".into(), "s/1".into())]
        );
    }

    #[test]
    fn duplicate_schedules_of_one_pipeline_are_removed() {
        let cron = "TZ=Pacific/Auckland 0 3 * * 1";
        let have = [
            existing("s/1", "training", cron, "a", "ACTIVE"),
            existing("s/2", "training", cron, "a", "ACTIVE"),
        ];
        assert_eq!(
            plan(&[desired("training", Some(cron), "a")], &have),
            vec![
                Action::Unchanged("training".into(), "s/1".into()),
                Action::Delete("training".into(), "s/2".into())
            ]
        );
    }
}
