//! Metrics sinks: where the monitoring components and `mlops` write metric rows. One trait,
//! [`MetricsSink`], and one row type, [`MetricRow`]; this crate has the local sink (an
//! append-only JSON-lines table under the pipeline root), `mlops-core` (feature `gcp`) the
//! BigQuery and Cloud Monitoring ones.
//!
//! Invariant: a sink accepts only metrics of the catalogue ([`crate::METRICS`]), so every row
//! written can be watched by an alert policy and every policy watches something written.
//!
//! ```
//! use mlops_monitoring::sink::{LocalSink, MetricRow, MetricsFilter, MetricsSink};
//! let dir = tempfile::tempdir().unwrap();
//! let sink = LocalSink::new(dir.path());
//! let row = MetricRow::new("inference", "run-1", "churn", "3", "prediction_drift/psi", 0.12).unwrap();
//! sink.write(&[row]).unwrap();
//! let rows = sink.read(&MetricsFilter::default()).unwrap();
//! assert_eq!(rows[0].value, 0.12);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::metrics;

/// A problem writing or reading metric rows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A row names a metric that is not in the catalogue.
    #[error("metric `{key}` is not in the metric catalogue (nearest known: {})", .nearest.join(", "))]
    UnknownMetric {
        /// The `{group}/{name}` given.
        key: String,
        /// The closest catalogue keys.
        nearest: Vec<String>,
    },
    /// A row field is empty or malformed.
    #[error("metric row field `{field}` is `{value}`, expected {expected}")]
    InvalidRow {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The local table cannot be read or written.
    #[error("cannot {action} metrics table `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The table's path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the local table is not a metric row: the table is refused rather than read in
    /// part.
    #[error("metrics table `{path}` line {line} is corrupt: {reason}")]
    Corrupt {
        /// The table's path.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A remote sink (BigQuery, Cloud Monitoring) refused or failed.
    #[error("{sink} sink: {source}")]
    Remote {
        /// Which sink.
        sink: &'static str,
        /// The cause, as the remote client reported it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result alias for sinks.
pub type Result<T, E = SinkError> = std::result::Result<T, E>;

/// One metric value of one pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRow {
    /// When the value was computed, UTC (RFC 3339 in every table).
    #[serde(with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
    /// The pipeline that wrote it (`inference`, `monitoring`, or `cli` outside a pipeline).
    pub pipeline: String,
    /// The pipeline run id.
    pub run_id: String,
    /// The registered model name.
    pub model_name: String,
    /// The model version scored or evaluated.
    pub model_version: String,
    /// The metric group (`prediction_drift`, `feature_drift`, `performance`).
    pub group: String,
    /// The metric name within its group (`psi`, `auc`).
    pub name: String,
    /// The value; NaN (stored as `null`) when it could not be computed.
    #[serde(with = "nan_as_null")]
    pub value: f64,
    /// The input column, for per-feature metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// A free label (e.g. a segment or the drift method), when the metric has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl MetricRow {
    /// A row for catalogue metric `key` (`{group}/{name}`), recorded now.
    pub fn new(
        pipeline: &str,
        run_id: &str,
        model_name: &str,
        model_version: &str,
        key: &str,
        value: f64,
    ) -> Result<MetricRow> {
        let (group, name) = key.split_once('/').unwrap_or((key, ""));
        let row = MetricRow {
            recorded_at: Utc::now(),
            pipeline: pipeline.to_string(),
            run_id: run_id.to_string(),
            model_name: model_name.to_string(),
            model_version: model_version.to_string(),
            group: group.to_string(),
            name: name.to_string(),
            value,
            feature: None,
            label: None,
        };
        row.check()?;
        Ok(row)
    }

    /// The same row for one input column.
    pub fn with_feature(mut self, feature: &str) -> MetricRow {
        self.feature = Some(feature.to_string());
        self
    }

    /// `{group}/{name}`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }

    /// The catalogue entry of this row's metric.
    pub fn metric(&self) -> Option<&'static metrics::MetricDef> {
        metrics::find(&self.key())
    }

    /// `recorded_at` as RFC 3339 with microseconds and `Z`.
    pub fn recorded_at_rfc3339(&self) -> String {
        self.recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// Refuse rows that a table or an alert policy could not use: unknown metric, empty ids.
    pub fn check(&self) -> Result<()> {
        if self.metric().is_none() {
            let key = self.key();
            return Err(SinkError::UnknownMetric {
                nearest: crate::thresholds::nearest_keys(&key, 3),
                key,
            });
        }
        for (field, value) in [
            ("pipeline", &self.pipeline),
            ("run_id", &self.run_id),
            ("model_name", &self.model_name),
            ("model_version", &self.model_version),
        ] {
            if value.trim().is_empty() {
                return Err(SinkError::InvalidRow {
                    field,
                    value: value.clone(),
                    expected: "a non-empty value",
                });
            }
        }
        Ok(())
    }
}

/// Somewhere metric rows go.
pub trait MetricsSink {
    /// A short name for messages (`local`, `bigquery`, `cloud-monitoring`).
    fn name(&self) -> &'static str;

    /// Write all rows, or fail naming why; rows are checked ([`MetricRow::check`]) first, so
    /// an invalid batch writes nothing.
    fn write(&self, rows: &[MetricRow]) -> Result<()>;
}

/// Which rows to read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsFilter {
    /// Only this pipeline's rows.
    pub pipeline: Option<String>,
    /// Only the rows of the last N runs (by their latest `recorded_at`).
    pub last_runs: Option<usize>,
}

impl MetricsFilter {
    /// Apply the filter to rows (in table order; the result keeps that order).
    pub fn apply(&self, rows: Vec<MetricRow>) -> Vec<MetricRow> {
        let rows: Vec<MetricRow> = match &self.pipeline {
            Some(p) => rows.into_iter().filter(|r| &r.pipeline == p).collect(),
            None => rows,
        };
        let Some(n) = self.last_runs else {
            return rows;
        };
        // A run is identified by pipeline and run id; its time is its latest row.
        let mut latest: BTreeMap<(&str, &str), DateTime<Utc>> = BTreeMap::new();
        for r in &rows {
            let t = latest
                .entry((r.pipeline.as_str(), r.run_id.as_str()))
                .or_insert(r.recorded_at);
            *t = (*t).max(r.recorded_at);
        }
        let mut runs: Vec<(DateTime<Utc>, (&str, &str))> =
            latest.into_iter().map(|(k, t)| (t, k)).collect();
        runs.sort();
        let keep: BTreeSet<(String, String)> = runs
            .iter()
            .rev()
            .take(n)
            .map(|(_, (p, r))| (p.to_string(), r.to_string()))
            .collect();
        rows.into_iter()
            .filter(|r| keep.contains(&(r.pipeline.clone(), r.run_id.clone())))
            .collect()
    }
}

/// The latest row of each series (pipeline, model name, metric, feature, label), ordered by
/// pipeline, model name, group, name, feature.
pub fn latest_values(rows: &[MetricRow]) -> Vec<MetricRow> {
    type Series<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );
    let mut latest: BTreeMap<Series<'_>, &MetricRow> = BTreeMap::new();
    for r in rows {
        let key = (
            r.pipeline.as_str(),
            r.model_name.as_str(),
            r.group.as_str(),
            r.name.as_str(),
            r.feature.as_deref(),
            r.label.as_deref(),
        );
        // `>=`: of two rows at the same instant the later one in the table wins.
        match latest.get(&key) {
            Some(seen) if seen.recorded_at > r.recorded_at => {}
            _ => {
                latest.insert(key, r);
            }
        }
    }
    latest.into_values().cloned().collect()
}

