//! Model components: train, evaluate, compare with the champion, register.

use std::path::{Path, PathBuf};

use data_components::{config_param, dataset_file, DATA_FILE};
use mlops_core::metrics::{evaluate as score_metrics, roc_curve, RocPoint};
use mlops_core::train::{prepare, split_table_file, train_with_test_file, TrainOptions};
use mlops_model::{LocalRegistry, ModelBundle, CHAMPION};
use mlops_pipeline::component::{metrics_metadata, ComponentError, StepContext};
use mlops_pipeline::{ArtifactType, Component, ComponentSpec, Context, ParamType, Port};
use polars::prelude::{BooleanChunked, DataFrame, NewChunkedArray};
use serde_json::{json, Map};

#[cfg(feature = "gcp")]
pub mod vertex_registry;

/// The registry a `registry` parameter names: a local folder, or the Vertex AI Model Registry
/// (`vertex://projects/{p}/locations/{r}`, cargo feature `gcp`). Components that need a
/// champion (training's comparison, batch prediction) open it from their `registry` parameter.
pub enum Registry {
    /// A folder ([`LocalRegistry`]).
    Local(LocalRegistry),
    /// The Vertex AI Model Registry.
    #[cfg(feature = "gcp")]
    Vertex(Box<vertex_registry::VertexRegistry>),
}

impl Registry {
    /// The registry named by the component's `registry` parameter.
    pub fn open(ctx: &Context) -> Result<Registry, ComponentError> {
        let text = ctx.str("registry")?;
        if text.starts_with("vertex://") {
            #[cfg(feature = "gcp")]
            return Ok(Registry::Vertex(Box::new(
                vertex_registry::VertexRegistry::open(&text)?,
            )));
            #[cfg(not(feature = "gcp"))]
            return Err(ComponentError::Refused(format!(
                "registry `{text}` is the Vertex AI Model Registry, and this build has no Google Cloud support (cargo feature `gcp`)"
            )));
        }
        Ok(Registry::Local(LocalRegistry::new(ctx.path("registry")?)))
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Registry::Local(r) => r.root().display().to_string(),
            #[cfg(feature = "gcp")]
            Registry::Vertex(_) => "the Vertex AI Model Registry".to_string(),
        }
    }

    /// The champion's version (fails closed: only a registry without one says `None`).
    pub fn champion(&self, name: &str) -> Result<Option<u32>, ComponentError> {
        match self {
            Registry::Local(r) => r.champion(name).step_with(|| {
                format!(
                    "read the champion of model `{name}` in registry {}",
                    r.root().display()
                )
            }),
            #[cfg(feature = "gcp")]
            Registry::Vertex(r) => Ok(r.champion(name)?.map(|c| c.0)),
        }
    }

    /// The champion's bundle.
    pub fn champion_bundle(&self, name: &str, version: u32) -> Result<ModelBundle, ComponentError> {
        match self {
            Registry::Local(r) => ModelBundle::load(r.version_path(name, version))
                .step_with(|| format!("load champion version {version}")),
            #[cfg(feature = "gcp")]
            Registry::Vertex(r) => {
                let Some((_, uri)) = r.champion(name)? else {
                    return Err(ComponentError::Refused(format!(
                        "champion version {version} of `{name}` disappeared while it was being compared"
                    )));
                };
                let scratch = std::env::current_dir()
                    .map_err(|e| ComponentError::io("read", Path::new("."), e))?
                    .join("champion_bundle");
                r.load_bundle(&uri, &scratch)
            }
        }
    }
}

/// `train`: split the table, fit the configured model on the training rows, save the bundle.
pub struct Train;

