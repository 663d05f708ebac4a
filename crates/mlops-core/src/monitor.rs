//! Monitoring on tables: reads predictions, scored rows and outcomes with polars and hands
//! plain slices to `mlops_monitoring`, which does the statistics. Used by the monitoring
//! components and by `mlops monitor`, so that a pipeline and a person get the same numbers.
//!
//! - [`check_drift`]: score drift against the bundle's training-split baseline (the old
//!   equal-width histogram for bundles trained before the baseline existed) and feature drift
//!   of every profiled input column; `drift_detected` and the drifted features follow the
//!   thresholds of `config/monitoring.yaml`.
//! - [`join_outcomes`] + [`check_performance`]: predictions in a time window joined by id with
//!   the outcomes that arrived; rows without an outcome are counted, not dropped silently;
//!   realised metrics next to the ones estimated from the scores alone (CBPE).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use mlops_model::ModelBundle;
use mlops_monitoring::baseline::FeatureProfile;
use mlops_monitoring::thresholds::{Alert, MonitoringConfig};
use mlops_monitoring::{
    estimate_performance_calibrated, performance, score_drift, Calibration, ColumnValues,
    EstimatedPerformance, FeatureCounts, FeatureDriftReport, Outcome, Performance, ScoreDrift,
};
use polars::prelude::*;
use serde::Serialize;

use crate::error::{CoreError, Result};
use crate::table::{read_table_columns, require_columns, BatchReader, DEFAULT_BATCH_ROWS};

/// The probability column of a predictions table.
pub const PROBABILITY: &str = "probability";
/// When a prediction was made.
pub const SCORED_AT: &str = "scored_at";

