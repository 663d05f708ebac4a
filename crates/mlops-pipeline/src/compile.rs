//! Pipeline → KFP v2 `PipelineSpec` JSON (schema 2.1.0), with only long-standing fields.
//! Conditions become sub-DAG components (`comp-condition-N`) whose task carries
//! `triggerPolicy.condition` in CEL, as the kfp compiler writes them; values from outside a
//! condition enter it as inputs named `pipelinechannel--<task>-<output>` or
//! `pipelinechannel--<parameter>`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::dag::{Pipeline, Source, Task};
use crate::spec::{ComponentSpec, PortKind};
use crate::types::ParamType;

/// The IR schema version written.
pub const SCHEMA_VERSION: &str = "2.1.0";

/// Container settings for every executor.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    /// Image reference, e.g. `europe-west4-docker.pkg.dev/p/repo/churn:3f2a9c1`.
    pub image: String,
    /// The component binary inside the image.
    pub command: String,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            image: "churn-mlops:local".into(),
            command: "mlops-component".into(),
        }
    }
}

fn defs(ports: &[crate::spec::Port]) -> Value {
    let mut params = Map::new();
    let mut artifacts = Map::new();
    for p in ports {
        match &p.kind {
            PortKind::Param { ty, default } => {
                let mut d = json!({ "parameterType": ty.ir_name() });
                if let Some(v) = default {
                    d["defaultValue"] = v.clone();
                    d["isOptional"] = json!(true);
                }
                if !p.description.is_empty() {
                    d["description"] = json!(p.description);
                }
                params.insert(p.name.to_string(), d);
            }
            PortKind::Artifact(a) => {
                let mut d = json!({ "artifactType": a.ir() });
                if !p.description.is_empty() {
                    d["description"] = json!(p.description);
                }
                artifacts.insert(p.name.to_string(), d);
            }
        }
    }
    let mut out = Map::new();
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Object(params));
    }
    if !artifacts.is_empty() {
        out.insert("artifacts".into(), Value::Object(artifacts));
    }
    Value::Object(out)
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
    image: &'a ImageConfig,
    components: Map<String, Value>,
    executors: Map<String, Value>,
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
    fn reference(&self, channel: &Channel, scope: Option<usize>) -> (bool, Value) {
        let local = match channel {
            Channel::Param(_) => scope.is_none(),
            Channel::TaskParam(t, _) | Channel::TaskArtifact(t, _) => self.scope_of(t) == scope,
        };
        match (channel, local) {
            (Channel::Param(p), true) => (false, json!({ "componentInputParameter": p })),
            (Channel::TaskParam(t, o), true) => (
                false,
                json!({ "taskOutputParameter": { "producerTask": t, "outputParameterKey": o } }),
            ),
            (Channel::TaskArtifact(t, o), true) => (
                true,
                json!({ "taskOutputArtifact": { "producerTask": t, "outputArtifactKey": o } }),
            ),
            (Channel::TaskArtifact(..), false) => {
                (true, json!({ "componentInputArtifact": channel.name() }))
            }
            (_, false) => (false, json!({ "componentInputParameter": channel.name() })),
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

    fn component_task(&mut self, t: &Task) -> Value {
        let comp = format!("comp-{}", t.name);
        let exec = format!("exec-{}", t.name);
        let spec: &ComponentSpec = &t.component;
        let mut component = Map::new();
        component.insert("executorLabel".into(), json!(exec));
        for (key, ports) in [
            ("inputDefinitions", &spec.inputs),
            ("outputDefinitions", &spec.outputs),
        ] {
            let d = defs(ports);
            if d.as_object().is_some_and(|m| !m.is_empty()) {
                component.insert(key.into(), d);
            }
        }
        self.components
            .insert(comp.clone(), Value::Object(component));
        let mut container = json!({
            "image": self.image.image,
            "command": [self.image.command],
            "args": ["--executor-input", "{{$}}", "--component", spec.name],
        });
        // kfp writes the string fields and, for older backends, the numeric ones.
        let mut resources = Map::new();
        if let Some(cpu) = &t.cpu_limit {
            resources.insert("resourceCpuLimit".into(), json!(cpu));
            if let Some(n) = cpu_number(cpu) {
                resources.insert("cpuLimit".into(), json!(n));
            }
        }
        if let Some(mem) = &t.memory_limit {
            resources.insert("resourceMemoryLimit".into(), json!(mem));
            if let Some(n) = memory_gb(mem) {
                resources.insert("memoryLimit".into(), json!(n));
            }
        }
        if !resources.is_empty() {
            container["resources"] = Value::Object(resources);
        }
        self.executors
            .insert(exec, json!({ "container": container }));

        let mut params = Map::new();
        let mut artifacts = Map::new();
        let mut deps: BTreeSet<String> = t.after.iter().cloned().collect();
        for (input, source) in &t.inputs {
            let channel = match source {
                Source::Constant(v) => {
                    params.insert(input.clone(), json!({ "runtimeValue": { "constant": v } }));
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
            let (is_artifact, reference) = self.reference(&channel, t.scope);
            if is_artifact {
                artifacts.insert(input.clone(), reference);
            } else {
                params.insert(input.clone(), reference);
            }
        }
        task_json(
            t.display_name.as_deref().unwrap_or(&t.name),
            &comp,
            deps,
            params,
            artifacts,
            Some(t.caching),
            None,
        )
    }

    fn condition_task(&mut self, id: usize) -> Value {
        let c = &self.pipeline.conditions[id - 1];
        let comp = format!("comp-condition-{id}");
        let channels = self.channels(id);
        let predicate = Channel::TaskParam(c.on.0.clone(), c.on.1.clone());
        let mut all: BTreeSet<Channel> = channels.clone();
        all.insert(predicate.clone());

        // The sub-DAG component: its inputs are the channels, its tasks those in scope `id`.
        let mut in_params = Map::new();
        let mut in_artifacts = Map::new();
        for ch in &all {
            let ty = self.channel_type(ch);
            match ty {
                PortKind::Param { ty, .. } => {
                    in_params.insert(ch.name(), json!({ "parameterType": ty.ir_name() }));
                }
                PortKind::Artifact(a) => {
                    in_artifacts.insert(ch.name(), json!({ "artifactType": a.ir() }));
                }
            }
        }
        let tasks = self.dag_tasks(Some(id));
        let mut inputs = Map::new();
        if !in_params.is_empty() {
            inputs.insert("parameters".into(), Value::Object(in_params));
        }
        if !in_artifacts.is_empty() {
            inputs.insert("artifacts".into(), Value::Object(in_artifacts));
        }
        self.components.insert(
            comp.clone(),
            json!({ "dag": { "tasks": tasks }, "inputDefinitions": inputs }),
        );

        // The task in the parent scope that feeds the channels and carries the trigger.
        let mut params = Map::new();
        let mut artifacts = Map::new();
        let mut deps = BTreeSet::new();
        for ch in &all {
            if let Some(p) = self.producer_in_scope(ch, c.parent) {
                deps.insert(p);
            }
            let (is_artifact, reference) = self.reference(ch, c.parent);
            if is_artifact {
                artifacts.insert(ch.name(), reference);
            } else {
                params.insert(ch.name(), reference);
            }
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
        let name = format!("condition-{id}");
        task_json(&name, &comp, deps, params, artifacts, None, Some(cel))
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

    fn dag_tasks(&mut self, scope: Option<usize>) -> Value {
        let mut tasks = Map::new();
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
        Value::Object(tasks)
    }
}

fn task_json(
    display: &str,
    component: &str,
    deps: BTreeSet<String>,
    params: Map<String, Value>,
    artifacts: Map<String, Value>,
    caching: Option<bool>,
    trigger: Option<String>,
) -> Value {
    let mut t = json!({
        "taskInfo": { "name": display },
        "componentRef": { "name": component },
    });
    if !deps.is_empty() {
        t["dependentTasks"] = json!(deps);
    }
    let mut inputs = Map::new();
    if !params.is_empty() {
        inputs.insert("parameters".into(), Value::Object(params));
    }
    if !artifacts.is_empty() {
        inputs.insert("artifacts".into(), Value::Object(artifacts));
    }
    if !inputs.is_empty() {
        t["inputs"] = Value::Object(inputs);
    }
    if let Some(enable) = caching {
        t["cachingOptions"] = json!({ "enableCache": enable });
    }
    if let Some(cel) = trigger {
        t["triggerPolicy"] = json!({ "condition": cel });
    }
    t
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

/// Compile a pipeline to IR JSON.
pub fn compile(pipeline: &Pipeline, image: &ImageConfig) -> Value {
    let mut c = Compiler {
        pipeline,
        image,
        components: Map::new(),
        executors: Map::new(),
    };
    let tasks = c.dag_tasks(None);
    let mut root_params = Map::new();
    for p in &pipeline.params {
        let mut d = json!({ "parameterType": p.ty.ir_name(), "defaultValue": p.default, "isOptional": true });
        if !p.description.is_empty() {
            d["description"] = json!(p.description);
        }
        root_params.insert(p.name.clone(), d);
    }
    let mut root = json!({ "dag": { "tasks": tasks } });
    if !root_params.is_empty() {
        root["inputDefinitions"] = json!({ "parameters": root_params });
    }
    json!({
        "pipelineInfo": { "name": pipeline.name, "description": pipeline.description },
        "sdkVersion": format!("mlops-rs-{}", env!("CARGO_PKG_VERSION")),
        "schemaVersion": SCHEMA_VERSION,
        "root": root,
        "components": Value::Object(c.components),
        "deploymentSpec": { "executors": Value::Object(c.executors) },
    })
}

/// Compile to pretty JSON text.
pub fn compile_to_string(pipeline: &Pipeline, image: &ImageConfig) -> String {
    let mut text = serde_json::to_string_pretty(&compile(pipeline, image)).unwrap_or_default();
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
}
