//! The folder store of experiments and runs, and the ranking of an experiment's runs.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use mlops_domain::write_atomic;
use mlops_model::ModelBundle;

use super::{
    check_name, read_json, ExperimentError, Result, RocCurve, RunRecord, MAX_CONTEXT_ID, MODEL_DIR,
    ROC_FILE, RUN_FILE, RUN_FORMAT_VERSION,
};
use crate::error::CoreError;

/// A folder holding one subfolder per experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentStore {
    root: PathBuf,
}

/// A run in an experiment's ranking.
#[derive(Debug, Clone)]
pub struct RankedRun {
    /// 1 = best.
    pub rank: usize,
    /// The record.
    pub record: RunRecord,
    /// Its ROC curve.
    pub roc: RocCurve,
    /// The run folder.
    pub dir: PathBuf,
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ExperimentError + 'a {
    move |source| ExperimentError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn json_text(value: &impl serde::Serialize, path: &Path) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| ExperimentError::CorruptRun {
        path: path.to_path_buf(),
        message: format!("cannot be written: {e}"),
    })
}

impl ExperimentStore {
    /// The store at `root` (created on the first run).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An experiment's folder.
    pub fn experiment_dir(&self, experiment: &str) -> PathBuf {
        self.root.join(experiment)
    }

    /// Write a run: everything into a hidden temporary folder, then renamed to the first
    /// free id among `base`, `base-2`, `base-3`, … (a rename onto an existing, non-empty run
    /// folder fails, so two writers never share an id). Sets `record.run_id`.
    pub(super) fn write_run(
        &self,
        experiment: &str,
        base: &str,
        record: &mut RunRecord,
        roc: &RocCurve,
        bundle: &ModelBundle,
    ) -> Result<PathBuf> {
        check_name(experiment)?;
        let dir = self.experiment_dir(experiment);
        std::fs::create_dir_all(&dir).map_err(io("create folder", &dir))?;
        let temp = dir.join(format!(".{base}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        let written = (|| -> Result<()> {
            std::fs::create_dir_all(&temp).map_err(io("create folder", &temp))?;
            bundle
                .save(temp.join(MODEL_DIR))
                .map_err(|e| ExperimentError::Core(CoreError::from(e)))?;
            let roc_path = temp.join(ROC_FILE);
            write_atomic(&roc_path, json_text(roc, &roc_path)?.as_bytes())
                .map_err(|e| ExperimentError::Core(CoreError::from(e)))?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
        let mut n = 0;
        loop {
            n += 1;
            let id = if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            };
            let target = dir.join(&id);
            if target.exists() {
                continue;
            }
            record.run_id = id.clone();
            let run_path = temp.join(RUN_FILE);
            let text = json_text(record, &run_path)?;
            if let Err(e) = write_atomic(&run_path, text.as_bytes()) {
                let _ = std::fs::remove_dir_all(&temp);
                return Err(ExperimentError::Core(CoreError::from(e)));
            }
            match std::fs::rename(&temp, &target) {
                Ok(()) => {
                    if experiment.len() + 1 + id.len() > MAX_CONTEXT_ID {
                        tracing::warn!(
                            run = %id,
                            "`{experiment}-{id}` is longer than Vertex AI's {MAX_CONTEXT_ID} characters"
                        );
                    }
                    return Ok(target);
                }
                Err(_) if target.exists() => continue,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&temp);
                    return Err(io("rename into", &target)(e));
                }
            }
        }
    }

    /// Every run of an experiment, in run id order. A folder that is not a whole run (its
    /// `run.json` or `roc.json` missing or unreadable, another format version, another
    /// experiment's record) is an error naming the file; hidden folders (runs being
    /// written) are skipped.
    pub fn runs(&self, experiment: &str) -> Result<Vec<(RunRecord, RocCurve, PathBuf)>> {
        check_name(experiment)?;
        let dir = self.experiment_dir(experiment);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("list", &dir)(e)),
        };
        let mut run_dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().map_err(io("list", &dir))?.is_dir();
            if is_dir && !name.starts_with('.') {
                run_dirs.push(entry.path());
            }
        }
        run_dirs.sort();
        let mut runs = Vec::with_capacity(run_dirs.len());
        for run_dir in run_dirs {
            let run_path = run_dir.join(RUN_FILE);
            let record: RunRecord = read_json(&run_path)?;
            let folder = run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let problem = if record.format_version != RUN_FORMAT_VERSION {
                Some(format!(
                    "format_version is {}, this software reads {RUN_FORMAT_VERSION}",
                    record.format_version
                ))
            } else if record.experiment != experiment || record.run_id != folder {
                Some(format!(
                    "it records run `{}` of experiment `{}`, but is in `{experiment}/{folder}`",
                    record.run_id, record.experiment
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(ExperimentError::CorruptRun {
                    path: run_path,
                    message,
                });
            }
            let roc: RocCurve = read_json(&run_dir.join(ROC_FILE))?;
            runs.push((record, roc, run_dir));
        }
        Ok(runs)
    }
}

