//! Fast batch prediction, on every core.
//!
//! The portable kernel flattens all trees into one node array and walks blocks of 64 rows, a
//! fixed number of steps per tree and without branches. Leaves are rewritten as nodes whose
//! test always fails (threshold NaN, missing values sent right) and whose right child is
//! themselves, so that every row takes exactly `depth` steps of the same instruction sequence; 64 independent rows per
//! block keep the memory system busy. Blocks without missing values (the common case) take a
//! shorter path that skips the NaN test.
//!
//! On x86-64 CPUs with AVX-512 (F and BW), or else AVX2, forests no deeper than 6 (the
//! default `max_depth`) with at most 254 distinct thresholds per feature go to a bit-parallel
//! kernel for full blocks of 512 rows: features quantised to bytes, one 512-bit row mask per
//! distinct split condition, trees walked with whole row sets (`bits.rs`, then `avx512.rs`
//! or `avx2.rs`, over the padded trees of `perfect.rs`). All kernels add the same leaf values
//! in the same order, so they give bit-identical margins.

// The inner loops index with `get_unchecked` (bounds checks are a fifth of the portable
// loop's instructions) and the vector kernel uses `core::arch` intrinsics. Safety rests on
// invariants established once in `Predictor::with_kernel` and `predict_margin`, noted at each
// use.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU8, Ordering};

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod bits;
mod perfect;

use crate::error::{BoosterError, Result};
use crate::tree::{sigmoid, Booster, Tree};

/// Rows walked together through one tree by the portable kernel.
const BLOCK_ROWS: usize = 64;
/// Rows per parallel work item: whole blocks of both kernels.
const TASK_ROWS: usize = 2_048;

/// 16 bytes, so that a node index scales by a shift.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct FlatNode {
    threshold: f32,
    feature: u32,
    /// Global index of the left child; the right child is the next node. Leaves: their own
    /// index minus one (wrapping), so that the "right child" is the leaf itself.
    left: u32,
    /// 1 when missing values go left.
    default_left: u32,
}

#[derive(Debug, Clone, Copy)]
struct FlatTree {
    /// Index of the root in `Predictor::nodes`.
    root: u32,
    /// Steps from the root to the deepest leaf.
    depth: u32,
}

/// Which code scores rows. The bit-parallel kernels need trees no deeper than 6 and at most
/// 254 distinct thresholds per feature; other forests use the portable kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)] // stored in `PREFERRED` as `kernel as u8`
#[non_exhaustive]
pub enum Kernel {
    /// Portable: one node per row and step, 64 rows interleaved.
    Portable,
    /// Bit-parallel with AVX2 (x86-64 CPUs without AVX-512): 512 rows per block over
    /// quantised features, 256-bit halves.
    Avx2,
    /// Bit-parallel with AVX-512F/BW: 512 rows per block over quantised features.
    Avx512,
}

/// The kernel [`Predictor::new`] asks for, as `Kernel as u8` (`Avx512`, the fastest, by
/// default).
static PREFERRED: AtomicU8 = AtomicU8::new(Kernel::Avx512 as u8);

/// Make [`Predictor::new`] ask for `kernel` from now on, in this process (the CLI's
/// `MLOPS_PREDICT_KERNEL`). Predictors already built keep theirs.
pub fn set_preferred_kernel(kernel: Kernel) {
    PREFERRED.store(kernel as u8, Ordering::Relaxed);
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
    /// The forest for a bit-parallel kernel and which one, when this CPU and forest can use
    /// it.
    binned: Option<(Kernel, bits::BinnedForest)>,
}

impl Predictor {
    /// Compile a booster for the fastest kernel this CPU and forest allow (or as
    /// [`set_preferred_kernel`] asked).
    pub fn new(booster: &Booster) -> Self {
        let preferred = match PREFERRED.load(Ordering::Relaxed) {
            p if p == Kernel::Portable as u8 => Kernel::Portable,
            p if p == Kernel::Avx2 as u8 => Kernel::Avx2,
            _ => Kernel::Avx512,
        };
        Self::with_kernel(booster, preferred)
    }

    /// Compile a booster for `preferred` or the best kernel below it (in the order
    /// `Avx512`, `Avx2`, `Portable`) that this CPU and forest allow.
    pub fn with_kernel(booster: &Booster, preferred: Kernel) -> Self {
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
        // Invariants the inner loops rely on: a step from node `i` only reaches nodes (either
        // both children exist, or the node is a leaf whose test never sends a row left and
        // whose `left + 1` is `i`), and every feature index is below `num_feature` (leaves use
        // feature 0, and `num_feature >= 1` whenever a tree has a split). `Booster`s come from
        // training or from `from_xgboost_json`, which both guarantee this; re-check rather
        // than trust.
        let num_feature = booster.num_feature;
        let sound = nodes.len() < u32::MAX as usize
            && nodes.iter().enumerate().all(|(i, n)| {
                let leaf = n.left.wrapping_add(1) as usize == i
                    && n.threshold.is_nan()
                    && n.default_left == 0;
                let children = (n.left as usize) + 1 < nodes.len();
                (leaf || children) && (n.feature as usize) < num_feature.max(1)
            });
        assert!(sound, "booster with out-of-range node or feature index");
        let simd = match preferred {
            Kernel::Avx512 if avx512_available() => Some(Kernel::Avx512),
            Kernel::Avx512 | Kernel::Avx2 if avx2_available() => Some(Kernel::Avx2),
            _ => None,
        };
        let binned = simd.and_then(|kernel| {
            perfect::PerfectForest::new(booster)
                .and_then(|f| bits::BinnedForest::new(&f, num_feature))
                .map(|forest| (kernel, forest))
        });
        Predictor {
            nodes,
            values,
            trees,
            base_margin: booster.base_margin(),
            num_feature,
            binned,
        }
    }

