//! One step as a subprocess: placeholders substituted into the executor's command and args,
//! started **in its task folder** with stdout and stderr to `log.txt`, polled so that SIGINT
//! stops it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::Ctx;
use crate::error::{io_err, PipelineError, Result};
use crate::executor::ExecutorInput;
use crate::ir::model::ContainerSpec;

/// Run `container` for `task` with `input`, in `task_dir`; `Ok` when it exits with 0.
pub(super) fn run_step(
    ctx: &Ctx,
    task: &str,
    container: &ContainerSpec,
    input: &ExecutorInput,
    task_dir: &Path,
    log_path: &Path,
) -> Result<()> {
    // Serialising the executor input (plain structs and JSON values) cannot fail.
    let input_json = serde_json::to_string(input).unwrap_or_default();
    let local = |uri: &str| ctx.layout.local_path(uri);
    let substituted = |args: &[String]| -> Vec<String> {
        args.iter()
            .map(|a| substitute(a, &input_json, input, &local))
            .collect()
    };
    let command = substituted(&container.command);
    let args = substituted(&container.args);
    let Some(program) = command.first() else {
        return Err(task_failed(
            task,
            "the executor has no command".into(),
            log_path,
        ));
    };
    let program = program_path(ctx, program);
    let log = std::fs::File::create(log_path).map_err(io_err("create", log_path))?;
    let log_err = log.try_clone().map_err(io_err("open", log_path))?;
    let mut cmd = Command::new(&program);
    cmd.args(&command[1..])
        .args(&args)
        .current_dir(task_dir)
        .env(crate::component::WORKDIR_ENV, &ctx.caller_dir)
        // As on Vertex AI: the container's own variables, over the runner's environment.
        .envs(container.env.iter().map(|v| (&v.name, &v.value)));
    if let Some(mount) = &ctx.layout.mount {
        // The stand-in for Vertex AI's /gcs: `local_path` maps gs:// URIs there.
        cmd.env(crate::component::GCS_MOUNT_ENV, mount);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| {
            task_failed(
                task,
                format!("cannot start `{}`: {e}", program.display()),
                log_path,
            )
        })?;
    let exit = loop {
        if let Some(status) = child.try_wait().map_err(io_err("wait for", &program))? {
            break status;
        }
        if ctx.interrupt.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ctx.interrupted());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if exit.success() {
        Ok(())
    } else {
        Err(task_failed(
            task,
            format!("the component exited with {exit}"),
            log_path,
        ))
    }
}

/// The program to start: the local component binary for `mlops-component`; a relative path
/// with a folder part is the caller's (the step runs elsewhere); a bare name goes to `PATH`.
fn program_path(ctx: &Ctx, program: &str) -> PathBuf {
    let path = Path::new(program);
    if path.file_name().is_some_and(|f| f == "mlops-component") {
        ctx.component_binary.clone()
    } else if path.is_relative() && path.components().count() > 1 {
        ctx.caller_dir.join(path)
    } else {
        path.to_path_buf()
    }
}

/// A task failure with the end of its log.
pub(super) fn task_failed(task: &str, message: String, log: &Path) -> PipelineError {
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

/// Replace the placeholders this runner supports in one argument: `.uri` is the artifact's
/// URI, `.path` where it is on this machine (`local` of the URI: the mount stand-in for
/// `gs://`, as `/gcs/...` on Vertex AI).
fn substitute(
    arg: &str,
    input_json: &str,
    input: &ExecutorInput,
    local: &dyn Fn(&str) -> PathBuf,
) -> String {
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
    for (k, p) in &input.outputs.parameters {
        out = out.replace(
            &format!("{{{{$.outputs.parameters['{k}'].output_file}}}}"),
            &p.output_file,
        );
    }
    for (side, artifacts) in [
        ("inputs", &input.inputs.artifacts),
        ("outputs", &input.outputs.artifacts),
    ] {
        for (k, list) in artifacts {
            if let Some(a) = list.artifacts.first() {
                out = out.replace(&format!("{{{{$.{side}.artifacts['{k}'].uri}}}}"), &a.uri);
                let path = local(&a.uri).display().to_string();
                out = out.replace(&format!("{{{{$.{side}.artifacts['{k}'].path}}}}"), &path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_substituted() {
        let input: ExecutorInput = serde_json::from_value(json!({
            "inputs": {
                "parameterValues": {"text": "hi", "n": 3},
                "artifacts": {"data": {"artifacts": [{"name": "data", "uri": "/r/j/a/data"}]}}
            },
            "outputs": {
                "parameters": {"n": {"outputFile": "/r/j/b/outputs/n"}},
                "artifacts": {"model": {"artifacts": [{"name": "model", "uri": "/r/j/b/model"}]}},
                "outputFile": "/r/j/b/executor_output.json"
            }
        }))
        .unwrap();
        let s = |a: &str| substitute(a, "JSON", &input, &|u: &str| PathBuf::from(u));
        assert_eq!(s("{{$}}"), "JSON");
        assert_eq!(
            s("{{$.outputs.output_file}}"),
            "/r/j/b/executor_output.json"
        );
        assert_eq!(s("--text={{$.inputs.parameters['text']}}"), "--text=hi");
        assert_eq!(s("{{$.inputs.parameters['n']}}"), "3");
        assert_eq!(s("{{$.inputs.artifacts['data'].path}}"), "/r/j/a/data");
        assert_eq!(s("{{$.outputs.artifacts['model'].uri}}"), "/r/j/b/model");
        assert_eq!(
            s("{{$.outputs.parameters['n'].output_file}}"),
            "/r/j/b/outputs/n"
        );
        // The input artifact's name on the other side is not substituted.
        assert_eq!(
            s("{{$.outputs.artifacts['data'].uri}}"),
            "{{$.outputs.artifacts['data'].uri}}"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.txt");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).unwrap();
        let t = tail(&log, 3);
        assert_eq!(t, "line 28\nline 29\nline 30");
        assert_eq!(tail(&dir.path().join("none"), 3), "");
    }
}
