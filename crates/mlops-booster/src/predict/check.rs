//! The checks [`super::Predictor::with_kernel`] runs on a [`Booster`] before compiling it.
//!
//! `Booster`'s fields are public, so a booster built or edited by hand can break what training
//! and `from_xgboost_json` guarantee. Every such booster is rejected here with an error naming
//! the tree, node, field and value, so that flattening neither panics nor loops, tree depths
//! are exact, and the kernels' unchecked indexing stays in bounds.

use crate::error::{BoosterError, Result};
use crate::tree::{Booster, Tree};

/// Node indices in the flattened forest are `u32`, and the portable kernel's bound check in
/// `with_kernel` needs `nodes.len() < u32::MAX`.
const MAX_NODES: usize = u32::MAX as usize - 1;

/// Check every tree of `booster`; see [`check_tree`]. Also checks that the reachable nodes of
/// all trees fit the flattened forest's `u32` indices.
pub(super) fn check_booster(booster: &Booster) -> Result<()> {
    let mut total = 0usize;
    for (t, tree) in booster.trees.iter().enumerate() {
        total = total.saturating_add(check_tree(t, tree, booster.num_feature)?);
    }
    if total > MAX_NODES {
        return Err(malformed(format!(
            "the trees have {total} reachable nodes: at most {MAX_NODES} fit the predictor"
        )));
    }
    Ok(())
}

/// Check the nodes reachable from the root (node 0) of tree `t`: the tree has a root, every
/// split's `left` and `right` are node indices, no node is reached twice (which would be a
/// cycle or a shared node), and every split's `feature` is below `num_feature`. Leaves (left
/// child [`crate::tree::NO_NODE`]) need nothing: prediction ignores their other links and
/// feature. Unreachable nodes are ignored, as prediction never visits them. Returns the number
/// of reachable nodes (what `flatten` emits).
fn check_tree(t: usize, tree: &Tree, num_feature: usize) -> Result<usize> {
    let nodes = &tree.nodes;
    if nodes.is_empty() {
        return Err(malformed(format!(
            "`trees[{t}].nodes` is empty: a tree needs at least a root leaf"
        )));
    }
    let mut seen = vec![false; nodes.len()];
    seen[0] = true;
    // Breadth-first; every index pushed was checked to be in range and new.
    let mut queue = vec![0usize];
    let mut k = 0;
    while let Some(&u) = queue.get(k) {
        k += 1;
        let node = &nodes[u];
        if node.is_leaf() {
            continue;
        }
        let at = |field: &str| format!("`trees[{t}].nodes[{u}].{field}`");
        if node.feature as usize >= num_feature {
            return Err(malformed(format!(
                "{} is {}: the booster has {num_feature} features",
                at("feature"),
                node.feature
            )));
        }
        for (field, child) in [("left", node.left), ("right", node.right)] {
            let c = usize::try_from(child)
                .ok()
                .filter(|&c| c < nodes.len())
                .ok_or_else(|| {
                    malformed(format!(
                        "{} is {child}: out of range for {} nodes",
                        at(field),
                        nodes.len()
                    ))
                })?;
            if std::mem::replace(&mut seen[c], true) {
                return Err(malformed(format!(
                    "{} is {child}: node {child} is reached twice (a cycle or a shared node)",
                    at(field)
                )));
            }
            queue.push(c);
        }
    }
    Ok(queue.len())
}

fn malformed(message: String) -> BoosterError {
    BoosterError::MalformedBooster(message)
}

#[cfg(test)]
mod tests {
    use super::super::{Kernel, Predictor};
    use crate::error::BoosterError;
    use crate::tree::{Booster, Node, Tree, NO_NODE};

    fn split(parent: i32, left: i32, right: i32, feature: u32) -> Node {
        Node {
            left,
            right,
            parent,
            feature,
            split_condition: 0.5,
            default_left: true,
            base_weight: 0.0,
            loss_change: 1.0,
            sum_hessian: 1.0,
        }
    }

    /// Two features; tree 1 is `root(f0) -> [leaf, split(f1) -> [leaf, leaf]]`, which the
    /// tests break one field at a time (tree 0 stays a valid single leaf).
    fn booster(edit: impl FnOnce(&mut Vec<Node>)) -> Booster {
        let mut nodes = vec![
            split(NO_NODE, 1, 2, 0),
            Node::leaf(0, 0.25, 1.0),
            split(0, 3, 4, 1),
            Node::leaf(2, -0.5, 1.0),
            Node::leaf(2, 0.75, 1.0),
        ];
        edit(&mut nodes);
        Booster {
            trees: vec![
                Tree {
                    nodes: vec![Node::leaf(NO_NODE, 0.1, 1.0)],
                },
                Tree { nodes },
            ],
            base_score: 0.5,
            num_feature: 2,
            feature_names: vec![],
            attributes: Default::default(),
        }
    }

