//! Training end to end: read and validate the table, encode it, split it, fit the configured
//! model, evaluate it on the held-out rows (and optionally by K-fold cross-validation), and
//! bundle it with its metadata.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_booster::{TrainData, Trainer, TrainingObserver};
use mlops_domain::{ModelConfig, ModelType};
use mlops_model::{
    Estimator, ModelBundle, ModelMetadata, PartitionRule, Preprocessor, ScoreHistogram,
    TrainingSummary,
};
use sha2::{Digest, Sha256};

use crate::baselines;
use crate::encode::{encode_features, encode_labels, learn_levels};
use crate::error::{CoreError, Result};
use crate::metrics::{evaluate, mean_std, Metrics};
use crate::split::{split_by_mask, stratified_kfold, stratified_split, test_mask, Split};
use crate::table::{read_table, require_columns};

/// Bins of the score distribution saved for drift monitoring.
const SCORE_BINS: usize = 20;

/// Options of a training run beyond the model config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Overrides `split.seed`: the seed of training randomness (row/feature sampling, the
    /// early-stopping hold-out, CV folds). The train/test split does not depend on it.
    pub seed: Option<u64>,
    /// Run stratified K-fold cross-validation on the whole table as well.
    pub cv_folds: Option<usize>,
    /// Git commit recorded in the metadata.
    pub git_sha: Option<String>,
}

/// A table ready for fitting: encoded features and labels.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// The learnt preprocessing.
    pub preprocessor: Preprocessor,
    /// Row-major features.
    pub x: Vec<f32>,
    /// 0/1 labels.
    pub y: Vec<f32>,
    /// `sha256:<hex>` of the file.
    pub fingerprint: String,
    /// The train/test rule of this config.
    pub partition: PartitionRule,
    /// Per row: whether it is a test row under `partition`.
    pub is_test: Vec<bool>,
    /// Columns of the table that the config does not name (not used by the model).
    pub ignored_columns: Vec<String>,
}

impl PreparedData {
    /// Number of features per row.
    pub fn n_features(&self) -> usize {
        self.preprocessor.n_features()
    }

    fn rows(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let nf = self.n_features();
        let mut x = Vec::with_capacity(idx.len() * nf);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(&self.x[i * nf..(i + 1) * nf]);
            y.push(self.y[i]);
        }
        (x, y)
    }
}

/// Read, validate and encode a training table.
pub fn prepare(config: &ModelConfig, path: &Path) -> Result<PreparedData> {
    let df = read_table(path)?;
    let mut required: Vec<&str> = config.features.all().map(String::as_str).collect();
    required.push(&config.label.column);
    if let Some(id) = &config.id_column {
        required.push(id);
    }
    let ignored_columns: Vec<String> = df
        .get_column_names()
        .into_iter()
        .map(|c| c.to_string())
        .filter(|c| !required.contains(&c.as_str()))
        .collect();
    if !ignored_columns.is_empty() {
        tracing::info!(
            columns = %ignored_columns.join(", "),
            "columns not in the model config are ignored"
        );
    }
    require_columns(&df, path, required)?;
    let y = encode_labels(&df, &config.label, path)?;
    let positives = y.iter().filter(|&&v| v > 0.5).count();
    if positives == 0 || positives == y.len() {
        let only = if positives == 0 {
            &config.label.negative
        } else {
            &config.label.positive
        };
        return Err(CoreError::InvalidTable {
            path: path.to_path_buf(),
            message: format!(
                "label column `{}` only holds `{only}`: both classes are needed to train",
                config.label.column
            ),
        });
    }
    let levels = learn_levels(&df, &config.features, path)?;
    let preprocessor = Preprocessor::new(&config.features, levels, config.unknown_category);
    let x = encode_features(&df, &preprocessor, path)?;
    let partition = PartitionRule::for_config(config);
    let is_test = test_mask(&df, &partition, path)?;
    Ok(PreparedData {
        preprocessor,
        x,
        y,
        fingerprint: fingerprint(path)?,
        partition,
        is_test,
        ignored_columns,
    })
}

