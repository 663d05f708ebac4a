//! Later outcomes for scored rows, for demos and tests of performance monitoring: which of
//! the customers a predictions table scored did churn, and when that became known.
//!
//! For a fraction of the scored ids (chosen at random, exactly `round(fraction × rows)`; the
//! others have "not arrived yet") the output holds:
//! - `id`: the scored row's id (text);
//! - `churned` (i32, 0/1): the data table's label for that id (1 = `label.positive`) when the
//!   data has the label column; otherwise drawn as Bernoulli(probability) from the
//!   predictions' `probability` (or `<label>_probability`) column, i.e. outcomes as if the
//!   model were calibrated;
//! - `outcome_at` (timestamp, microseconds, UTC): the row's `scored_at` (now when the
//!   predictions have none) plus one second plus a uniform draw in [0, delay_days) days.
//!
//! Rows keep the predictions' order. The same seed gives the same file.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use mlops_booster::rng::SplitMix64;
use mlops_domain::LabelConfig;
use polars::prelude::*;

use crate::error::{CoreError, Result};
use crate::predict::{output_columns, PROBABILITY_COLUMN, SCORED_AT_COLUMN};
use crate::table::{read_table, require_columns, write_table};

/// Output column: the id.
pub const ID_COLUMN: &str = "id";
/// Output column: the outcome, 0/1.
pub const CHURNED_COLUMN: &str = "churned";
/// Output column: when the outcome arrived.
pub const OUTCOME_AT_COLUMN: &str = "outcome_at";

/// How [`generate_outcomes`] draws.
#[derive(Debug, Clone)]
pub struct OutcomeOptions {
    /// Share of the scored ids that get an outcome, in [0, 1].
    pub fraction: f64,
    /// Outcomes arrive up to this many days after scoring (≥ 0).
    pub delay_days: f64,
    /// Random seed.
    pub seed: u64,
    /// The id column of both the predictions and the data tables.
    pub id_column: String,
}

impl Default for OutcomeOptions {
    fn default() -> Self {
        OutcomeOptions {
            fraction: 0.8,
            delay_days: 30.0,
            seed: 0,
            id_column: ID_COLUMN.into(),
        }
    }
}

/// What [`generate_outcomes`] wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutcomeSummary {
    /// Rows in the predictions table.
    pub scored: usize,
    /// Outcome rows written.
    pub written: usize,
    /// Of which churned.
    pub churned: usize,
    /// Whether `churned` came from the data's labels (else drawn from the probabilities).
    pub from_labels: bool,
}

fn invalid(path: &Path, message: String) -> CoreError {
    CoreError::InvalidTable {
        path: path.to_path_buf(),
        message,
    }
}