impl Component for Train {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "train",
            description: "Split by a hash of each row's key and train the configured model; outputs the bundle and the held-out rows.",
            inputs: vec![
                Port::artifact("dataset", ArtifactType::Dataset, "Validated table"),
                Port::param("model_config", ParamType::Struct, "The model config"),
                Port::param("n_estimators", ParamType::Integer, "Boosting rounds"),
                Port::param("max_depth", ParamType::Integer, "Tree depth"),
                Port::param("learning_rate", ParamType::Float, "Shrinkage"),
                Port::param(
                    "seed",
                    ParamType::Integer,
                    "Seed of training randomness (the train/test split is by row hash)",
                ),
            ],
            outputs: vec![
                Port::artifact("model", ArtifactType::Model, "Model bundle (model.json + metadata.json)"),
                Port::artifact("test_data", ArtifactType::Dataset, "Held-out rows"),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let mut config = config_param(ctx)?;
        let p = &mut config.model.boosted_trees;
        p.n_estimators = ctx.int_as("n_estimators", "a number of rounds >= 1")?;
        p.max_depth = ctx.int_as("max_depth", "a depth >= 1")?;
        p.learning_rate = ctx.float("learning_rate")?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ComponentError::Refused(format!(
                "invalid hyperparameters: {}",
                problems.join("; ")
            )));
        }
        let seed: u64 = ctx.int_as("seed", "a seed >= 0")?;
        let input = dataset_file(ctx, "dataset")?;
        let test_dir = ctx.output_path("test_data")?;
        let train_file = test_dir.with_file_name("train_rows.parquet");
        let test_file = test_dir.join(DATA_FILE);
        std::fs::create_dir_all(&test_dir)
            .map_err(|e| ComponentError::io("create folder", &test_dir, e))?;
        // Rows are split by a hash of their key, not by the seed: the same row is a test row in
        // every run, so compare_champion can score an earlier champion on rows it never saw.
        let split = split_table_file(&config, &input, &train_file, &test_file)
            .step("split the table into train and test rows")?;
        let data = prepare(&config, &train_file).step("prepare the training rows")?;
        let options = TrainOptions {
            seed: Some(seed),
            cv_folds: None,
            git_sha: std::env::var("GIT_SHA").ok(),
        };
        let outcome = train_with_test_file(
            &config,
            &data,
            &test_file,
            &options,
            &mut |_: &mlops_booster::RoundReport| {},
        )
        .step("train the model")?;
        let _ = std::fs::remove_file(&train_file);
        let mut bundle = outcome.bundle;
        bundle.metadata.training.rows = split.train_rows + split.test_rows;
        bundle.metadata.training.partition = Some(split.rule);
        bundle
            .save(ctx.output_path("model")?)
            .step("save the model bundle")?;
        let mut meta = metrics_metadata(&bundle.metadata.training.test_metrics);
        meta.insert("framework".into(), json!("mlops-booster (XGBoost JSON)"));
        meta.insert("fit_seconds".into(), json!(outcome.fit_seconds));
        ctx.set_metadata("model", meta);
        Ok(())
    }
}

