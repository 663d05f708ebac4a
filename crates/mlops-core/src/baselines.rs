//! linfa baselines for experiment comparison: logistic regression (`linfa-logistic`) and a
//! decision tree (`linfa-trees`). The tree is stored as a one-tree XGBoost model, so it is
//! scored, served and loaded in Python exactly like the booster.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use linfa_trees::{DecisionTree, TreeNode};
use mlops_booster::tree::logit;
use mlops_booster::{Booster, Node, Tree};
use mlops_domain::model_config::{DecisionTreeParams, LogisticRegressionParams};
use mlops_model::{LogisticModel, ModelError};
use ndarray::{Array1, Array2};

/// Per-feature median of the non-missing values (0 when all are missing).
pub fn medians(x: &[f32], nf: usize) -> Vec<f32> {
    (0..nf)
        .map(|j| {
            let mut v: Vec<f32> = x.chunks(nf).map(|r| r[j]).filter(|v| !v.is_nan()).collect();
            if v.is_empty() {
                return 0.0;
            }
            let mid = v.len() / 2;
            *v.select_nth_unstable_by(mid, f32::total_cmp).1
        })
        .collect()
}

fn filled(x: &[f32], fill: &[f32]) -> Vec<f64> {
    let nf = fill.len();
    x.iter()
        .enumerate()
        .map(|(i, &v)| if v.is_nan() { fill[i % nf] } else { v } as f64)
        .collect()
}

fn training_error(model: &'static str, e: impl ToString) -> ModelError {
    ModelError::Training {
        model,
        message: e.to_string(),
    }
}

/// Fit a logistic regression on standardised, median-filled features.
pub fn fit_logistic(
    x: &[f32],
    nf: usize,
    y: &[f32],
    params: &LogisticRegressionParams,
) -> Result<LogisticModel, ModelError> {
    let fill = medians(x, nf);
    let values = filled(x, &fill);
    let n = y.len();
    let mut mean = vec![0f64; nf];
    let mut var = vec![0f64; nf];
    for row in values.chunks(nf) {
        for j in 0..nf {
            mean[j] += row[j] / n as f64;
        }
    }
    for row in values.chunks(nf) {
        for j in 0..nf {
            var[j] += (row[j] - mean[j]).powi(2) / n as f64;
        }
    }
    let scale: Vec<f32> = var
        .iter()
        .map(|v| if *v > 1e-12 { v.sqrt() as f32 } else { 1.0 })
        .collect();
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let standardised: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (v - mean[i % nf] as f64) / scale[i % nf] as f64)
        .collect();
    let records = Array2::from_shape_vec((n, nf), standardised)
        .map_err(|e| training_error("logistic_regression", e))?;
    let targets: Array1<bool> = y.iter().map(|&v| v > 0.5).collect();
    let fitted = LogisticRegression::default()
        .alpha(params.alpha)
        .max_iterations(params.max_iterations)
        .fit(&Dataset::new(records, targets))
        .map_err(|e| training_error("logistic_regression", e))?;
    // linfa models the probability of its "positive" class, which is the more frequent label;
    // flip the signs when that is "no churn".
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(LogisticModel {
        intercept: sign * fitted.intercept(),
        coefficients: fitted.params().iter().map(|c| sign * c).collect(),
        fill,
        mean,
        scale,
    })
}

