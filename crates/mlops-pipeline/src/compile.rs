//! Pipeline → KFP v2 `PipelineSpec` JSON (schema 2.1.0), with only long-standing fields.
//! Conditions become sub-DAG components (`comp-condition-N`) whose task carries
//! `triggerPolicy.condition` in CEL, as the kfp compiler writes them; values from outside a
//! condition enter it as inputs named `pipelinechannel--<task>-<output>` or
//! `pipelinechannel--<parameter>`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::dag::{Pipeline, Source, Task};
use crate::ir::model::{
    ArtifactSource, ArtifactSpec, CachingOptions, ComponentRef, ContainerSpec, DagSpec,
    Definitions, DeploymentSpec, EnvVar, ExecutorSpec, IrComponent, ParameterSource, ParameterSpec,
    PipelineInfo, PipelineSpec, PipelineTaskSpec, Resources, RuntimeValue, TaskInfo, TaskInputs,
    TaskOutputArtifact, TaskOutputParameter, TriggerPolicy,
};
use crate::spec::{ComponentSpec, PortKind};
use crate::types::ParamType;

/// The IR schema version written.
pub const SCHEMA_VERSION: &str = "2.1.0";

/// What the compiled IR gets besides the pipeline itself: the container of every executor and
/// the default pipeline root. The defaults are the local ones (a local image, no root), so
/// locally compiled IR stays as it has always been.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileOptions {
    /// Image reference, e.g. `europe-west4-docker.pkg.dev/p/repo/churn:3f2a9c1`.
    pub image: String,
    /// The component binary inside the image.
    pub command: String,
    /// `defaultPipelineRoot` (`gs://bucket/pipeline_root`): where Vertex AI puts the run's
    /// artifacts when the submitter names no root. `None` leaves the field out.
    pub default_pipeline_root: Option<String>,
    /// Environment variables set in every step's container, as (name, value): in nprod/prod
    /// the project and region, which components that read BigQuery or Cloud Storage need.
    pub env: Vec<(String, String)>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            image: "churn-mlops:local".into(),
            command: "mlops-component".into(),
            default_pipeline_root: None,
            env: Vec::new(),
        }
    }
}

fn defs(ports: &[crate::spec::Port]) -> Option<Definitions> {
    let mut d = Definitions::default();
    for p in ports {
        let description = (!p.description.is_empty()).then(|| p.description.to_string());
        match &p.kind {
            PortKind::Param { ty, default } => {
                let spec = ParameterSpec {
                    default_value: default.clone(),
                    is_optional: default.as_ref().map(|_| true),
                    description,
                    ..ParameterSpec::of(*ty)
                };
                d.parameters.insert(p.name.to_string(), spec);
            }
            PortKind::Artifact(a) => {
                let spec = ArtifactSpec {
                    artifact_type: a.ir_type(),
                    description,
                };
                d.artifacts.insert(p.name.to_string(), spec);
            }
        }
    }
    d.non_empty()
}

/// How a task input refers to its value.
enum InputRef {
    Param(ParameterSource),
    Artifact(ArtifactSource),
}

impl InputRef {
    fn insert_into(self, name: String, inputs: &mut TaskInputs) {
        match self {
            InputRef::Param(p) => {
                inputs.parameters.insert(name, p);
            }
            InputRef::Artifact(a) => {
                inputs.artifacts.insert(name, a);
            }
        }
    }
}

/// A value that crosses into a scope from outside it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Channel {
    Param(String),
    TaskParam(String, String),
    TaskArtifact(String, String),
}

impl Channel {
    fn name(&self) -> String {
        match self {
            Channel::Param(p) => format!("pipelinechannel--{p}"),
            Channel::TaskParam(t, o) | Channel::TaskArtifact(t, o) => {
                format!("pipelinechannel--{t}-{o}")
            }
        }
    }
}

struct Compiler<'a> {
    pipeline: &'a Pipeline,
    options: &'a CompileOptions,
    components: BTreeMap<String, IrComponent>,
    executors: BTreeMap<String, ExecutorSpec>,
}

