//! The monitoring configuration (`config/monitoring.yaml`): how drift is measured and, per
//! metric, when it raises an alert (`alerts_threshold`). Thresholds are configuration, not
//! code: the components, `mlops monitor`, `mlops alerting` and the Cloud Monitoring alert
//! policies all read them from here.
//!
//! The loader reports every problem at once (unknown metric keys with the nearest known ones,
//! bad comparisons, non-finite values, too few bins), so a team fixes the file in one go.
//!
//! ```
//! use mlops_monitoring::thresholds::MonitoringConfig;
//! let config = MonitoringConfig::from_yaml_str(
//!     "drift: {method: psi, bins: 10, binning: quantile}\n\
//!      alerts_threshold:\n  prediction_drift/psi: {comparison: '>', value: 0.2}\n",
//! ).unwrap();
//! let alerts = config.evaluate(&[("prediction_drift/psi", 0.31)]);
//! assert_eq!(alerts.len(), 1);
//! assert_eq!(alerts[0].reason, "prediction_drift/psi = 0.31 > 0.2");
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::metrics::{self, METRICS};

/// The configuration shipped with the template (`config/monitoring.yaml`).
pub const SHIPPED_YAML: &str = include_str!("../../../config/monitoring.yaml");

/// A problem reading the monitoring configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdsError {
    /// The file cannot be read.
    #[error("cannot read monitoring config `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is invalid; every problem is listed.
    #[error("invalid monitoring config `{path}`:\n  - {}", .problems.join("\n  - "))]
    Invalid {
        /// The file (or `<string>`).
        path: String,
        /// Each problem, naming the field, the value and what was expected.
        problems: Vec<String>,
    },
}

/// The whole monitoring configuration, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitoringConfig {
    /// How score and feature drift are measured.
    pub drift: DriftConfig,
    /// Metric key (`{group}/{name}`) → when it alerts. Every key is in [`METRICS`].
    pub alerts_threshold: BTreeMap<String, Threshold>,
}

/// How drift is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DriftConfig {
    /// The statistic that decides `prediction_drift/drift_detected`.
    pub method: DriftMethod,
    /// Number of histogram bins (at least 2).
    pub bins: usize,
    /// How the bin edges are chosen.
    pub binning: Binning,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            method: DriftMethod::Psi,
            bins: 10,
            binning: Binning::Quantile,
        }
    }
}

/// The drift statistic that decides whether drift was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMethod {
    /// Population Stability Index (`prediction_drift/psi`).
    Psi,
    /// Jensen–Shannon distance, base 2 (`prediction_drift/js_distance`).
    Js,
}

impl DriftMethod {
    /// The metric key whose threshold decides drift for this method.
    pub fn metric_key(self) -> &'static str {
        match self {
            DriftMethod::Psi => "prediction_drift/psi",
            DriftMethod::Js => "prediction_drift/js_distance",
        }
    }
}

/// How histogram bin edges are chosen (the one enum [`crate::score_drift`] takes).
pub use crate::drift::Binning;

/// When a metric alerts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    /// Above (`>`) or below (`<`) `value` alerts.
    pub comparison: Comparison,
    /// The threshold (finite).
    pub value: f64,
}

impl Threshold {
    /// Whether `observed` crosses this threshold (strictly). NaN never does: a metric that
    /// could not be computed is reported by `performance/insufficient_data`, not by a false
    /// alert.
    pub fn fires(&self, observed: f64) -> bool {
        match self.comparison {
            Comparison::Greater => observed > self.value,
            Comparison::Less => observed < self.value,
        }
    }
}

/// A threshold's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// Alert when the value is above the threshold.
    #[serde(rename = ">")]
    Greater,
    /// Alert when the value is below the threshold.
    #[serde(rename = "<")]
    Less,
}

impl Comparison {
    /// `>` or `<`, as written in the config file.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::Less => "<",
        }
    }

    /// Cloud Monitoring's `ComparisonType` (`COMPARISON_GT`, `COMPARISON_LT`).
    pub fn cloud_monitoring(self) -> &'static str {
        match self {
            Comparison::Greater => "COMPARISON_GT",
            Comparison::Less => "COMPARISON_LT",
        }
    }
}

/// One threshold that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The metric key.
    pub key: String,
    /// The value observed.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: Threshold,
    /// `{key} = {value} {>|<} {threshold}`.
    pub reason: String,
}

