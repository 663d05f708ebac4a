//! The Google Cloud metrics sinks (cargo feature `gcp`): the monitoring metrics table in
//! BigQuery and Cloud Monitoring custom metrics, both behind
//! [`mlops_monitoring::sink::MetricsSink`], so a component or the CLI writes the same
//! [`MetricRow`]s to the local table, BigQuery or Cloud Monitoring.

use std::collections::BTreeMap;

use mlops_gcp::bigquery::BqColumn;
use mlops_gcp::monitoring::{MetricDescriptorSpec, TimeSeriesPoint};
use mlops_gcp::Gcp;
use mlops_monitoring::sink::{MetricRow, MetricsSink, Result, SinkError};
use mlops_monitoring::METRICS;
use serde_json::{Map, Value};

/// Default name of the monitoring metrics table in `BQ_DATASET`.
pub const METRICS_TABLE: &str = "monitoring_metrics";

/// The declared schema of the monitoring metrics table (one row per [`MetricRow`]).
pub fn metrics_table_schema() -> Vec<BqColumn> {
    let required = |name: &str, field_type: &str, description: &str| BqColumn {
        mode: "REQUIRED".into(),
        ..BqColumn::new(name, field_type, description)
    };
    vec![
        required(
            "recorded_at",
            "TIMESTAMP",
            "When the value was computed (UTC)",
        ),
        required("pipeline", "STRING", "Pipeline that wrote the value"),
        required("run_id", "STRING", "Pipeline run id"),
        required("model_name", "STRING", "Registered model name"),
        required(
            "model_version",
            "STRING",
            "Model version scored or evaluated",
        ),
        required(
            "metric_group",
            "STRING",
            "prediction_drift, feature_drift or performance",
        ),
        required("metric_name", "STRING", "Metric name within its group"),
        BqColumn::new(
            "value",
            "FLOAT",
            "The value; NULL when it could not be computed",
        ),
        BqColumn::new("feature", "STRING", "Input column of a per-feature metric"),
        BqColumn::new("label", "STRING", "Free label of the metric"),
    ]
}

/// Rows of the monitoring metrics table in BigQuery; the dataset and table are created (with
/// [`metrics_table_schema`]) on first write when missing.
pub struct BigQuerySink<'a> {
    gcp: &'a Gcp,
    dataset: String,
    table: String,
    location: String,
}

impl<'a> BigQuerySink<'a> {
    /// The table `dataset.table` (in `location`, when the dataset must be created).
    pub fn new(gcp: &'a Gcp, dataset: &str, table: &str, location: &str) -> BigQuerySink<'a> {
        BigQuerySink {
            gcp,
            dataset: dataset.into(),
            table: table.into(),
            location: location.into(),
        }
    }
}

fn remote(sink: &'static str) -> impl Fn(mlops_gcp::GcpError) -> SinkError {
    move |e| SinkError::Remote {
        sink,
        source: Box::new(e),
    }
}

/// One metric row as a BigQuery JSON row of [`metrics_table_schema`].
pub fn bigquery_row(row: &MetricRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("recorded_at".into(), row.recorded_at_rfc3339().into());
    m.insert("pipeline".into(), row.pipeline.clone().into());
    m.insert("run_id".into(), row.run_id.clone().into());
    m.insert("model_name".into(), row.model_name.clone().into());
    m.insert("model_version".into(), row.model_version.clone().into());
    m.insert("metric_group".into(), row.group.clone().into());
    m.insert("metric_name".into(), row.name.clone().into());
    let value = if row.value.is_finite() {
        Value::from(row.value)
    } else {
        Value::Null
    };
    m.insert("value".into(), value);
    m.insert("feature".into(), row.feature.clone().into());
    m.insert("label".into(), row.label.clone().into());
    m
}

impl MetricsSink for BigQuerySink<'_> {
    fn name(&self) -> &'static str {
        "bigquery"
    }

    fn write(&self, rows: &[MetricRow]) -> Result<()> {
        for row in rows {
            row.check()?;
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.gcp
            .ensure_dataset(&self.dataset, &self.location)
            .map_err(remote("bigquery"))?;
        self.gcp
            .ensure_table(&self.dataset, &self.table, &metrics_table_schema())
            .map_err(remote("bigquery"))?;
        let json: Vec<Map<String, Value>> = rows.iter().map(bigquery_row).collect();
        // Insert ids make a retried call's rows count once: one id per series and run.
        let ids: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{}:{}:{}:{}:{}",
                    r.pipeline,
                    r.run_id,
                    r.key(),
                    r.feature.as_deref().unwrap_or(""),
                    r.label.as_deref().unwrap_or("")
                )
            })
            .collect();
        self.gcp
            .insert_rows(&self.dataset, &self.table, &json, &ids)
            .map_err(remote("bigquery"))
    }
}

/// Label keys of every custom metric, with their descriptions.
pub const METRIC_LABELS: &[(&str, &str)] = &[
    ("pipeline", "Pipeline that wrote the value"),
    ("model_name", "Registered model name"),
    ("model_version", "Model version scored or evaluated"),
    (
        "feature",
        "Input column of a per-feature metric; `all` otherwise",
    ),
];