impl<'a> Compiler<'a> {
    fn task(&self, name: &str) -> Option<&'a Task> {
        self.pipeline.tasks.iter().find(|t| t.name == name)
    }

    fn scope_of(&self, task: &str) -> Option<usize> {
        self.task(task).and_then(|t| t.scope)
    }

    /// Is `scope` equal to or inside `outer`?
    fn within(&self, scope: Option<usize>, outer: Option<usize>) -> bool {
        let mut s = scope;
        loop {
            if s == outer {
                return true;
            }
            match s {
                None => return false,
                Some(id) => s = self.pipeline.conditions[id - 1].parent,
            }
        }
    }

    /// Values used inside condition `id` (recursively) that come from outside it.
    fn channels(&self, id: usize) -> BTreeSet<Channel> {
        let inside = Some(id);
        let mut set = BTreeSet::new();
        for t in self
            .pipeline
            .tasks
            .iter()
            .filter(|t| self.within(t.scope, inside))
        {
            for source in t.inputs.values() {
                match source {
                    Source::Param(p) => {
                        set.insert(Channel::Param(p.clone()));
                    }
                    Source::TaskParam { task, output }
                        if !self.within(self.scope_of(task), inside) =>
                    {
                        set.insert(Channel::TaskParam(task.clone(), output.clone()));
                    }
                    Source::TaskArtifact { task, output }
                        if !self.within(self.scope_of(task), inside) =>
                    {
                        set.insert(Channel::TaskArtifact(task.clone(), output.clone()));
                    }
                    _ => {}
                }
            }
        }
        for c in self
            .pipeline
            .conditions
            .iter()
            .filter(|c| c.parent.is_some() && self.within(c.parent, inside))
        {
            if !self.within(self.scope_of(&c.on.0), inside) {
                set.insert(Channel::TaskParam(c.on.0.clone(), c.on.1.clone()));
            }
        }
        set
    }

    /// How a value is referenced from scope `scope` (root or a condition).
    fn reference(&self, channel: &Channel, scope: Option<usize>) -> InputRef {
        let local = match channel {
            Channel::Param(_) => scope.is_none(),
            Channel::TaskParam(t, _) | Channel::TaskArtifact(t, _) => self.scope_of(t) == scope,
        };
        match (channel, local) {
            (Channel::Param(p), true) => {
                InputRef::Param(ParameterSource::ComponentInputParameter(p.clone()))
            }
            (Channel::TaskParam(t, o), true) => {
                InputRef::Param(ParameterSource::TaskOutputParameter(TaskOutputParameter {
                    producer_task: t.clone(),
                    output_parameter_key: o.clone(),
                }))
            }
            (Channel::TaskArtifact(t, o), true) => {
                InputRef::Artifact(ArtifactSource::TaskOutputArtifact(TaskOutputArtifact {
                    producer_task: t.clone(),
                    output_artifact_key: o.clone(),
                }))
            }
            (Channel::TaskArtifact(..), false) => {
                InputRef::Artifact(ArtifactSource::ComponentInputArtifact(channel.name()))
            }
            (_, false) => InputRef::Param(ParameterSource::ComponentInputParameter(channel.name())),
        }
    }

    fn producer_in_scope(&self, channel: &Channel, scope: Option<usize>) -> Option<String> {
        match channel {
            Channel::TaskParam(t, _) | Channel::TaskArtifact(t, _) if self.scope_of(t) == scope => {
                Some(t.clone())
            }
            _ => None,
        }
    }

    fn component_task(&mut self, t: &Task) -> PipelineTaskSpec {
        let comp = format!("comp-{}", t.name);
        let exec = format!("exec-{}", t.name);
        let spec: &ComponentSpec = &t.component;
        let component = IrComponent {
            executor_label: Some(exec.clone()),
            input_definitions: defs(&spec.inputs),
            output_definitions: defs(&spec.outputs),
            dag: None,
        };
        self.components.insert(comp.clone(), component);
        // kfp writes the string fields and, for older backends, the numeric ones.
        let resources = Resources {
            resource_cpu_limit: t.cpu_limit.clone(),
            cpu_limit: t.cpu_limit.as_deref().and_then(cpu_number),
            resource_memory_limit: t.memory_limit.clone(),
            memory_limit: t.memory_limit.as_deref().and_then(memory_gb),
            ..Resources::default()
        };
        let container = ContainerSpec {
            image: self.options.image.clone(),
            command: vec![self.options.command.clone()],
            args: ["--executor-input", "{{$}}", "--component", spec.name]
                .map(str::to_string)
                .to_vec(),
            resources: (resources != Resources::default()).then_some(resources),
            env: self
                .options
                .env
                .iter()
                .map(|(name, value)| EnvVar {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        self.executors.insert(
            exec,
            ExecutorSpec {
                container: Some(container),
            },
        );

        let mut inputs = TaskInputs::default();
        let mut deps: BTreeSet<String> = t.after.iter().cloned().collect();
        for (input, source) in &t.inputs {
            let channel = match source {
                Source::Constant(v) => {
                    let constant = RuntimeValue {
                        constant: v.clone(),
                    };
                    inputs
                        .parameters
                        .insert(input.clone(), ParameterSource::RuntimeValue(constant));
                    continue;
                }
                Source::Param(p) => Channel::Param(p.clone()),
                Source::TaskParam { task, output } => {
                    Channel::TaskParam(task.clone(), output.clone())
                }
                Source::TaskArtifact { task, output } => {
                    Channel::TaskArtifact(task.clone(), output.clone())
                }
            };
            if let Some(p) = self.producer_in_scope(&channel, t.scope) {
                deps.insert(p);
            }
            self.reference(&channel, t.scope)
                .insert_into(input.clone(), &mut inputs);
        }
        PipelineTaskSpec {
            task_info: TaskInfo {
                name: t.display_name.clone().unwrap_or_else(|| t.name.clone()),
            },
            component_ref: ComponentRef { name: comp },
            dependent_tasks: deps.into_iter().collect(),
            inputs,
            caching_options: Some(CachingOptions {
                enable_cache: t.caching,
            }),
            trigger_policy: None,
        }
    }

    fn condition_task(&mut self, id: usize) -> PipelineTaskSpec {
        let c = &self.pipeline.conditions[id - 1];
        let comp = format!("comp-condition-{id}");
        let channels = self.channels(id);
        let predicate = Channel::TaskParam(c.on.0.clone(), c.on.1.clone());
        let mut all: BTreeSet<Channel> = channels.clone();
        all.insert(predicate.clone());

        // The sub-DAG component: its inputs are the channels, its tasks those in scope `id`.
        let mut definitions = Definitions::default();
        for ch in &all {
            match self.channel_type(ch) {
                PortKind::Param { ty, .. } => {
                    definitions
                        .parameters
                        .insert(ch.name(), ParameterSpec::of(ty));
                }
                PortKind::Artifact(a) => {
                    let spec = ArtifactSpec {
                        artifact_type: a.ir_type(),
                        description: None,
                    };
                    definitions.artifacts.insert(ch.name(), spec);
                }
            }
        }
        let tasks = self.dag_tasks(Some(id));
        let component = IrComponent {
            dag: Some(DagSpec { tasks }),
            input_definitions: Some(definitions),
            ..IrComponent::default()
        };
        self.components.insert(comp.clone(), component);

        // The task in the parent scope that feeds the channels and carries the trigger.
        let mut inputs = TaskInputs::default();
        let mut deps = BTreeSet::new();
        for ch in &all {
            if let Some(p) = self.producer_in_scope(ch, c.parent) {
                deps.insert(p);
            }
            self.reference(ch, c.parent)
                .insert_into(ch.name(), &mut inputs);
        }
        let rhs = match &c.value {
            Value::String(s) => format!("'{}'", s.replace('\'', "\\'")),
            other => other.to_string(),
        };
        let cel = format!(
            "inputs.parameter_values['{}'] {} {rhs}",
            predicate.name(),
            c.op.cel()
        );
        PipelineTaskSpec {
            task_info: TaskInfo {
                name: format!("condition-{id}"),
            },
            component_ref: ComponentRef { name: comp },
            dependent_tasks: deps.into_iter().collect(),
            inputs,
            caching_options: None,
            trigger_policy: Some(TriggerPolicy {
                condition: Some(cel),
            }),
        }
    }

    fn channel_type(&self, ch: &Channel) -> PortKind {
        match ch {
            Channel::Param(p) => {
                let ty = self
                    .pipeline
                    .params
                    .iter()
                    .find(|x| &x.name == p)
                    .map_or(ParamType::String, |x| x.ty);
                PortKind::Param { ty, default: None }
            }
            Channel::TaskParam(t, o) | Channel::TaskArtifact(t, o) => {
                self.task(t).and_then(|t| t.component.output(o)).map_or(
                    PortKind::Param {
                        ty: ParamType::String,
                        default: None,
                    },
                    |p| p.kind.clone(),
                )
            }
        }
    }

    fn dag_tasks(&mut self, scope: Option<usize>) -> BTreeMap<String, PipelineTaskSpec> {
        let mut tasks = BTreeMap::new();
        let own: Vec<&'a Task> = self
            .pipeline
            .tasks
            .iter()
            .filter(|t| t.scope == scope)
            .collect();
        for t in own {
            let v = self.component_task(t);
            tasks.insert(t.name.clone(), v);
        }
        let nested: Vec<usize> = self
            .pipeline
            .conditions
            .iter()
            .filter(|c| c.parent == scope)
            .map(|c| c.id)
            .collect();
        for id in nested {
            let v = self.condition_task(id);
            tasks.insert(format!("condition-{id}"), v);
        }
        tasks
    }
}

/// CPUs from a Kubernetes-style quantity (`"2"`, `"500m"`).
fn cpu_number(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse().ok(),
    }
}

/// Gigabytes (10^9 bytes) from a memory quantity (`"4G"`, `"512Mi"`, bytes), as kfp converts.
fn memory_gb(q: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * factor / 1e9);
        }
    }
    q.parse::<f64>().ok().map(|bytes| bytes / 1e9)
}

