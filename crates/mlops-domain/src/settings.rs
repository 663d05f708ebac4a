//! Runtime settings from a `.env` file and the process environment (the environment wins).
//!
//! Every variable the product reads is listed in [`VARIABLES`], which `mlops --help` prints.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_booster::Kernel;

use crate::error::{DomainError, Result};
use crate::location::ArtifactLocation;

/// Every environment variable read by [`Settings`], with its meaning.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "ENVIRONMENT",
        "local (default), nprod or prod; nprod/prod need the GCP variables",
    ),
    (
        "GCP_PROJECT_ID",
        "Google Cloud project id (required in nprod/prod)",
    ),
    (
        "GCP_REGION",
        "Vertex AI region (default australia-southeast1)",
    ),
    (
        "PIPELINE_BUCKET",
        "gs:// bucket for pipeline roots and artifacts (required in nprod/prod)",
    ),
    (
        "MODEL_NAME_PREFIX",
        "prefix of registered model names (default churn)",
    ),
    (
        "MLOPS_LOCAL_ROOT",
        "folder for local pipeline roots and the local registry (default ./local)",
    ),
    (
        "MLOPS_MODEL_CONFIG",
        "model config YAML (default config/model.yaml)",
    ),
    (
        "MLOPS_PREDICT_KERNEL",
        "tree-scoring code: auto (default: AVX-512, else AVX2, else portable), avx2 or portable; same results",
    ),
];

/// Where the product runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Everything on this machine; no cloud variables needed.
    Local,
    /// Non-production Google Cloud project.
    Nprod,
    /// Production Google Cloud project.
    Prod,
}

/// Validated runtime settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where the product runs.
    pub environment: Environment,
    /// Google Cloud project id (set in nprod/prod).
    pub project_id: Option<String>,
    /// Vertex AI region.
    pub region: String,
    /// Pipeline bucket (set in nprod/prod).
    pub pipeline_bucket: Option<ArtifactLocation>,
    /// Prefix of registered model names.
    pub model_name_prefix: String,
    /// Local folder for pipeline roots and the local registry.
    pub local_root: String,
    /// Path of the model config YAML.
    pub model_config: String,
    /// The tree-scoring kernel to ask for ([`Kernel::Avx512`] means "the fastest available";
    /// a kernel the CPU lacks falls back to the next one).
    pub predict_kernel: Kernel,
}

impl Settings {
    /// Read `env_file` (if it exists) and the process environment.
    pub fn load(env_file: Option<&Path>) -> Result<Settings> {
        let mut vars = BTreeMap::new();
        if let Some(path) = env_file.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path).map_err(|source| DomainError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?;
            vars.extend(parse_dotenv(&text));
        }
        for (name, _) in VARIABLES {
            if let Ok(value) = std::env::var(name) {
                vars.insert((*name).to_string(), value);
            }
        }
        Settings::from_vars(&vars)
    }

    /// Validate settings from a map of variables; every problem is reported at once.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Settings> {
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let environment = match get("ENVIRONMENT").as_deref() {
            None | Some("local") => Environment::Local,
            Some("nprod") => Environment::Nprod,
            Some("prod") => Environment::Prod,
            Some(other) => {
                problems.push(format!(
                    "ENVIRONMENT is `{other}`, expected local, nprod or prod"
                ));
                Environment::Local
            }
        };
        let cloud = environment != Environment::Local;
        let project_id = get("GCP_PROJECT_ID");
        if let Some(p) = &project_id {
            let ok = (6..=30).contains(&p.len())
                && p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                problems.push(format!(
                    "GCP_PROJECT_ID is `{p}`, expected 6-30 characters of a-z, 0-9 and '-', starting with a letter"
                ));
            }
        } else if cloud {
            problems.push(
                "GCP_PROJECT_ID is missing (required when ENVIRONMENT is nprod or prod)".into(),
            );
        }
        let region = get("GCP_REGION").unwrap_or_else(|| "australia-southeast1".into());
        if !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || !region.contains('-')
        {
            problems.push(format!(
                "GCP_REGION is `{region}`, expected a region such as europe-west4"
            ));
        }
        let pipeline_bucket = match get("PIPELINE_BUCKET") {
            Some(b) => match b.parse::<ArtifactLocation>() {
                Ok(loc @ ArtifactLocation::Gcs { .. }) => Some(loc),
                Ok(_) if !cloud => b.parse().ok(),
                Ok(_) => {
                    problems.push(format!(
                        "PIPELINE_BUCKET is `{b}`, expected gs://bucket[/prefix]"
                    ));
                    None
                }
                Err(e) => {
                    problems.push(format!("PIPELINE_BUCKET: {e}"));
                    None
                }
            },
            None => {
                if cloud {
                    problems.push(
                        "PIPELINE_BUCKET is missing (required when ENVIRONMENT is nprod or prod)"
                            .into(),
                    );
                }
                None
            }
        };
        let model_name_prefix = get("MODEL_NAME_PREFIX").unwrap_or_else(|| "churn".into());
        if !model_name_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            problems.push(format!(
                "MODEL_NAME_PREFIX is `{model_name_prefix}`, expected letters, digits, '-' and '_'"
            ));
        }
        let predict_kernel = match get("MLOPS_PREDICT_KERNEL").as_deref() {
            None | Some("auto") => Kernel::Avx512,
            Some("avx2") => Kernel::Avx2,
            Some("portable") => Kernel::Portable,
            Some(other) => {
                problems.push(format!(
                    "MLOPS_PREDICT_KERNEL is `{other}`, expected auto, avx2 or portable"
                ));
                Kernel::Avx512
            }
        };
        if !problems.is_empty() {
            return Err(DomainError::Settings(problems));
        }
        Ok(Settings {
            environment,
            project_id,
            region,
            pipeline_bucket,
            model_name_prefix,
            local_root: get("MLOPS_LOCAL_ROOT").unwrap_or_else(|| "local".into()),
            model_config: get("MLOPS_MODEL_CONFIG").unwrap_or_else(|| "config/model.yaml".into()),
            predict_kernel,
        })
    }
}

