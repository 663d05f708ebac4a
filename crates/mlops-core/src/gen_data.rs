//! Synthetic tables with the configured schema, resampled from real rows and perturbed, for
//! scale tests and benchmarks.
//!
//! `shift` X in [0, 1] moves the population for drift demos and tests, in proportion to X,
//! through named columns of the shipped churn table (a config without a column leaves that
//! rule out):
//! - `tenure` × (1 − 0.5·X): newer customers;
//! - `monthly_charges` × (1 + 0.3·X): dearer plans;
//! - `total_charges` × (1 − 0.5·X)(1 + 0.3·X): their product, so the three stay consistent;
//! - `contract`: a row on another contract switches to `Month-to-month` with probability
//!   0.6·X.
//!
//! The label is the resampled row's, unchanged (a covariate shift: the model's scores move,
//! so a model scoring the table sees prediction drift and its realised performance changes).
//! X = 0 gives exactly the unshifted table (the shift draws its own random numbers).

use std::path::Path;

use mlops_booster::rng::SplitMix64;
use mlops_domain::ModelConfig;
use polars::prelude::*;

use crate::error::{CoreError, Result};
use crate::table::{read_table, require_columns, write_table};

/// Column whose values the shift scales down (shorter tenure).
pub const SHIFT_TENURE: &str = "tenure";
/// Column whose values the shift scales up (higher monthly charges).
pub const SHIFT_MONTHLY: &str = "monthly_charges";
/// Column scaled by both factors (total = tenure × monthly).
pub const SHIFT_TOTAL: &str = "total_charges";
/// Column whose rows the shift moves to [`SHIFT_CONTRACT_LEVEL`].
pub const SHIFT_CONTRACT: &str = "contract";
/// The contract level the shift moves rows to.
pub const SHIFT_CONTRACT_LEVEL: &str = "Month-to-month";

/// The factor the shift `x` applies to a numeric column (1 for a column it leaves alone).
pub fn shift_factor(column: &str, x: f64) -> f64 {
    match column {
        SHIFT_TENURE => 1.0 - 0.5 * x,
        SHIFT_MONTHLY => 1.0 + 0.3 * x,
        SHIFT_TOTAL => (1.0 - 0.5 * x) * (1.0 + 0.3 * x),
        _ => 1.0,
    }
}

/// What [`generate`] writes besides the configured columns.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Write a first column of that name with a unique id per row, `<seed>-<row>` (so tables of
    /// different seeds do not share ids). `None`: no id column.
    pub id_column: Option<String>,
}

/// Generate `rows` rows from the `source` table and write them to `out`; `shift` in [0, 1]
/// (see the module documentation).
pub fn generate(
    config: &ModelConfig,
    source: &Path,
    rows: usize,
    seed: u64,
    shift: f64,
    out: &Path,
) -> Result<()> {
    generate_with(
        config,
        source,
        rows,
        seed,
        shift,
        out,
        &GenerateOptions::default(),
    )
}