fn roc_svg(points: &[RocPoint], auc: f64) -> String {
    let mut path = String::new();
    let mut sorted: Vec<&RocPoint> = points.iter().collect();
    sorted.sort_by(|a, b| {
        a.false_positive_rate
            .total_cmp(&b.false_positive_rate)
            .then(a.recall.total_cmp(&b.recall))
    });
    for (i, p) in sorted.iter().enumerate() {
        let x = 40.0 + 300.0 * p.false_positive_rate;
        let y = 320.0 - 300.0 * p.recall;
        path.push_str(&format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" }));
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="360" height="360" viewBox="0 0 360 360">
<rect x="40" y="20" width="300" height="300" fill="none" stroke="#999"/>
<line x1="40" y1="320" x2="340" y2="20" stroke="#ccc" stroke-dasharray="4"/>
<path d="{path}" fill="none" stroke="#1a73e8" stroke-width="2"/>
<text x="190" y="350" text-anchor="middle" font-size="12">false positive rate</text>
<text x="12" y="170" text-anchor="middle" font-size="12" transform="rotate(-90 12 170)">recall</text>
<text x="330" y="300" text-anchor="end" font-size="14">AUC {auc:.4}</text>
</svg>"##
    )
}

/// `evaluate`: score the held-out rows; write Metrics, ClassificationMetrics and an HTML
/// report with the ROC curve.
pub struct Evaluate;

impl Component for Evaluate {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "evaluate",
            description:
                "Evaluate the model on the held-out rows: metrics, ROC curve, confusion matrix.",
            inputs: vec![
                Port::artifact("model", ArtifactType::Model, "Model bundle"),
                Port::artifact("test_data", ArtifactType::Dataset, "Held-out rows"),
            ],
            outputs: vec![
                Port::artifact("metrics", ArtifactType::Metrics, "Scalar metrics"),
                Port::artifact(
                    "classification_metrics",
                    ArtifactType::ClassificationMetrics,
                    "ROC curve and confusion matrix",
                ),
                Port::artifact(
                    "report",
                    ArtifactType::Html,
                    "HTML report with the ROC curve",
                ),
                Port::param("auc", ParamType::Float, "ROC AUC on the held-out rows"),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let bundle = ModelBundle::load(ctx.input_path("model")?).step("load the model")?;
        let (y, p) = score_file(&bundle, &dataset_file(ctx, "test_data")?)?;
        let m = score_metrics(&y, &p, bundle.metadata.threshold);
        let roc = roc_curve(&y, &p, 50);
        ctx.set_metadata("metrics", metrics_metadata(&m.scalars()));
        let label = &bundle.metadata.label;
        let mut cls = Map::new();
        cls.insert("confidenceMetrics".into(), json!(roc));
        cls.insert(
            "confusionMatrix".into(),
            json!({
                "annotationSpecs": [{"displayName": label.negative}, {"displayName": label.positive}],
                "rows": [{"row": m.confusion_matrix[0]}, {"row": m.confusion_matrix[1]}],
            }),
        );
        ctx.set_metadata("classification_metrics", cls);
        for name in ["metrics", "classification_metrics"] {
            let path = ctx.output_path(name)?;
            mlops_domain::write_atomic(&path, b"{}").step_with(|| format!("write {name}"))?;
        }
        let rows: String = m
            .scalars()
            .iter()
            .map(|(k, v)| format!("<tr><td>{k}</td><td>{v:.4}</td></tr>"))
            .collect();
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Model evaluation</title></head><body>\
             <h1>Model evaluation</h1><p>{} held-out rows, threshold {}</p><table>{rows}</table>\
             <h2>ROC curve</h2>{}<h2>Confusion matrix</h2><table><tr><th></th><th>predicted {}</th><th>predicted {}</th></tr>\
             <tr><th>actual {}</th><td>{}</td><td>{}</td></tr><tr><th>actual {}</th><td>{}</td><td>{}</td></tr></table></body></html>",
            m.rows,
            m.threshold,
            roc_svg(&roc, m.auc),
            label.negative,
            label.positive,
            label.negative,
            m.confusion_matrix[0][0],
            m.confusion_matrix[0][1],
            label.positive,
            m.confusion_matrix[1][0],
            m.confusion_matrix[1][1],
        );
        let out = ctx.output_path("report")?;
        mlops_domain::write_atomic(&out, html.as_bytes()).step("write the HTML report")?;
        ctx.set("auc", json!(m.auc));
        Ok(())
    }
}

fn score_file(bundle: &ModelBundle, path: &Path) -> Result<(Vec<f32>, Vec<f32>), ComponentError> {
    let df = mlops_core::table::read_table(path).step("read the held-out rows")?;
    score_frame(bundle, &df, path)
}

/// Labels and probabilities of a table's rows; `path` names the table in errors.
fn score_frame(
    bundle: &ModelBundle,
    df: &DataFrame,
    path: &Path,
) -> Result<(Vec<f32>, Vec<f32>), ComponentError> {
    let y = mlops_core::encode::encode_labels(df, &bundle.metadata.label, path)
        .step("encode the labels of the held-out rows")?;
    let x = mlops_core::encode::encode_features(df, bundle.preprocessor(), path)
        .step("encode the held-out rows for the model")?;
    let p = bundle.predict_proba(&x).step("score the held-out rows")?;
    Ok((y, p))
}

/// `compare_champion`: score the registry's champion and the candidate on the same held-out
/// rows; `is_better` when the candidate's AUC is strictly higher (or there is no champion).
pub struct CompareChampion;

