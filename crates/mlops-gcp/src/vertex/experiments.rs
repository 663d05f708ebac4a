//! Vertex AI Experiments: an experiment run logged as the Python SDK's
//! `aiplatform.init(experiment=…)`, `start_run`, `log_params`, `log_metrics` and `end_run`
//! write it, in the Metadata store's `default` store, over JSON REST (no metadata client's
//! RPCs compiled in):
//!
//! 1. `metadataStores.get` of `default`, created (and its operation waited for) when missing;
//! 2. the experiment: a context with id = the experiment name, `schemaTitle`
//!    `system.Experiment`, metadata `{"experiment_deleted": false}` (got, or created);
//! 3. the run: a context with id `{experiment}-{run}`, display name = the run,
//!    `system.ExperimentRun`, metadata `{"_params": {}, "_metrics": {}, "_state": "RUNNING"}`,
//!    made a child of the experiment (`addContextChildren`);
//! 4. three metadata patches: `_params`, then `_metrics`, then `_state` `COMPLETE`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::client::Gcp;
use crate::error::{GcpError, Result};
use crate::DryRun;

/// `schemaTitle` of an experiment's context.
pub const EXPERIMENT_SCHEMA: &str = "system.Experiment";
/// `schemaTitle` of a run's context.
pub const EXPERIMENT_RUN_SCHEMA: &str = "system.ExperimentRun";
/// The SDK's schema version of both.
pub const SCHEMA_VERSION: &str = "0.0.1";

/// A finished run to log.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRunLog {
    /// The experiment (its context id).
    pub experiment: String,
    /// The run name (the context id is `{experiment}-{run}`).
    pub run: String,
    /// Parameters: strings or numbers (others are logged as their JSON text).
    pub params: BTreeMap<String, Value>,
    /// Metrics; non-finite ones are left out (Vertex AI stores numbers only).
    pub metrics: BTreeMap<String, f64>,
}

fn is_not_found(e: &GcpError) -> bool {
    matches!(e, GcpError::Api { status: 404, .. })
}

impl Gcp {
    fn vertex_url(&self, name: &str) -> String {
        format!(
            "{}/v1/{name}",
            self.config.vertex_endpoint.trim_end_matches('/')
        )
    }

    fn metadata_store(&self) -> String {
        format!("{}/metadataStores/default", self.config.location())
    }

    /// Log a finished run to Vertex AI Experiments (see the module documentation for the
    /// calls; a dry run prints the creates and the final patch, reading nothing). Returns the run context's resource name. An existing run context of that id
    /// is an error (run ids are unique per experiment); an existing experiment is reused,
    /// unless its context is not a `system.Experiment`.
    pub fn log_experiment_run(&self, log: &ExperimentRunLog) -> Result<String> {
        let store = self.metadata_store();
        let experiment = format!("{store}/contexts/{}", log.experiment);
        let run_id = format!("{}-{}", log.experiment, log.run);
        let run = format!("{store}/contexts/{run_id}");
        if self.config.dry_run {
            return self.print_run(log, &store, &experiment, &run_id, &run);
        }
        self.ensure_metadata_store(&store)?;
        self.ensure_experiment(&store, &experiment, &log.experiment)?;
        let mut metadata = Map::new();
        metadata.insert("_params".into(), json!({}));
        metadata.insert("_metrics".into(), json!({}));
        metadata.insert("_state".into(), json!("RUNNING"));
        let body = run_context(&log.run, &metadata);
        self.call_json(
            "create experiment run",
            &run,
            reqwest::Method::POST,
            &self.vertex_url(&format!("{store}/contexts")),
            &[("contextId", run_id.clone())],
            Some(&body),
        )?;
        self.call_json(
            "add run to experiment",
            &experiment,
            reqwest::Method::POST,
            &self.vertex_url(&format!("{experiment}:addContextChildren")),
            &[],
            Some(&json!({"childContexts": [run]})),
        )?;
        metadata.insert("_params".into(), params_value(&log.params));
        self.patch_run(&run, &metadata, "log experiment params")?;
        metadata.insert("_metrics".into(), metrics_value(&log.metrics));
        self.patch_run(&run, &metadata, "log experiment metrics")?;
        metadata.insert("_state".into(), json!("COMPLETE"));
        self.patch_run(&run, &metadata, "end experiment run")?;
        Ok(run)
    }

    fn patch_run(
        &self,
        run: &str,
        metadata: &Map<String, Value>,
        action: &'static str,
    ) -> Result<()> {
        self.call_json(
            action,
            run,
            reqwest::Method::PATCH,
            &self.vertex_url(run),
            &[("updateMask", "metadata".to_string())],
            Some(&json!({ "metadata": metadata })),
        )?;
        Ok(())
    }

