//! Every pipeline component run through its `Context` from an executor input JSON in a temp
//! folder, as the component binary runs it: outputs, artifact metadata, and the champion gate
//! (fails closed on a broken registry, compares on rows neither model trained on, promotes
//! only over the champion it compared against).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use data_components::{ExtractData, ValidateData, DATA_FILE};
use mlops_domain::ModelConfig;
use mlops_model::{LocalRegistry, ModelBundle, PartitionKey, CHAMPION};
use mlops_pipeline::component::{error_chain, executor_input_json};
use mlops_pipeline::executor::ExecutorOutput;
use mlops_pipeline::{Component, Context};
use model_components::{CompareChampion, Evaluate, RegisterModel, Train};
use serde_json::{json, Map, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config() -> ModelConfig {
    ModelConfig::from_file(repo().join("config/model.yaml")).unwrap()
}

fn config_json(config: &ModelConfig) -> Value {
    serde_json::to_value(config.to_yaml_value()).unwrap()
}

/// Run a component as the binary does: executor input → `run` → `finish`; the executor
/// output is read back from the file the input names.
fn run(
    dir: &Path,
    component: &dyn Component,
    params: Value,
    inputs: &[(&str, &Path)],
    outputs: &[(&str, &Path)],
) -> Result<ExecutorOutput, String> {
    let name = component.spec().name;
    let output_file = dir.join(format!("{name}-{}.json", unique()));
    let params: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    let input = executor_input_json(&params, inputs, outputs, &output_file);
    let mut ctx = Context::from_json(&input).map_err(|e| e.to_string())?;
    component.run(&mut ctx).map_err(|e| error_chain(&e))?;
    let recorded = ctx.output().clone();
    ctx.finish().map_err(|e| e.to_string())?;
    let written: ExecutorOutput =
        serde_json::from_str(&std::fs::read_to_string(&output_file).unwrap()).unwrap();
    assert_eq!(
        written, recorded,
        "the executor output file holds what was recorded"
    );
    Ok(written)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn param<'a>(out: &'a ExecutorOutput, name: &str) -> &'a Value {
    out.parameter_values
        .get(name)
        .unwrap_or_else(|| panic!("no output parameter `{name}` in {out:?}"))
}

fn metadata<'a>(out: &'a ExecutorOutput, artifact: &str) -> &'a Map<String, Value> {
    &out.artifacts[artifact].artifacts[0].metadata
}

/// A pipeline's artifacts in one temp folder.
struct Workspace {
    dir: tempfile::TempDir,
}

/// What `train` produced.
struct Trained {
    model: PathBuf,
    test_data: PathBuf,
}

impl Workspace {
    fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn registry(&self) -> PathBuf {
        self.path().join("registry")
    }

    /// `extract_data` of a table; returns the Dataset folder.
    fn extract(&self, source: &Path) -> PathBuf {
        let dataset = self.path().join(format!("dataset-{}", unique()));
        run(
            self.path(),
            &ExtractData,
            json!({"source": source.display().to_string()}),
            &[],
            &[("dataset", &dataset)],
        )
        .unwrap();
        dataset
    }

    /// `train` with the given hyperparameters.
    fn train(
        &self,
        dataset: &Path,
        config: &ModelConfig,
        rounds: u32,
        depth: u32,
        seed: u64,
    ) -> Trained {
        let n = unique();
        let model = self.path().join(format!("model-{n}"));
        let test_data = self.path().join(format!("test-{n}"));
        run(
            self.path(),
            &Train,
            json!({
                "model_config": config_json(config),
                "n_estimators": rounds,
                "max_depth": depth,
                "learning_rate": 0.1,
                "seed": seed,
            }),
            &[("dataset", dataset)],
            &[("model", &model), ("test_data", &test_data)],
        )
        .unwrap();
        Trained { model, test_data }
    }

    fn compare(&self, trained: &Trained) -> Result<ExecutorOutput, String> {
        run(
            self.path(),
            &CompareChampion,
            json!({"registry": self.registry().display().to_string(), "model_name": "churn"}),
            &[("model", &trained.model), ("test_data", &trained.test_data)],
            &[],
        )
    }

    fn register(&self, model: &Path, compared: &str) -> Result<ExecutorOutput, String> {
        run(
            self.path(),
            &RegisterModel,
            json!({
                "registry": self.registry().display().to_string(),
                "model_name": "churn",
                "compared_champion": compared,
            }),
            &[("model", model)],
            &[],
        )
    }

    /// compare → register when better, as the pipeline does; returns compare's output.
    fn gate(&self, trained: &Trained) -> ExecutorOutput {
        let compared = self.compare(trained).unwrap();
        if param(&compared, "is_better") == &json!(true) {
            let version = param(&compared, "champion_version")
                .as_str()
                .unwrap()
                .to_string();
            self.register(&trained.model, &version).unwrap();
        }
        compared
    }