/// The metric descriptor of every catalogue metric under `prefix`
/// (`custom.googleapis.com/{prefix}/{group}/{name}`).
pub fn metric_descriptors(prefix: &str) -> Vec<MetricDescriptorSpec> {
    METRICS
        .iter()
        .map(|m| MetricDescriptorSpec {
            metric_type: m.metric_type(prefix),
            unit: m.unit.as_ucum().into(),
            description: m.description.into(),
            display_name: format!("{prefix} {}", m.key()),
            labels: METRIC_LABELS
                .iter()
                .map(|(k, d)| ((*k).to_string(), (*d).to_string()))
                .collect(),
        })
        .collect()
}

/// Custom metrics in Cloud Monitoring, one series per (metric, pipeline, model, feature).
/// NaN values are left out (Cloud Monitoring has no NaN; `performance/insufficient_data`
/// says why a value is missing).
pub struct CloudMonitoringSink<'a> {
    gcp: &'a Gcp,
    prefix: String,
}

impl<'a> CloudMonitoringSink<'a> {
    /// Metrics under `custom.googleapis.com/{prefix}/`.
    pub fn new(gcp: &'a Gcp, prefix: &str) -> CloudMonitoringSink<'a> {
        CloudMonitoringSink {
            gcp,
            prefix: prefix.into(),
        }
    }

    /// Declare every catalogue metric (unit, description, labels); safe to repeat.
    pub fn create_descriptors(&self) -> Result<()> {
        for spec in metric_descriptors(&self.prefix) {
            self.gcp
                .create_metric_descriptor(&spec)
                .map_err(remote("cloud-monitoring"))?;
        }
        Ok(())
    }

    /// The points of `rows` (NaN values left out).
    pub fn points(&self, rows: &[MetricRow]) -> Vec<TimeSeriesPoint> {
        rows.iter()
            .filter(|r| r.value.is_finite())
            .filter_map(|r| {
                let metric = r.metric()?;
                let labels: BTreeMap<String, String> = [
                    ("pipeline", r.pipeline.clone()),
                    ("model_name", r.model_name.clone()),
                    ("model_version", r.model_version.clone()),
                    ("feature", r.feature.clone().unwrap_or_else(|| "all".into())),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                Some(TimeSeriesPoint {
                    metric_type: metric.metric_type(&self.prefix),
                    labels,
                    end_time: r.recorded_at_rfc3339(),
                    value: r.value,
                })
            })
            .collect()
    }
}

impl MetricsSink for CloudMonitoringSink<'_> {
    fn name(&self) -> &'static str {
        "cloud-monitoring"
    }

    fn write(&self, rows: &[MetricRow]) -> Result<()> {
        for row in rows {
            row.check()?;
        }
        let points = self.points(rows);
        self.gcp
            .create_time_series(&points)
            .map_err(remote("cloud-monitoring"))
    }
}

/// What a pipeline component does with metric rows in the cloud: append them to the BigQuery
/// table `bq://project.dataset.table` and send them to Cloud Monitoring under
/// `custom.googleapis.com/{MODEL_NAME_PREFIX}/` (default `churn`). Connection settings come
/// from the environment ([`crate::source::gcp_config_from_env`]); the dataset is created in
/// `BQ_LOCATION` (default `GCP_REGION`). Returns where the rows went.
pub fn write_cloud(
    table: &str,
    rows: &[MetricRow],
) -> std::result::Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let (project, dataset, name) = mlops_gcp::bigquery::parse_table(table)?;
    let gcp = Gcp::new(crate::source::gcp_config_from_env(&project)?)?;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let location = var("BQ_LOCATION")
        .or_else(|| var("GCP_REGION"))
        .unwrap_or_else(|| crate::source::DEFAULT_REGION.to_string());
    BigQuerySink::new(&gcp, &dataset, &name, &location).write(rows)?;
    let prefix = var("MODEL_NAME_PREFIX").unwrap_or_else(|| "churn".into());
    CloudMonitoringSink::new(&gcp, &prefix).write(rows)?;
    Ok(format!(
        "{table} and Cloud Monitoring (custom.googleapis.com/{prefix}/)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigquery_rows_follow_the_declared_schema() {
        let row = MetricRow::new(
            "inference",
            "r1",
            "churn",
            "2",
            "prediction_drift/psi",
            f64::NAN,
        )
        .unwrap()
        .with_feature("tenure");
        let json = bigquery_row(&row);
        let schema: Vec<String> = metrics_table_schema().into_iter().map(|c| c.name).collect();
        let keys: Vec<&String> = json.keys().collect();
        let mut want: Vec<&String> = schema.iter().collect();
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(json["value"], Value::Null);
        assert_eq!(json["metric_group"], "prediction_drift");
        assert_eq!(json["feature"], "tenure");
    }

    #[test]
    fn every_catalogue_metric_has_a_descriptor_with_every_label() {
        let specs = metric_descriptors("churn");
        assert_eq!(specs.len(), METRICS.len());
        assert!(specs.iter().all(
            |s| s.metric_type.starts_with("custom.googleapis.com/churn/")
                && s.labels.len() == METRIC_LABELS.len()
        ));
    }
}
