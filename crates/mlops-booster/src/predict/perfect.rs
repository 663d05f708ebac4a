//! Trees padded to perfect binary trees and stored level by level, the common first step of
//! the vector kernel (`bits.rs` builds its conditions from these arrays).
//!
//! Every tree of a forest whose deepest tree has depth `D <= 6` becomes a perfect tree of depth
//! `D`: a leaf above the last level is replaced by a split whose two subtrees repeat the leaf's
//! value, so every row takes exactly `D` steps and reaches one of `2^D` leaves whatever that
//! split decides. Node `j` of level `l` sits at slot `2^l - 1 + j`, so a tree fits 64 slots.

use crate::tree::{Booster, Tree};

/// Deepest forest the layout takes: 63 internal nodes and 64 leaves, each a handful of
/// 16-lane registers.
pub(super) const MAX_DEPTH: usize = 6;
/// Slots per tree in every array: 63 internal nodes (plus one of padding) or 64 leaves.
pub(super) const SLOTS: usize = 64;

/// A forest in the perfect-tree layout. Arrays hold [`SLOTS`] values per tree.
#[derive(Debug, Clone)]
pub(super) struct PerfectForest {
    /// Depth of every (padded) tree, 1 to [`MAX_DEPTH`].
    pub depth: usize,
    /// Split thresholds: a row goes left when its value is `<` the threshold.
    pub thresholds: Vec<f32>,
    /// Feature index of each split.
    pub features: Vec<i32>,
    /// -1 (all bits set) when missing values go left, 0 when they go right.
    pub default_left: Vec<i32>,
    /// Leaf values, left to right.
    pub leaves: Vec<f32>,
    /// False for padding: a split whose two subtrees are the same leaf.
    pub is_split: Vec<bool>,
}

impl PerfectForest {
    /// The layout of `booster`, or `None` when a tree is deeper than [`MAX_DEPTH`], the
    /// forest is only leaves, or a feature index does not fit the kernel's `i32` offsets.
    pub(super) fn new(booster: &Booster) -> Option<Self> {
        let depth = booster.trees.iter().map(Tree::depth).max()?;
        if depth == 0 || depth > MAX_DEPTH || booster.num_feature > (i32::MAX as usize) / 1024 {
            return None;
        }
        let n = booster.trees.len() * SLOTS;
        let mut forest = PerfectForest {
            depth,
            thresholds: vec![0.0; n],
            features: vec![0; n],
            default_left: vec![-1; n],
            leaves: vec![0.0; n],
            is_split: vec![false; n],
        };
        for (t, tree) in booster.trees.iter().enumerate() {
            if tree.nodes.is_empty() {
                return None;
            }
            forest.place(t * SLOTS, tree, 0, 0, 0);
        }
        Some(forest)
    }

    /// Place the subtree of `tree` rooted at `node` as node `j` of `level`.
    fn place(&mut self, base: usize, tree: &Tree, node: usize, level: usize, j: usize) {
        let n = &tree.nodes[node];
        if level == self.depth {
            // The forest's depth is its deepest tree's, so this node is a leaf.
            self.leaves[base + j] = n.split_condition;
            return;
        }
        let slot = base + (1 << level) - 1 + j;
        let (left, right) = if n.is_leaf() {
            // Padding: threshold, feature and direction are irrelevant, both sides agree.
            (node, node)
        } else {
            self.thresholds[slot] = n.split_condition;
            self.features[slot] = n.feature as i32;
            self.default_left[slot] = if n.default_left { -1 } else { 0 };
            self.is_split[slot] = true;
            (n.left as usize, n.right as usize)
        };
        self.place(base, tree, left, level + 1, 2 * j);
        self.place(base, tree, right, level + 1, 2 * j + 1);
    }
}
