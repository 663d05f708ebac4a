//! The component side of the executor contract: parse the executor input, give typed access
//! to inputs and outputs (mapping `gs://b/x` to `/gcs/b/x` when that mount exists), and write
//! the executor output to the `outputs.outputFile` the input names.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::executor::{ArtifactList, ExecutorInput, ExecutorOutput, RuntimeArtifact};
use crate::spec::ComponentSpec;

/// A component: its interface and its work.
pub trait Component: Sync {
    /// Name and typed ports.
    fn spec(&self) -> ComponentSpec;
    /// Do the work; read inputs and record outputs through `ctx`.
    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError>;
}

/// Why a component failed. Each variant names what was wrong; lower-level errors are kept as
/// [`std::error::Error::source`]s so that the component binary prints the whole chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// The executor input is not the JSON KFP passes.
    #[error("invalid executor input: expected the KFP executor input JSON (`{{$}}`)")]
    ExecutorInput(#[source] serde_json::Error),
    /// The executor input names no file for the executor output.
    #[error("invalid executor input: outputs.outputFile is missing")]
    NoOutputFile,
    /// An input the component needs is not in the executor input.
    #[error("input {kind} `{name}` is missing")]
    MissingInput {
        /// `parameter` or `artifact`.
        kind: &'static str,
        /// The input's name.
        name: String,
    },
    /// An output artifact the component writes is not in the executor input.
    #[error("output artifact `{name}` is not in the executor input")]
    MissingOutput {
        /// The output's name.
        name: String,
    },
    /// An input parameter holds a value of the wrong type or out of range.
    #[error("input parameter `{name}` is {value}: expected {expected}")]
    InvalidInput {
        /// The parameter.
        name: String,
        /// Its value, as JSON.
        value: String,
        /// What it should be.
        expected: String,
    },
    /// A file or folder could not be read or written.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A step of the work failed in a library (table, training, model, registry): `what` says
    /// which step, the source says why.
    #[error("cannot {what}")]
    Step {
        /// The step, as a verb phrase (`read the source table`).
        what: String,
        /// The library's error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// The work must not be done as asked (e.g. a comparison on rows a model trained on);
    /// the message says why and what was expected.
    #[error("{0}")]
    Refused(String),
}

impl ComponentError {
    /// A failed step with its cause.
    pub fn step(what: impl Into<String>, source: impl StdError + Send + Sync + 'static) -> Self {
        ComponentError::Step {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// An I/O failure on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ComponentError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// An input parameter with an unusable value.
    pub fn invalid_input(
        name: &str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        ComponentError::InvalidInput {
            name: name.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// Name the step in which a library error happened: `read_table(p).step("read the table")?`.
pub trait StepContext<T> {
    /// Wrap the error as [`ComponentError::Step`] with `what` as the step.
    fn step(self, what: impl Into<String>) -> Result<T, ComponentError>;
    /// As [`StepContext::step`], with the description built only on error.
    fn step_with(self, what: impl FnOnce() -> String) -> Result<T, ComponentError>;
}

impl<T, E: StdError + Send + Sync + 'static> StepContext<T> for Result<T, E> {
    fn step(self, what: impl Into<String>) -> Result<T, ComponentError> {
        self.map_err(|e| ComponentError::step(what, e))
    }

    fn step_with(self, what: impl FnOnce() -> String) -> Result<T, ComponentError> {
        self.map_err(|e| ComponentError::step(what(), e))
    }
}

/// An error and its causes, one per line (`caused by: …`), as the component binary prints it.
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

/// Where Vertex AI mounts Cloud Storage.
const GCS_MOUNT: &str = "/gcs";

/// The environment variable in which the local runner passes the folder the pipeline was
/// started from; relative path parameters are resolved there ([`Context::path`]).
pub const WORKDIR_ENV: &str = "MLOPS_WORKDIR";

/// The environment variable in which the local runner names its stand-in for the Cloud
/// Storage mount when the pipeline root is `gs://` (`<staging>/gcs`): [`local_path`] maps
/// `gs://b/x` there instead of `/gcs`, so components work unchanged on both.
pub const GCS_MOUNT_ENV: &str = "MLOPS_GCS_MOUNT";

/// Local path for an artifact URI: `gs://b/x` → `$MLOPS_GCS_MOUNT/b/x` when that is set (the
/// local runner with a `gs://` root), else `/gcs/b/x` when mounted (Vertex AI), else the URI
/// itself.
pub fn local_path(uri: &str) -> PathBuf {
    local_path_with(uri, std::env::var_os(GCS_MOUNT_ENV).map(PathBuf::from))
}

/// [`local_path`] with the value of [`GCS_MOUNT_ENV`] given.
fn local_path_with(uri: &str, mount: Option<PathBuf>) -> PathBuf {
    if let Some(rest) = uri.strip_prefix("gs://") {
        if let Some(mount) = mount.filter(|m| !m.as_os_str().is_empty()) {
            return mount.join(rest);
        }
        if Path::new(GCS_MOUNT).is_dir() {
            return Path::new(GCS_MOUNT).join(rest);
        }
    }
    PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri))
}

/// [`local_path`], then a relative path joined to `workdir` when there is one.
fn resolve_path(text: &str, workdir: Option<&Path>) -> PathBuf {
    let path = local_path(text);
    match workdir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}

/// Typed access to one execution's inputs and outputs.
#[derive(Debug)]
pub struct Context {
    input: ExecutorInput,
    output: ExecutorOutput,
}

impl Context {
    /// From the executor input JSON.
    pub fn from_json(text: &str) -> Result<Context, ComponentError> {
        let input: ExecutorInput =
            serde_json::from_str(text).map_err(ComponentError::ExecutorInput)?;
        if input.outputs.output_file.is_empty() {
            return Err(ComponentError::NoOutputFile);
        }
        Ok(Context {
            input,
            output: ExecutorOutput::default(),
        })
    }

    fn param(&self, name: &str) -> Result<&Value, ComponentError> {
        self.input
            .inputs
            .parameter_values
            .get(name)
            .ok_or_else(|| ComponentError::MissingInput {
                kind: "parameter",
                name: name.to_string(),
            })
    }

    /// A string parameter.
    pub fn str(&self, name: &str) -> Result<String, ComponentError> {
        let v = self.param(name)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| ComponentError::invalid_input(name, v, "a string"))
    }

    /// A string parameter that names a local path or a `gs://` location: `gs://` goes through
    /// the `/gcs/` mount when present ([`local_path`]), and a relative path is taken relative
    /// to the folder the pipeline was started from (`MLOPS_WORKDIR`, set by the local runner;
    /// steps themselves run in their task folder), else to the step's working directory.
    pub fn path(&self, name: &str) -> Result<PathBuf, ComponentError> {
        let workdir = std::env::var_os(WORKDIR_ENV).map(PathBuf::from);
        Ok(resolve_path(&self.str(name)?, workdir.as_deref()))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<i64, ComponentError> {
        let v = self.param(name)?;
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| ComponentError::invalid_input(name, v, "an integer"))
    }

    /// An integer parameter of another integer type (`usize`, `u64`, ...), range-checked.
    pub fn int_as<T: TryFrom<i64>>(&self, name: &str, expected: &str) -> Result<T, ComponentError> {
        let v = self.int(name)?;
        T::try_from(v).map_err(|_| ComponentError::invalid_input(name, v, expected))
    }

    /// A number parameter.
    pub fn float(&self, name: &str) -> Result<f64, ComponentError> {
        let v = self.param(name)?;
        v.as_f64()
            .ok_or_else(|| ComponentError::invalid_input(name, v, "a number"))
    }

    /// A JSON parameter (LIST or STRUCT).
    pub fn json(&self, name: &str) -> Result<Value, ComponentError> {
        self.param(name).cloned()
    }

    /// An input artifact.
    pub fn input(&self, name: &str) -> Result<&RuntimeArtifact, ComponentError> {
        self.input
            .inputs
            .artifacts
            .get(name)
            .and_then(|l| l.artifacts.first())
            .ok_or_else(|| ComponentError::MissingInput {
                kind: "artifact",
                name: name.to_string(),
            })
    }

    /// Local path of an input artifact.
    pub fn input_path(&self, name: &str) -> Result<PathBuf, ComponentError> {
        Ok(local_path(&self.input(name)?.uri))
    }

    /// Local path of an output artifact (its parent folder is created).
    pub fn output_path(&self, name: &str) -> Result<PathBuf, ComponentError> {
        let a = self
            .input
            .outputs
            .artifacts
            .get(name)
            .and_then(|l| l.artifacts.first())
            .ok_or_else(|| ComponentError::MissingOutput {
                name: name.to_string(),
            })?;
        let path = local_path(&a.uri);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ComponentError::io("create folder", parent, e))?;
        }
        Ok(path)
    }

    /// Record an output parameter.
    pub fn set(&mut self, name: &str, value: Value) {
        self.output.parameter_values.insert(name.to_string(), value);
    }

    /// Record metadata on an output artifact (metric values, ...).
    pub fn set_metadata(&mut self, artifact: &str, metadata: Map<String, Value>) {
        let base = self
            .input
            .outputs
            .artifacts
            .get(artifact)
            .and_then(|l| l.artifacts.first())
            .cloned()
            .unwrap_or_default();
        let entry = RuntimeArtifact { metadata, ..base };
        self.output.artifacts.insert(
            artifact.to_string(),
            ArtifactList {
                artifacts: vec![entry],
            },
        );
    }

    /// The executor output recorded so far (parameters and artifact metadata).
    pub fn output(&self) -> &ExecutorOutput {
        &self.output
    }

    /// Write the executor output (temp file + rename).
    pub fn finish(self) -> Result<(), ComponentError> {
        let path = local_path(&self.input.outputs.output_file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ComponentError::io("create folder", parent, e))?;
        }
        let text =
            serde_json::to_string_pretty(&self.output).step("serialise the executor output")?;
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, text).map_err(|e| ComponentError::io("write", &temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| ComponentError::io("rename into", &path, e))
    }
}