    fn versions(&self) -> Vec<u32> {
        LocalRegistry::new(self.registry())
            .versions("churn")
            .unwrap()
    }
}

/// The shipped table's first `rows` data rows as a CSV in `dir`.
fn head_of_table(dir: &Path, rows: usize) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("data/wa_churn.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(rows + 1).collect();
    let path = dir.join(format!("head-{rows}.csv"));
    std::fs::write(&path, head.join("\n") + "\n").unwrap();
    path
}

fn table() -> PathBuf {
    repo().join("data/wa_churn.csv")
}

#[test]
fn extract_data_writes_parquet_and_describes_the_table() {
    let ws = Workspace::new();
    let dataset = ws.path().join("dataset");
    let out = run(
        ws.path(),
        &ExtractData,
        json!({"source": table().display().to_string()}),
        &[],
        &[("dataset", &dataset)],
    )
    .unwrap();
    assert!(dataset.join(DATA_FILE).is_file());
    let meta = metadata(&out, "dataset");
    assert_eq!(meta["rows"], 7043);
    assert_eq!(meta["columns"], 20);
    assert!(meta["fingerprint"].as_str().unwrap().starts_with("sha256:"));

    let missing = ws.path().join("missing.csv");
    let e = run(
        ws.path(),
        &ExtractData,
        json!({"source": missing.display().to_string()}),
        &[],
        &[("dataset", &ws.path().join("d2"))],
    )
    .unwrap_err();
    assert!(e.contains("missing.csv"), "{e}");
    let e = run(
        ws.path(),
        &ExtractData,
        json!({}),
        &[],
        &[("dataset", &dataset)],
    )
    .unwrap_err();
    assert!(e.contains("`source`"), "{e}");
}

#[test]
fn validate_data_reports_rows_and_label_rate() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let report = ws.path().join("report.md");
    let out = run(
        ws.path(),
        &ValidateData,
        json!({"model_config": config_json(&config())}),
        &[("dataset", &dataset)],
        &[("report", &report)],
    )
    .unwrap();
    assert_eq!(param(&out, "rows"), &json!(7043));
    let rate = metadata(&out, "report")["positive_rate"].as_f64().unwrap();
    // 1869 churners of 7043 customers.
    assert!((rate - 1869.0 / 7043.0).abs() < 1e-9, "{rate}");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.starts_with("# Data validation") && text.contains("| tenure |"));
}

#[test]
fn train_records_the_partition_rule_and_holds_out_the_hashed_rows() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let trained = ws.train(&dataset, &config(), 50, 4, 7);
    let bundle = ModelBundle::load(&trained.model).unwrap();
    let t = &bundle.metadata.training;
    let rule = t
        .partition
        .as_ref()
        .expect("train records its partition rule");
    assert_eq!(
        rule.rule,
        PartitionKey::HashRow,
        "wa_churn has no id column"
    );
    assert_eq!(rule.test_fraction, 0.2);
    assert_eq!(rule.columns.len(), 19, "the feature columns");
    assert_eq!(t.rows, 7043);
    assert_eq!(t.train_rows + t.test_rows, 7043);
    // Binomial(7043, 0.2): sd = 34.
    assert!((t.test_rows as i64 - 1409).abs() < 170, "{}", t.test_rows);
    assert!(t.test_metrics["auc"] > 0.8, "{:?}", t.test_metrics);
    let held_out = mlops_core::table::read_table(&trained.test_data.join(DATA_FILE)).unwrap();
    assert_eq!(held_out.height(), t.test_rows);

    // Another seed: the same rows are held out (the seed is training randomness only).
    let other = ws.train(&dataset, &config(), 50, 4, 8);
    let a = std::fs::read(trained.test_data.join(DATA_FILE)).unwrap();
    let b = std::fs::read(other.test_data.join(DATA_FILE)).unwrap();
    assert_eq!(a, b, "the held-out rows do not depend on the seed");

    let e = run(
        ws.path(),
        &Train,
        json!({"model_config": config_json(&config()), "n_estimators": 0, "max_depth": 3,
               "learning_rate": 0.1, "seed": 1}),
        &[("dataset", &dataset)],
        &[
            ("model", &ws.path().join("m")),
            ("test_data", &ws.path().join("t")),
        ],
    )
    .unwrap_err();
    assert!(e.contains("n_estimators"), "{e}");
}

