//! The pipeline SDK. A component is a [`ComponentSpec`] (a name and typed inputs and outputs)
//! plus a `run` function registered with the component binary; a pipeline is a Rust function
//! that wires components into a [`Pipeline`] with [`PipelineBuilder`]; [`compile`] turns it
//! into KFP v2 IR JSON that Vertex AI Pipelines runs, and [`runner::run`] executes that same
//! IR file on this machine, through the same component binary and executor-input contract.
//! Both sides go through one typed model of the IR ([`ir::model`]).
//!
//! Invariant: this is the only crate that knows KFP's JSON shapes (IR, executor input and
//! output). It does no network I/O.

pub mod cel;
pub mod compile;
pub mod component;
pub mod dag;
mod error;
pub mod executor;
pub mod ir;
pub mod runner;
pub mod spec;
pub mod types;

pub use compile::{compile, compile_spec, compile_to_string, CompileOptions};
pub use component::{Component, ComponentError, Context};
pub use dag::{CmpOp, OutRef, ParamRef, Pipeline, PipelineBuilder, Source, TaskRef};
pub use error::{PipelineError, Result};
pub use ir::model::PipelineSpec;
pub use spec::{ComponentSpec, Port, PortKind};
pub use types::{ArtifactType, ParamType};
