//! The AVX-512 kernel over a [`BinnedForest`]: 512 rows per block, see `bits.rs` for the
//! method. Per block it quantises the features, builds one 512-bit row mask per condition,
//! then walks every tree with whole row sets.

use std::arch::x86_64::*;

use super::bits::{by_depth, BinnedForest, FeatureCuts, BLOCK_ROWS};
use super::perfect::SLOTS;

/// 64-row words in a block.
const WORDS: usize = BLOCK_ROWS / 64;

/// True when this CPU runs the kernel.
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

/// Scratch space for one thread: the condition masks and one feature's bins.
pub(super) struct Scratch {
    masks: Vec<__m512i>,
    bins: [u8; BLOCK_ROWS],
}

impl Scratch {
    /// Space for `forest`'s masks.
    pub(super) fn new(forest: &BinnedForest) -> Self {
        // SAFETY: `__m512i` is plain bits; all zeros is a valid value (and needs no CPU
        // feature, unlike `_mm512_setzero_si512`).
        let zero = unsafe { std::mem::zeroed::<__m512i>() };
        Scratch {
            masks: vec![zero; forest.n_masks()],
            bins: [0; BLOCK_ROWS],
        }
    }
}

/// Add every tree's leaf value for the [`BLOCK_ROWS`] rows of `block` (row-major, `nf`
/// values a row) to `acc`.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512BW; `block.len() == BLOCK_ROWS * nf`; `forest` was
/// built for `nf` features and `scratch` for `forest`; `16 * nf` fits an `i32`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn walk_block(
    forest: &BinnedForest,
    block: &[f32],
    nf: usize,
    scratch: &mut Scratch,
    acc: &mut [f32; BLOCK_ROWS],
) {
    // `walk` indexes `masks` unchecked with the forest's mask numbers.
    assert!(block.len() == BLOCK_ROWS * nf && scratch.masks.len() == forest.n_masks());
    // SAFETY: this function's contract is `build_masks`'s, and the CPU features are the same.
    unsafe { build_masks(forest, block, nf, scratch) };
    // SAFETY: same CPU features; `scratch.masks` has `forest.n_masks()` entries (asserted
    // above), and `by_depth!` picks `D == forest.depth`.
    unsafe { by_depth!(forest.depth, walk(forest, &scratch.masks, acc)) };
}

/// Quantise each used feature of the block and write its conditions' row masks.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512BW; `block.len() == BLOCK_ROWS * nf`; every feature
/// of `forest` is below `nf`; `16 * nf` fits an `i32`; `scratch.masks` has
/// `forest.n_masks()` entries.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn build_masks(forest: &BinnedForest, block: &[f32], nf: usize, scratch: &mut Scratch) {
    let lane_offsets = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(nf as i32),
    );
    scratch.masks[0] = _mm512_setzero_si512();
    let masks = scratch.masks.as_mut_ptr().cast::<u64>();
    let bins = scratch.bins.as_mut_ptr();
    for fc in &forest.features {
        let offsets = _mm512_add_epi32(lane_offsets, _mm512_set1_epi32(fc.feature as i32));
        for g in 0..BLOCK_ROWS / 16 {
            // Rows are row-major: a strided gather reads one feature of 16 rows.
            // SAFETY: lane `i` reads `block[(16 g + i) nf + feature]` with `16 g + i < 512`
            // and `feature < nf`, so below `block.len() == 512 nf`; the offsets
            // `i nf + feature < 16 nf` fit an `i32` (contract).
            let value =
                unsafe { _mm512_i32gather_ps::<4>(offsets, block.as_ptr().add(16 * g * nf)) };
            let bin = bin16(fc, value);
            // SAFETY: writes bytes `16 g .. 16 g + 16` of the 512-byte `bins` (`g < 32`).
            unsafe { _mm_storeu_si128(bins.add(16 * g).cast(), _mm512_cvtepi32_epi8(bin)) };
        }
        let (first, count) = fc.conditions;
        for (c, cond) in forest.conditions[first..first + count].iter().enumerate() {
            // SAFETY: mask `first + c + 1 <= conditions.len() < n_masks() == masks.len()`
            // (contract), and a `__m512i` is 8 `u64`s, so this is its first word.
            let mask = unsafe { masks.add(8 * (first + c + 1)) };
            let threshold = _mm512_set1_epi8(cond.threshold as i8);
            let shift = _mm512_set1_epi8(i8::from(cond.missing_right));
            for w in 0..WORDS {
                // SAFETY: reads bytes `64 w .. 64 w + 64` of the 512-byte `bins` (`w < 8`).
                let b = unsafe { _mm512_loadu_si512(bins.add(64 * w).cast()) };
                let b = _mm512_sub_epi8(b, shift);
                // SAFETY: word `w < 8` of the mask's 8 words (above); `u64` needs no
                // alignment beyond the `__m512i`'s.
                unsafe { *mask.add(w) = _mm512_cmpge_epu8_mask(b, threshold) };
            }
        }
    }
}

