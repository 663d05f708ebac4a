//! Server settings from the Vertex AI environment (`AIP_*`), with local defaults.

use std::net::SocketAddr;

use mlops_domain::ArtifactLocation;

use crate::error::ServeError;

/// Largest request body Vertex AI's shared endpoints accept (1.5 MB).
pub const MAX_BODY_BYTES: usize = 1_500_000;
/// Default cap on instances per request (batch prediction sends 64 by default).
pub const DEFAULT_MAX_INSTANCES: usize = 5_000;

/// Every variable the server reads, with its meaning (printed by `mlops-serve --help`).
pub const VARIABLES: &[(&str, &str)] = &[
    ("AIP_HTTP_PORT", "port to listen on (default 8080)"),
    ("AIP_HEALTH_ROUTE", "health route (default /health)"),
    ("AIP_PREDICT_ROUTE", "predict route (default /predict)"),
    (
        "AIP_STORAGE_URI",
        "model bundle folder: a local path, file:// or gs:// (via the /gcs mount)",
    ),
    (
        "AIP_MODE",
        "PREDICTION when running on Vertex AI (JSON logs are then forced)",
    ),
    (
        "MLOPS_BIND_ADDR",
        "address to bind (default 0.0.0.0; tests use 127.0.0.1)",
    ),
    (
        "MLOPS_MAX_INSTANCES",
        "largest number of instances per request (default 5000)",
    ),
    (
        "MLOPS_ACCESS_LOG",
        "log one line per request: true (default) or false",
    ),
    ("MLOPS_LOG_FORMAT", "json (default) or text"),
];

/// Validated server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Socket to listen on.
    pub addr: SocketAddr,
    /// `GET` route answering 200 once the model is loaded.
    pub health_route: String,
    /// `POST` route for predictions.
    pub predict_route: String,
    /// Where the model bundle is.
    pub storage: ArtifactLocation,
    /// Running on Vertex AI (`AIP_MODE=PREDICTION`).
    pub on_vertex: bool,
    /// Largest number of instances per request.
    pub max_instances: usize,
    /// Log every request.
    pub access_log: bool,
    /// JSON logs (Cloud Logging) rather than text.
    pub json_logs: bool,
}

impl ServeConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<ServeConfig, ServeError> {
        ServeConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read from any variable lookup; every problem is reported at once.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<ServeConfig, ServeError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let port = match get("AIP_HTTP_PORT") {
            None => 8080,
            Some(p) => p.parse::<u16>().unwrap_or_else(|_| {
                problems.push(format!(
                    "AIP_HTTP_PORT is `{p}`, expected a port number 0-65535"
                ));
                8080
            }),
        };
        let bind = get("MLOPS_BIND_ADDR").unwrap_or_else(|| "0.0.0.0".into());
        let addr = match format!("{bind}:{port}").parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                problems.push(format!(
                    "MLOPS_BIND_ADDR is `{bind}`, expected an IP address"
                ));
                SocketAddr::from(([0, 0, 0, 0], port))
            }
        };
        let route = |name: &str, default: &str, problems: &mut Vec<String>| {
            let r = get(name).unwrap_or_else(|| default.to_string());
            if !r.starts_with('/') {
                problems.push(format!("{name} is `{r}`, expected a path starting with /"));
            }
            r
        };
        let health_route = route("AIP_HEALTH_ROUTE", "/health", &mut problems);
        let predict_route = route("AIP_PREDICT_ROUTE", "/predict", &mut problems);
        if health_route == predict_route {
            problems.push(format!(
                "AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE are both `{health_route}`"
            ));
        }
        let storage = match get("AIP_STORAGE_URI") {
            None => {
                problems
                    .push("AIP_STORAGE_URI is missing: set it to the model bundle folder".into());
                ArtifactLocation::Local(".".into())
            }
            Some(s) => s.parse().unwrap_or_else(|e| {
                problems.push(format!("AIP_STORAGE_URI: {e}"));
                ArtifactLocation::Local(".".into())
            }),
        };
        let on_vertex = get("AIP_MODE").as_deref() == Some("PREDICTION");
        let max_instances = match get("MLOPS_MAX_INSTANCES") {
            None => DEFAULT_MAX_INSTANCES,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    problems.push(format!(
                        "MLOPS_MAX_INSTANCES is `{v}`, expected a positive integer"
                    ));
                    DEFAULT_MAX_INSTANCES
                }
            },
        };
        let flag =
            |name: &str, default: bool, problems: &mut Vec<String>| match get(name).as_deref() {
                None => default,
                Some("true" | "1" | "yes") => true,
                Some("false" | "0" | "no") => false,
                Some(other) => {
                    problems.push(format!("{name} is `{other}`, expected true or false"));
                    default
                }
            };
        let access_log = flag("MLOPS_ACCESS_LOG", true, &mut problems);
        let json_logs = on_vertex
            || match get("MLOPS_LOG_FORMAT").as_deref() {
                None | Some("json") => true,
                Some("text") => false,
                Some(other) => {
                    problems.push(format!(
                        "MLOPS_LOG_FORMAT is `{other}`, expected json or text"
                    ));
                    true
                }
            };
        if !problems.is_empty() {
            return Err(ServeError::Config(problems));
        }
        Ok(ServeConfig {
            addr,
            health_route,
            predict_route,
            storage,
            on_vertex,
            max_instances,
            access_log,
            json_logs,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn vertex_defaults() {
        let c = ServeConfig::from_lookup(lookup(&[("AIP_STORAGE_URI", "/models/m")])).unwrap();
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            (c.health_route.as_str(), c.predict_route.as_str()),
            ("/health", "/predict")
        );
        assert!(!c.on_vertex);
    }

    #[test]
    fn problems_are_listed_together() {
        let err = ServeConfig::from_lookup(lookup(&[
            ("AIP_HTTP_PORT", "http"),
            ("AIP_HEALTH_ROUTE", "health"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("AIP_HTTP_PORT is `http`"), "{err}");
        assert!(err.contains("AIP_HEALTH_ROUTE is `health`"), "{err}");
        assert!(err.contains("AIP_STORAGE_URI is missing"), "{err}");
    }
}
