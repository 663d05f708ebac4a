//! KFP parameter and artifact types.

use serde::{Deserialize, Serialize};

/// A parameter's type (`parameterType` in the IR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamType {
    /// `STRING`.
    #[serde(rename = "STRING")]
    String,
    /// `NUMBER_INTEGER` (within ±2^53-1).
    #[serde(rename = "NUMBER_INTEGER")]
    Integer,
    /// `NUMBER_DOUBLE`.
    #[serde(rename = "NUMBER_DOUBLE")]
    Float,
    /// `BOOLEAN`.
    #[serde(rename = "BOOLEAN")]
    Bool,
    /// `LIST` (JSON array).
    #[serde(rename = "LIST")]
    List,
    /// `STRUCT` (JSON object).
    #[serde(rename = "STRUCT")]
    Struct,
}

impl ParamType {
    /// The IR name.
    pub fn ir_name(self) -> &'static str {
        match self {
            ParamType::String => "STRING",
            ParamType::Integer => "NUMBER_INTEGER",
            ParamType::Float => "NUMBER_DOUBLE",
            ParamType::Bool => "BOOLEAN",
            ParamType::List => "LIST",
            ParamType::Struct => "STRUCT",
        }
    }

    /// Parse an IR name.
    pub fn from_ir(name: &str) -> Option<ParamType> {
        Some(match name {
            "STRING" => ParamType::String,
            "NUMBER_INTEGER" => ParamType::Integer,
            "NUMBER_DOUBLE" => ParamType::Float,
            "BOOLEAN" => ParamType::Bool,
            "LIST" => ParamType::List,
            "STRUCT" => ParamType::Struct,
            _ => return None,
        })
    }

    /// Does a JSON value have this type?
    pub fn accepts(self, v: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, v) {
            (ParamType::String, Value::String(_)) => true,
            (ParamType::Integer, Value::Number(n)) => {
                n.as_i64().is_some_and(|i| i.unsigned_abs() < (1u64 << 53))
            }
            (ParamType::Float, Value::Number(_)) => true,
            (ParamType::Bool, Value::Bool(_)) => true,
            (ParamType::List, Value::Array(_)) => true,
            (ParamType::Struct, Value::Object(_)) => true,
            _ => false,
        }
    }

    /// Parse a command-line value (`--param k=v`) as this type.
    pub fn parse_cli(self, text: &str) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        let v = match self {
            ParamType::String => Value::String(text.to_string()),
            ParamType::Integer => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("`{text}` is not an integer"))?,
            ParamType::Float => text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .ok_or_else(|| format!("`{text}` is not a number"))?,
            ParamType::Bool => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(format!("`{text}` is not true or false")),
            },
            ParamType::List | ParamType::Struct => {
                serde_json::from_str(text).map_err(|e| format!("`{text}` is not JSON: {e}"))?
            }
        };
        if self.accepts(&v) {
            Ok(v)
        } else {
            Err(format!("`{text}` is not a {}", self.ir_name()))
        }
    }
}

/// An artifact's type (`artifactType.schemaTitle`, schema version 0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactType {
    /// `system.Artifact`.
    Artifact,
    /// `system.Dataset`.
    Dataset,
    /// `system.Model`.
    Model,
    /// `system.Metrics`.
    Metrics,
    /// `system.ClassificationMetrics`.
    ClassificationMetrics,
    /// `system.HTML`.
    Html,
    /// `system.Markdown`.
    Markdown,
}

impl ArtifactType {
    /// The schema title.
    pub fn schema_title(self) -> &'static str {
        match self {
            ArtifactType::Artifact => "system.Artifact",
            ArtifactType::Dataset => "system.Dataset",
            ArtifactType::Model => "system.Model",
            ArtifactType::Metrics => "system.Metrics",
            ArtifactType::ClassificationMetrics => "system.ClassificationMetrics",
            ArtifactType::Html => "system.HTML",
            ArtifactType::Markdown => "system.Markdown",
        }
    }

    /// Schema version of every system type.
    pub const SCHEMA_VERSION: &'static str = "0.0.1";

    /// The IR `artifactType`, typed.
    pub fn ir_type(self) -> crate::executor::ArtifactTypeJson {
        crate::executor::ArtifactTypeJson {
            schema_title: self.schema_title().to_string(),
            schema_version: Self::SCHEMA_VERSION.to_string(),
        }
    }

    /// The IR `artifactType` object.
    pub fn ir(self) -> serde_json::Value {
        // Two strings always serialise.
        serde_json::to_value(self.ir_type()).unwrap_or_default()
    }
}
