//! The AVX2 kernel over a [`BinnedForest`]: the method of `bits.rs` and `avx512.rs` for CPUs
//! without AVX-512 (AMD before Zen 4, Intel client cores). Row sets are two 256-bit halves;
//! byte comparisons produce row masks with `movemask`; leaf positions are assembled 32 rows at
//! a time as bytes and leaf values gathered 8 at a time.

use std::arch::x86_64::*;

use super::bits::{by_depth, BinnedForest, FeatureCuts, BLOCK_ROWS};
use super::perfect::SLOTS;

/// 64-row words in a block.
const WORDS: usize = BLOCK_ROWS / 64;

/// A block's rows as a set: bit `i` of word `w` is row `64 w + i`.
type RowSet = [__m256i; 2];

/// True when this CPU runs the kernel.
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Scratch space for one thread: the condition masks and one feature's bins.
pub(super) struct Scratch {
    masks: Vec<[u64; WORDS]>,
    bins: [u8; BLOCK_ROWS],
}

impl Scratch {
    /// Space for `forest`'s masks.
    pub(super) fn new(forest: &BinnedForest) -> Self {
        Scratch {
            masks: vec![[0; WORDS]; forest.n_masks()],
            bins: [0; BLOCK_ROWS],
        }
    }
}

/// Add every tree's leaf value for the [`BLOCK_ROWS`] rows of `block` (row-major, `nf`
/// values a row) to `acc`.
///
/// # Safety
/// The CPU supports AVX2; `block.len() == BLOCK_ROWS * nf`; `forest` was built for `nf`
/// features and `scratch` for `forest`; `8 * nf` fits an `i32`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn walk_block(
    forest: &BinnedForest,
    block: &[f32],
    nf: usize,
    scratch: &mut Scratch,
    acc: &mut [f32; BLOCK_ROWS],
) {
    // `walk` indexes `masks` unchecked with the forest's mask numbers.
    assert!(block.len() == BLOCK_ROWS * nf && scratch.masks.len() == forest.n_masks());
    // SAFETY: this function's contract is `build_masks`'s, and the CPU feature is the same.
    unsafe { build_masks(forest, block, nf, scratch) };
    // SAFETY: same CPU feature; `scratch.masks` has `forest.n_masks()` entries (asserted
    // above), and `by_depth!` picks `D == forest.depth`.
    unsafe { by_depth!(forest.depth, walk(forest, &scratch.masks, acc)) };
}

/// Quantise each used feature of the block and write its conditions' row masks.
///
/// # Safety
/// The CPU supports AVX2; `block.len() == BLOCK_ROWS * nf`; every feature of `forest` is
/// below `nf`; `8 * nf` fits an `i32`.
#[target_feature(enable = "avx2")]
unsafe fn build_masks(forest: &BinnedForest, block: &[f32], nf: usize, scratch: &mut Scratch) {
    let lane_offsets = _mm256_mullo_epi32(
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_set1_epi32(nf as i32),
    );
    scratch.masks[0] = [0; WORDS];
    let bins = scratch.bins.as_mut_ptr();
    let mut lanes = [0i32; 8];
    for fc in &forest.features {
        let offsets = _mm256_add_epi32(lane_offsets, _mm256_set1_epi32(fc.feature as i32));
        for g in 0..BLOCK_ROWS / 8 {
            // Rows are row-major: a strided gather reads one feature of 8 rows.
            // SAFETY: lane `i` reads `block[(8 g + i) nf + feature]` with `8 g + i < 512` and
            // `feature < nf`, so below `block.len() == 512 nf`; the offsets
            // `i nf + feature < 8 nf` fit an `i32` (contract).
            let value =
                unsafe { _mm256_i32gather_ps::<4>(block.as_ptr().add(8 * g * nf), offsets) };
            // SAFETY: `lanes` is 8 `i32`s, the 32 bytes stored.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), bin8(fc, value)) };
            for (i, &bin) in lanes.iter().enumerate() {
                // Bins are 0..=255 (at most 254 thresholds).
                // SAFETY: byte `8 g + i < 512` of the 512-byte `bins` (`g < 64`, `i < 8`).
                unsafe { *bins.add(8 * g + i) = bin as u8 };
            }
        }
        let (first, count) = fc.conditions;
        for c in first..first + count {
            let cond = forest.conditions[c];
            let threshold = _mm256_set1_epi8(cond.threshold as i8);
            let shift = _mm256_set1_epi8(i8::from(cond.missing_right));
            let mask = &mut scratch.masks[c + 1];
            for (w, word) in mask.iter_mut().enumerate() {
                let mut bits = 0u64;
                for half in 0..2 {
                    // SAFETY: bytes `64 w + 32 half .. + 32` of the 512-byte `bins` (`w < 8`,
                    // `half < 2`).
                    let b = unsafe { _mm256_loadu_si256(bins.add(64 * w + 32 * half).cast()) };
                    let b = _mm256_sub_epi8(b, shift);
                    // Unsigned `b >= threshold`, as `max(b, threshold) == b`.
                    let right = _mm256_cmpeq_epi8(_mm256_max_epu8(b, threshold), b);
                    bits |= u64::from(_mm256_movemask_epi8(right) as u32) << (32 * half);
                }
                *word = bits;
            }
        }
    }
}

