//! `mlops-component`: runs one registered component from a KFP executor input
//! (`--executor-input '{{$}}' --component NAME`), locally and on Vertex AI alike.

use std::process::ExitCode;

/// The same allocator as `mlops` (see there): components read and write whole tables.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let registry = vertex_pipelines::components::registry();
    let code = mlops_pipeline::component::main_with(&registry, &args);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