impl Component for CompareChampion {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "compare_champion",
            description:
                "Compare the candidate with the current champion on the same held-out rows.",
            inputs: vec![
                Port::artifact("model", ArtifactType::Model, "Candidate bundle"),
                Port::artifact("test_data", ArtifactType::Dataset, "Held-out rows"),
                Port::param(
                    "registry",
                    ParamType::String,
                    "Model registry (local folder)",
                ),
                Port::param("model_name", ParamType::String, "Registered model name"),
            ],
            outputs: vec![
                Port::param(
                    "is_better",
                    ParamType::Bool,
                    "Candidate beats the champion (or there is none)",
                ),
                Port::param("candidate_auc", ParamType::Float, "Candidate AUC"),
                Port::param(
                    "champion_auc",
                    ParamType::Float,
                    "Champion AUC (0 without a champion)",
                ),
                Port::param(
                    "champion_version",
                    ParamType::String,
                    "The champion compared against: its version number, or `none`",
                ),
                Port::param(
                    "compared_rows",
                    ParamType::Integer,
                    "Held-out rows both models were scored on",
                ),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let test = dataset_file(ctx, "test_data")?;
        let candidate =
            ModelBundle::load(ctx.input_path("model")?).step("load the candidate model")?;
        let registry = Registry::open(ctx)?;
        let name = ctx.str("model_name")?;
        // Fails closed: only a registry without a champion may say "no champion"; a corrupt
        // or unreadable alias state fails the step instead of letting any candidate through.
        let champion_version = registry.champion(&name)?;
        let df = mlops_core::table::read_table(&test).step("read the held-out rows")?;
        let (candidate_auc, champion_auc, rows) = match champion_version {
            None => {
                let (y, p) = score_frame(&candidate, &df, &test)?;
                (mlops_core::metrics::roc_auc(&y, &p), None, y.len())
            }
            Some(version) => {
                let champion = registry.champion_bundle(&name, version)?;
                let fair = fair_rows(&df, &test, &candidate, &champion, version)?;
                let (y, p) = score_frame(&candidate, &fair, &test)?;
                let (_, pc) = score_frame(&champion, &fair, &test)?;
                (
                    mlops_core::metrics::roc_auc(&y, &p),
                    Some(mlops_core::metrics::roc_auc(&y, &pc)),
                    y.len(),
                )
            }
        };
        let is_better = champion_auc.is_none_or(|c| candidate_auc > c);
        eprintln!(
            "on {rows} rows: candidate AUC {candidate_auc:.5}, champion {} AUC {champion_auc:?}: is_better = {is_better}",
            champion_label(champion_version)
        );
        ctx.set("is_better", json!(is_better));
        ctx.set("candidate_auc", json!(candidate_auc));
        ctx.set("champion_auc", json!(champion_auc.unwrap_or(0.0)));
        ctx.set("champion_version", json!(champion_label(champion_version)));
        ctx.set("compared_rows", json!(rows));
        Ok(())
    }
}

/// Fewest rows on which a comparison means anything (AUC of a few dozen rows is noise).
const MIN_COMPARED_ROWS: usize = 100;

/// The candidate's test rows that the champion did not train on either: those in the test
/// partition under the champion's own rule (all of them when both rules are the same). A
/// champion whose rule is unknown is refused: any row might be one it trained on, and scoring
/// it on its own training rows inflates its AUC so that no candidate can win.
fn fair_rows(
    df: &DataFrame,
    path: &Path,
    candidate: &ModelBundle,
    champion: &ModelBundle,
    version: u32,
) -> Result<DataFrame, ComponentError> {
    let Some(candidate_rule) = &candidate.metadata.training.partition else {
        return Err(ComponentError::Refused(
            "the candidate's metadata.json records no partition rule (training.partition): its test rows may include rows it trained on; train it with the `train` component".to_string(),
        ));
    };
    let Some(champion_rule) = &champion.metadata.training.partition else {
        return Err(ComponentError::Refused(format!(
            "champion version {version} records no partition rule (training.partition) in its metadata.json: the rows it trained on are unknown, so scoring it on the candidate's test rows could use its own training rows; expected a champion trained by the `train` component with a hash split (promote a comparable version with `mlops models promote`)"
        )));
    };
    let mask = mlops_core::split::test_mask(df, champion_rule, path).step_with(|| {
        format!(
            "apply champion version {version}'s partition rule ({}) to the test rows",
            champion_rule.describe()
        )
    })?;
    let kept = mask.iter().filter(|&&t| t).count();
    if champion_rule != candidate_rule {
        eprintln!(
            "champion version {version} was split by {}, the candidate by {}: comparing on the {kept} of {} test rows that are test rows under both",
            champion_rule.describe(),
            candidate_rule.describe(),
            mask.len()
        );
    }
    if kept < MIN_COMPARED_ROWS {
        return Err(ComponentError::Refused(format!(
            "only {kept} of the candidate's {} test rows are outside champion version {version}'s training rows (its rule: {}; the candidate's: {}): expected at least {MIN_COMPARED_ROWS} for a fair comparison",
            mask.len(),
            champion_rule.describe(),
            candidate_rule.describe()
        )));
    }
    let mask = BooleanChunked::from_slice("fair".into(), &mask);
    df.filter(&mask)
        .step_with(|| format!("select the comparison rows of {}", path.display()))
}

