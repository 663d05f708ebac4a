//! The forest as split *conditions* shared between trees, for the bit-parallel kernel.
//!
//! A block of 512 rows is scored in three steps:
//!
//! 1. Each feature's values are replaced by a byte, its bin: 0 for missing, else 1 plus the
//!    number of the forest's thresholds on that feature that are `<=` the value. For the
//!    `k`-th smallest threshold (from 0), `value < threshold` exactly when `bin <= k + 1`.
//! 2. Every distinct condition (feature, threshold, direction of missing values) becomes a
//!    512-bit mask of the rows that go right: `bin >= k + 2` when missing values go left, and
//!    `bin - 1 >= k + 1` (wrapping, so missing becomes 255) when they go right. 64 rows per
//!    byte comparison; a forest of 200 trees and 10,000 splits has ~800 conditions here.
//! 3. Each tree is walked for all 512 rows at once: the set of rows at each split is a
//!    512-bit mask, split by the condition's mask into the children's sets, and the bits of
//!    every row's leaf number are collected level by level.
//!
//! Trees are the perfect trees of [`PerfectForest`], with the children of the split at
//! position `p` of level `l` at positions `p` and `p + 2^l` of level `l + 1` (so a level's
//! sets split into the next level's without shuffling); a row's leaf position is then the
//! bits it took, level 0 lowest.

use std::collections::BTreeMap;

use super::perfect::{PerfectForest, SLOTS};

/// `$walk::<D>(args)` for the forest depth `D` (1 to 6, the const generic of the kernels'
/// walks).
macro_rules! by_depth {
    ($depth:expr, $walk:ident($($arg:expr),*)) => {
        match $depth {
            1 => $walk::<1>($($arg),*),
            2 => $walk::<2>($($arg),*),
            3 => $walk::<3>($($arg),*),
            4 => $walk::<4>($($arg),*),
            5 => $walk::<5>($($arg),*),
            6 => $walk::<6>($($arg),*),
            _ => unreachable!("BinnedForest depth is 1 to 6"),
        }
    };
}
pub(super) use by_depth;

/// Most distinct thresholds one feature may have: bins 1 to 255 must fit a byte.
pub(super) const MAX_CUTS: usize = 254;
/// Rows per block: one bit per row in a 512-bit mask.
pub(super) const BLOCK_ROWS: usize = 512;

/// One feature's thresholds, in the layout of the vectorised bin search.
#[derive(Debug, Clone)]
pub(super) struct FeatureCuts {
    /// Feature index.
    pub feature: usize,
    /// Distinct thresholds, ascending.
    pub cuts: Vec<f32>,
    /// The thresholds in chunks of 16, padded with NaN (which no value is `>=`), stored
    /// transposed: `table[16 * i + c]` is threshold `16 * c + i`.
    pub table: [f32; 256],
    /// First threshold of each chunk, NaN-padded: `pivots[c] = cuts[16 * c]`.
    pub pivots: [f32; 16],
    /// Conditions on this feature: first index in [`BinnedForest::conditions`], and count.
    pub conditions: (usize, usize),
}

/// A condition: rows whose byte in column `bin` (or `bin - 1`) is `>=` `threshold` go right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Condition {
    /// Compare `bin - 1` (wrapping) instead of `bin`: missing values go right.
    pub missing_right: bool,
    /// Smallest byte that goes right.
    pub threshold: u8,
}

/// A forest whose splits are indices into a table of shared conditions.
#[derive(Debug, Clone)]
pub(super) struct BinnedForest {
    /// Depth of every (padded) tree.
    pub depth: usize,
    /// Features that some split uses.
    pub features: Vec<FeatureCuts>,
    /// Conditions, grouped by feature in the order of `features`. Mask 0 of a block is
    /// reserved for padding splits (no row goes right), so condition `i` is mask `i + 1`.
    pub conditions: Vec<Condition>,
    /// Per tree, [`SLOTS`] splits in level order (position `p` of level `l` at
    /// `2^l - 1 + p`): the mask index of the split's condition.
    pub splits: Vec<u32>,
    /// Per tree, [`SLOTS`] leaf values by leaf position.
    pub leaves: Vec<f32>,
}