/// Bins of 8 values: 0 for NaN, else 1 + the number of thresholds `<=` the value.
#[inline]
#[target_feature(enable = "avx2")]
fn bin8(fc: &FeatureCuts, value: __m256) -> __m256i {
    let mut count = _mm256_setzero_si256();
    if fc.cuts.len() <= 16 {
        for &cut in &fc.cuts {
            count = count_at_least(count, value, _mm256_set1_ps(cut));
        }
    } else {
        // As in `avx512::bin16`: find the chunk, then count within it. A 16-entry lookup is
        // two 8-entry permutes and a blend.
        for &pivot in &fc.pivots {
            count = count_at_least(count, value, _mm256_set1_ps(pivot));
        }
        let one = _mm256_set1_epi32(1);
        let chunk = _mm256_max_epi32(_mm256_sub_epi32(count, one), _mm256_setzero_si256());
        count = _mm256_slli_epi32::<4>(chunk);
        let upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(chunk, _mm256_set1_epi32(7)));
        for i in 0..16 {
            // SAFETY: reads `table[16 i .. 16 i + 16]` of the 256-entry table (`i < 16`), as
            // two halves of 8.
            let (low, high) = unsafe {
                let column = fc.table.as_ptr().add(16 * i);
                (_mm256_loadu_ps(column), _mm256_loadu_ps(column.add(8)))
            };
            let low = _mm256_permutevar8x32_ps(low, chunk);
            let high = _mm256_permutevar8x32_ps(high, chunk);
            count = count_at_least(count, value, _mm256_blendv_ps(low, high, upper));
        }
    }
    let bin = _mm256_add_epi32(count, _mm256_set1_epi32(1));
    let missing = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(value, value));
    _mm256_andnot_si256(missing, bin)
}

/// `count + 1` in the lanes where `value >= cut` (a true comparison is all ones, -1).
#[inline]
#[target_feature(enable = "avx2")]
fn count_at_least(count: __m256i, value: __m256, cut: __m256) -> __m256i {
    let above = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(value, cut));
    _mm256_sub_epi32(count, above)
}