fn monitoring_err(path: &Path) -> impl FnOnce(mlops_monitoring::MonitoringError) -> CoreError + '_ {
    move |e| CoreError::InvalidTable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn polars_err(path: &Path) -> impl FnOnce(PolarsError) -> CoreError + '_ {
    move |e| CoreError::Table {
        action: "read",
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// The files of a table: the file itself, or every `.parquet`/`.csv` file of a folder (the
/// local predictions table is one file per run), in name order, hidden files skipped.
pub fn table_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| CoreError::Table {
        action: "list",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CoreError::Table {
            action: "list",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let table = p.extension().is_some_and(|e| e == "parquet" || e == "csv");
        if table && !name.starts_with('.') {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// The probabilities of a table's `column` (each must be a number: a missing or non-numeric
/// value is an error naming its row). Read batch by batch: only the column is kept.
pub fn read_probabilities(path: &Path, column: &str) -> Result<Vec<f64>> {
    read_probabilities_in(path, column, DEFAULT_BATCH_ROWS)
}

fn read_probabilities_in(path: &Path, column: &str, batch_rows: usize) -> Result<Vec<f64>> {
    let mut all = Vec::new();
    for file in table_files(path)? {
        let mut reader = BatchReader::open(&file, Some(&[column]), batch_rows)?;
        reader.require_columns([column])?;
        let mut row = 0;
        while let Some(df) = reader.next_batch()? {
            all.extend(float_column(&df, column, &file, row)?);
            row += df.height();
        }
    }
    Ok(all)
}

/// The numbers of `name`; `first_row` is the table row of the frame's first row (errors name
/// table rows, counted from 1).
fn float_column(df: &DataFrame, name: &str, path: &Path, first_row: usize) -> Result<Vec<f64>> {
    let col = df.column(name).map_err(polars_err(path))?;
    let cast = col.cast(&DataType::Float64).map_err(polars_err(path))?;
    let values = cast.f64().map_err(polars_err(path))?;
    let mut out = Vec::with_capacity(values.len());
    for (row, v) in values.iter().enumerate() {
        match v {
            Some(v) => out.push(v),
            None => {
                return Err(CoreError::InvalidCells {
                    path: path.to_path_buf(),
                    problems: vec![format!(
                        "row {}, column `{name}`: missing or not a number (`{}`); expected a probability",
                        first_row + row + 1,
                        col.get(row).map(|v| v.to_string()).unwrap_or_default()
                    )],
                })
            }
        }
    }
    Ok(out)
}

/// Score drift, feature drift and the decision, with the metric values written to the sinks.
#[derive(Debug, Clone, Serialize)]
pub struct DriftCheck {
    /// Drift of the score distribution.
    pub score: Outcome<ScoreDrift>,
    /// Drift of each input column (or "no baseline").
    pub features: FeatureDriftReport,
    /// The deciding score statistic (`psi` or `js_distance`) or some input column crossed its
    /// threshold.
    pub drift_detected: bool,
    /// Input columns whose drift crosses a threshold.
    pub drifted_features: Vec<String>,
    /// `{group}/{name}` → value, for the metrics sinks and the KFP Metrics artifact.
    pub metrics: Vec<(String, f64)>,
    /// The thresholds of `config` that these values cross.
    pub alerts: Vec<Alert>,
    /// Whether the score baseline is the old histogram (bundles trained before the baseline).
    pub baseline_from_histogram: bool,
}

/// Drift of `scores` against the bundle's baseline, with the input columns' drift `features`
/// (from a [`FeatureTally`]) deciding too. `path` names the scored table in errors.
pub fn check_drift(
    bundle: &ModelBundle,
    scores: &[f64],
    features: FeatureDriftReport,
    config: &MonitoringConfig,
    path: &Path,
) -> Result<DriftCheck> {
    let meta = &bundle.metadata;
    let baseline = meta
        .score_baseline()
        .ok_or_else(|| CoreError::InvalidTable {
            path: path.to_path_buf(),
            message: "the model's metadata.json has no score baseline (no `monitoring` and no \
                  `score_distribution`; an imported model?): retrain it with `mlops train` to \
                  monitor its drift"
                .into(),
        })?;
    let score = score_drift(&baseline, scores, config.drift.binning, config.drift.bins)
        .map_err(monitoring_err(path))?;
    let psi_limit = config.threshold("prediction_drift/psi");
    let js_limit = config.threshold("prediction_drift/js_distance");
    let mut metrics = Vec::new();
    let mut drift_detected = false;
    if let Some(d) = score.computed() {
        let decisive = match config.drift.method.metric_key() {
            "prediction_drift/js_distance" => js_limit.is_some_and(|t| t.fires(d.js_distance)),
            _ => psi_limit.is_some_and(|t| t.fires(d.psi)),
        };
        drift_detected = decisive;
        metrics.push(("prediction_drift/psi".to_string(), d.psi));
        metrics.push(("prediction_drift/js_distance".to_string(), d.js_distance));
        metrics.push(("prediction_drift/wasserstein".to_string(), d.wasserstein));
        metrics.push(("prediction_drift/ks".to_string(), d.ks));
    }
    metrics.push((
        "prediction_drift/row_count".to_string(),
        scores.len() as f64,
    ));
    let mut drifted_features = Vec::new();
    if let FeatureDriftReport::Columns { columns, .. } = &features {
        let (mut max_psi, mut max_js) = (None::<f64>, None::<f64>);
        for f in columns.iter().filter_map(Outcome::computed) {
            let by_psi = f.psi.is_some_and(|p| psi_limit.is_some_and(|t| t.fires(p)));
            let by_js = js_limit.is_some_and(|t| t.fires(f.js_distance));
            if by_psi || by_js {
                drifted_features.push(f.name.clone());
            }
            if let Some(p) = f.psi {
                max_psi = Some(max_psi.map_or(p, |m| m.max(p)));
            }
            max_js = Some(max_js.map_or(f.js_distance, |m| m.max(f.js_distance)));
        }
        metrics.push((
            "feature_drift/features_drifted".to_string(),
            drifted_features.len() as f64,
        ));
        if let Some(p) = max_psi {
            metrics.push(("feature_drift/max_psi".to_string(), p));
        }
        if let Some(j) = max_js {
            metrics.push(("feature_drift/max_js_distance".to_string(), j));
        }
    }
    // Drift is detected when the scores or any input column cross their thresholds: inputs
    // can move a long way before a well-regularised model's scores do.
    drift_detected |= !drifted_features.is_empty();
    metrics.push((
        "prediction_drift/drift_detected".to_string(),
        f64::from(u8::from(drift_detected)),
    ));
    let alerts = config.evaluate(&metrics);
    Ok(DriftCheck {
        score,
        features,
        drift_detected,
        drifted_features,
        metrics,
        alerts,
        baseline_from_histogram: baseline.from_histogram,
    })
}

/// Where the scores of [`check_table_drift`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSource {
    /// The table's own `probability` column (a predictions table, or scored rows).
    ProbabilityColumn,
    /// The bundle scored the table's rows.
    Scored,
}

/// Drift of a whole table against the bundle's baseline, as `mlops monitor drift` checks it:
/// the scores are the table's `probability` column when it has one, else the bundle's scores
/// of its rows; the input columns the table has are compared with their training profiles.
/// The table is read batch by batch: memory holds the scores (8 bytes a row, which the
/// Wasserstein and KS statistics need sorted) and one batch, not the table.
pub fn check_table_drift(
    bundle: &ModelBundle,
    path: &Path,
    config: &MonitoringConfig,
) -> Result<(DriftCheck, ScoreSource)> {
    check_table_drift_in(bundle, path, config, DEFAULT_BATCH_ROWS)
}

fn check_table_drift_in(
    bundle: &ModelBundle,
    path: &Path,
    config: &MonitoringConfig,
    batch_rows: usize,
) -> Result<(DriftCheck, ScoreSource)> {
    let mut scores = Vec::new();
    let mut tally = FeatureTally::new(bundle);
    let mut source = None;
    for file in table_files(path)? {
        let mut reader = BatchReader::open(&file, None, batch_rows)?;
        let this = if reader.columns().iter().any(|c| c == PROBABILITY) {
            ScoreSource::ProbabilityColumn
        } else {
            ScoreSource::Scored
        };
        if source.is_some_and(|s| s != this) {
            return Err(CoreError::InvalidTable {
                path: file,
                message: format!(
                    "some files of the table have a `{PROBABILITY}` column and some do not; \
                     expected one kind of table"
                ),
            });
        }
        source = Some(this);
        let mut row = 0;
        while let Some(df) = reader.next_batch()? {
            match this {
                ScoreSource::ProbabilityColumn => {
                    scores.extend(float_column(&df, PROBABILITY, &file, row)?);
                }
                ScoreSource::Scored => {
                    let x = crate::encode::encode_features(&df, bundle.preprocessor(), &file)?;
                    scores.extend(bundle.predict_proba(&x)?.into_iter().map(f64::from));
                }
            }
            tally.add(&df, &file)?;
            row += df.height();
        }
    }
    let Some(source) = source else {
        return Err(CoreError::InvalidTable {
            path: path.to_path_buf(),
            message: "the folder holds no .parquet or .csv file; expected a table".into(),
        });
    };
    let features = tally.finish(path)?;
    let check = check_drift(bundle, &scores, features, config, path)?;
    Ok((check, source))
}

/// Feature drift of every profiled input column of the table at `path`, read batch by batch.
pub fn table_feature_drift(bundle: &ModelBundle, path: &Path) -> Result<FeatureDriftReport> {
    let mut tally = FeatureTally::new(bundle);
    let wanted = tally.columns();
    if wanted.is_empty() {
        // No baseline (or nothing profiled): there is nothing to count.
        return tally.finish(path);
    }
    for file in table_files(path)? {
        let mut reader = BatchReader::open(&file, Some(&wanted), DEFAULT_BATCH_ROWS)?;
        while let Some(df) = reader.next_batch()? {
            tally.add(&df, &file)?;
        }
    }
    tally.finish(path)
}

/// Bucket counts of each profiled input column, added batch by batch (exact: the buckets are
/// the profile's), so that feature drift of a table never holds the table.
pub struct FeatureTally<'a> {
    /// One entry per profiled column, `None` until a batch supplies it; `None` altogether when
    /// the bundle has no monitoring baseline (trained before it existed).
    columns: Option<Vec<(&'a FeatureProfile, Option<FeatureCounts<'a>>)>>,
}

impl<'a> FeatureTally<'a> {
    /// Empty counts for the bundle's profiled columns.
    pub fn new(bundle: &'a ModelBundle) -> FeatureTally<'a> {
        FeatureTally {
            columns: bundle
                .metadata
                .monitoring
                .as_ref()
                .map(|b| b.features.iter().map(|p| (p, None)).collect()),
        }
    }

    /// The profiled columns' names (what a reader needs to decode).
    pub fn columns(&self) -> Vec<&'a str> {
        self.columns
            .iter()
            .flatten()
            .map(|(p, _)| p.name.as_str())
            .collect()
    }

    /// Count the profiled columns that `df` has; `path` names the table in errors.
    pub fn add(&mut self, df: &DataFrame, path: &Path) -> Result<()> {
        for (profile, counts) in self.columns.iter_mut().flatten() {
            let Ok(col) = df.column(&profile.name) else {
                continue;
            };
            let counts = match counts {
                Some(c) => c,
                None => counts.insert(FeatureCounts::new(profile).map_err(monitoring_err(path))?),
            };
            add_column(counts, profile, col, path)?;
        }
        Ok(())
    }

    /// Each supplied column's drift, in profile order, and the profiled columns no batch had.
    pub fn finish(self, path: &Path) -> Result<FeatureDriftReport> {
        let Some(entries) = self.columns else {
            return Ok(FeatureDriftReport::NoBaseline);
        };
        let mut columns = Vec::new();
        let mut not_supplied = Vec::new();
        for (profile, counts) in entries {
            match counts {
                Some(c) => columns.push(c.finish().map_err(monitoring_err(path))?),
                None => not_supplied.push(profile.name.clone()),
            }
        }
        Ok(FeatureDriftReport::Columns {
            columns,
            not_supplied,
        })
    }
}

/// Count one batch of an input column against its profile: numeric columns as numbers (NaN
/// for missing or unreadable), categorical ones as trimmed text, binary ones as the
/// preprocessor reads them; text is borrowed from the frame, not copied per cell.
fn add_column(
    counts: &mut FeatureCounts<'_>,
    profile: &FeatureProfile,
    col: &Column,
    path: &Path,
) -> Result<()> {
    use mlops_monitoring::baseline::Distribution;
    let text = || -> Result<StringChunked> {
        let cast = col.cast(&DataType::String).map_err(polars_err(path))?;
        Ok(cast.str().map_err(polars_err(path))?.clone())
    };
    let mut add = |values: ColumnValues<'_>| counts.add(values).map_err(monitoring_err(path));
    match &profile.distribution {
        Distribution::Numeric { .. } => {
            let cast = col.cast(&DataType::Float64).map_err(polars_err(path))?;
            let values: Vec<f64> = cast
                .f64()
                .map_err(polars_err(path))?
                .iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect();
            add(ColumnValues::Numeric(&values))
        }
        Distribution::Binary { .. } if col.dtype().is_primitive_numeric() => {
            let cast = col.cast(&DataType::Float64).map_err(polars_err(path))?;
            let levels: Vec<Option<&str>> = cast
                .f64()
                .map_err(polars_err(path))?
                .iter()
                .map(|v| match v {
                    Some(1.0) => Some("1"),
                    Some(0.0) => Some("0"),
                    _ => None,
                })
                .collect();
            add(ColumnValues::Levels(&levels))
        }
        Distribution::Binary { .. } => {
            let text = text()?;
            let levels: Vec<Option<&str>> = text.iter().map(|v| v.and_then(binary_level)).collect();
            add(ColumnValues::Levels(&levels))
        }
        Distribution::Categorical { .. } => {
            let text = text()?;
            let levels: Vec<Option<&str>> = text
                .iter()
                .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
                .collect();
            add(ColumnValues::Levels(&levels))
        }
    }
}

/// A binary cell as its profile's level (`"0"`/`"1"`), as the preprocessor reads it
/// (`mlops_model::preprocess::parse_binary`), without allocating.
fn binary_level(text: &str) -> Option<&'static str> {
    let t = text.trim();
    let is = |forms: &[&str]| forms.iter().any(|f| t.eq_ignore_ascii_case(f));
    if is(&["1", "1.0", "true", "yes"]) {
        Some("1")
    } else if is(&["0", "0.0", "false", "no"]) {
        Some("0")
    } else {
        None
    }
}

/// A time window `[from, to)` on `scored_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

/// Predictions in a window joined with their outcomes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Joined {
    /// Probabilities of the predictions with an outcome.
    pub scores: Vec<f64>,
    /// Their outcomes.
    pub labels: Vec<bool>,
    /// Probabilities of every prediction in the window (estimation needs no label).
    pub all_scores: Vec<f64>,
    /// Predictions in the window whose outcome has not arrived.
    pub without_outcome: usize,
    /// Predictions outside the window.
    pub outside_window: usize,
}