    /// The kernel that scores full blocks.
    pub fn kernel(&self) -> Kernel {
        self.binned
            .as_ref()
            .map_or(Kernel::Portable, |(kernel, _)| *kernel)
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

    /// Margins of whole rows `x` into `out` (one per row).
    fn margin_rows(&self, x: &[f32], out: &mut [f32]) {
        let nf = self.num_feature.max(1);
        let mut rest = (x, out);
        // Fewer rows than a block (a serving request) need no scratch space.
        // SAFETY (both kernels): `binned` is only set when the CPU has the kernel's
        // features (`with_kernel`); `simd_blocks` passes 512 whole rows of `nf` values;
        // `forest` and `scratch` were built for this predictor's features, of which there are
        // fewer than 2^21 (`PerfectForest::new`).
        #[cfg(target_arch = "x86_64")]
        if let Some((kernel, forest)) = self
            .binned
            .as_ref()
            .filter(|_| rest.1.len() >= bits::BLOCK_ROWS)
        {
            if *kernel == Kernel::Avx512 {
                let mut scratch = avx512::Scratch::new(forest);
                rest = self.simd_blocks(rest, |block, acc| unsafe {
                    avx512::walk_block(forest, block, nf, &mut scratch, acc)
                });
            } else {
                let mut scratch = avx2::Scratch::new(forest);
                rest = self.simd_blocks(rest, |block, acc| unsafe {
                    avx2::walk_block(forest, block, nf, &mut scratch, acc)
                });
            }
        }
        let (x, out) = rest;
        for (block, o) in x.chunks(BLOCK_ROWS * nf).zip(out.chunks_mut(BLOCK_ROWS)) {
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

    #[cfg(target_arch = "x86_64")]
    /// Score the leading whole blocks of 512 rows with `walk` (which adds the trees' leaf
    /// values of a block's rows to its accumulator); returns the rows left over.
    fn simd_blocks<'a>(
        &self,
        (mut x, mut out): (&'a [f32], &'a mut [f32]),
        mut walk: impl FnMut(&[f32], &mut [f32; bits::BLOCK_ROWS]),
    ) -> (&'a [f32], &'a mut [f32]) {
        let nf = self.num_feature.max(1);
        let mut acc = [0f32; bits::BLOCK_ROWS];
        while out.len() >= bits::BLOCK_ROWS {
            let (block, x_rest) = x.split_at(bits::BLOCK_ROWS * nf);
            let (o, out_rest) = std::mem::take(&mut out).split_at_mut(bits::BLOCK_ROWS);
            acc.fill(0.0);
            walk(block, &mut acc);
            for (o, a) in o.iter_mut().zip(&acc) {
                *o = self.base_margin + a;
            }
            (x, out) = (x_rest, out_rest);
        }
        (x, out)
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
                    // of a node, both checked to be node indices in `with_kernel`.
                    let node = unsafe { *self.nodes.get_unchecked(*slot as usize) };
                    // SAFETY: `i < n` and `node.feature < nf` (checked in `new`), so the index
                    // is below `n * nf == block.len()`.
                    let value = unsafe { *block.get_unchecked(i * nf + node.feature as usize) };
                    let mut go_left = value < node.threshold;
                    if MISSING {
                        go_left |= value.is_nan() & (node.default_left != 0);
                    }
                    *slot = node.left.wrapping_add(u32::from(!go_left));
                }
            }
            for (a, &i) in acc[..n].iter_mut().zip(&idx[..n]) {
                // SAFETY: as above, `i` is a node index, and `values` has one per node.
                *a += unsafe { *self.values.get_unchecked(i as usize) };
            }
        }
    }
}