// The file as written, loosely typed so that every problem can be found and reported rather
// than serde stopping at the first one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    drift: Option<RawDrift>,
    #[serde(default)]
    alerts_threshold: BTreeMap<String, RawThreshold>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    #[serde(default)]
    method: Option<serde_yaml::Value>,
    #[serde(default)]
    bins: Option<serde_yaml::Value>,
    #[serde(default)]
    binning: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    comparison: serde_yaml::Value,
    value: serde_yaml::Value,
}

fn show(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}

impl MonitoringConfig {
    /// Parse and validate YAML text.
    pub fn from_yaml_str(text: &str) -> Result<MonitoringConfig, ThresholdsError> {
        Self::parse(text, "<string>")
    }

    /// The shipped `config/monitoring.yaml` (compiled in).
    pub fn shipped() -> Result<MonitoringConfig, ThresholdsError> {
        Self::parse(SHIPPED_YAML, "config/monitoring.yaml")
    }

    /// Read, parse and validate a YAML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<MonitoringConfig, ThresholdsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ThresholdsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, path: &str) -> Result<MonitoringConfig, ThresholdsError> {
        let invalid = |problems| ThresholdsError::Invalid {
            path: path.to_string(),
            problems,
        };
        let raw: RawConfig =
            serde_yaml::from_str(text).map_err(|e| invalid(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        let mut drift = DriftConfig::default();
        if let Some(d) = raw.drift {
            if let Some(v) = d.method {
                match v.as_str() {
                    Some("psi") => drift.method = DriftMethod::Psi,
                    Some("js") => drift.method = DriftMethod::Js,
                    _ => problems.push(format!(
                        "drift.method is `{}`, expected psi or js",
                        show(&v)
                    )),
                }
            }
            if let Some(v) = d.bins {
                match v.as_u64() {
                    Some(n) if n >= 2 => drift.bins = usize::try_from(n).unwrap_or(usize::MAX),
                    _ => problems.push(format!(
                        "drift.bins is `{}`, expected a whole number >= 2",
                        show(&v)
                    )),
                }
            }
            if let Some(v) = d.binning {
                match v.as_str() {
                    Some("uniform") => drift.binning = Binning::Uniform,
                    Some("quantile") => drift.binning = Binning::Quantile,
                    _ => problems.push(format!(
                        "drift.binning is `{}`, expected uniform or quantile",
                        show(&v)
                    )),
                }
            }
        }
        let mut alerts_threshold = BTreeMap::new();
        for (key, t) in raw.alerts_threshold {
            let known = metrics::find(&key).is_some();
            if !known {
                let near = nearest_keys(&key, 3);
                problems.push(format!(
                    "alerts_threshold: unknown metric `{key}`, nearest known: {}",
                    near.join(", ")
                ));
            }
            let comparison = match t.comparison.as_str() {
                Some(">") => Some(Comparison::Greater),
                Some("<") => Some(Comparison::Less),
                _ => {
                    problems.push(format!(
                        "alerts_threshold.{key}.comparison is `{}`, expected \">\" or \"<\"",
                        show(&t.comparison)
                    ));
                    None
                }
            };
            let value = match t.value.as_f64() {
                Some(v) if v.is_finite() => Some(v),
                _ => {
                    problems.push(format!(
                        "alerts_threshold.{key}.value is `{}`, expected a finite number",
                        show(&t.value)
                    ));
                    None
                }
            };
            if let (true, Some(comparison), Some(value)) = (known, comparison, value) {
                alerts_threshold.insert(key, Threshold { comparison, value });
            }
        }
        if problems.is_empty() {
            Ok(MonitoringConfig {
                drift,
                alerts_threshold,
            })
        } else {
            Err(invalid(problems))
        }
    }

    /// The threshold of a metric key, if the configuration sets one.
    pub fn threshold(&self, key: &str) -> Option<&Threshold> {
        self.alerts_threshold.get(key)
    }

    /// Which thresholds the observed `(key, value)` pairs cross, in the order given. Keys
    /// without a threshold and NaN values never alert.
    pub fn evaluate<K: AsRef<str>>(&self, values: &[(K, f64)]) -> Vec<Alert> {
        values
            .iter()
            .filter_map(|(key, value)| {
                let key = key.as_ref();
                let threshold = *self.alerts_threshold.get(key)?;
                threshold.fires(*value).then(|| Alert {
                    key: key.to_string(),
                    value: *value,
                    threshold,
                    reason: format!(
                        "{key} = {value} {} {}",
                        threshold.comparison.symbol(),
                        threshold.value
                    ),
                })
            })
            .collect()
    }
}

/// Up to `n` catalogue keys closest to `key` by edit distance (ties in catalogue order).
pub fn nearest_keys(key: &str, n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, usize, String)> = METRICS
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let k = m.key();
            (edit_distance(key, &k), i, k)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, _, k)| k).collect()
}