/// Fit a decision tree on median-filled features and convert it to a one-tree booster whose
/// leaves hold the log-odds of the training churn rate in the leaf.
pub fn fit_decision_tree(
    x: &[f32],
    nf: usize,
    y: &[f32],
    params: &DecisionTreeParams,
    feature_names: Vec<String>,
) -> Result<Booster, ModelError> {
    let fill = medians(x, nf);
    let values = filled(x, &fill);
    let n = y.len();
    let records = Array2::from_shape_vec((n, nf), values.clone())
        .map_err(|e| training_error("decision_tree", e))?;
    let targets: Array1<bool> = y.iter().map(|&v| v > 0.5).collect();
    let tree = DecisionTree::params()
        .max_depth(Some(params.max_depth))
        .min_weight_leaf(params.min_weight_leaf)
        .fit(&Dataset::new(records, targets))
        .map_err(|e| training_error("decision_tree", e))?;

    // Flatten breadth-first into XGBoost's layout, then count labels per leaf.
    let mut nodes: Vec<Node> = Vec::new();
    let mut queue: Vec<(&TreeNode<f64, bool>, i32)> = vec![(tree.root_node(), -1)];
    let mut i = 0;
    while i < queue.len() {
        let (node, parent) = queue[i];
        if node.is_leaf() {
            nodes.push(Node::leaf(parent, 0.0, 0.0));
        } else {
            let (feature, threshold, gain) = node.split();
            let children = node.children();
            let (Some(l), Some(r)) = (children[0].as_deref(), children[1].as_deref()) else {
                return Err(training_error(
                    "decision_tree",
                    "internal node without two children",
                ));
            };
            let left = (queue.len()) as i32;
            queue.push((l, i as i32));
            queue.push((r, i as i32));
            let threshold = threshold as f32;
            nodes.push(Node {
                left,
                right: left + 1,
                parent,
                feature: feature as u32,
                split_condition: threshold,
                // Missing values were filled with the median at training time: send them
                // where the median goes.
                default_left: fill[feature] < threshold,
                base_weight: 0.0,
                loss_change: gain as f32,
                sum_hessian: 0.0,
            });
        }
        i += 1;
    }
    let mut tree_out = Tree { nodes };
    let mut counts = vec![(0f64, 0f64); tree_out.nodes.len()];
    for (r, row) in x.chunks(nf).enumerate() {
        let leaf = tree_out.leaf_index(row);
        counts[leaf].0 += y[r] as f64;
        counts[leaf].1 += 1.0;
    }
    for (node, (pos, total)) in tree_out.nodes.iter_mut().zip(counts) {
        if node.is_leaf() {
            let p = if total > 0.0 { pos / total } else { 0.5 };
            let value = logit(p.clamp(1e-6, 1.0 - 1e-6) as f32);
            node.split_condition = value;
            node.base_weight = value;
            node.sum_hessian = total as f32;
        }
    }
    Ok(Booster {
        trees: vec![tree_out],
        base_score: 0.5,
        num_feature: nf,
        feature_names,
        attributes: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..600 {
            let a = (i % 10) as f32;
            let b = if i % 7 == 0 { f32::NAN } else { (i % 3) as f32 };
            x.extend([a, b]);
            y.push(((a >= 5.0) as u8) as f32);
        }
        (x, y)
    }

    #[test]
    fn decision_tree_as_booster_separates_the_classes() {
        let (x, y) = data();
        let params = DecisionTreeParams {
            max_depth: 3,
            min_weight_leaf: 1.0,
        };
        let b = fit_decision_tree(&x, 2, &y, &params, vec!["a".into(), "b".into()]).unwrap();
        let p = mlops_booster::Predictor::new(&b)
            .unwrap()
            .predict_proba(&x, 2)
            .unwrap();
        let correct = p
            .iter()
            .zip(&y)
            .filter(|(p, y)| (**p > 0.5) == (**y > 0.5))
            .count();
        assert_eq!(correct, y.len());
    }

    #[test]
    fn logistic_regression_ranks_the_signal() {
        let (x, y) = data();
        let m = fit_logistic(&x, 2, &y, &LogisticRegressionParams::default()).unwrap();
        assert!(
            m.coefficients[0] > 0.0,
            "coefficient on the signal: {:?}",
            m.coefficients
        );
        let p = m.predict_proba(&x).unwrap();
        assert!(crate::metrics::roc_auc(&y, &p) > 0.95);
    }
}