/// Compile a pipeline to the typed IR.
pub fn compile_spec(pipeline: &Pipeline, options: &CompileOptions) -> PipelineSpec {
    let mut c = Compiler {
        pipeline,
        options,
        components: BTreeMap::new(),
        executors: BTreeMap::new(),
    };
    let tasks = c.dag_tasks(None);
    let mut root_params = Definitions::default();
    for p in &pipeline.params {
        let spec = ParameterSpec {
            default_value: Some(p.default.clone()),
            is_optional: Some(true),
            description: (!p.description.is_empty()).then(|| p.description.clone()),
            ..ParameterSpec::of(p.ty)
        };
        root_params.parameters.insert(p.name.clone(), spec);
    }
    PipelineSpec {
        pipeline_info: PipelineInfo {
            name: pipeline.name.clone(),
            display_name: None,
            description: Some(pipeline.description.clone()),
        },
        sdk_version: Some(format!("mlops-rs-{}", env!("CARGO_PKG_VERSION"))),
        schema_version: Some(SCHEMA_VERSION.to_string()),
        root: Some(IrComponent {
            dag: Some(DagSpec { tasks }),
            input_definitions: root_params.non_empty(),
            ..IrComponent::default()
        }),
        components: c.components,
        deployment_spec: DeploymentSpec {
            executors: c.executors,
        },
        default_pipeline_root: options.default_pipeline_root.clone(),
    }
}

