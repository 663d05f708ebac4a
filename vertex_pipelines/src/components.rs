//! Every component the `mlops-component` binary can run: one explicit, alphabetical list.
//! Adding a component = a new type in a `vertex_components/*` crate + one line here.

use mlops_pipeline::Component;

/// All registered components, sorted by name.
pub fn registry() -> Vec<&'static dyn Component> {
    let mut all: Vec<&'static dyn Component> = Vec::new();
    all.extend(data_components::all());
    all.extend(model_components::all());
    all.extend(inference_components::all());
    all.extend(monitoring_components::all());
    all.sort_by_key(|c| c.spec().name);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let names: Vec<&str> = registry().iter().map(|c| c.spec().name).collect();
        assert_eq!(
            names,
            [
                "batch_predict",
                "compare_champion",
                "evaluate",
                "extract_data",
                "performance_monitoring",
                "prediction_drift",
                "register_model",
                "train",
                "validate_data"
            ]
        );
        for c in registry() {
            let spec = c.spec();
            assert!(spec
                .name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            let mut ports: Vec<&str> = spec
                .inputs
                .iter()
                .chain(&spec.outputs)
                .map(|p| p.name)
                .collect();
            ports.sort_unstable();
            ports.dedup();
            assert_eq!(
                ports.len(),
                spec.inputs.len() + spec.outputs.len(),
                "{}: duplicate port",
                spec.name
            );
        }
    }
}