fn table_err(path: &Path) -> impl FnOnce(PolarsError) -> CoreError + '_ {
    move |e| CoreError::Table {
        action: "read",
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// The text of every cell of a column (ids are compared as text, whatever their type).
fn text_cells(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<Option<String>>> {
    let col = df
        .column(name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(table_err(path))?;
    Ok(col
        .str()
        .map_err(table_err(path))?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// `scored_at` per row in microseconds since the epoch: a timestamp column, or text as polars
/// writes it to CSV (RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f]` read as UTC).
fn scored_at_micros(df: &DataFrame, path: &Path, now: i64) -> Result<Vec<i64>> {
    let Ok(col) = df.column(SCORED_AT_COLUMN) else {
        return Ok(vec![now; df.height()]);
    };
    if let DataType::Datetime(..) = col.dtype() {
        let micros = col
            .cast(&DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            ))
            .and_then(|c| c.cast(&DataType::Int64))
            .map_err(table_err(path))?;
        return Ok(micros
            .i64()
            .map_err(table_err(path))?
            .iter()
            .map(|v| v.unwrap_or(now))
            .collect());
    }
    text_cells(df, SCORED_AT_COLUMN, path)?
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v {
            None => Ok(now),
            Some(v) => parse_timestamp(&v).ok_or_else(|| {
                invalid(
                    path,
                    format!(
                        "row {}, column `{SCORED_AT_COLUMN}`: `{v}` is not a timestamp \
                         (expected RFC 3339, e.g. 2026-12-03T21:00:00Z)",
                        row + 1
                    ),
                )
            }),
        })
        .collect()
}

/// Parse a timestamp written by polars or a person; `None` if it is not one.
fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_micros());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Write the outcomes of the rows of `predictions` (see the module documentation) to `out`
/// (CSV or Parquet by extension). `data` is the table that was scored; `label` names its
/// label column and values.
pub fn generate_outcomes(
    label: &LabelConfig,
    predictions: &Path,
    data: &Path,
    out: &Path,
    options: &OutcomeOptions,
) -> Result<OutcomeSummary> {
    crate::table::Format::of(out)?;
    if !(options.fraction.is_finite() && (0.0..=1.0).contains(&options.fraction)) {
        return Err(invalid(
            out,
            format!(
                "--fraction must be between 0 and 1, got {}",
                options.fraction
            ),
        ));
    }
    if !(options.delay_days.is_finite() && options.delay_days >= 0.0) {
        return Err(invalid(
            out,
            format!(
                "--delay-days must be a number of days ≥ 0, got {}",
                options.delay_days
            ),
        ));
    }
    let id = options.id_column.as_str();
    let preds = read_table(predictions)?;
    require_columns(&preds, predictions, [id])?;
    let ids = text_cells(&preds, id, predictions)?;
    let n = ids.len();
    let now = Utc::now().timestamp_micros();
    let scored_at = scored_at_micros(&preds, predictions, now)?;
    let mut rng = SplitMix64::new(options.seed);

    // Outcomes from the data's labels, or drawn from the scores.
    let table = read_table(data)?;
    require_columns(&table, data, [id])?;
    let from_labels = table.column(&label.column).is_ok();
    let churned: Vec<i32> = if from_labels {
        let data_ids = text_cells(&table, id, data)?;
        let labels = text_cells(&table, &label.column, data)?;
        let mut by_id: HashMap<&str, i32> = HashMap::with_capacity(data_ids.len());
        for (row, (k, v)) in data_ids.iter().zip(&labels).enumerate() {
            let Some(k) = k else { continue };
            let value = match v.as_deref().map(str::trim) {
                Some(v) if v == label.positive => 1,
                Some(v) if v == label.negative => 0,
                other => {
                    return Err(invalid(
                        data,
                        format!(
                            "row {}, column `{}`: `{}` is neither `{}` nor `{}`",
                            row + 1,
                            label.column,
                            other.unwrap_or(""),
                            label.positive,
                            label.negative
                        ),
                    ))
                }
            };
            // The first row of an id counts.
            by_id.entry(k.as_str()).or_insert(value);
        }
        let mut missing = Vec::new();
        let churned = ids
            .iter()
            .map(|k| {
                let found = k.as_deref().and_then(|k| by_id.get(k).copied());
                if found.is_none() && missing.len() < 5 {
                    missing.push(k.clone().unwrap_or_default());
                }
                found.unwrap_or(0)
            })
            .collect();
        if !missing.is_empty() {
            return Err(invalid(
                predictions,
                format!(
                    "id(s) not in `{}`: {} (expected every scored id in the data table)",
                    data.display(),
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        churned
    } else {
        let (classic, _) = output_columns(&label.column);
        let name = [PROBABILITY_COLUMN, classic.as_str()]
            .into_iter()
            .find(|c| preds.column(c).is_ok())
            .ok_or_else(|| {
                invalid(
                    predictions,
                    format!(
                        "`{}` has no label column `{}`, and the predictions no `{PROBABILITY_COLUMN}` \
                         or `{classic}` column to draw outcomes from",
                        data.display(),
                        label.column
                    ),
                )
            })?;
        let p = preds
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(table_err(predictions))?;
        let p = p.f64().map_err(table_err(predictions))?;
        p.iter()
            .map(|v| i32::from(rng.next_f64() < v.unwrap_or(0.0)))
            .collect()
    };

    // Exactly round(fraction × n) rows, by a partial Fisher–Yates shuffle, in table order.
    let k = ((options.fraction * n as f64).round() as usize).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below(n - i);
        order.swap(i, j);
    }
    let mut chosen = order[..k].to_vec();
    chosen.sort_unstable();

    let span = options.delay_days * 86_400e6;
    let mut out_ids = Vec::with_capacity(k);
    let mut out_churned = Vec::with_capacity(k);
    let mut out_at = Vec::with_capacity(k);
    for &row in &chosen {
        out_ids.push(ids[row].clone());
        out_churned.push(churned[row]);
        out_at.push(scored_at[row] + 1_000_000 + (rng.next_f64() * span) as i64);
    }
    let written_churned = out_churned.iter().filter(|&&c| c == 1).count();
    let build_err = |e: PolarsError| CoreError::Table {
        action: "build",
        path: out.to_path_buf(),
        source: e.into(),
    };
    let at = Int64Chunked::from_vec(OUTCOME_AT_COLUMN.into(), out_at)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column();
    let mut df = DataFrame::new(
        k,
        vec![
            Column::new(ID_COLUMN.into(), out_ids),
            Column::new(CHURNED_COLUMN.into(), out_churned),
            at,
        ],
    )
    .map_err(build_err)?;
    write_table(&mut df, out)?;
    Ok(OutcomeSummary {
        scored: n,
        written: k,
        churned: written_churned,
        from_labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> LabelConfig {
        LabelConfig {
            column: "churn".into(),
            positive: "Yes".into(),
            negative: "No".into(),
        }
    }

    fn write(path: &Path, columns: Vec<Column>) {
        let n = columns[0].len();
        let mut df = DataFrame::new(n, columns).unwrap();
        write_table(&mut df, path).unwrap();
    }

    fn ints(df: &DataFrame, name: &str) -> Vec<i64> {
        let c = df.column(name).unwrap().cast(&DataType::Int64).unwrap();
        c.i64().unwrap().into_no_null_iter().collect()
    }

    fn texts(df: &DataFrame, name: &str) -> Vec<String> {
        text_cells(df, name, Path::new("t"))
            .unwrap()
            .into_iter()
            .map(Option::unwrap)
            .collect()
    }

    /// Labels come from the data by id (whatever the row order), a fraction of the ids get
    /// one, each after its scoring time by at most the delay, and the seed fixes the file.
    #[test]
    fn outcomes_follow_the_data_labels_and_the_options() {
        let dir = tempfile::tempdir().unwrap();
        let n: usize = 1000;
        let ids: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let churn: Vec<&str> = (0..n)
            .map(|i| if i.is_multiple_of(3) { "Yes" } else { "No" })
            .collect();
        let data = dir.path().join("data.csv");
        // The data in reverse order: the join is by id.
        let rev = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>();
        let churn_rev: Vec<String> = churn.iter().rev().map(|s| s.to_string()).collect();
        write(
            &data,
            vec![
                Column::new("id".into(), rev(&ids)),
                Column::new("churn".into(), churn_rev),
            ],
        );
        let scored_at: Vec<i64> = (0..n as i64)
            .map(|i| 1_700_000_000_000_000 + i * 1_000_000)
            .collect();
        let preds = dir.path().join("preds.parquet");
        let at = Column::new(SCORED_AT_COLUMN.into(), scored_at.clone())
            .cast(&DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap();
        write(&preds, vec![Column::new("id".into(), &ids), at]);

        let options = OutcomeOptions {
            fraction: 0.25,
            delay_days: 2.0,
            seed: 7,
            ..OutcomeOptions::default()
        };
        let out = dir.path().join("out.parquet");
        let s = generate_outcomes(&label(), &preds, &data, &out, &options).unwrap();
        assert_eq!((s.scored, s.written, s.from_labels), (n, 250, true));
        let df = read_table(&out).unwrap();
        assert_eq!(df.get_column_names(), ["id", "churned", "outcome_at"]);
        let got_ids = texts(&df, "id");
        let churned = ints(&df, "churned");
        let outcome_at = ints(&df, "outcome_at");
        assert_eq!(s.churned, churned.iter().filter(|&&c| c == 1).count());
        let mut last = None;
        for ((id, c), t) in got_ids.iter().zip(&churned).zip(&outcome_at) {
            let i: usize = id[1..].parse().unwrap();
            assert!(last < Some(i), "predictions' order");
            last = Some(i);
            assert_eq!(*c, i64::from(i.is_multiple_of(3)), "{id}");
            let delay = t - scored_at[i];
            assert!(
                delay > 0 && delay <= 1_000_000 + 2 * 86_400_000_000,
                "{id}: {delay}"
            );
        }
        // Same seed, same file; another seed, other rows.
        let again = dir.path().join("again.parquet");
        generate_outcomes(&label(), &preds, &data, &again, &options).unwrap();
        assert!(df.equals_missing(&read_table(&again).unwrap()));
        let other = OutcomeOptions {
            seed: 8,
            ..options.clone()
        };
        generate_outcomes(&label(), &preds, &data, &again, &other).unwrap();
        assert_ne!(texts(&read_table(&again).unwrap(), "id"), got_ids);
    }

    /// Without a label column in the data, outcomes are drawn from the probabilities; CSV
    /// predictions with text timestamps are read too.
    #[test]
    fn outcomes_without_labels_follow_the_probabilities() {
        let dir = tempfile::tempdir().unwrap();
        let n = 4000;
        let ids: Vec<String> = (0..n).map(|i| format!("{i}")).collect();
        let p: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { 0.9 } else { 0.1 }).collect();
        let data = dir.path().join("data.parquet");
        write(&data, vec![Column::new("id".into(), &ids)]);
        let preds = dir.path().join("preds.csv");
        let at = vec!["2026-12-01T00:00:00Z"; n];
        write(
            &preds,
            vec![
                Column::new("id".into(), &ids),
                Column::new("probability".into(), p),
                Column::new(SCORED_AT_COLUMN.into(), at),
            ],
        );
        let out = dir.path().join("out.csv");
        let options = OutcomeOptions {
            fraction: 1.0,
            ..OutcomeOptions::default()
        };
        let s = generate_outcomes(&label(), &preds, &data, &out, &options).unwrap();
        assert!(!s.from_labels);
        let df = read_table(&out).unwrap();
        let churned = texts(&df, "churned");
        let rate = |parity: usize| {
            let rows: Vec<_> = churned
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == parity)
                .collect();
            rows.iter().filter(|(_, c)| c.as_str() == "1").count() as f64 / rows.len() as f64
        };
        assert!((rate(0) - 0.9).abs() < 0.03 && (rate(1) - 0.1).abs() < 0.03);
        let first = parse_timestamp(&texts(&df, "outcome_at")[0]).unwrap();
        assert!(first > parse_timestamp("2026-12-01T00:00:00Z").unwrap());
    }

    #[test]
    fn outcomes_refuse_unknown_ids_and_bad_options() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data.csv");
        std::fs::write(&data, "id,churn\na,Yes\n").unwrap();
        let preds = dir.path().join("preds.csv");
        std::fs::write(&preds, "id,probability\na,0.5\nzz,0.2\n").unwrap();
        let out = dir.path().join("o.csv");
        let o = OutcomeOptions::default();
        let err = generate_outcomes(&label(), &preds, &data, &out, &o).unwrap_err();
        assert!(err.to_string().contains("`zz`"), "{err}");
        for bad in [
            OutcomeOptions {
                fraction: 1.5,
                ..o.clone()
            },
            OutcomeOptions {
                delay_days: -1.0,
                ..o.clone()
            },
        ] {
            assert!(generate_outcomes(&label(), &preds, &data, &out, &bad).is_err());
        }
        std::fs::write(&data, "id,churn\na,maybe\nzz,No\n").unwrap();
        let err = generate_outcomes(&label(), &preds, &data, &out, &o).unwrap_err();
        assert!(err.to_string().contains("`maybe`"), "{err}");
        assert!(!out.exists());
    }
}
