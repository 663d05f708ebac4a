//! Inference components: `batch_predict` scores a table with the registry's champion.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use data_components::{dataset_file, DATA_FILE};
use mlops_core::predict::{predict_file_with, PredictOptions};
use mlops_pipeline::component::{ComponentError, StepContext};
use mlops_pipeline::{ArtifactType, Component, ComponentSpec, Context, ParamType, Port};
use model_components::Registry;
use serde_json::{json, Map};

/// `batch_predict`: the champion of `model_name` in `registry` scores the Dataset, streamed
/// batch by batch (memory does not grow with the table), into a predictions Dataset with the
/// predictions-table layout (id, `probability`, `label`, `model_name`, `model_version`,
/// `scored_at`), which is also appended to `predictions_table`. The champion's bundle is an
/// output, so that drift is measured against the baseline of the model that scored.
pub struct BatchPredict;

impl Component for BatchPredict {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "batch_predict",
            description: "Score a table with the registry's champion into the predictions table.",
            inputs: vec![
                Port::artifact("dataset", ArtifactType::Dataset, "Rows to score"),
                Port::param("registry", ParamType::String, "Model registry"),
                Port::param("model_name", ParamType::String, "Registered model name"),
                Port::param(
                    "id_column",
                    ParamType::String,
                    "Id column carried into the predictions (left out when the table has none)",
                ),
                Port::param(
                    "predictions_table",
                    ParamType::String,
                    "Predictions table: a local folder (one Parquet file per run is added) or bq://project.dataset.table",
                ),
            ],
            outputs: vec![
                Port::artifact(
                    "predictions",
                    ArtifactType::Dataset,
                    "This run's predictions",
                ),
                Port::artifact("model", ArtifactType::Model, "The champion that scored"),
                Port::param("rows", ParamType::Integer, "Rows scored"),
                Port::param("model_version", ParamType::String, "The champion's version"),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let table = ctx.str("predictions_table")?;
        let to_bigquery = table.starts_with("bq://");
        if to_bigquery && !cfg!(feature = "gcp") {
            // Checked before anything is scored: nothing half-done.
            return Err(ComponentError::invalid_input(
                "predictions_table",
                format!("`{table}`"),
                "a local folder (this build has no Google Cloud support: the cargo feature \
                 `gcp` appends to BigQuery)",
            ));
        }
        let registry = Registry::open(ctx)?;
        let name = ctx.str("model_name")?;
        let Some(version) = registry.champion(&name)? else {
            return Err(ComponentError::Refused(format!(
                "model `{name}` has no champion in {}: run the training pipeline first (it registers one)",
                registry.describe()
            )));
        };
        let bundle = registry.champion_bundle(&name, version)?;
        bundle
            .save(ctx.output_path("model")?)
            .step("save the champion's bundle as the `model` output")?;
        let input = dataset_file(ctx, "dataset")?;
        let out_dir = ctx.output_path("predictions")?;
        let out = out_dir.join(DATA_FILE);
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| ComponentError::io("create folder", &out_dir, e))?;
        let scored_at = Utc::now();
        let id_column = ctx.str("id_column")?;
        let columns = mlops_core::table::BatchReader::open(&input, None, 1)
            .step("read the columns of the rows to score")?
            .columns()
            .to_vec();
        let id = if columns.contains(&id_column) {
            Some(id_column.clone())
        } else {
            eprintln!(
                "the rows to score have no `{id_column}` column: the predictions carry no id, so \
                 performance monitoring cannot join them with outcomes"
            );
            None
        };
        let options =
            PredictOptions::predictions_table(id, name.clone(), version.to_string(), scored_at);
        let timings = predict_file_with(&bundle, &input, &out, &options)
            .step_with(|| format!("score the rows with `{name}` version {version}"))?;
        let stored = if to_bigquery {
            append_bigquery(&table, &id_column, &out)
                .step_with(|| format!("append the predictions to `{table}`"))?;
            table.clone()
        } else {
            append_local(&ctx.path("predictions_table")?, &out, scored_at, version)
                .step_with(|| format!("append the predictions to `{table}`"))?
                .display()
                .to_string()
        };
        eprintln!(
            "scored {} rows with `{name}` version {version}; appended to {stored}",
            timings.rows,
        );
        let mut meta = Map::new();
        meta.insert("rows".into(), json!(timings.rows));
        meta.insert("model_name".into(), json!(name));
        meta.insert("model_version".into(), json!(version));
        meta.insert("scored_at".into(), json!(scored_at.to_rfc3339()));
        ctx.set_metadata("predictions", meta);
        ctx.set("rows", json!(timings.rows));
        ctx.set("model_version", json!(version.to_string()));
        Ok(())
    }
}

/// Append `scored` to the BigQuery predictions table `table` (its declared schema, the id
/// column named `id_column`), streamed in batches.
#[cfg(feature = "gcp")]
fn append_bigquery(table: &str, id_column: &str, scored: &Path) -> mlops_core::Result<u64> {
    mlops_core::predictions_bq::append_predictions_from_env(table, id_column, scored)
}

#[cfg(not(feature = "gcp"))]
fn append_bigquery(_table: &str, _id_column: &str, _scored: &Path) -> mlops_core::Result<u64> {
    // Refused in `run` before scoring; kept so that both builds have one code path.
    Ok(0)
}

/// Copy `scored` into the local predictions table `table` (a folder of Parquet files, one per
/// run, named by time and version so that names sort by time) through a temporary name, so a
/// reader never sees half a file.
fn append_local(
    table: &Path,
    scored: &Path,
    scored_at: DateTime<Utc>,
    version: u32,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(table)?;
    let name = format!(
        "{}-v{version}.parquet",
        scored_at.format("%Y%m%dT%H%M%S%.6fZ")
    );
    let target = table.join(&name);
    let tmp = table.join(format!(".{name}.tmp"));
    std::fs::copy(scored, &tmp)?;
    std::fs::rename(&tmp, &target)?;
    Ok(target)
}

/// Every inference component.
pub fn all() -> Vec<&'static dyn Component> {
    vec![&BatchPredict]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_file_per_run_that_sorts_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let scored = dir.path().join("scored.parquet");
        std::fs::write(&scored, b"rows").unwrap();
        let table = dir.path().join("predictions");
        let t0 = Utc::now();
        let a = append_local(&table, &scored, t0, 1).unwrap();
        let b = append_local(&table, &scored, t0 + chrono::Duration::seconds(1), 2).unwrap();
        assert!(a.file_name() < b.file_name());
        let names: Vec<_> = std::fs::read_dir(&table)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}: no temporary file left");
        assert_eq!(std::fs::read(&b).unwrap(), b"rows");
    }
}