/// [`generate`] with [`GenerateOptions`].
pub fn generate_with(
    config: &ModelConfig,
    source: &Path,
    rows: usize,
    seed: u64,
    shift: f64,
    out: &Path,
    options: &GenerateOptions,
) -> Result<()> {
    crate::table::Format::of(out)?;
    if !(shift.is_finite() && (0.0..=1.0).contains(&shift)) {
        return Err(CoreError::InvalidTable {
            path: out.to_path_buf(),
            message: format!("--shift must be between 0 and 1, got {shift}"),
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

    // The shift's own random numbers: the unshifted draws stay the same for every shift.
    let mut shift_rng = SplitMix64::new(seed ^ 0x5348_4946_5400_0000);
    let mut result: Vec<Column> = Vec::with_capacity(columns.len() + 1);
    if let Some(id) = &options.id_column {
        if columns.iter().any(|c| c == id) {
            return Err(CoreError::InvalidTable {
                path: out.to_path_buf(),
                message: format!("id column `{id}` is already a column of the config"),
            });
        }
        let ids: Vec<String> = (0..rows).map(|i| format!("{seed}-{i}")).collect();
        result.push(Column::new(id.as_str().into(), ids));
    }
    for name in &columns {
        let mut col = sampled.column(name).map_err(table_err)?.clone();
        let is_numeric = config.features.numeric.iter().any(|c| c == name);
        let is_binary = config.features.binary.iter().any(|c| c == name);
        if is_numeric || is_binary {
            let factor = shift_factor(name, shift);
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
                    Some((v * noise * factor * 100.0).round() / 100.0)
                })
                .collect();
            col = Column::new((*name).into(), values);
        } else if *name == SHIFT_CONTRACT
            && shift > 0.0
            && config.features.categorical.iter().any(|c| c == name)
        {
            let p = 0.6 * shift;
            let text = col.cast(&DataType::String).map_err(table_err)?;
            let values: Vec<Option<String>> = text
                .str()
                .map_err(table_err)?
                .iter()
                .map(|v| match v {
                    Some(v) if v != SHIFT_CONTRACT_LEVEL && shift_rng.next_f64() < p => {
                        Some(SHIFT_CONTRACT_LEVEL.to_string())
                    }
                    v => v.map(str::to_string),
                })
                .collect();
            col = Column::new((*name).into(), values);
        }
        result.push(col);
    }
    let mut out_df = DataFrame::new(rows, result).map_err(table_err)?;
    write_table(&mut out_df, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::read_table;

    fn repo(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    fn config() -> ModelConfig {
        ModelConfig::from_file(repo("config/model.yaml")).unwrap()
    }

    fn mean(df: &DataFrame, name: &str) -> f64 {
        let c = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
        c.f64().unwrap().mean().unwrap()
    }

    fn share(df: &DataFrame, name: &str, level: &str) -> f64 {
        let c = df.column(name).unwrap().cast(&DataType::String).unwrap();
        let c = c.str().unwrap();
        c.iter().filter(|v| *v == Some(level)).count() as f64 / c.len() as f64
    }

    /// Shift 0 is the unshifted generator: the shift's factors are all 1 and it draws no
    /// numbers from the main stream; adding an id column changes no other column.
    #[test]
    fn shift_zero_and_id_column_leave_the_rows_alone() {
        for c in ["tenure", "monthly_charges", "total_charges", "female"] {
            assert_eq!(shift_factor(c, 0.0), 1.0);
        }
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        let src = repo("data/wa_churn.csv");
        generate(&config(), &src, 3000, 5, 0.0, &a).unwrap();
        let options = GenerateOptions {
            id_column: Some("id".into()),
        };
        generate_with(&config(), &src, 3000, 5, 0.0, &b, &options).unwrap();
        let (a, mut b) = (read_table(&a).unwrap(), read_table(&b).unwrap());
        let ids = b.drop_in_place("id").unwrap();
        assert!(a.equals_missing(&b));
        let ids: Vec<&str> = ids.str().unwrap().iter().map(Option::unwrap).collect();
        assert_eq!((ids[0], ids[2999]), ("5-0", "5-2999"));
    }

    /// Shift 0.5 moves the documented columns in the documented direction, by about the
    /// documented amount, and leaves the label and other columns' distributions alone.
    #[test]
    fn shift_moves_the_named_columns_in_proportion() {
        let dir = tempfile::tempdir().unwrap();
        let src = repo("data/wa_churn.csv");
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        generate(&config(), &src, 20_000, 9, 0.0, &a).unwrap();
        generate(&config(), &src, 20_000, 9, 0.5, &b).unwrap();
        let (a, b) = (read_table(&a).unwrap(), read_table(&b).unwrap());
        let ratio = |c: &str| mean(&b, c) / mean(&a, c);
        // Same base draws: the ratios are the factors up to rounding to cents.
        assert!((ratio("tenure") - shift_factor("tenure", 0.5)).abs() < 0.01);
        assert!((ratio("monthly_charges") - shift_factor("monthly_charges", 0.5)).abs() < 0.01);
        assert!((ratio("total_charges") - shift_factor("total_charges", 0.5)).abs() < 0.01);
        let (m0, m1) = (
            share(&a, "contract", SHIFT_CONTRACT_LEVEL),
            share(&b, "contract", SHIFT_CONTRACT_LEVEL),
        );
        // 30 % of the other rows move.
        let expected = m0 + 0.3 * (1.0 - m0);
        assert!(
            (m1 - expected).abs() < 0.02,
            "{m0} -> {m1}, expected {expected}"
        );
        assert_eq!(share(&a, "churn", "Yes"), share(&b, "churn", "Yes"));
        assert_eq!(mean(&a, "senior_citizen"), mean(&b, "senior_citizen"));
    }

    #[test]
    fn shift_outside_zero_to_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.csv");
        let src = repo("data/wa_churn.csv");
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = generate(&config(), &src, 10, 0, bad, &out).unwrap_err();
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
    }
}
