//! `notebooks/experiment_tracking_template.ipynb` executed with nbclient
//! (`tests/python/run_notebook.py`) on the test Python: it drives `mlops experiment run` over
//! its grid and the three model types, loads and plots the runs, and checks the best model in
//! Python `xgboost` against `mlops predict`. The committed notebook carries no outputs.

use std::process::Command;

use serde_json::Value;

use crate::common::{python, root};

const NOTEBOOK: &str = "notebooks/experiment_tracking_template.ipynb";

#[test]
fn notebook_is_committed_without_outputs() {
    let text = std::fs::read_to_string(root().join(NOTEBOOK)).unwrap();
    let nb: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(nb["metadata"]["kernelspec"]["name"], "python3");
    let cells = nb["cells"].as_array().unwrap();
    let code: Vec<&Value> = cells.iter().filter(|c| c["cell_type"] == "code").collect();
    assert!(code.len() >= 4);
    for cell in code {
        assert_eq!(cell["execution_count"], Value::Null, "{cell:#}");
        assert_eq!(cell["outputs"], serde_json::json!([]), "{cell:#}");
    }
}

#[test]
fn notebook_executes_and_agrees_with_python_xgboost() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let executed = tmp.path().join("executed.ipynb");
    let out = Command::new(python())
        .current_dir(tmp.path())
        .arg(root().join("tests/python/run_notebook.py"))
        .arg(root().join(NOTEBOOK))
        .arg(&executed)
        .env("MLOPS_BIN", env!("CARGO_BIN_EXE_mlops"))
        .env("MLOPS_REPO_ROOT", root())
        .env("MLOPS_EXPERIMENTS_DIR", &store)
        .env("EXPERIMENT", "notebook-test")
        .env("TMPDIR", tmp.path())
        .env("MPLCONFIGDIR", tmp.path().join("mpl"))
        .env("IPYTHONDIR", tmp.path().join("ipython"))
        .env("JUPYTER_RUNTIME_DIR", tmp.path().join("jupyter"))
        .env_remove("ENVIRONMENT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the notebook failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Five runs (three boosted-trees settings and the two baselines), the report, and the
    // agreement line printed by the last cell.
    let runs = std::fs::read_dir(store.join("notebook-test"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("run.json").is_file())
        .count();
    assert_eq!(runs, 5);
    assert!(store.join("notebook-test/report.html").is_file());
    let text = std::fs::read_to_string(&executed).unwrap();
    assert!(
        text.contains("largest |xgboost - mlops|"),
        "no agreement line"
    );
    assert!(text.contains("image/png"), "no plot was drawn");
}