#[test]
fn evaluate_writes_metrics_roc_and_report() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let trained = ws.train(&dataset, &config(), 50, 4, 7);
    let dir = ws.path();
    let (metrics, cls, report) = (
        dir.join("metrics"),
        dir.join("cls"),
        dir.join("report.html"),
    );
    let out = run(
        dir,
        &Evaluate,
        json!({}),
        &[("model", &trained.model), ("test_data", &trained.test_data)],
        &[
            ("metrics", &metrics),
            ("classification_metrics", &cls),
            ("report", &report),
        ],
    )
    .unwrap();
    let bundle = ModelBundle::load(&trained.model).unwrap();
    let auc = param(&out, "auc").as_f64().unwrap();
    assert!((auc - bundle.metadata.training.test_metrics["auc"]).abs() < 1e-9);
    assert_eq!(metadata(&out, "metrics")["auc"].as_f64().unwrap(), auc);
    let cm = &metadata(&out, "classification_metrics")["confusionMatrix"]["rows"];
    let total: u64 = cm
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["row"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
        })
        .sum();
    assert_eq!(total as usize, bundle.metadata.training.test_rows);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("ROC curve"));
}

#[test]
fn first_candidate_is_registered_as_champion_and_an_equal_one_is_not() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let trained = ws.train(&dataset, &config(), 50, 4, 7);
    let compared = ws.compare(&trained).unwrap();
    assert_eq!(param(&compared, "is_better"), &json!(true));
    assert_eq!(param(&compared, "champion_version"), &json!("none"));
    assert_eq!(param(&compared, "champion_auc"), &json!(0.0));
    let registered = ws.register(&trained.model, "none").unwrap();
    assert_eq!(param(&registered, "version"), &json!(1));
    assert_eq!(param(&registered, "promoted"), &json!(true));
    let again = ws.compare(&trained).unwrap();
    assert_eq!(
        param(&again, "is_better"),
        &json!(false),
        "not strictly better"
    );
    assert_eq!(param(&again, "champion_version"), &json!("1"));
    assert_eq!(
        param(&again, "candidate_auc"),
        param(&again, "champion_auc")
    );
    let e = ws.register(&trained.model, "latest").unwrap_err();
    assert!(
        e.contains("compared_champion") && e.contains("`latest`"),
        "{e}"
    );
}

/// A broken registry never reads as "no champion": compare and register fail, naming the
/// file, and no version is added.
#[test]
fn a_broken_registry_fails_the_gate_and_registers_nothing() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let trained = ws.train(&dataset, &config(), 30, 3, 7);
    ws.gate(&trained);
    let model_dir = ws.registry().join("churn");
    let aliases = model_dir.join("aliases.json");
    let history = model_dir.join("history.json");
    let good_aliases = std::fs::read_to_string(&aliases).unwrap();

    std::fs::write(&aliases, "{\"champion\": 1").unwrap();
    let e = ws.compare(&trained).unwrap_err();
    assert!(e.contains("aliases.json") && e.contains("expected"), "{e}");
    let e = ws.register(&trained.model, "none").unwrap_err();
    assert!(e.contains("aliases.json"), "{e}");
    assert_eq!(ws.versions(), [1]);

    std::fs::write(&aliases, "{\"champion\": 9}").unwrap();
    let e = ws.compare(&trained).unwrap_err();
    assert!(e.contains("champion version 9"), "{e}");
    assert!(ws.register(&trained.model, "9").is_err());
    assert_eq!(ws.versions(), [1]);

    std::fs::write(&aliases, &good_aliases).unwrap();
    std::fs::remove_file(&history).unwrap();
    std::fs::create_dir(&history).unwrap();
    let e = ws.compare(&trained).unwrap_err();
    assert!(
        e.contains("history.json") && e.contains("cannot be read"),
        "{e}"
    );
    assert!(ws.register(&trained.model, "1").is_err());
    assert_eq!(ws.versions(), [1], "nothing registered");
}

/// Four runs at once on an empty registry all compared against "no champion": one is
/// promoted, the others are registered without moving the alias, and say why.
#[test]
fn concurrent_register_steps_promote_only_over_the_champion_they_compared() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let trained = ws.train(&dataset, &config(), 20, 3, 7);
    let outs: Vec<ExecutorOutput> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| ws.register(&trained.model, "none").unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let promoted: Vec<&ExecutorOutput> = outs
        .iter()
        .filter(|o| param(o, "promoted") == &json!(true))
        .collect();
    assert_eq!(promoted.len(), 1, "{outs:?}");
    let mut versions: Vec<u64> = outs
        .iter()
        .map(|o| param(o, "version").as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4]);
    for o in &outs {
        if param(o, "promoted") == &json!(false) {
            let why = param(o, "outcome").as_str().unwrap();
            assert!(why.contains("compared against none"), "{why}");
        }
    }
    let champion = LocalRegistry::new(ws.registry()).champion("churn").unwrap();
    assert_eq!(
        champion.map(u64::from),
        param(promoted[0], "version").as_u64()
    );
}

