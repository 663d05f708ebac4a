//! `mlops-component`: runs one registered component from a KFP executor input
//! (`--executor-input '{{$}}' --component NAME`), locally and on Vertex AI alike.

use std::process::ExitCode;

/// The same allocator as `mlops` (see there): components read and write whole tables.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mlops_cli::component_main()
}