/// `KEY=VALUE` lines; `#` comments, blank lines, `export ` prefixes and quotes are handled.
fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn local_needs_nothing() {
        let s = Settings::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(s.environment, Environment::Local);
        assert_eq!(s.model_name_prefix, "churn");
    }

    #[test]
    fn cloud_lists_every_problem_at_once() {
        let err = Settings::from_vars(&vars(&[("ENVIRONMENT", "prod"), ("GCP_REGION", "Mars")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("GCP_PROJECT_ID is missing"), "{err}");
        assert!(err.contains("PIPELINE_BUCKET is missing"), "{err}");
        assert!(err.contains("GCP_REGION is `Mars`"), "{err}");
    }

    #[test]
    fn bad_environment_is_named() {
        let err = Settings::from_vars(&vars(&[("ENVIRONMENT", "staging")])).unwrap_err();
        assert!(err.to_string().contains("ENVIRONMENT is `staging`"));
    }

    #[test]
    fn predict_kernel_is_auto_portable_or_an_error() {
        let s = Settings::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(s.predict_kernel, Kernel::Avx512);
        let s = Settings::from_vars(&vars(&[("MLOPS_PREDICT_KERNEL", "portable")])).unwrap();
        assert_eq!(s.predict_kernel, Kernel::Portable);
        let s = Settings::from_vars(&vars(&[("MLOPS_PREDICT_KERNEL", "avx2")])).unwrap();
        assert_eq!(s.predict_kernel, Kernel::Avx2);
        let err = Settings::from_vars(&vars(&[("MLOPS_PREDICT_KERNEL", "gpu")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("MLOPS_PREDICT_KERNEL is `gpu`, expected auto, avx2 or portable"),
            "{err}"
        );
    }

    #[test]
    fn dotenv_parsing() {
        let m = parse_dotenv("# c\nexport A=1\nB = \"two words\"\n\nC='x'\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "x");
    }

    #[test]
    fn valid_cloud_settings() {
        let s = Settings::from_vars(&vars(&[
            ("ENVIRONMENT", "nprod"),
            ("GCP_PROJECT_ID", "my-project-1"),
            ("PIPELINE_BUCKET", "gs://my-bucket/root"),
        ]))
        .unwrap();
        assert_eq!(s.environment, Environment::Nprod);
        assert_eq!(
            s.pipeline_bucket.unwrap().to_string(),
            "gs://my-bucket/root"
        );
    }
}