/// `sha256:<hex>` of a file's bytes.
pub fn fingerprint(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| CoreError::Table {
        action: "read",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let digest = Sha256::digest(&bytes);
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// The result of a training run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The model and its metadata.
    pub bundle: ModelBundle,
    /// Metrics on the held-out test rows.
    pub test_metrics: Metrics,
    /// Cross-validation summary (`cv_auc_mean`, `cv_auc_std`, ...), when requested.
    pub cv_metrics: BTreeMap<String, f64>,
    /// Seconds spent fitting the final model.
    pub fit_seconds: f64,
}

/// Fit the configured estimator on the given rows.
pub fn fit_estimator(
    config: &ModelConfig,
    data: &PreparedData,
    rows: &[usize],
    seed: u64,
    observer: &mut dyn TrainingObserver,
) -> Result<Estimator> {
    let nf = data.n_features();
    let names = data.preprocessor.feature_names();
    let model = &config.model;
    Ok(match model.model_type {
        ModelType::BoostedTrees => {
            let params = mlops_booster::BoosterParams {
                seed,
                ..model.boosted_trees.clone()
            }
            .check()?;
            let trainer = Trainer::new(params);
            let vf = config.split.validation_fraction;
            let booster = if vf > 0.0 {
                let ys: Vec<f32> = rows.iter().map(|&r| data.y[r]).collect();
                let inner = stratified_split(&ys, vf, seed.wrapping_add(1));
                let fit_rows: Vec<usize> = inner.train.iter().map(|&i| rows[i]).collect();
                let valid_rows: Vec<usize> = inner.test.iter().map(|&i| rows[i]).collect();
                let (x, y) = data.rows(&fit_rows);
                let (vx, vy) = data.rows(&valid_rows);
                let train = TrainData::new(&x, nf, &y)?.with_feature_names(names)?;
                let valid = TrainData::new(&vx, nf, &vy)?;
                trainer.fit_with_observer(&train, Some(&valid), observer)?
            } else {
                let (x, y) = data.rows(rows);
                let train = TrainData::new(&x, nf, &y)?.with_feature_names(names)?;
                trainer.fit_with_observer(&train, None, observer)?
            };
            Estimator::trees(booster)?
        }
        ModelType::LogisticRegression => {
            let (x, y) = data.rows(rows);
            Estimator::Logistic(baselines::fit_logistic(
                &x,
                nf,
                &y,
                &model.logistic_regression,
            )?)
        }
        ModelType::DecisionTree => {
            let (x, y) = data.rows(rows);
            Estimator::trees(baselines::fit_decision_tree(
                &x,
                nf,
                &y,
                &model.decision_tree,
                names,
            )?)?
        }
    })
}

/// Score rows with an estimator.
fn score(est: &Estimator, data: &PreparedData, rows: &[usize]) -> Result<(Vec<f32>, Vec<f32>)> {
    let (x, y) = data.rows(rows);
    Ok((est.predict_proba(&x)?, y))
}

/// Stratified K-fold cross-validation: `cv_<metric>_mean` and `cv_<metric>_std` for every
/// scalar metric. Folds are fitted one after another, each using all cores.
pub fn cross_validate(
    config: &ModelConfig,
    data: &PreparedData,
    k: usize,
    seed: u64,
) -> Result<BTreeMap<String, f64>> {
    Ok(cross_validate_with_predictions(config, data, k, seed)?.metrics)
}

/// The outcome of [`cross_validate_with_predictions`].
#[derive(Debug, Clone)]
pub struct CrossValidation {
    /// `cv_<metric>_mean` and `cv_<metric>_std` for every scalar metric.
    pub metrics: BTreeMap<String, f64>,
    /// Per row of the table: the probability from the fold model that did not see it.
    pub out_of_fold: Vec<f32>,
}

/// [`cross_validate`], also keeping every row's out-of-fold probability (for ROC curves of
/// the whole table without a model that saw the row).
pub fn cross_validate_with_predictions(
    config: &ModelConfig,
    data: &PreparedData,
    k: usize,
    seed: u64,
) -> Result<CrossValidation> {
    if k < 2 {
        return Err(CoreError::InvalidTable {
            path: "--cv".into(),
            message: format!("cross-validation needs at least 2 folds, got {k}"),
        });
    }
    let mut per_metric: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut out_of_fold = vec![f32::NAN; data.y.len()];
    for fold in stratified_kfold(&data.y, k, seed) {
        let est = fit_estimator(
            config,
            data,
            &fold.train,
            seed,
            &mut |_: &mlops_booster::RoundReport| {},
        )?;
        let (p, y) = score(&est, data, &fold.test)?;
        for (name, value) in evaluate(&y, &p, config.model.threshold).scalars() {
            per_metric.entry(name).or_default().push(value);
        }
        for (&row, &prob) in fold.test.iter().zip(&p) {
            out_of_fold[row] = prob;
        }
    }
    let mut metrics = BTreeMap::new();
    for (name, values) in per_metric {
        let (mean, std) = mean_std(&values);
        metrics.insert(format!("cv_{name}_mean"), mean);
        metrics.insert(format!("cv_{name}_std"), std);
    }
    Ok(CrossValidation {
        metrics,
        out_of_fold,
    })
}

/// Both sides of a hash split must be usable: a table too small for the test fraction would
/// otherwise train on nothing or report metrics of no rows.
fn check_split(split: &Split, y: &[f32], rule: &PartitionRule, path: &Path) -> Result<()> {
    let classes = |rows: &[usize]| {
        let positive = rows.iter().filter(|&&r| y[r] > 0.5).count();
        (positive, rows.len() - positive)
    };
    for (side, rows) in [("train", &split.train), ("test", &split.test)] {
        let (positive, negative) = classes(rows);
        if positive == 0 || negative == 0 {
            return Err(CoreError::InvalidTable {
                path: path.to_path_buf(),
                message: format!(
                    "the {side} rows ({} of {}) under the split rule ({}) hold {positive} positive and {negative} negative labels: both classes are needed; use a larger table or change split.test_fraction",
                    rows.len(),
                    y.len(),
                    rule.describe()
                ),
            });
        }
    }
    Ok(())
}

/// Train on a prepared table: split by the row-hash rule, fit, evaluate, and bundle.
pub fn train(
    config: &ModelConfig,
    data: &PreparedData,
    options: &TrainOptions,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainOutcome> {
    let seed = options.seed.unwrap_or(config.split.seed);
    let split = split_by_mask(&data.is_test);
    check_split(
        &split,
        &data.y,
        &data.partition,
        Path::new("training table"),
    )?;
    let started = std::time::Instant::now();
    let estimator = fit_estimator(config, data, &split.train, seed, observer)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let (test_p, test_y) = score(&estimator, data, &split.test)?;
    let test_metrics = evaluate(&test_y, &test_p, config.model.threshold);
    let mut outcome = finish(
        config,
        data,
        options,
        estimator,
        &split.train,
        (&test_p, &test_y),
        test_metrics,
        fit_seconds,
    )?;
    outcome.bundle.metadata.training.partition = Some(data.partition.clone());
    Ok(outcome)
}

/// Train on all rows of `data` and evaluate on a separate labelled table. The bundle records
/// no partition rule (the test rows are the caller's); a caller that split by the rule (see
/// [`split_table_file`]) sets `training.partition` itself.
pub fn train_with_test_file(
    config: &ModelConfig,
    data: &PreparedData,
    test_path: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainOutcome> {
    let seed = options.seed.unwrap_or(config.split.seed);
    let all: Vec<usize> = (0..data.y.len()).collect();
    let started = std::time::Instant::now();
    let estimator = fit_estimator(config, data, &all, seed, observer)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let df = read_table(test_path)?;
    let test_y = encode_labels(&df, &config.label, test_path)?;
    let test_x = encode_features(&df, &data.preprocessor, test_path)?;
    let test_p = estimator.predict_proba(&test_x)?;
    let test_metrics = evaluate(&test_y, &test_p, config.model.threshold);
    finish(
        config,
        data,
        options,
        estimator,
        &all,
        (&test_p, &test_y),
        test_metrics,
        fit_seconds,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    config: &ModelConfig,
    data: &PreparedData,
    options: &TrainOptions,
    estimator: Estimator,
    train_rows: &[usize],
    (test_p, test_y): (&[f32], &[f32]),
    test_metrics: Metrics,
    fit_seconds: f64,
) -> Result<TrainOutcome> {
    let seed = options.seed.unwrap_or(config.split.seed);
    let (train_x, _) = data.rows(train_rows);
    let train_p = estimator.predict_proba(&train_x)?;
    // Drift is measured against the rows the model was fitted on, as the preprocessor saw them.
    let mut monitoring = data.preprocessor.monitoring_baseline(&train_x, &train_p)?;
    drop(train_x);
    let test_rows = test_y.len();
    // Performance estimation calibrates the scores on rows the model never saw (the
    // calibration module says why); a test split with one class leaves it out.
    let held_out: Vec<f64> = test_p.iter().map(|&p| f64::from(p)).collect();
    let outcomes: Vec<bool> = test_y.iter().map(|&y| y > 0.5).collect();
    monitoring.calibration = match mlops_monitoring::Calibration::fit(&held_out, &outcomes) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "no score calibration saved");
            None
        }
    };
    let cv_metrics = match options.cv_folds {
        Some(k) => cross_validate(config, data, k, seed)?,
        None => BTreeMap::new(),
    };
    let hyperparameters = match config.model.model_type {
        ModelType::BoostedTrees => serde_json::to_value(mlops_booster::BoosterParams {
            seed,
            ..config.model.boosted_trees.clone()
        }),
        ModelType::LogisticRegression => serde_json::to_value(&config.model.logistic_regression),
        ModelType::DecisionTree => serde_json::to_value(&config.model.decision_tree),
    }
    .unwrap_or_default();
    let n_trees = match &estimator {
        Estimator::Trees { booster, .. } => Some(booster.trees.len()),
        Estimator::Logistic(_) => None,
    };
    let metadata = ModelMetadata {
        format_version: mlops_model::FORMAT_VERSION,
        model_type: config.model.model_type,
        model_file: mlops_model::MODEL_FILE.to_string(),
        label: config.label.clone(),
        id_column: config.id_column.clone(),
        preprocessor: data.preprocessor.clone(),
        feature_names: data.preprocessor.feature_names(),
        threshold: config.model.threshold,
        hyperparameters,
        training: TrainingSummary {
            rows: data.y.len(),
            train_rows: train_rows.len(),
            test_rows,
            positive_rate: data.y.iter().map(|&v| v as f64).sum::<f64>() / data.y.len() as f64,
            seed,
            n_trees,
            test_metrics: test_metrics.scalars(),
            cv_metrics: cv_metrics.clone(),
            partition: None,
            ignored_columns: data.ignored_columns.clone(),
        },
        score_distribution: ScoreHistogram::from_scores(&train_p, SCORE_BINS),
        monitoring: Some(monitoring),
        data_fingerprint: data.fingerprint.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        git_sha: options.git_sha.clone(),
        mlops_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let bundle = ModelBundle::new(metadata, estimator)?;
    Ok(TrainOutcome {
        bundle,
        test_metrics,
        cv_metrics,
        fit_seconds,
    })
}

/// Evaluate a saved model on a labelled table.
pub fn evaluate_file(bundle: &ModelBundle, path: &Path) -> Result<Metrics> {
    let df = read_table(path)?;
    let y = encode_labels(&df, &bundle.metadata.label, path)?;
    let x = encode_features(&df, bundle.preprocessor(), path)?;
    let p = bundle.predict_proba(&x)?;
    Ok(evaluate(&y, &p, bundle.metadata.threshold))
}

/// The outcome of [`split_table_file`].
#[derive(Debug, Clone, PartialEq)]
pub struct TableSplit {
    /// Rows written to the train file.
    pub train_rows: usize,
    /// Rows written to the test file.
    pub test_rows: usize,
    /// The rule that placed them.
    pub rule: PartitionRule,
}

/// Split a labelled table file into train and test files by the config's row-hash rule
/// ([`PartitionRule::for_config`]; same format rules as [`crate::table::write_table`]).
pub fn split_table_file(
    config: &ModelConfig,
    input: &Path,
    train_out: &Path,
    test_out: &Path,
) -> Result<TableSplit> {
    use polars::prelude::{IdxCa, IdxSize};
    let df = read_table(input)?;
    let y = encode_labels(&df, &config.label, input)?;
    let rule = PartitionRule::for_config(config);
    let split = split_by_mask(&test_mask(&df, &rule, input)?);
    check_split(&split, &y, &rule, input)?;
    for (rows, out) in [(&split.train, train_out), (&split.test, test_out)] {
        let idx = IdxCa::from_vec("idx".into(), rows.iter().map(|&i| i as IdxSize).collect());
        let mut part = df.take(&idx).map_err(|e| CoreError::Table {
            action: "split",
            path: input.to_path_buf(),
            source: e.into(),
        })?;
        crate::table::write_table(&mut part, out)?;
    }
    Ok(TableSplit {
        train_rows: split.train.len(),
        test_rows: split.test.len(),
        rule,
    })
}