/// Compile a pipeline to IR JSON.
pub fn compile(pipeline: &Pipeline, options: &CompileOptions) -> Value {
    // Through `Value` so that keys come out sorted, as they always have.
    serde_json::to_value(compile_spec(pipeline, options)).unwrap_or_default()
}

/// Compile to pretty JSON text.
pub fn compile_to_string(pipeline: &Pipeline, options: &CompileOptions) -> String {
    let mut text = serde_json::to_string_pretty(&compile(pipeline, options)).unwrap_or_default();
    text.push('\n');
    text
}

/// Used by callers that want a map of defaults (e.g. run records).
pub fn defaults(pipeline: &Pipeline) -> BTreeMap<String, Value> {
    pipeline
        .params
        .iter()
        .map(|p| (p.name.clone(), p.default.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_convert_like_kfp() {
        assert_eq!(cpu_number("2"), Some(2.0));
        assert_eq!(cpu_number("500m"), Some(0.5));
        assert_eq!(memory_gb("4G"), Some(4.0));
        assert!((memory_gb("512Mi").unwrap() - 0.536870912).abs() < 1e-12);
        assert_eq!(memory_gb("2000000000"), Some(2.0));
        assert_eq!(memory_gb("lots"), None);
    }

    fn one_step() -> Pipeline {
        let spec = ComponentSpec {
            name: "step",
            description: "A step.",
            inputs: vec![],
            outputs: vec![],
        };
        let mut p = crate::dag::PipelineBuilder::new("one-step", "One step.");
        p.task("step", spec).add().unwrap();
        p.build().unwrap()
    }

    /// `defaultPipelineRoot` is a top-level field when set, and absent (not `null`) otherwise,
    /// so IR compiled without one is what it has always been.
    #[test]
    fn default_pipeline_root_is_top_level_and_only_when_set() {
        let plain = compile(&one_step(), &CompileOptions::default());
        assert!(plain.get("defaultPipelineRoot").is_none(), "{plain}");
        let options = CompileOptions {
            image: "europe-west4-docker.pkg.dev/p/r/i:abc".into(),
            default_pipeline_root: Some("gs://bucket/pipeline_root".into()),
            ..CompileOptions::default()
        };
        let ir = compile(&one_step(), &options);
        assert_eq!(ir["defaultPipelineRoot"], "gs://bucket/pipeline_root");
        assert_eq!(
            ir["deploymentSpec"]["executors"]["exec-step"]["container"]["image"],
            "europe-west4-docker.pkg.dev/p/r/i:abc"
        );
        let mut without = ir.clone();
        if let Some(obj) = without.as_object_mut() {
            obj.remove("defaultPipelineRoot");
        }
        let mut plain_with_image = plain.clone();
        plain_with_image["deploymentSpec"]["executors"]["exec-step"]["container"]["image"] =
            options.image.clone().into();
        assert_eq!(without, plain_with_image, "only the root and image differ");
        // And the typed model reads it back.
        let spec: PipelineSpec = serde_json::from_value(ir).unwrap();
        assert_eq!(
            spec.default_pipeline_root.as_deref(),
            Some("gs://bucket/pipeline_root")
        );
    }
}