/// The local metrics table: `{pipeline_root}/metrics/metrics.jsonl`, one JSON row per line,
/// only ever appended to (whole lines in one write), so a reader never sees half a batch of a
/// finished write and a crash leaves at most one torn last line, which readers refuse.
#[derive(Debug, Clone)]
pub struct LocalSink {
    path: PathBuf,
}

impl LocalSink {
    /// The table under a (local) pipeline root.
    pub fn new(pipeline_root: impl AsRef<Path>) -> LocalSink {
        LocalSink {
            path: pipeline_root.as_ref().join("metrics").join("metrics.jsonl"),
        }
    }

    /// The table at an explicit path.
    pub fn at(path: impl Into<PathBuf>) -> LocalSink {
        LocalSink { path: path.into() }
    }

    /// The table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
        move |source| SinkError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }

    /// Every row, in table order; an absent table is empty. Fails on the first corrupt line,
    /// naming it.
    pub fn read_all(&self) -> Result<Vec<MetricRow>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("read")(e)),
        };
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(SinkError::Corrupt {
                path: self.path.clone(),
                line: text.lines().count(),
                reason: "the last line is incomplete (an interrupted write)".into(),
            });
        }
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let corrupt = |reason: String| SinkError::Corrupt {
                path: self.path.clone(),
                line: i + 1,
                reason,
            };
            let row: MetricRow = serde_json::from_str(line).map_err(|e| corrupt(e.to_string()))?;
            row.check().map_err(|e| corrupt(e.to_string()))?;
            rows.push(row);
        }
        Ok(rows)
    }

    /// The rows the filter selects, in table order.
    pub fn read(&self, filter: &MetricsFilter) -> Result<Vec<MetricRow>> {
        Ok(filter.apply(self.read_all()?))
    }
}