    /// Every kernel's constructor fails with `MalformedBooster` naming all of `needles`.
    fn assert_malformed(booster: &Booster, needles: &[&str]) {
        for kernel in [Kernel::Avx512, Kernel::Avx2, Kernel::Portable] {
            match Predictor::with_kernel(booster, kernel) {
                Err(BoosterError::MalformedBooster(message)) => {
                    for needle in needles {
                        assert!(message.contains(needle), "{needle:?} not in {message:?}");
                    }
                }
                other => panic!("{kernel:?}: expected MalformedBooster, got {other:?}"),
            }
        }
        assert!(matches!(
            Predictor::new(booster),
            Err(BoosterError::MalformedBooster(_))
        ));
    }

    #[test]
    fn the_unedited_booster_compiles_and_predicts() {
        let b = booster(|_| {});
        let p = Predictor::new(&b).unwrap();
        let probs = p.predict_proba(&[0.0, 0.0, 1.0, 1.0], 2).unwrap();
        assert_eq!(probs[0], b.predict_proba_row(&[0.0, 0.0]));
        assert_eq!(probs[1], b.predict_proba_row(&[1.0, 1.0]));
    }

    #[test]
    fn empty_tree_is_an_error() {
        let mut b = booster(|_| {});
        b.trees.push(Tree::default());
        assert_malformed(&b, &["`trees[2].nodes` is empty"]);
    }

    #[test]
    fn child_index_out_of_range_is_an_error() {
        assert_malformed(
            &booster(|n| n[2].left = 9),
            &["`trees[1].nodes[2].left` is 9", "out of range for 5 nodes"],
        );
        assert_malformed(
            &booster(|n| n[2].right = 5),
            &["`trees[1].nodes[2].right` is 5", "out of range for 5 nodes"],
        );
    }

    #[test]
    fn negative_child_index_of_a_split_is_an_error() {
        // `left == NO_NODE` makes a leaf; any other negative left child, or a split without a
        // right child, is malformed.
        assert_malformed(
            &booster(|n| n[0].left = -3),
            &["`trees[1].nodes[0].left` is -3", "out of range"],
        );
        assert_malformed(
            &booster(|n| n[0].right = NO_NODE),
            &["`trees[1].nodes[0].right` is -1", "out of range"],
        );
    }

    #[test]
    fn feature_index_past_num_feature_is_an_error() {
        assert_malformed(
            &booster(|n| n[2].feature = 2),
            &[
                "`trees[1].nodes[2].feature` is 2",
                "the booster has 2 features",
            ],
        );
        let mut b = booster(|_| {});
        b.num_feature = 0;
        assert_malformed(&b, &["`trees[1].nodes[0].feature` is 0", "has 0 features"]);
    }

    #[test]
    fn cycle_is_an_error() {
        assert_malformed(
            &booster(|n| n[2].right = 0),
            &["`trees[1].nodes[2].right` is 0", "reached twice", "cycle"],
        );
        // A node that is its own child.
        assert_malformed(
            &booster(|n| n[2].left = 2),
            &["`trees[1].nodes[2].left` is 2", "reached twice"],
        );
    }

    #[test]
    fn shared_node_is_an_error() {
        // Not a cycle, but `Tree::depth` would undercount it and the kernels stop early.
        assert_malformed(
            &booster(|n| n[2].right = 3),
            &["`trees[1].nodes[2].right` is 3", "node 3 is reached twice"],
        );
    }

    #[test]
    fn links_prediction_never_follows_are_not_checked() {
        // A leaf's right child and feature, and unreachable nodes, do not affect prediction.
        let b = booster(|n| {
            n[1].right = 99;
            n[1].feature = 99;
            n.push(split(NO_NODE, 42, -7, 1_000));
        });
        let p = Predictor::new(&b).unwrap();
        let probs = p.predict_proba(&[0.0, 0.0, 1.0, f32::NAN], 2).unwrap();
        assert_eq!(probs[0], b.predict_proba_row(&[0.0, 0.0]));
        assert_eq!(probs[1], b.predict_proba_row(&[1.0, f32::NAN]));
    }
}
