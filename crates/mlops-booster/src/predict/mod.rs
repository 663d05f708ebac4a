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
// use. Every unsafe operation, also inside an `unsafe fn`, sits in an `unsafe {}` block under a
// `// SAFETY:` comment, so that each obligation is stated where it is discharged.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::sync::atomic::{AtomicU8, Ordering};

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod bits;
mod check;
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

/// The set of kernels that scored some rows of one call: [`Predictor::kernel`] says which
/// kernel full blocks use, this says what actually ran (the tests print and check it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KernelsRun(u8);

impl KernelsRun {
    /// This set plus `kernel`.
    fn with(self, kernel: Kernel) -> Self {
        KernelsRun(self.0 | 1 << kernel as u8)
    }

    /// Kernels in either set.
    fn union(self, other: Self) -> Self {
        KernelsRun(self.0 | other.0)
    }

    /// The kernels in the set, fastest first.
    #[cfg(test)]
    fn kernels(self) -> Vec<Kernel> {
        [Kernel::Avx512, Kernel::Avx2, Kernel::Portable]
            .into_iter()
            .filter(|&k| self.0 & (1 << k as u8) != 0)
            .collect()
    }
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
    ///
    /// Fails with [`BoosterError::MalformedBooster`] when the booster breaks the tree
    /// invariants (see [`Predictor::with_kernel`]).
    pub fn new(booster: &Booster) -> Result<Self> {
        let preferred = match PREFERRED.load(Ordering::Relaxed) {
            p if p == Kernel::Portable as u8 => Kernel::Portable,
            p if p == Kernel::Avx2 as u8 => Kernel::Avx2,
            _ => Kernel::Avx512,
        };
        Self::with_kernel(booster, preferred)
    }

    /// Compile a booster for `preferred` or the best kernel below it (in the order
    /// `Avx512`, `Avx2`, `Portable`) that this CPU and forest allow.
    ///
    /// Fails with [`BoosterError::MalformedBooster`], naming the tree, node, field and value,
    /// when a tree is empty, a split's child index is out of range, a node is reached twice
    /// (a cycle or a shared node), or a split's feature index is not below `num_feature`.
    pub fn with_kernel(booster: &Booster, preferred: Kernel) -> Result<Self> {
        check::check_booster(booster)?;
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
        // feature 0, and `num_feature >= 1` whenever a tree has a split). `check_booster` makes
        // `flatten` produce exactly this; re-check the array the kernels index rather than
        // trust that argument.
        let num_feature = booster.num_feature;
        let sound = nodes.len() < u32::MAX as usize
            && nodes.iter().enumerate().all(|(i, n)| {
                let leaf = n.left.wrapping_add(1) as usize == i
                    && n.threshold.is_nan()
                    && n.default_left == 0;
                let children = (n.left as usize) + 1 < nodes.len();
                (leaf || children) && (n.feature as usize) < num_feature.max(1)
            });
        if !sound {
            return Err(BoosterError::MalformedBooster(
                "the flattened forest has an out-of-range node or feature index".to_string(),
            ));
        }
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
        Ok(Predictor {
            nodes,
            values,
            trees,
            base_margin: booster.base_margin(),
            num_feature,
            binned,
        })
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
        self.margin_and_kernels(x, n_features).map(|(out, _)| out)
    }

    /// [`Predictor::predict_margin`], also saying which kernels scored rows: full blocks go to
    /// [`Predictor::kernel`], the rows left over to the portable kernel (what tests check).
    fn margin_and_kernels(&self, x: &[f32], n_features: usize) -> Result<(Vec<f32>, KernelsRun)> {
        if n_features != self.num_feature || (n_features > 0 && !x.len().is_multiple_of(n_features))
        {
            return Err(BoosterError::FeatureCountMismatch {
                expected: self.num_feature,
                found: n_features,
            });
        }
        let n_rows = x.len().checked_div(n_features).unwrap_or(0);
        let mut out = vec![0f32; n_rows];
        let ran = if n_rows < TASK_ROWS {
            self.margin_rows(x, &mut out)
        } else {
            out.par_chunks_mut(TASK_ROWS)
                .zip(x.par_chunks(TASK_ROWS * n_features))
                .map(|(o, rows)| self.margin_rows(rows, o))
                .reduce(KernelsRun::default, KernelsRun::union)
        };
        Ok((out, ran))
    }