impl MetricsSink for LocalSink {
    fn name(&self) -> &'static str {
        "local"
    }

    fn write(&self, rows: &[MetricRow]) -> Result<()> {
        let mut batch = String::new();
        for row in rows {
            row.check()?;
            let line = serde_json::to_string(row).map_err(|e| SinkError::InvalidRow {
                field: "value",
                value: e.to_string(),
                expected: "a row that serialises to JSON",
            })?;
            batch.push_str(&line);
            batch.push('\n');
        }
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(self.io("create the folder of"))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)
            .map_err(self.io("open"))?;
        // Appending after a torn line would glue two rows together: refuse instead.
        let len = file.seek(SeekFrom::End(0)).map_err(self.io("seek"))?;
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(self.io("seek"))?;
            file.read_exact(&mut last).map_err(self.io("read"))?;
            if last[0] != b'\n' {
                return Err(SinkError::Corrupt {
                    path: self.path.clone(),
                    line: 0,
                    reason: "the last line is incomplete (an interrupted write); \
                             remove it before writing"
                        .into(),
                });
            }
        }
        // One write of whole lines to an O_APPEND file.
        file.write_all(batch.as_bytes())
            .map_err(self.io("append to"))?;
        file.sync_data().map_err(self.io("sync"))?;
        Ok(())
    }
}

mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("recorded_at `{text}`: {e}")))
    }
}

