//! Fast batch prediction: all trees flattened into one node array and walked by blocks of
//! rows, a fixed number of steps per tree and without branches, on every core.
//!
//! Leaves are rewritten as nodes that point to themselves with a threshold of +inf (and
//! missing values sent left), so that every row takes exactly `depth` steps of the same
//! instruction sequence; 64 independent rows per block keep the memory system busy. Blocks
//! without missing values (the common case) take a shorter path that skips the NaN test.

// The inner loop indexes with `get_unchecked`: bounds checks are a fifth of its instructions.
// Safety rests on invariants established once in `Predictor::new` and `predict_margin`, noted
// at each use.
#![allow(unsafe_code)]

use rayon::prelude::*;

use crate::error::{BoosterError, Result};
use crate::tree::{sigmoid, Booster, Tree};

/// Rows walked together through one tree.
const BLOCK_ROWS: usize = 64;
/// Rows per parallel work item.
const TASK_ROWS: usize = 2_048;

/// 16 bytes, so that a node index scales by a shift.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct FlatNode {
    threshold: f32,
    feature: u32,
    /// Global index of the left child; the right child is the next node. Leaves: themselves.
    left: u32,
    /// 1 when missing values go left.
    default_left: u32,
}

#[derive(Debug, Clone, Copy)]
struct FlatTree {
    root: u32,
    depth: u32,
}

/// A compiled, immutable form of a [`Booster`] for scoring many rows. Cheap to share between
/// threads.
#[derive(Debug, Clone)]
pub struct Predictor {
    nodes: Vec<FlatNode>,
    /// Leaf value per node (0 for internal nodes).
    values: Vec<f32>,
    trees: Vec<FlatTree>,
    base_margin: f32,
    num_feature: usize,
}

impl Predictor {
    /// Compile a booster.
    pub fn new(booster: &Booster) -> Self {
        let mut nodes = Vec::new();
        let mut values = Vec::new();
        let mut trees = Vec::with_capacity(booster.trees.len());
        for tree in &booster.trees {
            let root = nodes.len() as u32;
            flatten(tree, &mut nodes, &mut values);
            trees.push(FlatTree {
                root,
                depth: tree.depth() as u32,
            });
        }
        // Invariants the inner loop relies on: every child index is a node, and every feature
        // index is below `num_feature` (leaves use feature 0, and `num_feature >= 1` whenever a
        // tree has a split). `Booster`s come from training or from `from_xgboost_json`, which
        // both guarantee this; re-check rather than trust.
        let num_feature = booster.num_feature;
        let sound = nodes.iter().enumerate().all(|(i, n)| {
            let left = n.left as usize;
            let leaf = left == i;
            (leaf || left + 1 < nodes.len()) && (n.feature as usize) < num_feature.max(1)
        });
        assert!(sound, "booster with out-of-range node or feature index");
        Predictor {
            nodes,
            values,
            trees,
            base_margin: booster.base_margin(),
            num_feature,
        }
    }
    /// Number of features a row must have.
    pub fn num_feature(&self) -> usize {
        self.num_feature
    }

    /// Churn probabilities for a row-major matrix of `n_features` columns (NaN = missing).
    pub fn predict_proba(&self, x: &[f32], n_features: usize) -> Result<Vec<f32>> {
        let mut out = self.predict_margin(x, n_features)?;
        out.par_chunks_mut(TASK_ROWS)
            .for_each(|c| c.iter_mut().for_each(|m| *m = sigmoid(*m)));
        Ok(out)
    }

    /// Raw margins (log-odds) for a row-major matrix.
    pub fn predict_margin(&self, x: &[f32], n_features: usize) -> Result<Vec<f32>> {
        if n_features != self.num_feature || (n_features > 0 && !x.len().is_multiple_of(n_features))
        {
            return Err(BoosterError::FeatureCountMismatch {
                expected: self.num_feature,
                found: n_features,
            });
        }
        let n_rows = x.len().checked_div(n_features).unwrap_or(0);
        let mut out = vec![0f32; n_rows];
        if n_rows < TASK_ROWS {
            self.margin_rows(x, &mut out);
        } else {
            out.par_chunks_mut(TASK_ROWS)
                .zip(x.par_chunks(TASK_ROWS * n_features))
                .for_each(|(o, rows)| self.margin_rows(rows, o));
        }
        Ok(out)
    }

    fn margin_rows(&self, x: &[f32], out: &mut [f32]) {
        let nf = self.num_feature;
        for (block, o) in x
            .chunks(BLOCK_ROWS * nf.max(1))
            .zip(out.chunks_mut(BLOCK_ROWS))
        {
            let mut acc = [0f32; BLOCK_ROWS];
            if block.iter().any(|v| v.is_nan()) {
                self.walk_block::<true>(block, o.len(), &mut acc);
            } else {
                self.walk_block::<false>(block, o.len(), &mut acc);
            }
            for (o, a) in o.iter_mut().zip(&acc) {
                *o = self.base_margin + a;
            }
        }
    }