/// Bins of 16 values: 0 for NaN, else 1 + the number of thresholds `<=` the value.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn bin16(fc: &FeatureCuts, value: __m512) -> __m512i {
    let one = _mm512_set1_epi32(1);
    let mut count = _mm512_setzero_si512();
    if fc.cuts.len() <= 16 {
        for &cut in &fc.cuts {
            let above = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(value, _mm512_set1_ps(cut));
            count = _mm512_mask_add_epi32(count, above, count, one);
        }
    } else {
        // Chunk c holds thresholds 16c..16c+16. The last chunk whose first threshold is
        // `<=` the value contains the boundary; all chunks before it count in full.
        for &pivot in &fc.pivots {
            let above = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(value, _mm512_set1_ps(pivot));
            count = _mm512_mask_add_epi32(count, above, count, one);
        }
        let chunk = _mm512_max_epi32(_mm512_sub_epi32(count, one), _mm512_setzero_si512());
        count = _mm512_slli_epi32::<4>(chunk);
        for i in 0..16 {
            // SAFETY: reads `table[16 i .. 16 i + 16]` of the 256-entry table (`i < 16`).
            let column = unsafe { _mm512_loadu_ps(fc.table.as_ptr().add(16 * i)) };
            let cut = _mm512_permutexvar_ps(chunk, column);
            let above = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(value, cut);
            count = _mm512_mask_add_epi32(count, above, count, one);
        }
    }
    let bin = _mm512_add_epi32(count, one);
    let missing = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(value, value);
    _mm512_mask_mov_epi32(bin, missing, _mm512_setzero_si512())
}

/// Walk every tree of depth `D` with the block's condition masks, adding each row's leaf
/// value to `acc`.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512BW; `D` is `forest.depth` (1 to 6); `masks` has
/// `forest.n_masks()` entries.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn walk<const D: usize>(
    forest: &BinnedForest,
    masks: &[__m512i],
    acc: &mut [f32; BLOCK_ROWS],
) {
    // Row sets of the splits of one tree, level order; the last level's are not needed.
    let mut sets = [_mm512_setzero_si512(); SLOTS];
    let mut planes = [_mm512_setzero_si512(); D];
    for t in 0..forest.n_trees() {
        // SAFETY: `splits` holds `SLOTS` entries per tree and `t < n_trees()`.
        let splits = unsafe { forest.splits.as_ptr().add(t * SLOTS) };
        sets[0] = _mm512_set1_epi32(-1);
        for (l, plane) in planes.iter_mut().enumerate() {
            let first = (1usize << l) - 1;
            let width = 1usize << l;
            let mut right_at_level = _mm512_setzero_si512();
            for p in 0..width {
                // SAFETY: `first + p < 2^D - 1 < SLOTS` is within tree `t`'s splits; mask
                // numbers in `splits` are at most `conditions.len()` (`BinnedForest::new`),
                // and `masks` has `n_masks() = conditions.len() + 1` entries (contract).
                let condition = unsafe { *masks.get_unchecked(*splits.add(first + p) as usize) };
                let rows = sets[first + p];
                let right = _mm512_and_si512(rows, condition);
                right_at_level = _mm512_or_si512(right_at_level, right);
                if l + 1 < D {
                    sets[first + width + p] = _mm512_andnot_si512(condition, rows);
                    sets[first + 2 * width + p] = right;
                }
            }
            *plane = right_at_level;
        }
        // SAFETY: `leaves` holds `SLOTS` entries per tree and `t < n_trees()`.
        let leaf = unsafe { forest.leaves.as_ptr().add(t * SLOTS) };
        // SAFETY: loads `leaf[16 k .. 16 k + 16]` for `k < 4`, within the tree's 64 leaves.
        let leaves: [__m512; 4] =
            std::array::from_fn(|k| unsafe { _mm512_loadu_ps(leaf.add(16 * k)) });
        // SAFETY: `[__m512i; D]` and `[[u64; WORDS]; D]` have the same size (64 bytes per
        // level) and every bit pattern is a valid `u64`.
        let plane_words: [[u64; WORDS]; D] = unsafe { std::mem::transmute_copy(&planes) };
        for w in 0..WORDS {
            // Leaf positions of 64 rows, one byte each: bit l set when the row went right at
            // level l.
            let mut position = _mm512_setzero_si512();
            for (l, words) in plane_words.iter().enumerate() {
                position =
                    _mm512_mask_add_epi8(position, words[w], position, _mm512_set1_epi8(1 << l));
            }
            let quarters = [
                _mm512_extracti32x4_epi32::<0>(position),
                _mm512_extracti32x4_epi32::<1>(position),
                _mm512_extracti32x4_epi32::<2>(position),
                _mm512_extracti32x4_epi32::<3>(position),
            ];
            for (q, quarter) in quarters.iter().enumerate() {
                let j = _mm512_cvtepu8_epi32(*quarter);
                let value = match D {
                    0..=4 => _mm512_permutexvar_ps(j, leaves[0]),
                    5 => _mm512_permutex2var_ps(leaves[0], j, leaves[1]),
                    _ => {
                        let low = _mm512_permutex2var_ps(leaves[0], j, leaves[1]);
                        let high = _mm512_permutex2var_ps(leaves[2], j, leaves[3]);
                        let upper = _mm512_cmpge_epi32_mask(j, _mm512_set1_epi32(32));
                        _mm512_mask_blend_ps(upper, low, high)
                    }
                };
                // SAFETY: `acc[64 w + 16 q .. + 16]` with `w < 8`, `q < 4`: within its 512
                // entries.
                unsafe {
                    let sum = acc.as_mut_ptr().add(64 * w + 16 * q);
                    _mm512_storeu_ps(sum, _mm512_add_ps(_mm512_loadu_ps(sum), value));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector bin search against the scalar definition.
    #[test]
    fn vector_bins_equal_the_definition() {
        if !available() {
            eprintln!("kernels run: none (this CPU lacks AVX-512F/BW)");
            return;
        }
        eprintln!("kernels run: AVX-512 bin search");
        super::super::bits::check_vector_bins(16, |fc, values| {
            // SAFETY: the CPU has AVX-512F/BW (checked above), which `bin16` and the load
            // need; `values` has 16 lanes.
            let got: [i32; 16] =
                unsafe { std::mem::transmute(bin16(fc, _mm512_loadu_ps(values.as_ptr()))) };
            got.to_vec()
        });
    }
}