/// Join the predictions table (`id_column`, `probability`, `scored_at`) with the outcomes
/// table (`outcome_id`, `label_column` as 0/1 or true/false) by id, keeping predictions whose
/// `scored_at` is in `window` (all of them without a window or without the column). An id
/// scored twice counts each prediction.
pub fn join_outcomes(
    predictions: &Path,
    id_column: &str,
    outcomes: &Path,
    outcome_id: &str,
    label_column: &str,
    window: Option<Window>,
) -> Result<Joined> {
    // Ids are borrowed from the frames' text (kept alive here): no string per row.
    let mut outcome_ids: Vec<(StringChunked, Vec<bool>)> = Vec::new();
    for file in table_files(outcomes)? {
        let df = read_table_columns(&file, Some(&[outcome_id, label_column]))?;
        require_columns(&df, &file, [outcome_id, label_column])?;
        let ids = text_chunked(&df, outcome_id, &file)?;
        let ys = label_values(&df, label_column, &file)?;
        outcome_ids.push((ids, ys));
    }
    // polars' hasher: SipHash was a fifth of the run on a million ids.
    let mut labels: PlHashMap<&str, bool> = PlHashMap::default();
    for (ids, ys) in &outcome_ids {
        for (id, &y) in ids.iter().zip(ys) {
            if let Some(id) = id.map(str::trim) {
                labels.insert(id, y);
            }
        }
    }
    let mut joined = Joined::default();
    for file in table_files(predictions)? {
        let df = read_table_columns(&file, None)?;
        require_columns(&df, &file, [id_column, PROBABILITY])?;
        let ids = text_chunked(&df, id_column, &file)?;
        let probs = float_column(&df, PROBABILITY, &file, 0)?;
        let times = match (window, df.column(SCORED_AT)) {
            (Some(_), Ok(col)) => Some(micros(col, &file)?),
            _ => None,
        };
        for (row, (id, p)) in ids.iter().zip(probs).enumerate() {
            if let (Some(w), Some(times)) = (window, &times) {
                let inside = times[row]
                    .is_some_and(|t| t >= w.from.timestamp_micros() && t < w.to.timestamp_micros());
                if !inside {
                    joined.outside_window += 1;
                    continue;
                }
            }
            joined.all_scores.push(p);
            match id.and_then(|id| labels.get(id.trim()).copied()) {
                Some(y) => {
                    joined.scores.push(p);
                    joined.labels.push(y);
                }
                None => joined.without_outcome += 1,
            }
        }
    }
    Ok(joined)
}