    /// Add every tree's leaf value for the `n` rows of `block` to `acc`.
    #[inline(always)]
    fn walk_block<const MISSING: bool>(
        &self,
        block: &[f32],
        n: usize,
        acc: &mut [f32; BLOCK_ROWS],
    ) {
        let nf = self.num_feature;
        // `predict_margin` checked that the matrix holds whole rows of `nf` values.
        assert!(n <= BLOCK_ROWS && block.len() == n * nf);
        let mut idx = [0u32; BLOCK_ROWS];
        for tree in &self.trees {
            idx[..n].fill(tree.root);
            for _ in 0..tree.depth {
                for (i, slot) in idx[..n].iter_mut().enumerate() {
                    // SAFETY: `slot` starts at a root and only ever takes `left` or `left + 1`
                    // of a node, both checked to be node indices in `new`.
                    let node = unsafe { *self.nodes.get_unchecked(*slot as usize) };
                    // SAFETY: `i < n` and `node.feature < nf` (checked in `new`), so the index
                    // is below `n * nf == block.len()`.
                    let value = unsafe { *block.get_unchecked(i * nf + node.feature as usize) };
                    let mut go_left = value < node.threshold;
                    if MISSING {
                        go_left |= value.is_nan() & (node.default_left != 0);
                    }
                    *slot = node.left + u32::from(!go_left);
                }
            }
            for (a, &i) in acc[..n].iter_mut().zip(&idx[..n]) {
                // SAFETY: as above, `i` is a node index, and `values` has one per node.
                *a += unsafe { *self.values.get_unchecked(i as usize) };
            }
        }
    }
}

/// Append a tree, breadth-first with siblings adjacent (`right == left + 1`), leaves as
/// self-loops.
fn flatten(tree: &Tree, nodes: &mut Vec<FlatNode>, values: &mut Vec<f32>) {
    let base = nodes.len() as u32;
    // queue of original node ids, in their new order
    let mut order = vec![0usize];
    let mut i = 0;
    while i < order.len() {
        let n = &tree.nodes[order[i]];
        if !n.is_leaf() {
            order.push(n.left as usize);
            order.push(n.right as usize);
        }
        i += 1;
    }
    let mut next_child = 1u32;
    for (pos, &orig) in order.iter().enumerate() {
        let n = &tree.nodes[orig];
        let me = base + pos as u32;
        if n.is_leaf() {
            nodes.push(FlatNode {
                threshold: f32::INFINITY,
                feature: 0,
                left: me,
                default_left: 1,
            });
            values.push(n.split_condition);
        } else {
            nodes.push(FlatNode {
                threshold: n.split_condition,
                feature: n.feature,
                left: base + next_child,
                default_left: u32::from(n.default_left),
            });
            values.push(0.0);
            next_child += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Node, NO_NODE};

    fn split(parent: i32, left: i32, right: i32, feature: u32, cond: f32, dl: bool) -> Node {
        Node {
            left,
            right,
            parent,
            feature,
            split_condition: cond,
            default_left: dl,
            base_weight: 0.0,
            loss_change: 1.0,
            sum_hessian: 1.0,
        }
    }

    /// An unbalanced tree whose children are *not* adjacent in the source order.
    fn booster() -> Booster {
        let t = Tree {
            nodes: vec![
                split(NO_NODE, 2, 1, 0, 0.5, true),
                Node::leaf(0, 0.25, 1.0),
                split(0, 3, 4, 1, -1.0, false),
                Node::leaf(2, -0.5, 1.0),
                Node::leaf(2, 0.75, 1.0),
            ],
        };
        Booster {
            trees: vec![t.clone(), t],
            base_score: 0.3,
            num_feature: 2,
            feature_names: vec![],
            attributes: Default::default(),
        }
    }

    #[test]
    fn flat_prediction_equals_tree_walk() {
        let b = booster();
        let p = Predictor::new(&b);
        let mut x = Vec::new();
        for i in 0..5_000 {
            let a = if i % 11 == 0 {
                f32::NAN
            } else {
                (i % 7) as f32 / 7.0
            };
            let c = if i % 13 == 0 {
                f32::NAN
            } else {
                (i % 5) as f32 - 2.5
            };
            x.extend([a, c]);
        }
        // Blocks with missing values and, after NaNs are replaced, blocks without.
        let without_nan: Vec<f32> = x
            .iter()
            .map(|v| if v.is_nan() { 0.3 } else { *v })
            .collect();
        for x in [x, without_nan] {
            let got = p.predict_proba(&x, 2).unwrap();
            for (r, g) in got.iter().enumerate() {
                let want = b.predict_proba_row(&x[r * 2..r * 2 + 2]);
                assert!((g - want).abs() < 1e-6, "row {r}: {g} vs {want}");
            }
        }
    }

    #[test]
    fn wrong_width_is_an_error() {
        let p = Predictor::new(&booster());
        let err = p.predict_proba(&[0.0; 6], 3).unwrap_err();
        assert!(matches!(
            err,
            BoosterError::FeatureCountMismatch {
                expected: 2,
                found: 3
            }
        ));
    }
}