    /// The `default` metadata store, created when the project has none yet (as the SDK does
    /// on first use), waiting for its operation.
    fn ensure_metadata_store(&self, store: &str) -> Result<()> {
        match self.get_json::<Value>("get metadata store", store, &self.vertex_url(store), &[]) {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        let op = self.call_json(
            "create metadata store",
            store,
            reqwest::Method::POST,
            &self.vertex_url(&format!("{}/metadataStores", self.config.location())),
            &[("metadataStoreId", "default".to_string())],
            Some(&json!({})),
        )?;
        let name = op["name"].as_str().unwrap_or_default().to_string();
        let mut done = op["done"].as_bool().unwrap_or(false) || name.is_empty();
        let mut delay = Duration::from_millis(200);
        for _ in 0..60 {
            if done {
                break;
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(5));
            let op: Value = self.get_json(
                "wait for metadata store",
                &name,
                &self.vertex_url(&name),
                &[],
            )?;
            if let Some(error) = op.get("error") {
                return Err(GcpError::Transport {
                    action: "create metadata store",
                    resource: store.to_string(),
                    detail: format!("the operation failed: {error}"),
                });
            }
            done = op["done"].as_bool().unwrap_or(false);
        }
        if done {
            Ok(())
        } else {
            Err(GcpError::Transport {
                action: "create metadata store",
                resource: store.to_string(),
                detail: format!("operation `{name}` did not finish"),
            })
        }
    }

    /// The experiment's context, created when missing; refused when it is another kind.
    fn ensure_experiment(&self, store: &str, experiment: &str, name: &str) -> Result<()> {
        match self.get_json::<Value>(
            "get experiment",
            experiment,
            &self.vertex_url(experiment),
            &[],
        ) {
            Ok(context) => {
                let schema = context["schemaTitle"].as_str().unwrap_or_default();
                if schema == EXPERIMENT_SCHEMA {
                    return Ok(());
                }
                return Err(GcpError::Invalid {
                    field: "experiment context",
                    value: format!("{experiment} (schemaTitle `{schema}`)"),
                    expected: "a system.Experiment context: choose another experiment name",
                });
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        self.call_json(
            "create experiment",
            experiment,
            reqwest::Method::POST,
            &self.vertex_url(&format!("{store}/contexts")),
            &[("contextId", name.to_string())],
            Some(&experiment_context(name)),
        )?;
        Ok(())
    }

    fn print_run(
        &self,
        log: &ExperimentRunLog,
        store: &str,
        experiment: &str,
        run_id: &str,
        run: &str,
    ) -> Result<String> {
        let contexts = format!("{store}/contexts");
        let print = |method: &'static str, resource: String, body: &Value| {
            DryRun::new(method, resource, body).print();
        };
        print(
            "aiplatform.projects.locations.metadataStores.contexts.create",
            format!("{contexts}?contextId={}", log.experiment),
            &experiment_context(&log.experiment),
        );
        let mut metadata = Map::new();
        metadata.insert("_params".into(), json!({}));
        metadata.insert("_metrics".into(), json!({}));
        metadata.insert("_state".into(), json!("RUNNING"));
        print(
            "aiplatform.projects.locations.metadataStores.contexts.create",
            format!("{contexts}?contextId={run_id}"),
            &run_context(&log.run, &metadata),
        );
        print(
            "aiplatform.projects.locations.metadataStores.contexts.addContextChildren",
            experiment.to_string(),
            &json!({"childContexts": [run]}),
        );
        metadata.insert("_params".into(), params_value(&log.params));
        metadata.insert("_metrics".into(), metrics_value(&log.metrics));
        metadata.insert("_state".into(), json!("COMPLETE"));
        print(
            "aiplatform.projects.locations.metadataStores.contexts.patch",
            format!("{run}?updateMask=metadata"),
            &json!({ "metadata": metadata }),
        );
        Ok(run.to_string())
    }
}

fn experiment_context(name: &str) -> Value {
    json!({
        "displayName": name,
        "schemaTitle": EXPERIMENT_SCHEMA,
        "schemaVersion": SCHEMA_VERSION,
        "metadata": {"experiment_deleted": false},
    })
}

fn run_context(run: &str, metadata: &Map<String, Value>) -> Value {
    json!({
        "displayName": run,
        "schemaTitle": EXPERIMENT_RUN_SCHEMA,
        "schemaVersion": SCHEMA_VERSION,
        "metadata": metadata,
    })
}

/// Strings and numbers as they are; anything else as its JSON text (the SDK accepts only
/// `str`, `int` and `float` parameters).
fn params_value(params: &BTreeMap<String, Value>) -> Value {
    Value::Object(
        params
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let v = match v {
                    Value::String(_) | Value::Number(_) => v.clone(),
                    other => Value::String(other.to_string()),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

fn metrics_value(metrics: &BTreeMap<String, f64>) -> Value {
    Value::Object(
        metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_metrics_are_what_vertex_stores() {
        let params = BTreeMap::from([
            ("a".to_string(), json!(1)),
            ("b".to_string(), json!("x")),
            ("c".to_string(), json!(true)),
            ("d".to_string(), Value::Null),
        ]);
        assert_eq!(
            params_value(&params),
            json!({"a": 1, "b": "x", "c": "true"})
        );
        let metrics = BTreeMap::from([("auc".to_string(), 0.8), ("nan".to_string(), f64::NAN)]);
        assert_eq!(metrics_value(&metrics), json!({"auc": 0.8}));
        assert_eq!(
            experiment_context("e")["schemaTitle"],
            json!("system.Experiment")
        );
    }
}