/// `champion_version`'s value for "no champion".
pub const NO_CHAMPION: &str = "none";

/// The champion version as the `champion_version` parameter carries it.
fn champion_label(version: Option<u32>) -> String {
    version.map_or_else(|| NO_CHAMPION.to_string(), |v| v.to_string())
}

/// Parse `compared_champion`: `none` or a version number.
fn parse_champion_label(value: &str) -> Result<Option<u32>, ComponentError> {
    if value == NO_CHAMPION {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        ComponentError::invalid_input(
            "compared_champion",
            format!("`{value}`"),
            format!("a version number or `{NO_CHAMPION}`"),
        )
    })
}

/// `register_model`: add the bundle to the registry as a new version and make it champion,
/// but only if the champion is still the one `compare_champion` compared against (checked and
/// moved under the registry's lock); otherwise the version is registered without the alias.
pub struct RegisterModel;

impl Component for RegisterModel {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "register_model",
            description: "Register the bundle as a new version; move the champion alias to it if the champion is still the one it was compared against.",
            inputs: vec![
                Port::artifact("model", ArtifactType::Model, "Bundle to register"),
                Port::param(
                    "registry",
                    ParamType::String,
                    "Model registry (local folder)",
                ),
                Port::param("model_name", ParamType::String, "Registered model name"),
                Port::param(
                    "compared_champion",
                    ParamType::String,
                    "The champion version compare_champion compared against, or `none`",
                ),
                Port::param(
                    "serving_image",
                    ParamType::String,
                    "Image that serves the version (mlops-serve) in the Vertex AI Model Registry",
                ),
            ],
            outputs: vec![
                Port::param("version", ParamType::Integer, "The new version"),
                Port::param(
                    "promoted",
                    ParamType::Bool,
                    "Whether the champion alias moved to the new version",
                ),
                Port::param(
                    "outcome",
                    ParamType::String,
                    "What was done, and why the champion did not move when it did not",
                ),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), ComponentError> {
        let registry = Registry::open(ctx)?;
        let name = ctx.str("model_name")?;
        let compared = parse_champion_label(&ctx.str("compared_champion")?)?;
        let bundle: PathBuf = ctx.input_path("model")?;
        let r = match &registry {
            Registry::Local(local) => local
                .register_if_champion(&name, &bundle, compared)
                .step_with(|| {
                    format!(
                        "register into model `{name}` of registry {}",
                        registry.describe()
                    )
                })?,
            #[cfg(feature = "gcp")]
            Registry::Vertex(vertex) => {
                let uri = ctx.input("model")?.uri.clone();
                let scratch = std::env::current_dir()
                    .map_err(|e| ComponentError::io("read", Path::new("."), e))?
                    .join("candidate_bundle");
                let candidate = vertex.load_bundle(&uri, &scratch)?;
                let t = &candidate.metadata.training;
                let description = format!(
                    "test AUC {:.4} on {} held-out rows; {} training rows",
                    t.test_metrics.get("auc").copied().unwrap_or(f64::NAN),
                    t.test_rows,
                    t.train_rows
                );
                vertex.register_if_champion(
                    &name,
                    &uri,
                    compared,
                    &ctx.str("serving_image")?,
                    &description,
                )?
            }
        };
        let outcome = if r.promoted {
            format!("registered {name} version {} as {CHAMPION}", r.version)
        } else {
            format!(
                "registered {name} version {} without moving {CHAMPION}: it was compared against {} but the {CHAMPION} is now {} (another run promoted in between)",
                r.version,
                champion_label(compared),
                champion_label(r.champion_before)
            )
        };
        eprintln!("{outcome}");
        ctx.set("version", json!(r.version));
        ctx.set("promoted", json!(r.promoted));
        ctx.set("outcome", json!(outcome));
        Ok(())
    }
}

/// Every registered component (model family), for the component binary's list.
pub fn all() -> Vec<&'static dyn Component> {
    vec![&CompareChampion, &Evaluate, &RegisterModel, &Train]
}