/// The champion is scored on rows it never trained on, whatever the candidate's seed: with
/// the same table its score is exactly its own held-out AUC (under the old seeded shuffle a
/// different seed put its training rows in the candidate's test rows: 0.94 against 0.82).
#[test]
fn another_seed_does_not_inflate_the_champion() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let champion = ws.train(&dataset, &config(), 100, 4, 1);
    ws.gate(&champion);
    let own_auc = ModelBundle::load(&champion.model)
        .unwrap()
        .metadata
        .training
        .test_metrics["auc"];
    let candidate = ws.train(&dataset, &config(), 100, 4, 2);
    let compared = ws.compare(&candidate).unwrap();
    let champion_auc = param(&compared, "champion_auc").as_f64().unwrap();
    eprintln!(
        "champion AUC on the candidate's test rows {champion_auc:.5}, own test AUC {own_auc:.5}"
    );
    assert!(
        (champion_auc - own_auc).abs() < 1e-9,
        "{champion_auc} vs {own_auc}"
    );
}

/// Table growth: the champion trained on the first 5,000 rows; the candidate on all 7,043.
/// The champion's AUC on the candidate's test rows stays within the cross-validation spread
/// of its own held-out AUC, and the candidate (more rows, a stronger configuration) wins.
#[test]
fn an_appended_table_does_not_inflate_the_champion_and_a_better_candidate_is_promoted() {
    let ws = Workspace::new();
    let head = head_of_table(ws.path(), 5000);
    let old = ws.extract(&head);
    let champion = ws.train(&old, &config(), 30, 2, 1);
    ws.gate(&champion);
    let bundle = ModelBundle::load(&champion.model).unwrap();
    let own_auc = bundle.metadata.training.test_metrics["auc"];

    let mut weak = config();
    weak.model.boosted_trees.n_estimators = 30;
    weak.model.boosted_trees.max_depth = 2;
    let data = mlops_core::train::prepare(&weak, &head).unwrap();
    let cv = mlops_core::train::cross_validate(&weak, &data, 5, 1).unwrap();
    let (cv_mean, cv_std) = (cv["cv_auc_mean"], cv["cv_auc_std"]);

    let grown = ws.extract(&table());
    let candidate = ws.train(&grown, &config(), 200, 4, 2);
    let compared = ws.gate(&candidate);
    let champion_auc = param(&compared, "champion_auc").as_f64().unwrap();
    let candidate_auc = param(&compared, "candidate_auc").as_f64().unwrap();
    eprintln!(
        "champion AUC on the candidate's test rows {champion_auc:.4}; its own test AUC {own_auc:.4}; \
         its 5-fold CV AUC {cv_mean:.4} ± {cv_std:.4}; candidate AUC {candidate_auc:.4}"
    );
    assert!(
        (champion_auc - own_auc).abs() <= 3.0 * cv_std,
        "champion AUC {champion_auc} on fair rows vs own {own_auc} ± 3 × {cv_std}"
    );
    assert!(champion_auc < 0.9, "inflated: {champion_auc}");
    assert_eq!(param(&compared, "is_better"), &json!(true), "{compared:?}");
    assert_eq!(
        LocalRegistry::new(ws.registry()).champion("churn").unwrap(),
        Some(2)
    );
}

/// A champion whose partition rule is unknown (an older bundle) cannot be compared fairly:
/// the step fails and says so. A champion split by another rule is scored only on rows that
/// are test rows under both rules.
#[test]
fn champions_with_unknown_or_other_partition_rules() {
    let ws = Workspace::new();
    let dataset = ws.extract(&table());
    let champion = ws.train(&dataset, &config(), 30, 3, 1);
    ws.gate(&champion);
    let registry = LocalRegistry::new(ws.registry());
    let version_dir = registry.version_path("churn", 1);
    let mut bundle = ModelBundle::load(&version_dir).unwrap();
    let rule = bundle.metadata.training.partition.take().unwrap();
    bundle.save(&version_dir).unwrap();
    let candidate = ws.train(&dataset, &config(), 30, 3, 2);
    let e = ws.compare(&candidate).unwrap_err();
    assert!(
        e.contains("champion version 1 records no partition rule"),
        "{e}"
    );

    bundle.metadata.training.partition = Some(mlops_model::PartitionRule {
        test_fraction: 0.5,
        salt: "another-salt".into(),
        ..rule
    });
    bundle.save(&version_dir).unwrap();
    let compared = ws.compare(&candidate).unwrap();
    let rows = param(&compared, "compared_rows").as_u64().unwrap();
    let test_rows = ModelBundle::load(&candidate.model)
        .unwrap()
        .metadata
        .training
        .test_rows as u64;
    // Independent halves of the hash range: about half of the candidate's test rows.
    assert!(
        rows > test_rows / 3 && rows < test_rows * 2 / 3,
        "{rows} of {test_rows}"
    );
    assert!(
        registry.champion("churn").unwrap() == Some(1),
        "comparing moves nothing"
    );
    let _ = CHAMPION;
}
