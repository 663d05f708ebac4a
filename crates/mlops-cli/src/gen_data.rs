//! `mlops gen-data`: a synthetic table with the config's schema, resampled from real rows;
//! `mlops gen-outcomes`: the later outcomes of scored rows.

use mlops_domain::Settings;

use crate::args::{GenDataArgs, GenOutcomesArgs};
use crate::context::{load_config, BoxError};

/// Run `mlops gen-data`.
pub fn run(settings: &Settings, args: GenDataArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    mlops_core::gen_data::generate_with(
        &config,
        &args.source,
        args.rows,
        args.seed,
        args.shift,
        &args.out,
        &mlops_core::gen_data::GenerateOptions {
            id_column: args.id_column,
        },
    )?;
    eprintln!("wrote {} rows to {}", args.rows, args.out.display());
    Ok(())
}

/// Run `mlops gen-outcomes`.
pub fn outcomes(settings: &Settings, args: GenOutcomesArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    let options = mlops_core::outcomes::OutcomeOptions {
        fraction: args.fraction,
        delay_days: args.delay_days,
        seed: args.seed,
        id_column: args.id_column,
    };
    let s = mlops_core::outcomes::generate_outcomes(
        &config.label,
        &args.predictions,
        &args.data,
        &args.out,
        &options,
    )?;
    eprintln!(
        "wrote {} outcomes ({} churned, from {}) for {} scored rows to {}",
        s.written,
        s.churned,
        if s.from_labels {
            "the data's labels"
        } else {
            "the probabilities"
        },
        s.scored,
        args.out.display()
    );
    Ok(())
}
