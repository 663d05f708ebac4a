//! `mlops monitor drift|performance`: the checks of the monitoring components on tables a person
//! names, with the same code (`mlops_core::monitor`) and thresholds, so a notebook, a script
//! and a pipeline get the same numbers.

use std::path::Path;

use chrono::{Duration, Utc};
use mlops_core::monitor::{
    check_performance, check_table_drift, join_outcomes, DriftCheck, PerformanceCheck, ScoreSource,
    Window,
};
use mlops_domain::{write_atomic, Settings};
use mlops_model::ModelBundle;
use mlops_monitoring::drift::Binning;
use mlops_monitoring::thresholds::{Alert, MonitoringConfig};
use mlops_monitoring::{FeatureDriftReport, Outcome};
use serde_json::{json, Map, Value};

use crate::alerting::load_monitoring_config;
use crate::args::{MonitorCommand, MonitorDriftArgs, MonitorPerformanceArgs};
use crate::context::BoxError;

/// Run one `mlops monitor` command.
pub fn run(settings: &Settings, command: MonitorCommand) -> Result<(), BoxError> {
    match command {
        MonitorCommand::Drift(args) => drift(settings, args),
        MonitorCommand::Performance(args) => performance(settings, args),
    }
}

/// The monitoring config with the command line's `--bins`/`--binning` over its `drift` section.
fn drift_config(
    settings: &Settings,
    args: &MonitorDriftArgs,
) -> Result<MonitoringConfig, BoxError> {
    let mut config = load_monitoring_config(settings, args.config.as_deref())?;
    if let Some(bins) = args.bins {
        if bins < 2 {
            return Err(format!("--bins {bins}: expected at least 2 histogram bins").into());
        }
        config.drift.bins = bins;
    }
    if let Some(binning) = &args.binning {
        config.drift.binning = binning
            .parse::<Binning>()
            .map_err(|e| format!("--binning: {e}"))?;
    }
    Ok(config)
}

