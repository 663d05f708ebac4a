//! The HTML reports of the monitoring components (inline SVG, no external assets).

use mlops_core::monitor::{DriftCheck, Joined, PerformanceCheck};
use mlops_monitoring::report::{render_html, HistoryPoint, Section};
use mlops_monitoring::thresholds::MonitoringConfig;
use mlops_monitoring::{FeatureDriftReport, Outcome};

fn values(metrics: &[(String, f64)]) -> Section {
    Section::Values(
        metrics
            .iter()
            .map(|(k, v)| (k.clone(), format!("{v:.4}")))
            .collect(),
    )
}

fn alerts_text(alerts: &[mlops_monitoring::thresholds::Alert]) -> Section {
    if alerts.is_empty() {
        Section::Text("No threshold of config/monitoring.yaml is crossed.".into())
    } else {
        Section::Text(format!(
            "Alerts: {}",
            alerts
                .iter()
                .map(|a| a.reason.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}

fn history(
    title: &str,
    points: &[HistoryPoint],
    config: &MonitoringConfig,
    key: &str,
) -> Option<Section> {
    (points.len() > 1).then(|| Section::History {
        title: title.into(),
        points: points.to_vec(),
        threshold: config.threshold(key).map(|t| t.value),
    })
}

/// The prediction-drift report: the verdict, the score histogram against the baseline, each
/// drifted column's histogram (all columns when none drifted), and the PSI over past runs.
pub fn drift(
    check: &DriftCheck,
    psi_history: &[HistoryPoint],
    config: &MonitoringConfig,
) -> String {
    let mut sections = Vec::new();
    let verdict = match &check.score {
        Outcome::Computed(d) => format!(
            "Drift {} on {} scored rows (PSI {:.4}, Jensen-Shannon distance {:.4}, KS {:.4}, Wasserstein {:.4}); drifted inputs: {}.",
            if check.drift_detected { "DETECTED" } else { "not detected" },
            d.rows,
            d.psi,
            d.js_distance,
            d.ks,
            d.wasserstein,
            if check.drifted_features.is_empty() { "none".to_string() } else { check.drifted_features.join(", ") }
        ),
        Outcome::InsufficientData { reason, .. } => format!("Insufficient data: {reason}."),
    };
    sections.push(Section::Text(verdict));
    if check.baseline_from_histogram {
        sections.push(Section::Text(
            "This model was trained before the full baseline was saved: scores are compared with its equal-width histogram."
                .into(),
        ));
    }
    sections.push(alerts_text(&check.alerts));
    if let Some(d) = check.score.computed() {
        sections.push(Section::score_bars(d));
    }
    if let Some(h) = history(
        "PSI of the scores over runs",
        psi_history,
        config,
        "prediction_drift/psi",
    ) {
        sections.push(h);
    }
    match &check.features {
        FeatureDriftReport::NoBaseline => sections.push(Section::Text(
            "Feature drift: no baseline (the model was trained before column profiles were saved)."
                .into(),
        )),
        FeatureDriftReport::Columns {
            columns,
            not_supplied,
        } => {
            let computed: Vec<_> = columns.iter().filter_map(Outcome::computed).collect();
            let drifted: Vec<_> = computed
                .iter()
                .filter(|f| check.drifted_features.contains(&f.name))
                .collect();
            let shown = if drifted.is_empty() {
                computed.iter().collect()
            } else {
                drifted
            };
            for f in shown {
                sections.push(Section::feature_bars(f));
            }
            if !not_supplied.is_empty() {
                sections.push(Section::Text(format!(
                    "Profiled columns absent from the scored rows: {}.",
                    not_supplied.join(", ")
                )));
            }
        }
    }
    sections.push(values(&check.metrics));
    render_html("Prediction drift", &sections)
}

/// The performance report: realised against estimated metrics, coverage of outcomes, and the
/// AUC over past runs with its threshold.
pub fn performance(
    check: &PerformanceCheck,
    joined: &Joined,
    window_days: Option<i64>,
    auc_history: &[HistoryPoint],
    config: &MonitoringConfig,
) -> String {
    let which = match window_days {
        Some(days) => format!("Predictions of the last {days} day(s)"),
        None => "All predictions".to_string(),
    };
    let mut sections = vec![Section::Text(format!(
        "{which}: {} with an outcome, {} still without one.",
        joined.scores.len(),
        joined.without_outcome
    ))];
    sections.push(Section::Text(
        if check.calibrated {
            "Estimated from the scores through the model's calibration (Platt scaling fitted on its held-out rows)."
        } else {
            "Estimated from the raw scores (no calibration saved with the model): over-confident scores inflate the estimate."
        }
        .into(),
    ));
    match (&check.realised, &check.estimated) {
        (Outcome::Computed(r), Outcome::Computed(e)) => sections.push(Section::Values(vec![
            (
                "AUC realised / estimated".into(),
                format!("{} / {}", opt(r.auc), opt(e.auc)),
            ),
            (
                "precision".into(),
                format!("{:.4} / {:.4}", r.precision, e.precision),
            ),
            (
                "recall".into(),
                format!("{:.4} / {:.4}", r.recall, e.recall),
            ),
            ("F1".into(), format!("{:.4} / {:.4}", r.f1, e.f1)),
            (
                "accuracy".into(),
                format!("{:.4} / {:.4}", r.accuracy, e.accuracy),
            ),
        ])),
        (Outcome::InsufficientData { reason, .. }, _)
        | (_, Outcome::InsufficientData { reason, .. }) => {
            sections.push(Section::Text(format!("Insufficient data: {reason}.")));
        }
    }
    sections.push(alerts_text(&check.alerts));
    if let Some(h) = history("AUC over runs", auc_history, config, "performance/auc") {
        sections.push(h);
    }
    sections.push(values(&check.metrics));
    render_html("Performance monitoring", &sections)
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
}
