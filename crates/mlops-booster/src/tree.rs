//! The trained model: regression trees in XGBoost's node layout.

use std::collections::BTreeMap;

/// Marker for "no node" in child and parent links, as in XGBoost.
pub const NO_NODE: i32 = -1;

/// One node of a regression tree. Internal nodes split on `feature`: a row goes left when its
/// value is `< split_condition`, and follows `default_left` when the value is missing (NaN).
/// For a leaf, `split_condition` holds the leaf value (already scaled by the learning rate),
/// exactly as XGBoost stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Index of the left child, or [`NO_NODE`] for a leaf.
    pub left: i32,
    /// Index of the right child, or [`NO_NODE`] for a leaf.
    pub right: i32,
    /// Index of the parent, or [`NO_NODE`] for the root.
    pub parent: i32,
    /// Feature index tested by an internal node (0 for leaves).
    pub feature: u32,
    /// Threshold for internal nodes, leaf value for leaves.
    pub split_condition: f32,
    /// Direction of missing values.
    pub default_left: bool,
    /// The node's weight (scaled by the learning rate), as XGBoost's `base_weights`.
    pub base_weight: f32,
    /// Gain of the split (0 for leaves).
    pub loss_change: f32,
    /// Sum of hessians of the training rows in the node.
    pub sum_hessian: f32,
}

impl Node {
    /// True when the node has no children.
    pub fn is_leaf(&self) -> bool {
        self.left == NO_NODE
    }

    /// A leaf node with the given value.
    pub fn leaf(parent: i32, value: f32, sum_hessian: f32) -> Self {
        Node {
            left: NO_NODE,
            right: NO_NODE,
            parent,
            feature: 0,
            split_condition: value,
            default_left: false,
            base_weight: value,
            loss_change: 0.0,
            sum_hessian,
        }
    }
}

/// A regression tree. Node 0 is the root.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    /// Nodes; children always have larger indices than their parent.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf value reached by one row of raw feature values.
    pub fn predict_row(&self, row: &[f32]) -> f32 {
        self.nodes[self.leaf_index(row)].split_condition
    }

    /// Index of the leaf one row of raw feature values reaches.
    pub fn leaf_index(&self, row: &[f32]) -> usize {
        let mut idx = 0usize;
        loop {
            let node = &self.nodes[idx];
            if node.is_leaf() {
                return idx;
            }
            let value = row[node.feature as usize];
            let left = if value.is_nan() {
                node.default_left
            } else {
                value < node.split_condition
            };
            idx = if left { node.left } else { node.right } as usize;
        }
    }

    /// Number of leaves.
    pub fn num_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// Depth of the deepest leaf (a single leaf has depth 0), along child links, which is
    /// what prediction follows. A malformed tree whose links revisit nodes stops counting
    /// once more nodes were visited than it has.
    pub fn depth(&self) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut level = vec![0usize];
        let mut visited = 1;
        let mut depth = 0;
        loop {
            let next: Vec<usize> = level
                .iter()
                .map(|&i| &self.nodes[i])
                .filter(|n| !n.is_leaf())
                .flat_map(|n| [n.left as usize, n.right as usize])
                .collect();
            visited += next.len();
            if next.is_empty() || visited > self.nodes.len() {
                return depth;
            }
            depth += 1;
            level = next;
        }
    }
}

/// A trained binary classifier: a sum of trees plus an intercept, passed through the logistic
/// function (XGBoost's `binary:logistic`).
#[derive(Debug, Clone, PartialEq)]
pub struct Booster {
    /// The trees, in boosting order.
    pub trees: Vec<Tree>,
    /// Intercept in probability space (XGBoost's `base_score`).
    pub base_score: f32,
    /// Width of the feature matrix the model expects.
    pub num_feature: usize,
    /// Feature names in column order (may be empty).
    pub feature_names: Vec<String>,
    /// Free-form string attributes saved with the model (XGBoost's `learner.attributes`).
    pub attributes: BTreeMap<String, String>,
}

impl Booster {
    /// The intercept as a margin (log-odds).
    pub fn base_margin(&self) -> f32 {
        logit(self.base_score)
    }

    /// Churn probability of one row, walking the trees one by one. Use
    /// [`crate::Predictor`] for batches: it is much faster.
    pub fn predict_proba_row(&self, row: &[f32]) -> f32 {
        // Trees summed from +0.0, then the intercept: the order of `Predictor`'s additions
        // (`Sum for f32` would start from -0.0 and differ in the sign of a zero margin).
        let trees = self
            .trees
            .iter()
            .fold(0.0f32, |sum, t| sum + t.predict_row(row));
        let margin = self.base_margin() + trees;
        sigmoid(margin)
    }
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Log-odds of a probability; XGBoost's `ProbToMargin` for `binary:logistic`.
pub fn logit(p: f32) -> f32 {
    -(1.0 / p - 1.0).ln()
}
