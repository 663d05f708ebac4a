//! The `mlops` command-line tool as a library: one module per command family, and [`main`],
//! which the thin `mlops` binary calls. Commands print results on stdout and everything else
//! (logs, progress) on stderr.
//!
//! Depends on the library crates and on `vertex_pipelines` (`PIPELINE_DEFS`, the component
//! registry); nothing depends on this crate.
//!
//! ```no_run
//! // The whole `mlops` binary, less its allocator and the `mlops-component` name dispatch:
//! fn main() -> std::process::ExitCode {
//!     mlops_cli::main()
//! }
//! ```

pub mod alerting;
pub mod args;
#[cfg(feature = "gcp")]
pub mod cloud;
#[cfg(not(feature = "gcp"))]
#[path = "no_cloud.rs"]
pub mod cloud;
pub mod context;
pub mod demo;
pub mod evaluate;
pub mod experiment;
pub mod gen_data;
pub mod metrics;
pub mod models;
pub mod monitor;
pub mod pipelines;
pub mod predict;
pub mod progress;
pub mod train;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use mlops_domain::Settings;

use crate::args::{Cli, Command};
use crate::context::BoxError;

/// Parse the command line, set up logging, run the command, and print any error with its cause
/// chain (one line per link). Exit code 0 on success, 1 on any error, 2 on bad arguments.
pub fn main() -> ExitCode {
    let matches = Cli::command()
        .after_long_help(args::env_help())
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.global.verbose, cli.global.log_json);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", error_report(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The component binary: run one registered component from a KFP executor input
/// (`--executor-input '{{$}}' --component NAME`).
pub fn component_main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let registry = vertex_pipelines::components::registry();
    let code = mlops_pipeline::component::main_with(&registry, &args);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), BoxError> {
    let settings = Settings::load(Some(&cli.global.env_file))?;
    mlops_booster::predict::set_preferred_kernel(settings.predict_kernel);
    let dry_run = cli.global.dry_run;
    match cli.command {
        Command::Train(args) => train::run(&settings, dry_run, args),
        Command::Predict(args) => predict::run(&settings, dry_run, args),
        Command::Evaluate(args) => evaluate::run(&settings, dry_run, args),
        Command::GenData(args) => gen_data::run(&settings, args),
        Command::GenOutcomes(args) => gen_data::outcomes(&settings, args),
        Command::Models(command) => models::run(&settings, dry_run, command),
        Command::Pipelines(command) => pipelines::run(&settings, dry_run, command),
        Command::Endpoints(command) => cloud::endpoints(&settings, dry_run, command),
        Command::Demo(args) => demo::run(&settings, args),
        Command::Monitor(command) => monitor::run(&settings, command),
        Command::Metrics(command) => metrics::run(&settings, command),
        Command::Alerting(command) => alerting::run(&settings, dry_run, command),
        Command::Experiment(command) => experiment::run(&settings, dry_run, command),
    }
}

/// `mlops: error: …` and one `caused by:` line per source. A cause whose text the previous line
/// already ends with is not repeated (errors that quote their source, as many do).
pub fn error_report(err: &(dyn std::error::Error + 'static)) -> String {
    let mut report = format!("mlops: error: {err}");
    let mut shown = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !shown.ends_with(&text) {
            report.push_str(&format!("\n  caused by: {text}"));
        }
        shown = text;
        source = cause.source();
    }
    report
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{msg}")]
    struct Chain {
        msg: String,
        #[source]
        source: Option<Box<Chain>>,
    }

    fn chain(links: &[&str]) -> Chain {
        links
            .iter()
            .rev()
            .fold(None, |source, msg| {
                Some(Chain {
                    msg: msg.to_string(),
                    source: source.map(Box::new),
                })
            })
            .unwrap()
    }

    #[test]
    fn each_cause_is_printed_once() {
        let quoted = chain(&[
            "cannot read `m/metadata.json`: No such file or directory",
            "No such file or directory",
        ]);
        assert_eq!(
            error_report(&quoted),
            "mlops: error: cannot read `m/metadata.json`: No such file or directory"
        );
        let distinct = chain(&[
            "training failed",
            "column `tenure`: bad value",
            "invalid float",
        ]);
        assert_eq!(
            error_report(&distinct),
            "mlops: error: training failed\n  caused by: column `tenure`: bad value\n  caused by: invalid float"
        );
    }
}
