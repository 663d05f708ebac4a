//! `mlops metrics show`: the latest value of every metric series in the local metrics table
//! (`{pipeline root}/metrics/metrics.jsonl`, written by the monitoring components).

use std::path::PathBuf;

use mlops_domain::Settings;
use mlops_monitoring::sink::{latest_values, LocalSink, MetricRow, MetricsFilter};

use crate::args::{MetricsCommand, MetricsShowArgs, MetricsTableArgs};
use crate::context::BoxError;

/// Run one `mlops metrics` command.
pub fn run(settings: &Settings, command: MetricsCommand) -> Result<(), BoxError> {
    match command {
        MetricsCommand::Show(args) => show(settings, args),
    }
}

/// The local table `--pipeline-root` names, else the one under `$MLOPS_LOCAL_ROOT` (in every
/// environment: the cloud pipelines write BigQuery and Cloud Monitoring instead).
pub fn local_sink(settings: &Settings, table: &MetricsTableArgs) -> LocalSink {
    let root = table
        .pipeline_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(&settings.local_root).join("pipeline_root"));
    LocalSink::new(root)
}

/// The rows `--pipeline` and `--last` select.
pub fn read_rows(
    settings: &Settings,
    table: &MetricsTableArgs,
) -> Result<Vec<MetricRow>, BoxError> {
    let sink = local_sink(settings, table);
    let filter = MetricsFilter {
        pipeline: table.pipeline.clone(),
        last_runs: table.last,
    };
    Ok(sink.read(&filter)?)
}

fn show(settings: &Settings, args: MetricsShowArgs) -> Result<(), BoxError> {
    let sink = local_sink(settings, &args.table);
    let latest = latest_values(&read_rows(settings, &args.table)?);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&latest)?);
        return Ok(());
    }
    if latest.is_empty() {
        eprintln!("no metrics in `{}`", sink.path().display());
        return Ok(());
    }
    print!("{}", table(&latest));
    Ok(())
}

/// The rows as an aligned text table, one line per series.
pub fn table(rows: &[MetricRow]) -> String {
    let header = [
        "PIPELINE",
        "MODEL",
        "VERSION",
        "METRIC",
        "FEATURE",
        "VALUE",
        "RUN",
        "RECORDED AT",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.pipeline.clone(),
                r.model_name.clone(),
                r.model_version.clone(),
                r.key(),
                r.feature.clone().unwrap_or_else(|| "-".into()),
                format_value(r.value),
                r.run_id.clone(),
                r.recorded_at_rfc3339(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: &[String]| {
        let text: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_string));
    for row in &cells {
        line(row);
    }
    out
}

/// Values with up to six decimals, trailing zeros dropped; NaN as `n/a`.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "n/a".into();
    }
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_formats_values() {
        let mut a = MetricRow::new(
            "inference",
            "run-1",
            "churn",
            "3",
            "prediction_drift/psi",
            0.125,
        )
        .unwrap();
        a.recorded_at = "2026-01-02T03:04:05Z".parse().unwrap();
        let b = MetricRow {
            value: f64::NAN,
            ..a.clone()
        }
        .with_feature("tenure");
        let text = table(&[a, b]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("PIPELINE   MODEL  VERSION  METRIC"),
            "{text}"
        );
        assert!(
            lines[1].contains("prediction_drift/psi  -        0.125"),
            "{text}"
        );
        assert!(lines[2].contains("tenure   n/a"), "{text}");
        assert!(lines[1].ends_with("2026-01-02T03:04:05.000000Z"), "{text}");
        assert_eq!(format_value(2.0), "2");
        assert_eq!(format_value(0.1234567), "0.123457");
    }
}
