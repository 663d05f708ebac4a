//! Data components. A Dataset artifact is a folder holding `data.parquet`.

use mlops_core::source::TableSource;
use mlops_domain::ModelConfig;
use mlops_pipeline::component::{ComponentError, StepContext};
use mlops_pipeline::{ArtifactType, Component, ComponentSpec, Context, ParamType, Port};
use serde_json::{json, Map, Value};

/// File inside a Dataset artifact folder.
pub const DATA_FILE: &str = "data.parquet";

/// The model config from a component's `model_config` STRUCT parameter.
pub fn config_param(ctx: &Context) -> Result<ModelConfig, ComponentError> {
    let value = ctx.json("model_config")?;
    ModelConfig::from_serializable(&value, "parameter model_config")
        .step("use input parameter `model_config` as the model config")
}

/// The table inside a Dataset artifact.
pub fn dataset_file(ctx: &Context, name: &str) -> Result<std::path::PathBuf, ComponentError> {
    Ok(ctx.input_path(name)?.join(DATA_FILE))
}

/// `extract_data`: read the source table into a Dataset artifact. The `source` parameter is
/// anything [`mlops_core::source::TableSource`] accepts: a CSV or Parquet path (relative to
/// the folder the pipeline was started from, as [`Context::path`] resolves it), a `gs://`
/// object (through the `/gcs/` mount inside Vertex AI), a `bq://` table or a query; the last
/// two, and `gs://` outside Vertex AI, need the cargo feature `gcp` and read their
/// connection settings from the environment ([`mlops_core::source::gcp_config_from_env`]).
pub struct ExtractData;

impl Component for ExtractData {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "extract_data",
            description: "Read the source table into a Dataset (Parquet).",
            inputs: vec![Port::param(
                "source",
                ParamType::String,
                "Table to read (a CSV or Parquet path, gs://bucket/object.csv or .parquet, \
                 bq://project.dataset.table, or a query starting with SELECT or WITH)",
            )],
            outputs: vec![Port::artifact(
                "dataset",
                ArtifactType::Dataset,
                "The extracted table",
            )],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let text = ctx.str("source")?;
        let mut source: TableSource = text
            .parse()
            .step("use input parameter `source` as a table source")?;
        if let TableSource::Local(_) = source {
            source = TableSource::Local(ctx.path("source")?);
        }
        // Downloads and query results live only until they are copied into the artifact.
        let scratch = tempfile::tempdir()
            .map_err(|e| ComponentError::io("create a folder in", &std::env::temp_dir(), e))?;
        let path = mlops_core::source::fetch_from_env(&source, None, scratch.path())
            .step_with(|| format!("fetch the source table `{source}`"))?;
        let mut df = mlops_core::table::read_table(&path)
            .step_with(|| format!("read the source table `{source}`"))?;
        let out = ctx.output_path("dataset")?;
        mlops_core::table::write_table(&mut df, &out.join(DATA_FILE))
            .step("write the Dataset artifact")?;
        // The table as read: the local file, the downloaded object, or the query's Parquet.
        let fingerprint = mlops_core::train::fingerprint(&path)
            .step_with(|| format!("fingerprint the source table `{source}`"))?;
        let mut meta = Map::new();
        meta.insert("rows".into(), json!(df.height()));
        meta.insert("columns".into(), json!(df.width()));
        meta.insert("source".into(), json!(source.to_string()));
        meta.insert("fingerprint".into(), json!(fingerprint));
        ctx.set_metadata("dataset", meta);
        Ok(())
    }
}

/// `validate_data`: check the table against the schema (columns, types, label values) and
/// describe it; fails with the first bad cell of every column.
pub struct ValidateData;

impl Component for ValidateData {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "validate_data",
            description:
                "Validate the table against the model config's schema; report basic statistics.",
            inputs: vec![
                Port::artifact("dataset", ArtifactType::Dataset, "Table to check"),
                Port::param(
                    "model_config",
                    ParamType::Struct,
                    "The model config (config/model.yaml)",
                ),
            ],
            outputs: vec![
                Port::artifact("report", ArtifactType::Markdown, "Statistics of the table"),
                Port::param("rows", ParamType::Integer, "Rows in the table"),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let config = config_param(ctx)?;
        let file = dataset_file(ctx, "dataset")?;
        let data = mlops_core::train::prepare(&config, &file)
            .step("validate the table against the model config")?;
        let rows = data.y.len();
        let positive = data.y.iter().filter(|&&v| v > 0.5).count();
        let nf = data.n_features();
        let names = data.preprocessor.feature_names();
        let mut report = format!(
            "# Data validation\n\n- rows: {rows}\n- positive `{}`: {positive} ({:.2} %)\n- features after encoding: {nf}\n\n| feature | missing | mean |\n|---|---|---|\n",
            config.label.positive,
            100.0 * positive as f64 / rows.max(1) as f64
        );
        for (j, name) in names.iter().enumerate() {
            let column = data.x.iter().skip(j).step_by(nf.max(1));
            let (mut missing, mut sum, mut n) = (0usize, 0f64, 0usize);
            for v in column {
                if v.is_nan() {
                    missing += 1;
                } else {
                    sum += *v as f64;
                    n += 1;
                }
            }
            report.push_str(&format!(
                "| {name} | {missing} | {:.4} |\n",
                sum / n.max(1) as f64
            ));
        }
        let out = ctx.output_path("report")?;
        mlops_domain::write_atomic(&out, report.as_bytes()).step("write the validation report")?;
        ctx.set("rows", json!(rows));
        let mut meta = Map::new();
        meta.insert("rows".into(), json!(rows));
        meta.insert(
            "positive_rate".into(),
            Value::from(positive as f64 / rows.max(1) as f64),
        );
        ctx.set_metadata("report", meta);
        Ok(())
    }
}

/// Every registered component (data family).
pub fn all() -> Vec<&'static dyn Component> {
    vec![&ExtractData, &ValidateData]
}