// Levenshtein distance over chars (keys are short: O(n·m) is nothing).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            row[j + 1] = substitute.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_is_valid_and_has_the_template_defaults() {
        let c = MonitoringConfig::shipped().unwrap();
        assert_eq!(c.drift, DriftConfig::default());
        let psi = c.threshold("prediction_drift/psi").unwrap();
        assert_eq!((psi.comparison, psi.value), (Comparison::Greater, 0.2));
        let auc = c.threshold("performance/auc").unwrap();
        assert_eq!((auc.comparison, auc.value), (Comparison::Less, 0.7));
        assert!(c.threshold("feature_drift/features_drifted").is_some());
    }

    #[test]
    fn every_problem_is_listed_in_one_error() {
        let text = "drift: {method: kl, bins: 1, binning: log}\n\
            alerts_threshold:\n\
            \x20 prediction_drift/pis: {comparison: '>', value: 0.2}\n\
            \x20 performance/auc: {comparison: '>=', value: .nan}\n\
            \x20 performance/f1: {comparison: '<', value: .inf}\n";
        let err = MonitoringConfig::from_yaml_str(text).unwrap_err();
        let ThresholdsError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 7, "{problems:#?}");
        let text = err.to_string();
        for needle in [
            "drift.method is `kl`",
            "drift.bins is `1`",
            "drift.binning is `log`",
            "unknown metric `prediction_drift/pis`, nearest known: prediction_drift/psi",
            "alerts_threshold.performance/auc.comparison is `>=`",
            "alerts_threshold.performance/auc.value is `.nan`",
            "alerts_threshold.performance/f1.value is `.inf`",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_yaml_are_errors() {
        let err = MonitoringConfig::from_yaml_str("alert_thresholds: {}\n").unwrap_err();
        assert!(err.to_string().contains("alert_thresholds"), "{err}");
        let err = MonitoringConfig::from_yaml_str(
            "alerts_threshold: {performance/auc: {comparison: '<', value: 0.7, for: 5}}\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("for"), "{err}");
    }

    #[test]
    fn missing_sections_take_defaults() {
        let c = MonitoringConfig::from_yaml_str("{}").unwrap();
        assert_eq!(c.drift, DriftConfig::default());
        assert!(c.alerts_threshold.is_empty());
        let c = MonitoringConfig::from_yaml_str("drift: {method: js, binning: uniform}").unwrap();
        assert_eq!(c.drift.method, DriftMethod::Js);
        assert_eq!(c.drift.binning, Binning::Uniform);
        assert_eq!(c.drift.bins, 10);
    }

    #[test]
    fn evaluate_says_which_thresholds_fire_and_why() {
        let c = MonitoringConfig::from_yaml_str(
            "alerts_threshold:\n\
             \x20 prediction_drift/psi: {comparison: '>', value: 0.2}\n\
             \x20 performance/auc: {comparison: '<', value: 0.7}\n",
        )
        .unwrap();
        let alerts = c.evaluate(&[
            ("prediction_drift/psi", 0.2),      // equal: not above
            ("prediction_drift/psi", 0.25),     // above
            ("performance/auc", 0.69),          // below
            ("performance/auc", f64::NAN),      // never
            ("performance/f1", 0.0),            // no threshold
            ("prediction_drift/psi", f64::NAN), // never
        ]);
        let reasons: Vec<&str> = alerts.iter().map(|a| a.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "prediction_drift/psi = 0.25 > 0.2",
                "performance/auc = 0.69 < 0.7"
            ]
        );
        assert_eq!(alerts[1].threshold.comparison, Comparison::Less);
        assert_eq!(alerts[1].value, 0.69);
    }

    #[test]
    fn nearest_keys_prefers_small_edits() {
        assert_eq!(nearest_keys("performance/acu", 1), ["performance/auc"]);
        assert_eq!(
            nearest_keys("feature_drift/feature_drifted", 1),
            ["feature_drift/features_drifted"]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn from_file_names_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.yaml");
        let err = MonitoringConfig::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("nope.yaml"), "{err}");
        std::fs::write(&path, SHIPPED_YAML).unwrap();
        assert!(MonitoringConfig::from_file(&path).is_ok());
    }
}