/// A column as text (a cast only when it is not text already).
fn text_chunked(df: &DataFrame, name: &str, path: &Path) -> Result<StringChunked> {
    let col = df.column(name).map_err(polars_err(path))?;
    let text = col.cast(&DataType::String).map_err(polars_err(path))?;
    Ok(text.str().map_err(polars_err(path))?.clone())
}

fn label_values(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<bool>> {
    let text = text_chunked(df, name, path)?;
    let mut out = Vec::with_capacity(text.len());
    for (row, v) in text.iter().enumerate() {
        match v.and_then(binary_level) {
            Some(level) => out.push(level == "1"),
            None => {
                return Err(CoreError::InvalidCells {
                    path: path.to_path_buf(),
                    problems: vec![format!(
                    "row {}, column `{name}`: `{}` is not an outcome; expected 0/1 or true/false",
                    row + 1,
                    v.unwrap_or("")
                )],
                })
            }
        }
    }
    Ok(out)
}

/// A `scored_at` column as microseconds since the epoch: a timestamp of any unit, or text
/// (CSV) in RFC 3339 or as a naive date-time taken as UTC.
pub(crate) fn micros(col: &Column, path: &Path) -> Result<Vec<Option<i64>>> {
    let factor = match col.dtype() {
        DataType::Datetime(TimeUnit::Nanoseconds, _) => -1000,
        DataType::Datetime(TimeUnit::Microseconds, _) => 1,
        DataType::Datetime(TimeUnit::Milliseconds, _) => 1000,
        DataType::String => return text_micros(col, path),
        other => {
            return Err(CoreError::InvalidTable {
                path: path.to_path_buf(),
                message: format!("column `{SCORED_AT}` is {other}; expected a timestamp"),
            })
        }
    };
    let raw = col.cast(&DataType::Int64).map_err(polars_err(path))?;
    let values = raw.i64().map_err(polars_err(path))?;
    Ok(values
        .iter()
        .map(|v| v.map(|t| if factor < 0 { t / 1000 } else { t * factor }))
        .collect())
}

/// A text timestamp column as microseconds since the epoch; an empty cell is missing, an
/// unreadable one an error naming its row.
fn text_micros(col: &Column, path: &Path) -> Result<Vec<Option<i64>>> {
    let values = col.str().map_err(polars_err(path))?;
    let mut out = Vec::with_capacity(values.len());
    for (row, v) in values.iter().enumerate() {
        let v = v.map(str::trim).filter(|s| !s.is_empty());
        out.push(match v {
            None => None,
            Some(text) => Some(
                parse_timestamp(text).ok_or_else(|| CoreError::InvalidCells {
                    path: path.to_path_buf(),
                    problems: vec![format!(
                    "row {}, column `{SCORED_AT}`: `{text}` is not a timestamp; expected RFC 3339 \
                     (`2026-12-04T00:00:00Z`)",
                    row + 1
                )],
                })?,
            ),
        });
    }
    Ok(out)
}

fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

/// Realised and estimated performance of a window, with the metric values and alerts.
#[derive(Debug, Clone, Serialize)]
pub struct PerformanceCheck {
    /// Metrics on the predictions whose outcome arrived.
    pub realised: Outcome<Performance>,
    /// Metrics expected from the scores of every prediction in the window (CBPE).
    pub estimated: Outcome<EstimatedPerformance>,
    /// Predictions in the window without an outcome yet.
    pub rows_without_outcome: usize,
    /// Whether the estimate went through the model's calibration (else raw scores).
    pub calibrated: bool,
    /// `{group}/{name}` → value.
    pub metrics: Vec<(String, f64)>,
    /// The thresholds these values cross.
    pub alerts: Vec<Alert>,
}

/// Performance of `joined` at `threshold`; too few rows give `performance/insufficient_data`
/// = 1 and no metric that could raise a false alert. The estimate calibrates the scores with
/// `calibration` (the scoring model's, from its bundle) when there is one.
pub fn check_performance(
    joined: &Joined,
    threshold: f64,
    config: &MonitoringConfig,
    calibration: Option<&Calibration>,
    path: &Path,
) -> Result<PerformanceCheck> {
    let realised =
        performance(&joined.scores, &joined.labels, threshold).map_err(monitoring_err(path))?;
    let estimated = estimate_performance_calibrated(&joined.all_scores, threshold, calibration)
        .map_err(monitoring_err(path))?;
    let mut metrics = Vec::new();
    let mut push = |k: &str, v: f64| metrics.push((format!("performance/{k}"), v));
    let insufficient = match realised.computed() {
        Some(p) => {
            if let Some(auc) = p.auc {
                push("auc", auc);
            }
            push("logloss", p.logloss);
            push("accuracy", p.accuracy);
            push("precision", p.precision);
            push("recall", p.recall);
            push("f1", p.f1);
            push("brier", p.brier);
            push("ece", p.ece);
            push("positive_rate", p.positive_rate);
            p.auc.is_none()
        }
        None => true,
    };
    push("row_count", joined.scores.len() as f64);
    push("rows_without_outcome", joined.without_outcome as f64);
    if let Some(e) = estimated.computed() {
        if let Some(auc) = e.auc {
            push("estimated_auc", auc);
        }
        push("estimated_precision", e.precision);
        push("estimated_recall", e.recall);
        push("estimated_f1", e.f1);
    }
    push("insufficient_data", f64::from(u8::from(insufficient)));
    let alerts = config.evaluate(&metrics);
    Ok(PerformanceCheck {
        realised,
        estimated,
        rows_without_outcome: joined.without_outcome,
        calibrated: calibration.is_some(),
        metrics,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{read_table, write_table};

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    /// Drift read in batches equals drift of the table in one batch, for scored rows (CSV and
    /// Parquet) and for a probability column; a bad probability in a later batch is named by
    /// its row in the table.
    #[test]
    fn batch_size_does_not_change_drift() {
        let mut config = mlops_domain::ModelConfig::from_file(repo("config/model.yaml")).unwrap();
        config.model.boosted_trees.n_estimators = 10;
        let data = crate::train::prepare(&config, &repo("data/wa_churn.csv")).unwrap();
        let mut quiet = |_: &mlops_booster::RoundReport| {};
        let bundle = crate::train::train(&config, &data, &Default::default(), &mut quiet)
            .unwrap()
            .bundle;
        let monitoring = MonitoringConfig::shipped().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let csv = repo("data/wa_churn.csv");
        let mut table = read_table(&csv).unwrap();
        let parquet = dir.path().join("rows.parquet");
        write_table(&mut table, &parquet).unwrap();
        // The same rows with scores of their own: the probability column is read, not scored.
        let n = table.height();
        let probs: Vec<f64> = (0..n).map(|i| (i % 97) as f64 / 97.0).collect();
        let mut with_probs = table.clone();
        with_probs
            .with_column(Column::new(PROBABILITY.into(), probs.clone()))
            .unwrap();
        let scored = dir.path().join("scored.parquet");
        write_table(&mut with_probs, &scored).unwrap();

        for (input, source) in [
            (csv.as_path(), ScoreSource::Scored),
            (parquet.as_path(), ScoreSource::Scored),
            (scored.as_path(), ScoreSource::ProbabilityColumn),
        ] {
            let checks: Vec<String> = [1_000_000, 1000, 333]
                .into_iter()
                .map(|rows| {
                    let (check, s) =
                        check_table_drift_in(&bundle, input, &monitoring, rows).unwrap();
                    assert_eq!(s, source, "{}", input.display());
                    let FeatureDriftReport::Columns { columns, .. } = &check.features else {
                        panic!("the bundle has profiles");
                    };
                    assert_eq!(columns.len(), 19, "{}", input.display());
                    serde_json::to_string(&check).unwrap()
                })
                .collect();
            assert_eq!(checks[0], checks[1], "{}", input.display());
            assert_eq!(checks[0], checks[2], "{}", input.display());
        }
        assert_eq!(
            read_probabilities_in(&scored, PROBABILITY, 333).unwrap(),
            probs
        );

        let mut bad = with_probs.clone();
        let mut p = probs;
        p[1499] = f64::NAN;
        let values: Vec<Option<f64>> = p
            .iter()
            .map(|v| if v.is_nan() { None } else { Some(*v) })
            .collect();
        bad.with_column(Column::new(PROBABILITY.into(), values))
            .unwrap();
        let bad_path = dir.path().join("bad.parquet");
        write_table(&mut bad, &bad_path).unwrap();
        let err = read_probabilities_in(&bad_path, PROBABILITY, 333)
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1500"), "{err}");
    }

    #[test]
    fn binary_cells_read_as_the_preprocessor_reads_them() {
        for (text, level) in [
            ("1", Some("1")),
            (" Yes ", Some("1")),
            ("TRUE", Some("1")),
            ("1.0", Some("1")),
            ("0", Some("0")),
            ("no", Some("0")),
            ("", None),
            ("maybe", None),
        ] {
            assert_eq!(binary_level(text), level, "{text:?}");
            let parsed = mlops_model::preprocess::parse_binary(text);
            let expected = match parsed {
                Ok(1.0) => Some("1"),
                Ok(0.0) => Some("0"),
                _ => None,
            };
            assert_eq!(binary_level(text), expected, "{text:?}");
        }
    }

    #[test]
    fn text_timestamps_are_rfc3339_or_naive_utc() {
        let t = parse_timestamp("2026-12-04T01:02:03Z").unwrap();
        assert_eq!(parse_timestamp("2026-12-04T01:02:03+00:00"), Some(t));
        assert_eq!(parse_timestamp("2026-12-04T01:02:03.000000"), Some(t));
        assert_eq!(parse_timestamp("2026-12-04 01:02:03"), Some(t));
        assert_eq!(parse_timestamp("2026-12-04T02:02:03+01:00"), Some(t));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
