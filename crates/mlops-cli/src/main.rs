//! `mlops`: the command-line tool for engineers and CI (see the `mlops_cli` library).

use std::process::ExitCode;

/// Polars allocates and frees large buffers while reading; mimalloc reuses them instead of
/// returning them to the kernel and faulting fresh pages back in (batch prediction of 1M
/// rows: read 0.12 s → 0.06 s; see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Installed as `mlops-component` too (a link to this binary in the container image, which
    // keeps one copy of the data stack): then behave as the component binary.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "mlops-component")
    {
        return mlops_cli::component_main();
    }
    mlops_cli::main()
}