// JSON has no NaN: a value that could not be computed is stored as `null`.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(pipeline: &str, run: &str, secs: i64, key: &str, value: f64) -> MetricRow {
        let mut r = MetricRow::new(pipeline, run, "churn", "1", key, value).unwrap();
        r.recorded_at = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        r
    }

    #[test]
    fn rows_round_trip_through_the_local_table() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalSink::new(dir.path());
        assert!(sink.read_all().unwrap().is_empty(), "absent table is empty");
        let rows = vec![
            row("inference", "r1", 0, "prediction_drift/psi", 0.1),
            row("inference", "r1", 0, "feature_drift/max_psi", f64::NAN).with_feature("tenure"),
        ];
        sink.write(&rows).unwrap();
        sink.write(&[row("monitoring", "m1", 5, "performance/auc", 0.8)])
            .unwrap();
        let back = sink.read_all().unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], rows[0]);
        assert!(back[1].value.is_nan());
        assert_eq!(back[1].feature.as_deref(), Some("tenure"));
        let text = std::fs::read_to_string(sink.path()).unwrap();
        assert!(text.contains("\"recorded_at\":\"2023-11-14T22:13:20.000000Z\""));
        assert!(text.contains("\"value\":null"));
        assert_eq!(
            sink.path(),
            dir.path().join("metrics").join("metrics.jsonl")
        );
    }

    #[test]
    fn unknown_metrics_and_empty_ids_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalSink::new(dir.path());
        let err =
            MetricRow::new("inference", "r1", "churn", "1", "performance/acu", 0.5).unwrap_err();
        assert!(
            err.to_string().contains("nearest known: performance/auc"),
            "{err}"
        );
        let good = row("inference", "r1", 0, "prediction_drift/psi", 0.1);
        let mut bad = good.clone();
        bad.run_id = " ".into();
        let err = sink.write(&[good, bad]).unwrap_err();
        assert!(err.to_string().contains("`run_id`"), "{err}");
        assert!(!sink.path().exists(), "an invalid batch writes nothing");
    }

    #[test]
    fn a_corrupt_line_fails_the_read_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalSink::new(dir.path());
        sink.write(&[row("inference", "r1", 0, "prediction_drift/psi", 0.1)])
            .unwrap();
        let mut text = std::fs::read_to_string(sink.path()).unwrap();
        text.push_str("{\"not\": \"a row\"}\n");
        std::fs::write(sink.path(), &text).unwrap();
        let err = sink.read_all().unwrap_err().to_string();
        assert!(err.contains("line 2 is corrupt"), "{err}");

        // A torn last line: reads and appends both refuse.
        let torn = &text[..text.len() - 5];
        let first = text.lines().next().unwrap();
        std::fs::write(
            sink.path(),
            format!("{first}\n{}", &torn[first.len() + 1..]),
        )
        .unwrap();
        let err = sink.read_all().unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("incomplete"),
            "{err}"
        );
        let err = sink
            .write(&[row("inference", "r2", 1, "prediction_drift/psi", 0.2)])
            .unwrap_err();
        assert!(err.to_string().contains("incomplete"), "{err}");
    }

    #[test]
    fn filter_by_pipeline_and_last_runs() {
        let rows = vec![
            row("inference", "r1", 0, "prediction_drift/psi", 0.1),
            row("inference", "r2", 10, "prediction_drift/psi", 0.2),
            row("monitoring", "m1", 15, "performance/auc", 0.8),
            row("inference", "r3", 20, "prediction_drift/psi", 0.3),
        ];
        let f = MetricsFilter {
            pipeline: Some("inference".into()),
            last_runs: Some(2),
        };
        let runs: Vec<String> = f
            .apply(rows.clone())
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(runs, ["r2", "r3"]);
        let f = MetricsFilter {
            pipeline: None,
            last_runs: Some(2),
        };
        let kept: Vec<String> = f
            .apply(rows.clone())
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(kept, ["m1", "r3"]);
        assert_eq!(MetricsFilter::default().apply(rows).len(), 4);
    }

    #[test]
    fn latest_values_keeps_the_newest_row_per_series() {
        let rows = vec![
            row("inference", "r2", 10, "prediction_drift/psi", 0.2),
            row("inference", "r1", 0, "prediction_drift/psi", 0.1),
            row("inference", "r1", 0, "feature_drift/max_psi", 0.4).with_feature("tenure"),
            row("inference", "r2", 10, "feature_drift/max_psi", 0.5).with_feature("contract"),
        ];
        let latest = latest_values(&rows);
        let got: Vec<(String, Option<String>, f64)> = latest
            .into_iter()
            .map(|r| (r.key(), r.feature, r.value))
            .collect();
        assert_eq!(
            got,
            [
                ("feature_drift/max_psi".into(), Some("contract".into()), 0.5),
                ("feature_drift/max_psi".into(), Some("tenure".into()), 0.4),
                ("prediction_drift/psi".into(), None, 0.2),
            ]
        );
    }
}