/// `a` before `b`: higher CV AUC mean first, then lower CV AUC std, then run id. NaN ranks
/// last.
fn by_cv_auc(a: &RunRecord, b: &RunRecord) -> Ordering {
    let key = |r: &RunRecord| {
        let mean = r.metric("cv_auc_mean");
        let std = r.metric("cv_auc_std");
        (
            if mean.is_nan() {
                f64::NEG_INFINITY
            } else {
                mean
            },
            if std.is_nan() { f64::INFINITY } else { std },
        )
    };
    let (am, asd) = key(a);
    let (bm, bsd) = key(b);
    bm.total_cmp(&am)
        .then(asd.total_cmp(&bsd))
        .then_with(|| a.run_id.cmp(&b.run_id))
}

/// An experiment's runs ranked by CV AUC mean (ties by the smaller std); an experiment
/// without runs is an error.
pub fn compare(store: &ExperimentStore, experiment: &str) -> Result<Vec<RankedRun>> {
    let mut runs = store.runs(experiment)?;
    if runs.is_empty() {
        return Err(ExperimentError::NoRuns {
            experiment: experiment.to_string(),
            store: store.root().to_path_buf(),
        });
    }
    runs.sort_by(|a, b| by_cv_auc(&a.0, &b.0));
    Ok(runs
        .into_iter()
        .enumerate()
        .map(|(i, (record, roc, dir))| RankedRun {
            rank: i + 1,
            record,
            roc,
            dir,
        })
        .collect())
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::super::{DataFingerprint, RunRecord};
    use super::*;

    pub(crate) fn record(id: &str, mean: f64, std: f64) -> RunRecord {
        RunRecord {
            format_version: RUN_FORMAT_VERSION,
            experiment: "exp".into(),
            run_id: id.into(),
            model_type: mlops_domain::ModelType::BoostedTrees,
            params: BTreeMap::new(),
            hyperparameters: BTreeMap::new(),
            cv_folds: 3,
            seed: 1,
            metrics: BTreeMap::from([
                ("cv_auc_mean".to_string(), mean),
                ("cv_auc_std".to_string(), std),
            ]),
            data: DataFingerprint {
                source: "t.csv".into(),
                sha256: "sha256:00".into(),
                rows: 10,
                columns: 3,
            },
            model_dir: MODEL_DIR.into(),
            started_at: "2026-12-04T00:00:00.000Z".into(),
            ended_at: "2026-12-04T00:00:01.000Z".into(),
            mlops_version: "0".into(),
        }
    }

    fn put(root: &Path, r: &RunRecord) {
        let dir = root.join("exp").join(&r.run_id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(RUN_FILE), serde_json::to_string(r).unwrap()).unwrap();
        let roc = RocCurve {
            false_positive_rate: vec![1.0, 0.0],
            true_positive_rate: vec![1.0, 0.0],
        };
        std::fs::write(dir.join(ROC_FILE), serde_json::to_string(&roc).unwrap()).unwrap();
    }

    #[test]
    fn ranks_by_mean_then_std_then_id() {
        let tmp = tempfile::tempdir().unwrap();
        put(tmp.path(), &record("a", 0.80, 0.01));
        put(tmp.path(), &record("b", 0.85, 0.02));
        put(tmp.path(), &record("c", 0.85, 0.01));
        let mut no_auc = record("d", 0.0, 0.0);
        no_auc.metrics.clear();
        put(tmp.path(), &no_auc);
        std::fs::create_dir_all(tmp.path().join("exp/.e.tmp-1")).unwrap();
        let store = ExperimentStore::new(tmp.path());
        let ranked: Vec<String> = compare(&store, "exp")
            .unwrap()
            .into_iter()
            .map(|r| format!("{}{}", r.rank, r.record.run_id))
            .collect();
        assert_eq!(ranked, ["1c", "2b", "3a", "4d"]);
    }

    #[test]
    fn corrupt_or_missing_runs_fail_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ExperimentStore::new(tmp.path());
        let e = compare(&store, "exp").unwrap_err().to_string();
        assert!(e.contains("has no runs"), "{e}");
        put(tmp.path(), &record("a", 0.8, 0.0));
        std::fs::write(tmp.path().join("exp/a/run.json"), "{\"format_version\": 1,").unwrap();
        let e = compare(&store, "exp").unwrap_err().to_string();
        assert!(
            e.contains("corrupt experiment run") && e.contains("a/run.json"),
            "{e}"
        );
        put(tmp.path(), &record("a", 0.8, 0.0));
        std::fs::remove_file(tmp.path().join("exp/a/roc.json")).unwrap();
        let e = compare(&store, "exp").unwrap_err().to_string();
        assert!(e.contains("a/roc.json") && e.contains("cannot read"), "{e}");
        put(tmp.path(), &record("b", 0.8, 0.0));
        std::fs::rename(tmp.path().join("exp/b"), tmp.path().join("exp/c")).unwrap();
        put(tmp.path(), &record("a", 0.8, 0.0));
        let e = compare(&store, "exp").unwrap_err().to_string();
        assert!(e.contains("records run `b`"), "{e}");
    }
}
