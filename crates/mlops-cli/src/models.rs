//! `mlops models ...`: import a Python XGBoost model, and the local model registry (list, show,
//! promote, rollback).

use std::path::{Path, PathBuf};

use mlops_domain::Settings;
use mlops_model::LocalRegistry;

use crate::args::{ImportXgboostArgs, ModelsCommand, RegistryArgs};
use crate::context::{load_config, BoxError};

/// Run one `mlops models` command.
pub fn run(settings: &Settings, dry_run: bool, command: ModelsCommand) -> Result<(), BoxError> {
    let local = match &command {
        ModelsCommand::ImportXgboost(_) => true,
        ModelsCommand::List(r) | ModelsCommand::Rollback(r) => r.registry.is_some(),
        ModelsCommand::Show { registry, .. } | ModelsCommand::Promote { registry, .. } => {
            registry.registry.is_some()
        }
    };
    // nprod/prod use the Vertex AI Model Registry unless a local --registry is named.
    if settings.environment.is_cloud() && !local {
        return crate::cloud::models(settings, dry_run, command);
    }
    match command {
        ModelsCommand::ImportXgboost(args) => import_xgboost(settings, args),
        ModelsCommand::List(args) => list(settings, args),
        ModelsCommand::Show { version, registry } => show(settings, &version, registry),
        ModelsCommand::Promote { version, registry } => promote(settings, version, registry),
        ModelsCommand::Rollback(args) => rollback(settings, args),
    }
}

fn import_xgboost(settings: &Settings, args: ImportXgboostArgs) -> Result<(), BoxError> {
    let config = load_config(settings, args.config.as_deref())?;
    let text = std::fs::read_to_string(&args.model)
        .map_err(|e| format!("cannot read `{}`: {e}", args.model.display()))?;
    let names = args
        .feature_names
        .as_deref()
        .map(read_feature_names)
        .transpose()?;
    let fingerprint = mlops_core::train::fingerprint(&args.model)?;
    let bundle =
        mlops_model::import_xgboost(&text, &config, format!("imported:{fingerprint}"), names)
            .map_err(|e| format!("cannot import `{}`: {e}", args.model.display()))?;
    bundle.save(&args.out)?;
    eprintln!(
        "imported {} trees over {} features -> {}",
        bundle.metadata.training.n_trees.unwrap_or(0),
        bundle.metadata.feature_names.len(),
        args.out.display()
    );
    Ok(())
}

/// Feature names from a file: a JSON list of strings, or one name per line (blank lines
/// ignored).
fn read_feature_names(path: &Path) -> Result<Vec<String>, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read feature names `{}`: {e}", path.display()))?;
    parse_feature_names(&text)
        .map_err(|e| format!("feature names `{}`: {e}", path.display()).into())
}

fn parse_feature_names(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| format!("not a JSON list of strings: {e}"))?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    if names.is_empty() {
        return Err("no names found; expected one name per line or a JSON list".into());
    }
    Ok(names)
}

fn registry_of(settings: &Settings, args: &RegistryArgs) -> (LocalRegistry, String) {
    let root = args
        .registry
        .clone()
        .unwrap_or_else(|| default_registry(settings));
    (
        LocalRegistry::new(root),
        args.name
            .clone()
            .unwrap_or_else(|| settings.model_name_prefix.clone()),
    )
}

/// The local registry: `$MLOPS_LOCAL_ROOT/registry`.
pub fn default_registry(settings: &Settings) -> PathBuf {
    Path::new(&settings.local_root).join("registry")
}

fn list(settings: &Settings, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    let versions = registry.list(&name)?;
    if versions.is_empty() {
        println!("no versions of `{name}` registered");
    }
    for v in versions {
        let auc = v.metrics.get("auc").copied().unwrap_or(f64::NAN);
        println!(
            "{name} v{:<4} {:<12} auc {auc:.4}  {}  {}",
            v.version,
            v.aliases.join(","),
            v.created_at,
            v.path
        );
    }
    Ok(())
}

fn show(settings: &Settings, version: &str, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    let path = registry.resolve(&name, version)?;
    let bundle = mlops_model::ModelBundle::load(&path)?;
    println!("{}", serde_json::to_string_pretty(&bundle.metadata)?);
    Ok(())
}

fn promote(settings: &Settings, version: u32, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    registry.promote(&name, version)?;
    println!("{name}: champion -> v{version}");
    Ok(())
}

fn rollback(settings: &Settings, args: RegistryArgs) -> Result<(), BoxError> {
    let (registry, name) = registry_of(settings, &args);
    let v = registry.rollback(&name)?;
    println!("{name}: champion -> v{v}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_from_lines_or_json() {
        assert_eq!(
            parse_feature_names("tenure\n\n monthly_charges \n").unwrap(),
            ["tenure", "monthly_charges"]
        );
        assert_eq!(
            parse_feature_names(r#"["a", "b=x"]"#).unwrap(),
            ["a", "b=x"]
        );
        assert!(parse_feature_names("\n \n")
            .unwrap_err()
            .contains("no names found"));
        assert!(parse_feature_names("[1, 2]")
            .unwrap_err()
            .contains("not a JSON list of strings"));
    }
}