/// The component binary's `main`: `--executor-input JSON --component NAME`. Returns the exit
/// code (0 ok, 1 component error, 2 usage).
pub fn main_with(components: &[&dyn Component], args: &[String]) -> i32 {
    let mut input = None;
    let mut name = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--executor-input" => input = it.next().cloned(),
            "--component" => name = it.next().cloned(),
            "--list" => {
                for c in components {
                    println!("{}", c.spec().name);
                }
                return 0;
            }
            other => {
                eprintln!("mlops-component: error: unexpected argument `{other}`; usage: mlops-component --executor-input JSON --component NAME");
                return 2;
            }
        }
    }
    let (Some(input), Some(name)) = (input, name) else {
        eprintln!(
            "mlops-component: error: usage: mlops-component --executor-input JSON --component NAME"
        );
        return 2;
    };
    let Some(component) = components.iter().find(|c| c.spec().name == name) else {
        let known: Vec<&str> = components.iter().map(|c| c.spec().name).collect();
        eprintln!(
            "mlops-component: error: unknown component `{name}`; registered: {}",
            known.join(", ")
        );
        return 2;
    };
    let mut ctx = match Context::from_json(&input) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mlops-component: error: {}", error_chain(&e));
            return 2;
        }
    };
    let started = std::time::Instant::now();
    eprintln!("mlops-component: running `{name}`");
    if let Err(e) = component.run(&mut ctx) {
        eprintln!(
            "mlops-component: error: `{name}` failed: {}",
            error_chain(&e)
        );
        return 1;
    }
    if let Err(e) = ctx.finish() {
        eprintln!("mlops-component: error: {}", error_chain(&e));
        return 1;
    }
    eprintln!(
        "mlops-component: `{name}` done in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    0
}

