//! `--dry-run`: print each request instead of sending it.

use serde::Serialize;
use serde_json::{json, Value};

/// One request that would have been sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    /// The discovery-document method id (`aiplatform.projects.locations.pipelineJobs.create`).
    pub method: &'static str,
    /// The resource (or parent) it acts on.
    pub resource: String,
    /// The JSON body (`null` when the method has none).
    pub body: Value,
}

impl DryRun {
    /// A request with a body serialised from a client message.
    pub fn new(method: &'static str, resource: impl Into<String>, body: &impl Serialize) -> Self {
        DryRun {
            method,
            resource: resource.into(),
            body: serde_json::to_value(body).unwrap_or(Value::Null),
        }
    }

    /// Print as one JSON line on stdout (the output of every `--dry-run`).
    pub fn print(&self) {
        println!(
            "{}",
            json!({"dry_run": true, "method": self.method, "resource": self.resource, "body": self.body})
        );
    }
}