fn drift(settings: &Settings, args: MonitorDriftArgs) -> Result<(), BoxError> {
    let config = drift_config(settings, &args)?;
    let bundle = ModelBundle::load(&args.model)?;
    let (check, source) = check_table_drift(&bundle, &args.data, &config)?;
    if let Some(path) = &args.report {
        let html = monitoring_components::report::drift(&check, &[], &config);
        write_report(path, &html)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&drift_json(&check, source, &config))?
        );
    } else {
        print!("{}", drift_text(&check, source));
    }
    if let Some(path) = &args.report {
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

/// The one JSON object of `monitor drift --json`: the score statistics at the top level (null
/// when there were too few rows), the decision, every feature's result and the metric values.
pub fn drift_json(check: &DriftCheck, source: ScoreSource, config: &MonitoringConfig) -> Value {
    let d = check.score.computed();
    let insufficient = match &check.score {
        Outcome::Computed(_) => Value::Null,
        Outcome::InsufficientData { reason, .. } => Value::String(reason.clone()),
    };
    json!({
        "drift_detected": check.drift_detected,
        "psi": d.map(|d| d.psi),
        "js_distance": d.map(|d| d.js_distance),
        "wasserstein": d.map(|d| d.wasserstein),
        "ks": d.map(|d| d.ks),
        "rows": d.map_or_else(|| metric(&check.metrics, "prediction_drift/row_count"), |d| Some(d.rows as f64)),
        "insufficient_data": insufficient,
        "score_source": source,
        "binning": config.drift.binning,
        "bins": config.drift.bins,
        "baseline_from_histogram": check.baseline_from_histogram,
        "drifted_features": check.drifted_features,
        "features": check.features,
        "metrics": metrics_object(&check.metrics),
        "alerts": alerts_json(&check.alerts),
    })
}

fn metric(metrics: &[(String, f64)], key: &str) -> Option<f64> {
    metrics.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn metrics_object(metrics: &[(String, f64)]) -> Value {
    Value::Object(
        metrics
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn alerts_json(alerts: &[Alert]) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| json!({"metric": a.key, "value": a.value, "threshold": a.threshold, "reason": a.reason}))
            .collect(),
    )
}

fn drift_text(check: &DriftCheck, source: ScoreSource) -> String {
    let mut out = String::new();
    let scores = match source {
        ScoreSource::ProbabilityColumn => "the table's probability column",
        ScoreSource::Scored => "the model's scores of the table",
    };
    match &check.score {
        Outcome::Computed(d) => out.push_str(&format!(
            "drift {} on {} rows ({scores}): PSI {:.4}, Jensen-Shannon distance {:.4}, Wasserstein {:.4}, KS {:.4}\n",
            if check.drift_detected { "DETECTED" } else { "not detected" },
            d.rows,
            d.psi,
            d.js_distance,
            d.wasserstein,
            d.ks
        )),
        Outcome::InsufficientData { rows, reason } => out.push_str(&format!(
            "insufficient data for score drift ({rows} rows): {reason}\n"
        )),
    }
    match &check.features {
        FeatureDriftReport::NoBaseline => out.push_str(
            "feature drift: no baseline (the model was saved without feature profiles)\n",
        ),
        FeatureDriftReport::Columns {
            columns,
            not_supplied,
        } => {
            if !columns.is_empty() {
                out.push_str(&format!(
                    "{:<20} {:<12} {:>8} {:>8} {:>8} {:>8}  {}\n",
                    "FEATURE", "KIND", "PSI", "JS", "LINF", "UNSEEN", "DRIFTED"
                ));
            }
            for column in columns {
                match column {
                    Outcome::Computed(f) => out.push_str(&format!(
                        "{:<20} {:<12} {:>8} {:>8.4} {:>8} {:>8}  {}\n",
                        f.name,
                        f.kind,
                        f.psi.map_or_else(|| "-".into(), |p| format!("{p:.4}")),
                        f.js_distance,
                        f.linf.map_or_else(|| "-".into(), |l| format!("{l:.4}")),
                        f.unseen_rows,
                        if check.drifted_features.contains(&f.name) {
                            "yes"
                        } else {
                            "no"
                        }
                    )),
                    Outcome::InsufficientData { reason, .. } => {
                        out.push_str(&format!("(a column) insufficient data: {reason}\n"))
                    }
                }
            }
            if !not_supplied.is_empty() {
                out.push_str(&format!(
                    "not in the table (not checked): {}\n",
                    not_supplied.join(", ")
                ));
            }
        }
    }
    for alert in &check.alerts {
        out.push_str(&format!("alert: {}\n", alert.reason));
    }
    out
}

fn performance(settings: &Settings, args: MonitorPerformanceArgs) -> Result<(), BoxError> {
    let config = load_monitoring_config(settings, args.config.as_deref())?;
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        return Err(format!(
            "--threshold {}: expected a probability strictly between 0 and 1",
            args.threshold
        )
        .into());
    }
    let window = match args.window_days {
        Some(0) => return Err("--window-days 0: expected a number of days >= 1".into()),
        Some(days) => {
            let now = Utc::now();
            Some(Window {
                from: now - Duration::days(i64::from(days)),
                to: now + Duration::seconds(1),
            })
        }
        None => None,
    };
    let joined = join_outcomes(
        &args.predictions,
        &args.id_column,
        &args.outcomes,
        mlops_core::outcomes::ID_COLUMN,
        mlops_core::outcomes::CHURNED_COLUMN,
        window,
    )?;
    let calibration = match &args.model {
        Some(dir) => {
            let bundle = ModelBundle::load(dir)?;
            let calibration = bundle.metadata.monitoring.and_then(|m| m.calibration);
            if calibration.is_none() {
                eprintln!(
                    "{}: no saved calibration (trained before it existed): the estimate takes the raw scores as calibrated",
                    dir.display()
                );
            }
            calibration
        }
        None => None,
    };
    let check = check_performance(
        &joined,
        args.threshold,
        &config,
        calibration.as_ref(),
        &args.predictions,
    )?;
    if let Some(path) = &args.report {
        let html = monitoring_components::report::performance(
            &check,
            &joined,
            args.window_days.map(i64::from),
            &[],
            &config,
        );
        write_report(path, &html)?;
    }
    if args.json {
        let value = json!({
            "realised": check.realised,
            "estimated": check.estimated,
            "rows_with_outcome": joined.scores.len(),
            "rows_without_outcome": check.rows_without_outcome,
            "rows_outside_window": joined.outside_window,
            "calibrated": check.calibrated,
            "threshold": args.threshold,
            "metrics": metrics_object(&check.metrics),
            "alerts": alerts_json(&check.alerts),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", performance_text(&check, joined.outside_window));
    }
    if let Some(path) = &args.report {
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

fn performance_text(check: &PerformanceCheck, outside_window: usize) -> String {
    let mut out = String::new();
    let with = metric(&check.metrics, "performance/row_count").unwrap_or(0.0);
    out.push_str(&format!(
        "{with} predictions with an outcome, {} without one yet, {outside_window} outside the window\n",
        check.rows_without_outcome
    ));
    let opt = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"));
    match (&check.realised, &check.estimated) {
        (Outcome::Computed(r), Outcome::Computed(e)) => {
            out.push_str(&format!(
                "{:<10} {:>9} {:>9}\n",
                "METRIC", "REALISED", "ESTIMATED"
            ));
            out.push_str(&format!(
                "{:<10} {:>9} {:>9}\n",
                "auc",
                opt(r.auc),
                opt(e.auc)
            ));
            for (name, r, e) in [
                ("precision", r.precision, e.precision),
                ("recall", r.recall, e.recall),
                ("f1", r.f1, e.f1),
                ("accuracy", r.accuracy, e.accuracy),
            ] {
                out.push_str(&format!("{name:<10} {r:>9.4} {e:>9.4}\n"));
            }
            for (name, v) in [
                ("logloss", r.logloss),
                ("brier", r.brier),
                ("ece", r.ece),
                ("pos. rate", r.positive_rate),
            ] {
                out.push_str(&format!("{name:<10} {v:>9.4} {:>9}\n", "-"));
            }
        }
        (Outcome::InsufficientData { reason, .. }, _) => {
            out.push_str(&format!(
                "insufficient data for realised performance: {reason}\n"
            ));
            if let Some(e) = check.estimated.computed() {
                out.push_str(&format!(
                    "estimated AUC from the scores alone: {}\n",
                    opt(e.auc)
                ));
            }
        }
        (_, Outcome::InsufficientData { reason, .. }) => {
            out.push_str(&format!("insufficient data: {reason}\n"));
        }
    }
    for alert in &check.alerts {
        out.push_str(&format!("alert: {}\n", alert.reason));
    }
    out
}

fn write_report(path: &Path, html: &str) -> Result<(), BoxError> {
    write_atomic(path, html.as_bytes())?;
    Ok(())
}
