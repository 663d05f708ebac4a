//! The component side of the executor contract: parse the executor input, give typed access
//! to inputs and outputs (mapping `gs://b/x` to `/gcs/b/x` when that mount exists), and write
//! the executor output to the `outputs.outputFile` the input names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::executor::{ArtifactList, ExecutorInput, ExecutorOutput, RuntimeArtifact};
use crate::spec::ComponentSpec;

/// A component: its interface and its work.
pub trait Component: Sync {
    /// Name and typed ports.
    fn spec(&self) -> ComponentSpec;
    /// Do the work; read inputs and record outputs through `ctx`.
    fn run(&self, ctx: &mut Context) -> Result<(), String>;
}

/// Where Vertex AI mounts Cloud Storage.
const GCS_MOUNT: &str = "/gcs";

/// Local path for an artifact URI: `gs://b/x` → `/gcs/b/x` when mounted, else the URI itself.
pub fn local_path(uri: &str) -> PathBuf {
    if let Some(rest) = uri.strip_prefix("gs://") {
        if Path::new(GCS_MOUNT).is_dir() {
            return Path::new(GCS_MOUNT).join(rest);
        }
    }
    PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri))
}

/// Typed access to one execution's inputs and outputs.
#[derive(Debug)]
pub struct Context {
    input: ExecutorInput,
    output: ExecutorOutput,
}

impl Context {
    /// From the executor input JSON.
    pub fn from_json(text: &str) -> Result<Context, String> {
        let input: ExecutorInput =
            serde_json::from_str(text).map_err(|e| format!("invalid executor input: {e}"))?;
        if input.outputs.output_file.is_empty() {
            return Err("invalid executor input: outputs.outputFile is missing".into());
        }
        Ok(Context {
            input,
            output: ExecutorOutput::default(),
        })
    }

    fn param(&self, name: &str) -> Result<&Value, String> {
        self.input
            .inputs
            .parameter_values
            .get(name)
            .ok_or_else(|| format!("input parameter `{name}` is missing"))
    }

    /// A string parameter.
    pub fn str(&self, name: &str) -> Result<String, String> {
        self.param(name)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("input parameter `{name}` is not a string"))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<i64, String> {
        let v = self.param(name)?;
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("input parameter `{name}` is {v}, not an integer"))
    }

    /// A number parameter.
    pub fn float(&self, name: &str) -> Result<f64, String> {
        let v = self.param(name)?;
        v.as_f64()
            .ok_or_else(|| format!("input parameter `{name}` is {v}, not a number"))
    }

    /// A JSON parameter (LIST or STRUCT).
    pub fn json(&self, name: &str) -> Result<Value, String> {
        self.param(name).cloned()
    }

    /// An input artifact.
    pub fn input(&self, name: &str) -> Result<&RuntimeArtifact, String> {
        self.input
            .inputs
            .artifacts
            .get(name)
            .and_then(|l| l.artifacts.first())
            .ok_or_else(|| format!("input artifact `{name}` is missing"))
    }

    /// Local path of an input artifact.
    pub fn input_path(&self, name: &str) -> Result<PathBuf, String> {
        Ok(local_path(&self.input(name)?.uri))
    }

    /// Local path of an output artifact (its parent folder is created).
    pub fn output_path(&self, name: &str) -> Result<PathBuf, String> {
        let a = self
            .input
            .outputs
            .artifacts
            .get(name)
            .and_then(|l| l.artifacts.first())
            .ok_or_else(|| format!("output artifact `{name}` is not in the executor input"))?;
        let path = local_path(&a.uri);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
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
    pub fn finish(self) -> Result<(), String> {
        let path = local_path(&self.input.outputs.output_file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(&self.output).map_err(|e| e.to_string())?;
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, text).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        std::fs::rename(&temp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))
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
            eprintln!("mlops-component: error: {e}");
            return 2;
        }
    };
    let started = std::time::Instant::now();
    eprintln!("mlops-component: running `{name}`");
    if let Err(e) = component.run(&mut ctx) {
        eprintln!("mlops-component: error: `{name}` failed: {e}");
        return 1;
    }
    if let Err(e) = ctx.finish() {
        eprintln!("mlops-component: error: {e}");
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
