//! `mlops`: the command-line tool for engineers and CI. Thin glue over the library crates:
//! parse arguments, load settings, run one command, print its result on stdout and
//! everything else (logs, progress) on stderr.

mod cli;
mod commands;
mod pipelines_cmd;
mod progress;

use std::process::ExitCode;

use clap::Parser;

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
        let args: Vec<String> = std::env::args().skip(1).collect();
        let registry = vertex_pipelines::components::registry();
        let code = mlops_pipeline::component::main_with(&registry, &args);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = cli::Cli::parse();
    init_logging(cli.global.verbose, cli.global.log_json);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line per link of the cause chain, the first one naming the problem.
            eprintln!("mlops: error: {err}");
            let mut source = std::error::Error::source(err.as_ref());
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, json: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder
            .with_ansi(std::env::var_os("NO_COLOR").is_none())
            .init();
    }
}
