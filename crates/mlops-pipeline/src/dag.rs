//! Pipelines as graphs: parameters with defaults, tasks, typed wiring of outputs to inputs
//! (a mismatch is a construction error naming both ends), conditions, caching, resources.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{PipelineError, Result};
use crate::spec::{ComponentSpec, PortKind};
use crate::types::ParamType;

/// Where a task input comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A pipeline parameter.
    Param(String),
    /// A constant.
    Constant(Value),
    /// Another task's output parameter.
    TaskParam {
        /// Producer task.
        task: String,
        /// Its output.
        output: String,
    },
    /// Another task's output artifact.
    TaskArtifact {
        /// Producer task.
        task: String,
        /// Its output.
        output: String,
    },
}

/// A handle on a pipeline parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRef {
    name: String,
    ty: ParamType,
}

/// A handle on a task's output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRef {
    task: String,
    output: String,
    kind: PortKind,
}

impl From<&ParamRef> for Source {
    fn from(p: &ParamRef) -> Source {
        Source::Param(p.name.clone())
    }
}

impl From<&OutRef> for Source {
    fn from(o: &OutRef) -> Source {
        match o.kind {
            PortKind::Param { .. } => Source::TaskParam {
                task: o.task.clone(),
                output: o.output.clone(),
            },
            PortKind::Artifact(_) => Source::TaskArtifact {
                task: o.task.clone(),
                output: o.output.clone(),
            },
        }
    }
}

impl From<Value> for Source {
    fn from(v: Value) -> Source {
        Source::Constant(v)
    }
}

/// A comparison in a condition (CEL operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The CEL spelling.
    pub fn cel(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A task in a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Unique task name (kebab-case).
    pub name: String,
    /// The component it runs.
    pub component: ComponentSpec,
    /// Input name → source.
    pub inputs: BTreeMap<String, Source>,
    /// Shown in UIs instead of the name.
    pub display_name: Option<String>,
    /// Reuse outputs of an identical earlier run.
    pub caching: bool,
    /// CPU limit (e.g. "2").
    pub cpu_limit: Option<String>,
    /// Memory limit (e.g. "4G").
    pub memory_limit: Option<String>,
    /// Enclosing condition (index into `Pipeline::conditions`), `None` at the root.
    pub scope: Option<usize>,
    /// Tasks that must finish first although no data flows from them (kfp's `.after()`).
    pub after: Vec<String>,
}

/// A condition: its tasks run only when `output op value` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// 1-based id (`condition-1`).
    pub id: usize,
    /// The tested output parameter.
    pub on: (String, String),
    /// Its type.
    pub ty: ParamType,
    /// Comparison.
    pub op: CmpOp,
    /// Right-hand side.
    pub value: Value,
    /// Enclosing condition, `None` at the root.
    pub parent: Option<usize>,
}

/// A pipeline parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineParam {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: ParamType,
    /// Default value.
    pub default: Value,
    /// What it is.
    pub description: String,
}

/// A built pipeline, ready to compile.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Name (kebab-case).
    pub name: String,
    /// What it does.
    pub description: String,
    /// Parameters.
    pub params: Vec<PipelineParam>,
    /// Tasks in insertion order.
    pub tasks: Vec<Task>,
    /// Conditions.
    pub conditions: Vec<Condition>,
}

/// Builds a [`Pipeline`].
#[derive(Debug)]
pub struct PipelineBuilder {
    pipeline: Pipeline,
    scope: Option<usize>,
}