impl BinnedForest {
    /// The binned form of `forest`, or `None` when a feature has more than [`MAX_CUTS`]
    /// distinct thresholds (or a threshold is NaN).
    pub(super) fn new(forest: &PerfectForest, num_feature: usize) -> Option<Self> {
        // The splits of each feature (padding splits have none).
        let mut by_feature: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (slot, &split) in forest.is_split.iter().enumerate() {
            if split {
                let f = forest.features[slot] as usize;
                if forest.thresholds[slot].is_nan() || f >= num_feature {
                    return None;
                }
                by_feature.entry(f).or_default().push(slot);
            }
        }
        // Per feature: distinct thresholds, then distinct conditions and each split's mask.
        let mut features = Vec::with_capacity(by_feature.len());
        let mut conditions = Vec::new();
        let mut mask_of_slot = vec![0u32; forest.is_split.len()];
        for (feature, slots) in by_feature {
            let mut cuts: Vec<f32> = slots.iter().map(|&s| forest.thresholds[s]).collect();
            cuts.sort_by(f32::total_cmp);
            cuts.dedup();
            if cuts.len() > MAX_CUTS {
                return None;
            }
            let first = conditions.len();
            let mut masks: BTreeMap<(bool, usize), u32> = BTreeMap::new();
            for slot in slots {
                let k = cuts.partition_point(|&x| x < forest.thresholds[slot]);
                let missing_right = forest.default_left[slot] == 0;
                mask_of_slot[slot] = *masks.entry((missing_right, k)).or_insert_with(|| {
                    conditions.push(Condition {
                        missing_right,
                        // k <= 253, so k + 2 fits a byte.
                        threshold: if missing_right { k + 1 } else { k + 2 } as u8,
                    });
                    conditions.len() as u32 // mask index: condition index + 1
                });
            }
            features.push(FeatureCuts::new(
                feature,
                cuts,
                (first, conditions.len() - first),
            ));
        }

        let n_trees = forest.is_split.len() / SLOTS;
        let depth = forest.depth;
        let mut splits = vec![0u32; n_trees * SLOTS];
        let mut leaves = vec![0f32; n_trees * SLOTS];
        for t in 0..n_trees {
            let base = t * SLOTS;
            for l in 0..depth {
                for p in 0..1usize << l {
                    let j = reverse_bits(p, l);
                    splits[base + (1 << l) - 1 + p] = mask_of_slot[base + (1 << l) - 1 + j];
                }
            }
            for p in 0..1usize << depth {
                leaves[base + p] = forest.leaves[base + reverse_bits(p, depth)];
            }
        }
        Some(BinnedForest {
            depth,
            features,
            conditions,
            splits,
            leaves,
        })
    }

    /// Number of trees.
    pub(super) fn n_trees(&self) -> usize {
        self.leaves.len() / SLOTS
    }

    /// Masks a block needs: one per condition plus the padding mask.
    pub(super) fn n_masks(&self) -> usize {
        self.conditions.len() + 1
    }
}

impl FeatureCuts {
    /// The search tables for `cuts` (distinct, ascending, at most [`MAX_CUTS`]).
    pub(super) fn new(feature: usize, cuts: Vec<f32>, conditions: (usize, usize)) -> Self {
        let mut table = [f32::NAN; 256];
        let mut pivots = [f32::NAN; 16];
        for (n, &cut) in cuts.iter().enumerate() {
            table[16 * (n % 16) + n / 16] = cut;
            if n % 16 == 0 {
                pivots[n / 16] = cut;
            }
        }
        FeatureCuts {
            feature,
            cuts,
            table,
            pivots,
            conditions,
        }
    }

    /// Bin of one value (the definition the kernel vectorises).
    #[cfg(test)]
    pub(super) fn bin(&self, value: f32) -> u8 {
        if value.is_nan() {
            0
        } else {
            1 + self.cuts.partition_point(|&c| c <= value) as u8
        }
    }
}

/// The lowest `bits` bits of `x` in reverse order.
fn reverse_bits(x: usize, bits: usize) -> usize {
    if bits == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS as usize - bits)
    }
}

/// Check a vector bin search (`lanes` values at a time) against [`FeatureCuts::bin`], for
/// few thresholds (direct count) and many (two-level search), on and between thresholds,
/// with NaN and infinities.
#[cfg(test)]
pub(super) fn check_vector_bins(lanes: usize, bins: impl Fn(&FeatureCuts, &[f32]) -> Vec<i32>) {
    let mut rng = crate::rng::SplitMix64::new(7);
    for n_cuts in [1, 3, 16, 17, 100, 254] {
        let mut cuts: Vec<f32> = (0..n_cuts).map(|i| i as f32 * 0.5 - 20.0).collect();
        cuts[0] = f32::NEG_INFINITY;
        let fc = FeatureCuts::new(0, cuts, (0, 0));
        for _ in 0..200 {
            let values: Vec<f32> = (0..lanes)
                .map(|_| match rng.below(10) {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    3..=5 => rng.below(2 * n_cuts + 4) as f32 * 0.25 - 21.0,
                    _ => rng.next_f64() as f32 * 200.0 - 100.0,
                })
                .collect();
            for (v, got) in values.iter().zip(bins(&fc, &values)) {
                assert_eq!(got, i32::from(fc.bin(*v)), "{n_cuts} cuts, value {v}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_bits_of_small_widths() {
        assert_eq!(reverse_bits(0b001, 3), 0b100);
        assert_eq!(reverse_bits(0b110, 3), 0b011);
        assert_eq!(reverse_bits(1, 1), 1);
        assert_eq!(reverse_bits(0, 0), 0);
    }
}
