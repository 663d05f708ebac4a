//! Model components: train, evaluate, compare with the champion, register.

use std::path::{Path, PathBuf};

use data_components::{config_param, dataset_file, DATA_FILE};
use mlops_core::metrics::{evaluate as score_metrics, roc_curve, RocPoint};
use mlops_core::train::{prepare, split_table_file, train_with_test_file, TrainOptions};
use mlops_model::{LocalRegistry, ModelBundle, CHAMPION};
use mlops_pipeline::component::metrics_metadata;
use mlops_pipeline::{ArtifactType, Component, ComponentSpec, Context, ParamType, Port};
use serde_json::{json, Map};

fn err(e: impl ToString) -> String {
    e.to_string()
}

/// `train`: split the table, fit the configured model on the training rows, save the bundle.
pub struct Train;

impl Component for Train {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "train",
            description: "Split (stratified) and train the configured model; outputs the bundle and the held-out rows.",
            inputs: vec![
                Port::artifact("dataset", ArtifactType::Dataset, "Validated table"),
                Port::param("model_config", ParamType::Struct, "The model config"),
                Port::param("n_estimators", ParamType::Integer, "Boosting rounds"),
                Port::param("max_depth", ParamType::Integer, "Tree depth"),
                Port::param("learning_rate", ParamType::Float, "Shrinkage"),
                Port::param("seed", ParamType::Integer, "Seed of the split and training"),
            ],
            outputs: vec![
                Port::artifact("model", ArtifactType::Model, "Model bundle (model.json + metadata.json)"),
                Port::artifact("test_data", ArtifactType::Dataset, "Held-out rows"),
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), String> {
        let mut config = config_param(ctx)?;
        let p = &mut config.model.boosted_trees;
        p.n_estimators = usize::try_from(ctx.int("n_estimators")?)
            .map_err(|_| "n_estimators must be >= 1".to_string())?;
        p.max_depth = usize::try_from(ctx.int("max_depth")?)
            .map_err(|_| "max_depth must be >= 1".to_string())?;
        p.learning_rate = ctx.float("learning_rate")?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(format!("invalid hyperparameters: {}", problems.join("; ")));
        }
        let seed = u64::try_from(ctx.int("seed")?).map_err(|_| "seed must be >= 0".to_string())?;
        let input = dataset_file(ctx, "dataset")?;
        let test_dir = ctx.output_path("test_data")?;
        let train_file = test_dir.with_file_name("train_rows.parquet");
        let test_file = test_dir.join(DATA_FILE);
        std::fs::create_dir_all(&test_dir).map_err(err)?;
        split_table_file(&config, &input, seed, &train_file, &test_file).map_err(err)?;
        let data = prepare(&config, &train_file).map_err(err)?;
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
        .map_err(err)?;
        let _ = std::fs::remove_file(&train_file);
        outcome
            .bundle
            .save(ctx.output_path("model")?)
            .map_err(err)?;
        let mut meta = metrics_metadata(&outcome.bundle.metadata.training.test_metrics);
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

    fn run(&self, ctx: &mut Context) -> Result<(), String> {
        let bundle = ModelBundle::load(ctx.input_path("model")?).map_err(err)?;
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
            std::fs::write(&path, "{}")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
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
        std::fs::write(&out, html).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        ctx.set("auc", json!(m.auc));
        Ok(())
    }
}

fn score_file(bundle: &ModelBundle, path: &Path) -> Result<(Vec<f32>, Vec<f32>), String> {
    let df = mlops_core::table::read_table(path).map_err(err)?;
    let y = mlops_core::encode::encode_labels(&df, &bundle.metadata.label, path).map_err(err)?;
    let x = mlops_core::encode::encode_features(&df, bundle.preprocessor(), path).map_err(err)?;
    Ok((y, bundle.predict_proba(&x).map_err(err)?))
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
            ],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), String> {
        let test = dataset_file(ctx, "test_data")?;
        let candidate = ModelBundle::load(ctx.input_path("model")?).map_err(err)?;
        let (y, p) = score_file(&candidate, &test)?;
        let candidate_auc = mlops_core::metrics::roc_auc(&y, &p);
        let registry = LocalRegistry::new(ctx.str("registry")?);
        let name = ctx.str("model_name")?;
        let champion_auc = match registry.resolve(&name, CHAMPION) {
            Ok(path) => {
                let champion = ModelBundle::load(&path).map_err(err)?;
                let (y, p) = score_file(&champion, &test)?;
                Some(mlops_core::metrics::roc_auc(&y, &p))
            }
            Err(_) => None,
        };
        let is_better = champion_auc.is_none_or(|c| candidate_auc > c);
        eprintln!("candidate AUC {candidate_auc:.5}, champion AUC {champion_auc:?}: is_better = {is_better}");
        ctx.set("is_better", json!(is_better));
        ctx.set("candidate_auc", json!(candidate_auc));
        ctx.set("champion_auc", json!(champion_auc.unwrap_or(0.0)));
        Ok(())
    }
}

/// `register_model`: add the bundle to the registry as a new version and make it champion.
pub struct RegisterModel;

impl Component for RegisterModel {
    fn spec(&self) -> ComponentSpec {
        ComponentSpec {
            name: "register_model",
            description: "Register the bundle as a new version and move the champion alias to it.",
            inputs: vec![
                Port::artifact("model", ArtifactType::Model, "Bundle to register"),
                Port::param(
                    "registry",
                    ParamType::String,
                    "Model registry (local folder)",
                ),
                Port::param("model_name", ParamType::String, "Registered model name"),
            ],
            outputs: vec![Port::param(
                "version",
                ParamType::Integer,
                "The new version",
            )],
        }
    }

    fn run(&self, ctx: &mut Context) -> Result<(), String> {
        let registry = LocalRegistry::new(ctx.str("registry")?);
        let name = ctx.str("model_name")?;
        let bundle: PathBuf = ctx.input_path("model")?;
        let version = registry.register(&name, &bundle).map_err(err)?;
        registry.promote(&name, version).map_err(err)?;
        eprintln!("registered {name} version {version} as {CHAMPION}");
        ctx.set("version", json!(version));
        Ok(())
    }
}

/// Every registered component (model family), for the component binary's list.
pub fn all() -> Vec<&'static dyn Component> {
    vec![&CompareChampion, &Evaluate, &RegisterModel, &Train]
}