/// Builds one task; finish with [`TaskBuilder::add`].
#[derive(Debug)]
pub struct TaskBuilder<'a> {
    owner: &'a mut PipelineBuilder,
    task: Task,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl PipelineBuilder {
    /// Start a pipeline.
    pub fn new(name: &str, description: &str) -> Self {
        PipelineBuilder {
            pipeline: Pipeline {
                name: name.to_string(),
                description: description.to_string(),
                params: Vec::new(),
                tasks: Vec::new(),
                conditions: Vec::new(),
            },
            scope: None,
        }
    }

    fn err(&self, message: String) -> PipelineError {
        PipelineError::Build {
            pipeline: self.pipeline.name.clone(),
            message,
        }
    }

    /// Declare a pipeline parameter with its default.
    pub fn param(
        &mut self,
        name: &str,
        ty: ParamType,
        default: Value,
        description: &str,
    ) -> Result<ParamRef> {
        if !valid_name(name) || self.pipeline.params.iter().any(|p| p.name == name) {
            return Err(self.err(format!("parameter name `{name}` is invalid or used twice")));
        }
        if !ty.accepts(&default) {
            return Err(self.err(format!(
                "parameter `{name}`: default {default} is not a {}",
                ty.ir_name()
            )));
        }
        self.pipeline.params.push(PipelineParam {
            name: name.to_string(),
            ty,
            default,
            description: description.to_string(),
        });
        Ok(ParamRef {
            name: name.to_string(),
            ty,
        })
    }

    /// Start a task running `component`.
    pub fn task(&mut self, name: &str, component: ComponentSpec) -> TaskBuilder<'_> {
        let scope = self.scope;
        TaskBuilder {
            owner: self,
            task: Task {
                name: name.to_string(),
                component,
                inputs: BTreeMap::new(),
                display_name: None,
                caching: true,
                cpu_limit: None,
                memory_limit: None,
                scope,
                after: Vec::new(),
            },
        }
    }

    /// Run the tasks added by `body` only when output `on` compares true with `value`.
    pub fn condition<F>(&mut self, on: &OutRef, op: CmpOp, value: Value, body: F) -> Result<()>
    where
        F: FnOnce(&mut Self) -> Result<()>,
    {
        let PortKind::Param { ty, .. } = on.kind else {
            return Err(self.err(format!(
                "condition on `{}`.`{}`: only output parameters can be tested",
                on.task, on.output
            )));
        };
        if !ty.accepts(&value) {
            return Err(self.err(format!(
                "condition on `{}`.`{}` ({}) compares with {value}, a different type",
                on.task,
                on.output,
                ty.ir_name()
            )));
        }
        let id = self.pipeline.conditions.len() + 1;
        self.pipeline.conditions.push(Condition {
            id,
            on: (on.task.clone(), on.output.clone()),
            ty,
            op,
            value,
            parent: self.scope,
        });
        let outer = self.scope.replace(id);
        let result = body(self);
        self.scope = outer;
        result
    }

    /// Finish.
    pub fn build(self) -> Result<Pipeline> {
        if self.pipeline.tasks.is_empty() {
            return Err(self.err("has no tasks".into()));
        }
        Ok(self.pipeline)
    }

    fn find_task(&self, name: &str) -> Option<&Task> {
        self.pipeline.tasks.iter().find(|t| t.name == name)
    }

    /// Is scope `inner` the same as or nested in `outer`?
    fn visible(&self, producer_scope: Option<usize>, consumer_scope: Option<usize>) -> bool {
        let mut s = consumer_scope;
        loop {
            if s == producer_scope {
                return true;
            }
            match s {
                None => return false,
                Some(id) => s = self.pipeline.conditions[id - 1].parent,
            }
        }
    }
}

impl TaskBuilder<'_> {
    /// Connect input `name` to a source (a pipeline parameter, another task's output, or a
    /// constant `serde_json::Value`).
    pub fn with(mut self, name: &str, source: impl Into<Source>) -> Self {
        self.task.inputs.insert(name.to_string(), source.into());
        self
    }

    /// Display name.
    pub fn display_name(mut self, name: &str) -> Self {
        self.task.display_name = Some(name.to_string());
        self
    }

    /// Turn caching on or off for this task (on by default).
    pub fn caching(mut self, enabled: bool) -> Self {
        self.task.caching = enabled;
        self
    }

    /// Run only after `task` succeeded, although no data flows from it (kfp's `.after()`).
    pub fn after(mut self, task: &TaskRef) -> Self {
        self.task.after.push(task.name.clone());
        self
    }

    /// CPU and memory limits (`"2"`, `"4G"`).
    pub fn limits(mut self, cpu: &str, memory: &str) -> Self {
        self.task.cpu_limit = Some(cpu.to_string());
        self.task.memory_limit = Some(memory.to_string());
        self
    }

    /// Check every connection and add the task; returns a handle for its outputs.
    pub fn add(self) -> Result<TaskRef> {
        let TaskBuilder { owner, task } = self;
        let here = format!("task `{}`", task.name);
        if !valid_name(&task.name) || owner.find_task(&task.name).is_some() {
            return Err(owner.err(format!("{here}: the name is invalid or used twice")));
        }
        for (input, source) in &task.inputs {
            let Some(port) = task.component.input(input) else {
                let known: Vec<&str> = task.component.inputs.iter().map(|p| p.name).collect();
                return Err(owner.err(format!(
                    "{here}: component `{}` has no input `{input}` (inputs: {})",
                    task.component.name,
                    known.join(", ")
                )));
            };
            let end = format!("{here} input `{input}` ({})", port.type_name());
            match (&port.kind, source) {
                (PortKind::Param { ty, .. }, Source::Param(p)) => {
                    let Some(param) = owner.pipeline.params.iter().find(|x| &x.name == p) else {
                        return Err(owner.err(format!("{end}: no pipeline parameter `{p}`")));
                    };
                    if param.ty != *ty {
                        return Err(owner.err(format!(
                            "{end} cannot take pipeline parameter `{p}` ({})",
                            param.ty.ir_name()
                        )));
                    }
                }
                (PortKind::Param { ty, .. }, Source::Constant(v)) => {
                    if !ty.accepts(v) {
                        return Err(owner.err(format!("{end} cannot take the constant {v}")));
                    }
                }
                (PortKind::Artifact(_), Source::Param(_) | Source::Constant(_)) => {
                    return Err(owner.err(format!(
                        "{end} needs an artifact from another task, not a parameter"
                    )));
                }
                (
                    _,
                    Source::TaskParam {
                        task: producer,
                        output,
                    }
                    | Source::TaskArtifact {
                        task: producer,
                        output,
                    },
                ) => {
                    let Some(p) = owner.find_task(producer) else {
                        return Err(owner.err(format!("{end}: no task `{producer}` before it")));
                    };
                    if !owner.visible(p.scope, task.scope) {
                        return Err(owner.err(format!(
                            "{end}: task `{producer}` is inside a condition this task is not in"
                        )));
                    }
                    let Some(out) = p.component.output(output) else {
                        return Err(
                            owner.err(format!("{end}: task `{producer}` has no output `{output}`"))
                        );
                    };
                    let compatible = match (&port.kind, &out.kind) {
                        (PortKind::Param { ty: a, .. }, PortKind::Param { ty: b, .. }) => a == b,
                        (PortKind::Artifact(a), PortKind::Artifact(b)) => a == b,
                        _ => false,
                    };
                    if !compatible {
                        return Err(owner.err(format!(
                            "{end} cannot take `{producer}`.`{output}` ({})",
                            out.type_name()
                        )));
                    }
                }
            }
        }
        for before in &task.after {
            match owner.find_task(before) {
                Some(b) if b.scope == task.scope => {}
                _ => return Err(owner.err(format!("{here}: `after` names `{before}`, which is not an earlier task in the same scope"))),
            }
        }
        for port in &task.component.inputs {
            let required = match &port.kind {
                PortKind::Param { default, .. } => default.is_none(),
                PortKind::Artifact(_) => true,
            };
            if required && !task.inputs.contains_key(port.name) {
                return Err(owner.err(format!(
                    "{here}: required input `{}` ({}) is not connected",
                    port.name,
                    port.type_name()
                )));
            }
        }
        let handle = TaskRef {
            name: task.name.clone(),
            spec: task.component.clone(),
            pipeline: owner.pipeline.name.clone(),
        };
        owner.pipeline.tasks.push(task);
        Ok(handle)
    }
}

