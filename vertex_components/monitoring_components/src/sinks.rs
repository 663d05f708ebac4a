//! Where the monitoring components write metric rows: a `metrics_table` parameter names the
//! local JSON-lines table (a path) or, in nprod/prod, the BigQuery table
//! (`bq://project.dataset.table`), in which case the rows also go to Cloud Monitoring as custom
//! metrics (`custom.googleapis.com/{MODEL_NAME_PREFIX}/...`).

use mlops_monitoring::report::HistoryPoint;
use mlops_monitoring::sink::{LocalSink, MetricRow, MetricsFilter, MetricsSink};

/// A failure of one of the sinks (each has its own error type), keeping its cause chain.
#[derive(Debug)]
pub struct SinkFailure(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for SinkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SinkFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<mlops_monitoring::sink::SinkError> for SinkFailure {
    fn from(e: mlops_monitoring::sink::SinkError) -> Self {
        SinkFailure(Box::new(e))
    }
}

/// Write `metrics` as rows of one run to the sinks `table` names; returns where they went.
pub fn write_metrics(
    table: &str,
    pipeline: &str,
    run_id: &str,
    model_name: &str,
    model_version: &str,
    metrics: &[(String, f64)],
) -> Result<String, SinkFailure> {
    let rows = metrics
        .iter()
        .map(|(key, value)| {
            MetricRow::new(pipeline, run_id, model_name, model_version, key, *value)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if table.starts_with("bq://") {
        return cloud(table, &rows);
    }
    let sink = LocalSink::at(mlops_pipeline::component::local_path(table));
    sink.write(&rows)?;
    Ok(sink.path().display().to_string())
}

#[cfg(feature = "gcp")]
fn cloud(table: &str, rows: &[MetricRow]) -> Result<String, SinkFailure> {
    mlops_core::metrics_sink::write_cloud(table, rows).map_err(SinkFailure)
}

#[cfg(not(feature = "gcp"))]
fn cloud(table: &str, _rows: &[MetricRow]) -> Result<String, SinkFailure> {
    Err(SinkFailure(
        format!(
            "metrics table `{table}` is in BigQuery, and this build has no Google Cloud support (cargo feature `gcp`)"
        )
        .into(),
    ))
}

/// Earlier values of `key` in the local table, oldest first, for the report's history chart
/// (none for a BigQuery table, or when the table cannot be read: the chart is then left out,
/// the metrics are still written).
pub fn history(table: &str, key: &str) -> Vec<HistoryPoint> {
    if table.starts_with("bq://") {
        return Vec::new();
    }
    let sink = LocalSink::at(mlops_pipeline::component::local_path(table));
    let Ok(rows) = sink.read(&MetricsFilter::default()) else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.key() == key && r.feature.is_none())
        .map(|r| HistoryPoint {
            label: r.recorded_at.format("%m-%d %H:%M").to_string(),
            value: r.value,
        })
        .collect()
}
