//! `mlops-serve`: the container entrypoint. Configuration comes from the `AIP_*` environment
//! that Vertex AI sets (see `--help`).

use std::process::ExitCode;

use mlops_serving::config::VARIABLES;
use mlops_serving::{logging, ServeConfig};

fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("mlops-serve: serve a churn model bundle over HTTP (Vertex AI custom container)\n");
                println!(
                    "Usage: mlops-serve   (configured by environment variables)\n\nEnvironment:"
                );
                for (name, meaning) in VARIABLES {
                    println!("  {name:<20} {meaning}");
                }
                println!("  {:<20} log filter (default info)", "RUST_LOG");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("mlops-serve {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("mlops-serve: error: unexpected argument `{other}`; configure with environment variables (see --help)");
                return ExitCode::from(2);
            }
        }
    }
    let config = match ServeConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mlops-serve: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Held to the end of `main`: dropping it flushes the queued log lines.
    let _log = match logging::init(config.json_logs) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("mlops-serve: error: cannot start the log writer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mlops-serve: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mlops_serving::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "mlops-serve stopped");
            eprintln!("mlops-serve: error: {e}");
            ExitCode::FAILURE
        }
    }
}
