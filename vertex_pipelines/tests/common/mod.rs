//! Helpers shared by the integration tests: run the real `mlops` binary in a temporary folder.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shipped data file.
pub fn churn_csv() -> PathBuf {
    root().join("data/wa_churn.csv")
}

/// `mlops` with the workspace as working directory and no stray settings.
pub fn mlops() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlops"));
    cmd.current_dir(root())
        .env_remove("ENVIRONMENT")
        .env_remove("MLOPS_MODEL_CONFIG")
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
