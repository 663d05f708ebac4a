//! What a component declares: its name and typed inputs and outputs.

use serde_json::Value;

use crate::types::{ArtifactType, ParamType};

/// An input or output of a component.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// Name (snake_case), as in the executor input.
    pub name: &'static str,
    /// Parameter or artifact, with its type.
    pub kind: PortKind,
    /// One line for the IR and the docs.
    pub description: &'static str,
}

/// The kind of a port.
#[derive(Debug, Clone, PartialEq)]
pub enum PortKind {
    /// A parameter; inputs may have a default (and are then optional).
    Param {
        /// Its type.
        ty: ParamType,
        /// Default value (inputs only).
        default: Option<Value>,
    },
    /// An artifact.
    Artifact(ArtifactType),
}

impl Port {
    /// A required parameter.
    pub const fn param(name: &'static str, ty: ParamType, description: &'static str) -> Port {
        Port {
            name,
            kind: PortKind::Param { ty, default: None },
            description,
        }
    }

    /// An optional parameter with a default.
    pub fn param_with_default(
        name: &'static str,
        ty: ParamType,
        default: Value,
        description: &'static str,
    ) -> Port {
        Port {
            name,
            kind: PortKind::Param {
                ty,
                default: Some(default),
            },
            description,
        }
    }

    /// An artifact.
    pub const fn artifact(name: &'static str, ty: ArtifactType, description: &'static str) -> Port {
        Port {
            name,
            kind: PortKind::Artifact(ty),
            description,
        }
    }

    /// `STRING`, `system.Model`, ... for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            PortKind::Param { ty, .. } => ty.ir_name(),
            PortKind::Artifact(a) => a.schema_title(),
        }
    }
}

/// A component's interface.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec {
    /// snake_case name, unique among registered components (`train`, `extract_data`).
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Inputs.
    pub inputs: Vec<Port>,
    /// Outputs.
    pub outputs: Vec<Port>,
}

impl ComponentSpec {
    /// An input port by name.
    pub fn input(&self, name: &str) -> Option<&Port> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// An output port by name.
    pub fn output(&self, name: &str) -> Option<&Port> {
        self.outputs.iter().find(|p| p.name == name)
    }

    /// The KFP-style name (`extract-data`).
    pub fn kebab_name(&self) -> String {
        self.name.replace('_', "-")
    }
}
