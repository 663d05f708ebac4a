//! `mlops gen-data`: a synthetic table with the config's schema, resampled from real rows.

use mlops_domain::Settings;

use crate::args::GenDataArgs;
use crate::context::{load_config, BoxError};

/// Run `mlops gen-data`.
pub fn run(settings: &Settings, args: GenDataArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    mlops_core::gen_data::generate(
        &config,
        &args.source,
        args.rows,
        args.seed,
        args.shift,
        &args.out,
    )?;
    eprintln!("wrote {} rows to {}", args.rows, args.out.display());
    Ok(())
}
