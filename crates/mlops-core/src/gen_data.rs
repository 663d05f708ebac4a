//! Synthetic tables with the configured schema, resampled from real rows and perturbed, for
//! scale tests and benchmarks. `shift` moves the population (for drift tests): numeric columns
//! scale up, and categorical/binary values are re-drawn from other rows more often.

use std::path::Path;

use mlops_booster::rng::SplitMix64;
use mlops_domain::ModelConfig;
use polars::prelude::*;

use crate::error::{CoreError, Result};
use crate::table::{read_table, require_columns, write_table};

/// Generate `rows` rows from the `source` table and write them to `out`.
pub fn generate(
    config: &ModelConfig,
    source: &Path,
    rows: usize,
    seed: u64,
    shift: f64,
    out: &Path,
) -> Result<()> {
    crate::table::Format::of(out)?;
    if !(shift.is_finite() && (0.0..=10.0).contains(&shift)) {
        return Err(CoreError::InvalidTable {
            path: out.to_path_buf(),
            message: format!("--shift must be between 0 and 10, got {shift}"),
        });
    }
    let df = read_table(source)?;
    let mut columns: Vec<&str> = config.features.all().map(String::as_str).collect();
    columns.push(&config.label.column);
    require_columns(&df, source, columns.iter().copied())?;
    let n = df.height();
    let mut rng = SplitMix64::new(seed);
    let picks: Vec<IdxSize> = (0..rows).map(|_| rng.below(n) as IdxSize).collect();
    let idx = IdxCa::from_vec("idx".into(), picks);
    let table_err = |e: PolarsError| CoreError::Table {
        action: "build",
        path: out.to_path_buf(),
        source: e.into(),
    };
    let sampled = df
        .select(columns.iter().copied())
        .and_then(|d| d.take(&idx))
        .map_err(table_err)?;

    let mut result: Vec<Column> = Vec::with_capacity(columns.len());
    for name in &columns {
        let mut col = sampled.column(name).map_err(table_err)?.clone();
        let is_numeric = config.features.numeric.iter().any(|c| c == name);
        let is_binary = config.features.binary.iter().any(|c| c == name);
        let is_label = *name == config.label.column;
        if !is_label && !is_numeric && shift > 0.0 {
            // Re-draw the value from another random row with probability shift/(1+shift).
            let p = shift / (1.0 + shift);
            let redraw: Vec<IdxSize> = (0..rows)
                .map(|i| if rng.next_f64() < p { rng.below(rows) } else { i } as IdxSize)
                .collect();
            col = col
                .take(&IdxCa::from_vec("r".into(), redraw))
                .map_err(table_err)?;
        }
        if is_numeric || is_binary {
            let text = col.cast(&DataType::String).map_err(table_err)?;
            let values: Vec<Option<f64>> = text
                .str()
                .map_err(table_err)?
                .iter()
                .map(|v| {
                    let v = v?.trim();
                    if is_binary {
                        // Written as numbers so that Parquet keeps them typed.
                        return mlops_model::preprocess::parse_binary(v)
                            .ok()
                            .filter(|b| !b.is_nan())
                            .map(f64::from);
                    }
                    let v: f64 = v.parse().ok()?;
                    // Multiplicative noise keeps the sign and rough scale; missing stays missing.
                    let noise = 1.0 + 0.05 * (rng.next_f64() * 2.0 - 1.0);
                    Some((v * noise * (1.0 + 0.3 * shift) * 100.0).round() / 100.0)
                })
                .collect();
            col = Column::new((*name).into(), values);
        }
        result.push(col);
    }
    let mut out_df = DataFrame::new(rows, result).map_err(table_err)?;
    write_table(&mut out_df, out)
}
