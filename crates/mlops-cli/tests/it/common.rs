//! Helpers shared by the integration tests: run the real `mlops` binary in a temporary folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// The shipped data file.
pub fn churn_csv() -> PathBuf {
    root().join("data/wa_churn.csv")
}

/// `mlops` with the workspace as working directory and no stray settings: none of the
/// variables the settings read, nor `MLOPS_IMAGE`, is inherited from the test's environment.
pub fn mlops() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlops"));
    cmd.current_dir(root());
    for (name, _) in mlops_domain::settings::VARIABLES {
        cmd.env_remove(name);
    }
    cmd.env_remove("MLOPS_IMAGE")
        .arg("--env-file")
        .arg("/nonexistent/.env");
    cmd
}

/// Run and return the output, whatever the exit status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("cannot start mlops")
}

/// Run, assert success, return stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed: {:?}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run, assert failure, return stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {cmd:?}"
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The Python interpreter with xgboost: `MLOPS_PYTHON`, else `.venv/bin/python`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MLOPS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python test environment: run `cargo xtask pyenv` (or `bash .ci/run`), or set MLOPS_PYTHON"
    );
    venv
}

/// Run the interop helper script.
pub fn interop(args: &[&str]) {
    let script = root().join("tests/python/interop.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("cannot start python");
    assert!(
        out.status.success(),
        "interop.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Train the shipped config on `data` into `out`.
pub fn train(data: &Path, out: &Path) {
    ok(mlops()
        .args(["train", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out));
}

/// Every file name in a folder (to check nothing partial was left behind).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Read a CSV column of floats from `mlops predict` output.
pub fn read_probabilities(csv: &Path, column: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let idx = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| l.split(',').nth(idx).unwrap().parse().unwrap())
        .collect()
}

/// The shipped CSV's rows as JSON instances (numbers for numeric/binary columns).
pub fn churn_instances() -> Vec<serde_json::Value> {
    mlops_serving::testing::churn_instances(&churn_csv())
}

/// Start `mlops-serve` (built beside `mlops`) on a model bundle, without access log.
pub fn serve(model: &Path) -> mlops_serving::testing::Server {
    let binary = Path::new(env!("CARGO_BIN_EXE_mlops")).with_file_name("mlops-serve");
    mlops_serving::testing::Server::start(&binary, model, false)
}

/// Largest absolute difference between two equally long lists (asserts the lengths match).
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "different numbers of probabilities");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// A model trained by Python XGBoost on the shipped data, encoded as our metadata says (our
/// bundle is trained first for its metadata). Returns the folder with `model.json`,
/// `features.f32` and `probabilities.json`.
pub fn python_model(dir: &Path) -> PathBuf {
    let ours = dir.join("ours");
    train(&churn_csv(), &ours);
    let py = dir.join("py");
    std::fs::create_dir_all(&py).unwrap();
    interop(&[
        "train-python",
        churn_csv().to_str().unwrap(),
        ours.join("metadata.json").to_str().unwrap(),
        py.to_str().unwrap(),
    ]);
    py
}

/// `mlops models import-xgboost --model MODEL_JSON --out OUT`, asserting success.
pub fn import_xgboost(model_json: &Path, out: &Path) {
    ok(mlops()
        .args(["models", "import-xgboost", "--model"])
        .arg(model_json)
        .arg("--out")
        .arg(out));
}

/// The probabilities a Python script wrote as a JSON list.
pub fn read_json_probabilities(path: &Path) -> Vec<f64> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The command `mlops predict --model MODEL --data DATA --out OUT`.
pub fn predict_command(model: &Path, data: &Path, out: &Path) -> Command {
    let mut cmd = mlops();
    cmd.args(["predict", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    cmd
}

/// `mlops predict --model MODEL --data DATA --out OUT`, asserting success.
pub fn predict(model: &Path, data: &Path, out: &Path) {
    ok(&mut predict_command(model, data, out));
}

/// `mlops evaluate --json --model MODEL --data DATA`: the metrics, asserting success.
pub fn evaluate_json(model: &Path, data: &Path) -> serde_json::Value {
    let stdout = ok(mlops()
        .args(["evaluate", "--json", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data));
    serde_json::from_str(&stdout).unwrap()
}