/// An executor input JSON for running a component outside a pipeline (tests, debugging by
/// hand): parameter values, input and output artifacts by name with local paths as URIs, and
/// the file the executor output goes to.
pub fn executor_input_json(
    parameters: &Map<String, Value>,
    inputs: &[(&str, &Path)],
    outputs: &[(&str, &Path)],
    output_file: &Path,
) -> String {
    let artifacts = |list: &[(&str, &Path)]| {
        list.iter()
            .map(|(name, path)| {
                let artifact = RuntimeArtifact {
                    name: (*name).to_string(),
                    uri: path.display().to_string(),
                    ..RuntimeArtifact::default()
                };
                (
                    (*name).to_string(),
                    ArtifactList {
                        artifacts: vec![artifact],
                    },
                )
            })
            .collect()
    };
    let input = ExecutorInput {
        inputs: crate::executor::Inputs {
            parameter_values: parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            artifacts: artifacts(inputs),
        },
        outputs: crate::executor::Outputs {
            parameters: BTreeMap::new(),
            artifacts: artifacts(outputs),
            output_file: output_file.display().to_string(),
        },
    };
    serde_json::to_string(&input).unwrap_or_default()
}

/// Metric values as artifact metadata.
pub fn metrics_metadata(values: &BTreeMap<String, f64>) -> Map<String, Value> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(*v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_resolve_relative_paths_in_the_workdir() {
        let workdir = Path::new("/home/me/project");
        assert_eq!(
            resolve_path("data/x.csv", Some(workdir)),
            Path::new("/home/me/project/data/x.csv")
        );
        assert_eq!(resolve_path("data/x.csv", None), Path::new("data/x.csv"));
        assert_eq!(
            resolve_path("/srv/x.csv", Some(workdir)),
            Path::new("/srv/x.csv")
        );
        assert_eq!(
            resolve_path("file:///srv/x.csv", Some(workdir)),
            Path::new("/srv/x.csv")
        );
    }

    #[test]
    fn gcs_uris_go_through_the_runners_mount_stand_in_when_named() {
        let mount = Some(PathBuf::from("/tmp/staging/gcs"));
        assert_eq!(
            local_path_with("gs://b/root/j/t/model", mount.clone()),
            Path::new("/tmp/staging/gcs/b/root/j/t/model")
        );
        assert_eq!(
            local_path_with("/r/j/t/model", mount),
            Path::new("/r/j/t/model")
        );
        // Unset or empty: `/gcs` when mounted (not on a test machine), else the URI itself.
        if !Path::new(GCS_MOUNT).is_dir() {
            assert_eq!(
                local_path_with("gs://b/x", Some(PathBuf::new())),
                Path::new("gs://b/x")
            );
        }
    }
    use serde_json::json;

    fn context(params: Value) -> Context {
        let params = params.as_object().cloned().unwrap_or_default();
        let input = executor_input_json(&params, &[], &[], Path::new("/nonexistent/out.json"));
        Context::from_json(&input).unwrap()
    }

    /// Input errors name the input, the value and what was expected.
    #[test]
    fn typed_inputs_name_the_input_and_value() {
        let ctx = context(json!({"n": 2.5, "s": 3, "ok": 4.0}));
        assert_eq!(ctx.int("ok").unwrap(), 4);
        let e = ctx.int("n").unwrap_err();
        assert!(matches!(e, ComponentError::InvalidInput { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "input parameter `n` is 2.5: expected an integer"
        );
        assert_eq!(
            ctx.str("s").unwrap_err().to_string(),
            "input parameter `s` is 3: expected a string"
        );
        assert_eq!(
            ctx.float("absent").unwrap_err().to_string(),
            "input parameter `absent` is missing"
        );
        assert_eq!(
            ctx.input_path("model").unwrap_err().to_string(),
            "input artifact `model` is missing"
        );
        assert_eq!(
            ctx.output_path("model").unwrap_err().to_string(),
            "output artifact `model` is not in the executor input"
        );
        let e = context(json!({"seed": -1}))
            .int_as::<u64>("seed", "a seed >= 0")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "input parameter `seed` is -1: expected a seed >= 0"
        );
    }

    #[test]
    fn bad_executor_input_keeps_the_parse_error_as_source() {
        let e = Context::from_json("{").unwrap_err();
        assert!(matches!(e, ComponentError::ExecutorInput(_)));
        assert!(e.source().is_some());
        let e = Context::from_json("{}").unwrap_err();
        assert!(matches!(e, ComponentError::NoOutputFile), "{e:?}");
    }

    /// The chain printed by the binary holds every cause, outermost first.
    #[test]
    fn steps_keep_the_cause_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let inner = ComponentError::io("read", Path::new("/x/t.csv"), io);
        let outer: Result<(), _> = Err(inner);
        let e = outer.step("read the source table").unwrap_err();
        assert_eq!(
            error_chain(&e),
            "cannot read the source table\n  caused by: cannot read `/x/t.csv`\n  caused by: no such file"
        );
    }

    #[test]
    fn finish_writes_the_executor_output_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/out.json");
        let input = executor_input_json(&Map::new(), &[], &[], &file);
        let mut ctx = Context::from_json(&input).unwrap();
        ctx.set("answer", json!(42));
        ctx.finish().unwrap();
        let written: ExecutorOutput =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(written.parameter_values["answer"], 42);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"], "no temporary file left");
    }
}