/// Walk every tree of depth `D` with the block's condition masks, adding each row's leaf
/// value to `acc`.
///
/// # Safety
/// The CPU supports AVX2; `D` is `forest.depth` (1 to 6); `masks` has `forest.n_masks()`
/// entries.
#[target_feature(enable = "avx2")]
unsafe fn walk<const D: usize>(
    forest: &BinnedForest,
    masks: &[[u64; WORDS]],
    acc: &mut [f32; BLOCK_ROWS],
) {
    let zero = _mm256_setzero_si256();
    let mut sets: [RowSet; SLOTS] = [[zero; 2]; SLOTS];
    let mut planes: [RowSet; D] = [[zero; 2]; D];
    // Byte k of the expanded mask is bit (k % 8) of byte (k / 8) of a 32-bit row mask: the
    // shuffle copies the byte, the AND/compare picks the bit.
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
        3, 3,
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    for t in 0..forest.n_trees() {
        // SAFETY: `splits` holds `SLOTS` entries per tree and `t < n_trees()`.
        let splits = unsafe { forest.splits.as_ptr().add(t * SLOTS) };
        sets[0] = [_mm256_set1_epi32(-1); 2];
        for (l, plane) in planes.iter_mut().enumerate() {
            let first = (1usize << l) - 1;
            let width = 1usize << l;
            let mut right_at_level = [zero; 2];
            for p in 0..width {
                // SAFETY: `first + p < 2^D - 1 < SLOTS` is within tree `t`'s splits; mask
                // numbers in `splits` are at most `conditions.len()` (`BinnedForest::new`),
                // and `masks` has `n_masks() = conditions.len() + 1` entries (contract). A
                // mask is 8 `u64`s: the two loads read words 0-3 and 4-7.
                let condition = unsafe {
                    let mask = masks
                        .get_unchecked(*splits.add(first + p) as usize)
                        .as_ptr();
                    [
                        _mm256_loadu_si256(mask.cast()),
                        _mm256_loadu_si256(mask.add(4).cast()),
                    ]
                };
                let rows = sets[first + p];
                for h in 0..2 {
                    let right = _mm256_and_si256(rows[h], condition[h]);
                    right_at_level[h] = _mm256_or_si256(right_at_level[h], right);
                    if l + 1 < D {
                        sets[first + width + p][h] = _mm256_andnot_si256(condition[h], rows[h]);
                        sets[first + 2 * width + p][h] = right;
                    }
                }
            }
            *plane = right_at_level;
        }
        // SAFETY: `[RowSet; D]` and `[[u32; 16]; D]` have the same size (64 bytes per level)
        // and every bit pattern is a valid `u32`.
        let plane_words: [[u32; BLOCK_ROWS / 32]; D] = unsafe { std::mem::transmute_copy(&planes) };
        // SAFETY: `leaves` holds `SLOTS` entries per tree and `t < n_trees()`.
        let leaves = unsafe { forest.leaves.as_ptr().add(t * SLOTS) };
        for g in 0..BLOCK_ROWS / 32 {
            // Leaf positions of 32 rows, one byte each: bit l set when the row went right at
            // level l.
            let mut position = zero;
            for (l, words) in plane_words.iter().enumerate() {
                let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(words[g] as i32), spread);
                let set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
                position =
                    _mm256_or_si256(position, _mm256_and_si256(set, _mm256_set1_epi8(1 << l)));
            }
            let halves = [
                _mm256_castsi256_si128(position),
                _mm256_extracti128_si256::<1>(position),
            ];
            for (h, half) in halves.iter().enumerate() {
                for (q, bytes) in [*half, _mm_srli_si128::<8>(*half)].iter().enumerate() {
                    let j = _mm256_cvtepu8_epi32(*bytes);
                    // SAFETY: the gather reads `leaves[j]` for leaf positions `j < 2^D <= 64`,
                    // within the tree's 64 leaves; `acc[32 g + 16 h + 8 q .. + 8]` with
                    // `g < 16`, `h < 2`, `q < 2` is within its 512 entries.
                    unsafe {
                        let value = _mm256_i32gather_ps::<4>(leaves, j);
                        let sum = acc.as_mut_ptr().add(32 * g + 16 * h + 8 * q);
                        _mm256_storeu_ps(sum, _mm256_add_ps(_mm256_loadu_ps(sum), value));
                    }
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
            eprintln!("kernels run: none (this CPU lacks AVX2)");
            return;
        }
        eprintln!("kernels run: AVX2 bin search");
        super::super::bits::check_vector_bins(8, |fc, values| {
            // SAFETY: the CPU has AVX2 (checked above), which `bin8` and the load need;
            // `values` has 8 lanes.
            let got: [i32; 8] =
                unsafe { std::mem::transmute(bin8(fc, _mm256_loadu_ps(values.as_ptr()))) };
            got.to_vec()
        });
    }
}
