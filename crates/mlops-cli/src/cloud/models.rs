//! `mlops models list|show|promote|rollback` against the Vertex AI Model Registry.
//!
//! The model is the one whose display name is `{MODEL_NAME_PREFIX}_churn`. Promotion moves
//! the `champion` alias; the version it leaves keeps `previous-champion`, which is where
//! `rollback` goes (one step back, as Vertex keeps no alias history). The alias that must
//! always point somewhere (`champion`) is moved last, so a failure in between never leaves it
//! missing.

use mlops_domain::Settings;
use mlops_gcp::vertex::ModelVersion;
use mlops_gcp::Gcp;
use serde_json::json;

use super::connect;
use crate::args::ModelsCommand;
use crate::context::BoxError;

/// The alias of the serving version.
pub const CHAMPION: &str = "champion";
/// The alias of the version `champion` last left.
pub const PREVIOUS: &str = "previous-champion";

/// Run a registry command against Vertex AI.
pub fn run(settings: &Settings, dry_run: bool, command: ModelsCommand) -> Result<(), BoxError> {
    let gcp = connect(settings, dry_run)?;
    let display_name = settings.model_name();
    match command {
        ModelsCommand::List(_) => {
            let model = find(&gcp, &display_name)?;
            for v in gcp.model_versions(&model.model)? {
                println!(
                    "{:>4}  {:<28} {:<24} {}",
                    v.version_id,
                    v.aliases.join(","),
                    v.created.as_deref().unwrap_or("-"),
                    v.description
                );
            }
            Ok(())
        }
        ModelsCommand::Show { version, .. } => {
            let model = find(&gcp, &display_name)?;
            let v = gcp.model_version(&format!("{}@{version}", model.model))?;
            println!("{}", serde_json::to_string_pretty(&version_json(&v))?);
            Ok(())
        }
        ModelsCommand::Promote { version, .. } => {
            let model = find(&gcp, &display_name)?;
            promote(&gcp, &model.model, &version.to_string())?;
            eprintln!("{display_name} version {version} is now the {CHAMPION}");
            Ok(())
        }
        ModelsCommand::Rollback(_) => {
            let model = find(&gcp, &display_name)?;
            let previous = gcp
                .model_version(&format!("{}@{PREVIOUS}", model.model))
                .map_err(|e| format!("no version carries `{PREVIOUS}`, so there is nothing to roll back to ({e})"))?;
            // Champion first (moving it away from the current version), then drop the
            // `previous-champion` alias so a second rollback does not bounce back.
            gcp.merge_version_aliases(&previous.versioned_name(), &[CHAMPION.to_string()])?;
            gcp.merge_version_aliases(&previous.versioned_name(), &[format!("-{PREVIOUS}")])?;
            eprintln!(
                "{display_name}: {CHAMPION} rolled back to version {}",
                previous.version_id
            );
            println!("{}", previous.version_id);
            Ok(())
        }
        ModelsCommand::ImportXgboost(_) => Err("import-xgboost is a local command".into()),
    }
}

fn find(gcp: &Gcp, display_name: &str) -> Result<ModelVersion, BoxError> {
    if gcp.config().dry_run {
        return Ok(ModelVersion {
            model: format!("{}/models/DRY_RUN", gcp.config().location()),
            version_id: String::new(),
            display_name: display_name.to_string(),
            aliases: Vec::new(),
            artifact_uri: String::new(),
            created: None,
            description: String::new(),
            labels: Default::default(),
        });
    }
    gcp.find_model(display_name)?.ok_or_else(|| {
        format!(
            "no model named `{display_name}` in the Vertex AI Model Registry of {}",
            gcp.config().location()
        )
        .into()
    })
}

/// Make `version` the champion of `model`; the version that was champion keeps
/// `previous-champion`.
pub fn promote(gcp: &Gcp, model: &str, version: &str) -> Result<(), BoxError> {
    let target = format!("{model}@{version}");
    if !gcp.config().dry_run {
        // Fails (404) for a version that does not exist, before any alias moves.
        gcp.model_version(&target)?;
        match gcp.model_version(&format!("{model}@{CHAMPION}")) {
            Ok(current) if current.version_id != version => {
                gcp.merge_version_aliases(&current.versioned_name(), &[PREVIOUS.to_string()])?;
            }
            Ok(_) => return Ok(()),
            Err(mlops_gcp::GcpError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    gcp.merge_version_aliases(&target, &[CHAMPION.to_string()])?;
    Ok(())
}

fn version_json(v: &ModelVersion) -> serde_json::Value {
    json!({
        "model": v.model,
        "version": v.version_id,
        "display_name": v.display_name,
        "aliases": v.aliases,
        "artifact_uri": v.artifact_uri,
        "created": v.created,
        "description": v.description,
        "labels": v.labels,
    })
}