/// True when this CPU runs the AVX-512 kernel.
fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when this CPU runs the AVX2 kernel.
fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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
            // No value is `< NaN`, and missing values do not go left, so every row takes
            // `left + 1`: the leaf itself (wrapping for a one-leaf tree at index 0).
            nodes.push(FlatNode {
                threshold: f32::NAN,
                feature: 0,
                left: me.wrapping_sub(1),
                default_left: 0,
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
    use crate::rng::SplitMix64;
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

    /// A random tree: splits on random features at thresholds from a small grid (so rows hit
    /// them exactly), leaves at every depth up to `max_depth`, both missing directions.
    fn random_tree(rng: &mut SplitMix64, max_depth: usize, nf: usize, grid: usize) -> Tree {
        fn grow(
            t: &mut Tree,
            rng: &mut SplitMix64,
            parent: i32,
            depth: usize,
            max_depth: usize,
            nf: usize,
            grid: usize,
        ) -> i32 {
            let id = t.nodes.len() as i32;
            let leaf_value = (rng.next_f64() as f32 - 0.5) / 4.0;
            if depth == max_depth || (depth > 0 && rng.below(4) == 0) {
                t.nodes.push(Node::leaf(parent, leaf_value, 1.0));
                return id;
            }
            let threshold = rng.below(grid) as f32 / 4.0 - 1.0;
            t.nodes.push(split(
                parent,
                0,
                0,
                rng.below(nf) as u32,
                threshold,
                rng.below(2) == 0,
            ));
            let left = grow(t, rng, id, depth + 1, max_depth, nf, grid);
            let right = grow(t, rng, id, depth + 1, max_depth, nf, grid);
            t.nodes[id as usize].left = left;
            t.nodes[id as usize].right = right;
            id
        }
        let mut t = Tree::default();
        grow(&mut t, rng, NO_NODE, 0, max_depth, nf, grid);
        t
    }

    fn random_forest(seed: u64, trees: usize, max_depth: usize, nf: usize, grid: usize) -> Booster {
        let mut rng = SplitMix64::new(seed);
        Booster {
            trees: (0..trees)
                .map(|_| random_tree(&mut rng, max_depth, nf, grid))
                .collect(),
            base_score: 0.4,
            num_feature: nf,
            feature_names: vec![],
            attributes: Default::default(),
        }
    }

    /// Rows on the threshold grid and between its points, with NaN and infinities.
    fn random_rows(seed: u64, rows: usize, nf: usize, grid: usize) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..rows * nf)
            .map(|_| match rng.below(40) {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                3..=20 => rng.below(grid + 2) as f32 / 4.0 - 1.25,
                _ => rng.next_f64() as f32 * (grid as f32 / 4.0 + 1.0) - 1.5,
            })
            .collect()
    }

    /// Every kernel against the one-tree-at-a-time walk, bit for bit, for forests of every
    /// depth up to 7 (7 is past the vector kernels' limit), row counts that leave tails, few
    /// thresholds per feature (direct bin count) and many (two-level bin search, 11 features).
    #[test]
    fn kernels_agree_bit_for_bit_with_the_tree_walk() {
        for (depth, (nf, grid)) in (1..=7).flat_map(|d| [(d, (5, 12)), (d, (11, 200))]) {
            let forest = random_forest(depth as u64, 30, depth, nf, grid);
            for rows in [1, 511, 512, 2_048 + 700] {
                let x = random_rows(100 + rows as u64, rows, nf, grid);
                let want: Vec<f32> = (0..rows)
                    .map(|r| {
                        let row = &x[r * nf..(r + 1) * nf];
                        // From +0.0 like the kernels (`Sum for f32` starts from -0.0).
                        forest.base_margin()
                            + forest
                                .trees
                                .iter()
                                .fold(0.0f32, |sum, t| sum + t.predict_row(row))
                    })
                    .collect();
                for kernel in [Kernel::Portable, Kernel::Avx2, Kernel::Avx512] {
                    let p = Predictor::with_kernel(&forest, kernel);
                    let available = match kernel {
                        Kernel::Avx512 => avx512_available(),
                        Kernel::Avx2 => avx2_available(),
                        Kernel::Portable => true,
                    };
                    if depth <= 6 && available {
                        assert_eq!(p.kernel(), kernel, "depth {depth}, grid {grid}");
                    }
                    let got = p.predict_margin(&x, nf).unwrap();
                    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "depth {depth}, grid {grid}, {rows} rows, {:?} kernel, row {r}: {g} vs {w}",
                            p.kernel()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn vector_kernel_is_chosen_when_the_cpu_and_forest_allow_it() {
        let shallow = random_forest(1, 10, 6, 4, 12);
        let deep = random_forest(1, 10, 7, 4, 12);
        // Thresholds from 300 values on one feature: more than 254 distinct ones.
        let fine = random_forest(1, 400, 6, 1, 300);
        let best = if avx512_available() {
            Kernel::Avx512
        } else if avx2_available() {
            Kernel::Avx2
        } else {
            Kernel::Portable
        };
        assert_eq!(Predictor::new(&shallow).kernel(), best);
        assert_eq!(
            Predictor::with_kernel(&shallow, Kernel::Avx2).kernel(),
            if avx2_available() {
                Kernel::Avx2
            } else {
                Kernel::Portable
            }
        );
        assert_eq!(Predictor::new(&deep).kernel(), Kernel::Portable);
        assert_eq!(Predictor::new(&fine).kernel(), Kernel::Portable);
        assert_eq!(
            Predictor::with_kernel(&shallow, Kernel::Portable).kernel(),
            Kernel::Portable
        );
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
