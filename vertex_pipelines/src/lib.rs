//! Pipeline definitions for Vertex AI (`PIPELINE_DEFS`), the registered components, and the
//! `mlops` / `mlops-component` binaries (`src/main.rs`, `src/bin/mlops-component.rs`).

pub mod components;
pub mod defs;
pub mod training;

pub use defs::{PipelineDef, PIPELINE_DEFS};
