//! Pipeline definitions for Vertex AI (`PIPELINE_DEFS`), the pipelines themselves (built with
//! the `mlops-pipeline` SDK from components in `vertex_components/*`), and the component
//! registry that the `mlops-component` binary (crate `mlops-cli`) runs from, and the alert
//! policies on the monitoring metrics (`alerts::POLICIES`).

pub mod alerts;
pub mod components;
pub mod defs;
pub mod inference;
pub mod monitoring;
pub mod training;

pub use defs::{PipelineDef, PIPELINE_DEFS};