/// A handle on an added task.
#[derive(Debug, Clone)]
pub struct TaskRef {
    name: String,
    spec: ComponentSpec,
    pipeline: String,
}

impl TaskRef {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One of its outputs; an unknown name is an error naming the task.
    pub fn out(&self, output: &str) -> Result<OutRef> {
        match self.spec.output(output) {
            Some(port) => Ok(OutRef {
                task: self.name.clone(),
                output: output.to_string(),
                kind: port.kind.clone(),
            }),
            None => Err(PipelineError::Build {
                pipeline: self.pipeline.clone(),
                message: format!(
                    "task `{}` (component `{}`) has no output `{output}`",
                    self.name, self.spec.name
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::Port;
    use crate::types::ArtifactType;

    fn producer() -> ComponentSpec {
        ComponentSpec {
            name: "make",
            description: "",
            inputs: vec![Port::param("n", ParamType::Integer, "")],
            outputs: vec![
                Port::artifact("data", ArtifactType::Dataset, ""),
                Port::param("ok", ParamType::Bool, ""),
            ],
        }
    }

    fn consumer() -> ComponentSpec {
        ComponentSpec {
            name: "use",
            description: "",
            inputs: vec![Port::artifact("model", ArtifactType::Model, "")],
            outputs: vec![],
        }
    }

    #[test]
    fn type_mismatch_names_both_ends() {
        let mut p = PipelineBuilder::new("p", "");
        let make = p
            .task("make", producer())
            .with("n", json!(3))
            .add()
            .unwrap();
        let err = p
            .task("use", consumer())
            .with("model", &make.out("data").unwrap())
            .add()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pipeline `p`: task `use` input `model` (system.Model) cannot take `make`.`data` (system.Dataset)"
        );
    }

    #[test]
    fn unknown_ports_missing_inputs_and_bad_constants_are_errors() {
        let mut p = PipelineBuilder::new("p", "");
        let err = p.task("make", producer()).add().unwrap_err().to_string();
        assert!(
            err.contains("required input `n` (NUMBER_INTEGER) is not connected"),
            "{err}"
        );
        let err = p
            .task("make", producer())
            .with("n", json!("three"))
            .add()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot take the constant \"three\""), "{err}");
        let err = p
            .task("make", producer())
            .with("m", json!(1))
            .add()
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no input `m` (inputs: n)"), "{err}");
        let make = p
            .task("make", producer())
            .with("n", json!(1))
            .add()
            .unwrap();
        assert!(make
            .out("nope")
            .unwrap_err()
            .to_string()
            .contains("`make` (component `make`) has no output `nope`"));
        let err = p
            .condition(&make.out("data").unwrap(), CmpOp::Eq, json!(true), |_| {
                Ok(())
            })
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("only output parameters can be tested"));
        let err = p
            .condition(&make.out("ok").unwrap(), CmpOp::Eq, json!(1), |_| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("a different type"));
    }
}