    /// Margins of whole rows `x` into `out` (one per row); returns the kernels that ran.
    fn margin_rows(&self, x: &[f32], out: &mut [f32]) -> KernelsRun {
        let nf = self.num_feature.max(1);
        let mut rest = (x, out);
        let mut ran = KernelsRun::default();
        // Fewer rows than a block (a serving request) need no scratch space.
        #[cfg(target_arch = "x86_64")]
        if let Some((kernel, forest)) = self
            .binned
            .as_ref()
            .filter(|_| rest.1.len() >= bits::BLOCK_ROWS)
        {
            ran = ran.with(*kernel);
            if *kernel == Kernel::Avx512 {
                let mut scratch = avx512::Scratch::new(forest);
                rest = self.simd_blocks(rest, |block, acc| {
                    // SAFETY: `binned` holds `Avx512` only when this CPU has AVX-512F/BW
                    // (`with_kernel`). `simd_blocks` passes 512 whole rows of `nf` values.
                    // `forest` was built for `num_feature` features, which is `nf`: a binned
                    // forest has a split, so `num_feature >= 1`, and `PerfectForest::new`
                    // keeps `num_feature <= i32::MAX / 1024`, so `16 * nf` fits an `i32`;
                    // `scratch` was built for `forest` just above.
                    unsafe { avx512::walk_block(forest, block, nf, &mut scratch, acc) }
                });
            } else {
                let mut scratch = avx2::Scratch::new(forest);
                rest = self.simd_blocks(rest, |block, acc| {
                    // SAFETY: `binned` holds `Avx2` only when this CPU has AVX2
                    // (`with_kernel`); the rest as for AVX-512 above (`8 * nf` fits an `i32`).
                    unsafe { avx2::walk_block(forest, block, nf, &mut scratch, acc) }
                });
            }
        }
        let (x, out) = rest;
        if !out.is_empty() {
            ran = ran.with(Kernel::Portable);
        }
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
        ran
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
                    // of a node; `with_kernel` checked that both are node indices (for a leaf,
                    // `left + 1` is the leaf itself and its test never sends a row left).
                    let node = unsafe { *self.nodes.get_unchecked(*slot as usize) };
                    // SAFETY: `i < n`, and `node.feature < nf`: a split's feature is below
                    // `num_feature` (`with_kernel`), a leaf's is 0 and a leaf is only stepped
                    // on in a tree with a split, so `nf >= 1`. The index is thus below
                    // `n * nf == block.len()` (asserted above).
                    let value = unsafe { *block.get_unchecked(i * nf + node.feature as usize) };
                    let mut go_left = value < node.threshold;
                    if MISSING {
                        go_left |= value.is_nan() & (node.default_left != 0);
                    }
                    *slot = node.left.wrapping_add(u32::from(!go_left));
                }
            }
            for (a, &i) in acc[..n].iter_mut().zip(&idx[..n]) {
                // SAFETY: as above, `i` is a node index, and `flatten` pushes one value per
                // node.
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
        let p = Predictor::new(&b).unwrap();
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
            let (margins, ran) = p.margin_and_kernels(&x, 2).unwrap();
            eprintln!("kernels run: {:?}", ran.kernels());
            // 5,000 rows: 9 full blocks of 512 for a vector kernel, the tail portable.
            let mut want_ran = vec![p.kernel()];
            if p.kernel() != Kernel::Portable {
                want_ran.push(Kernel::Portable);
            }
            assert_eq!(ran.kernels(), want_ran);
            let got = p.predict_proba(&x, 2).unwrap();
            assert_eq!(margins.len(), got.len());
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
                    let p = Predictor::with_kernel(&forest, kernel).unwrap();
                    let (got, ran) = p.margin_and_kernels(&x, nf).unwrap();
                    eprintln!(
                        "depth {depth}, grid {grid}, {rows} rows, {kernel:?} forced: kernels \
                         run: {:?}",
                        ran.kernels()
                    );
                    let expected = expected_kernel(kernel, depth);
                    assert_eq!(p.kernel(), expected, "depth {depth}, grid {grid}");
                    assert_eq!(
                        ran.kernels(),
                        kernels_for(expected, rows),
                        "depth {depth}, grid {grid}, {rows} rows, {kernel:?} forced"
                    );
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

    /// The kernel `with_kernel(forest, forced)` must pick for a forest of `depth` on this CPU:
    /// the forced one or the best one below it, portable past depth 6.
    fn expected_kernel(forced: Kernel, depth: usize) -> Kernel {
        match forced {
            _ if depth > 6 => Kernel::Portable,
            Kernel::Avx512 if avx512_available() => Kernel::Avx512,
            Kernel::Avx512 | Kernel::Avx2 if avx2_available() => Kernel::Avx2,
            _ => Kernel::Portable,
        }
    }

    /// The kernels that score `rows` rows when full blocks go to `kernel`: it takes every
    /// whole block of 512 (work items are whole blocks), the portable kernel the rest.
    fn kernels_for(kernel: Kernel, rows: usize) -> Vec<Kernel> {
        let vector_rows = if kernel == Kernel::Portable {
            0
        } else {
            rows / bits::BLOCK_ROWS * bits::BLOCK_ROWS
        };
        let mut ran = Vec::new();
        if vector_rows > 0 {
            ran.push(kernel);
        }
        if rows > vector_rows {
            ran.push(Kernel::Portable);
        }
        ran
    }

    /// The kernel a predictor picked, after checking on 513 rows (one block and a tail) that
    /// it is what scores full blocks; prints the kernels that ran.
    fn kernel_that_runs(name: &str, forest: &Booster, p: &Predictor) -> Kernel {
        let nf = forest.num_feature;
        let x = random_rows(3, bits::BLOCK_ROWS + 1, nf, 12);
        let (_, ran) = p.margin_and_kernels(&x, nf).unwrap();
        eprintln!("{name}: kernels run: {:?}", ran.kernels());
        assert_eq!(
            ran.kernels(),
            kernels_for(p.kernel(), bits::BLOCK_ROWS + 1),
            "{name}"
        );
        p.kernel()
    }

    #[test]
    fn vector_kernel_is_chosen_when_the_cpu_and_forest_allow_it() {
        let shallow = random_forest(1, 10, 6, 4, 12);
        let deep = random_forest(1, 10, 7, 4, 12);
        // Thresholds from 300 values on one feature: more than 254 distinct ones.
        let fine = random_forest(1, 400, 6, 1, 300);
        let best = expected_kernel(Kernel::Avx512, 6);
        let runs = |name: &str, forest: &Booster, kernel: Option<Kernel>| {
            let p = match kernel {
                Some(kernel) => Predictor::with_kernel(forest, kernel),
                None => Predictor::new(forest),
            };
            kernel_that_runs(name, forest, &p.unwrap())
        };
        assert_eq!(runs("shallow, best", &shallow, None), best);
        assert_eq!(
            runs("shallow, avx2 forced", &shallow, Some(Kernel::Avx2)),
            expected_kernel(Kernel::Avx2, 6)
        );
        assert_eq!(runs("deep, best", &deep, None), Kernel::Portable);
        assert_eq!(runs("fine, best", &fine, None), Kernel::Portable);
        assert_eq!(
            runs("shallow, portable forced", &shallow, Some(Kernel::Portable)),
            Kernel::Portable
        );
    }

    #[test]
    fn wrong_width_is_an_error() {
        let p = Predictor::new(&booster()).unwrap();
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
