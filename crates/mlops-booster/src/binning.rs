//! Quantile binning: every feature value is replaced by a small bin index once, before
//! training, so that split finding works on histograms instead of sorted values.
//!
//! Bin `b` of a feature holds the values `cuts[b-1] <= x < cuts[b]`; the bin after the last
//! cut holds missing values. So "bin <= b" is exactly XGBoost's "x < split_condition" with
//! `split_condition = cuts[b]`, and a model trained on bins predicts the same on raw values.

use rayon::prelude::*;

use crate::rng::SplitMix64;

/// Rows sampled to find cut points; enough for 255 quantiles with a rank error far below one bin.
pub(crate) const SKETCH_ROWS: usize = 262_144;

/// Cut points of one feature, ascending. `cuts.len()` real bins plus one missing bin.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureCuts {
    /// Upper bounds (exclusive) of the real bins.
    pub cuts: Vec<f32>,
}

impl FeatureCuts {
    /// Number of real (non-missing) bins.
    pub fn n_bins(&self) -> usize {
        self.cuts.len()
    }

    /// Index of the missing-value bin.
    pub fn missing_bin(&self) -> usize {
        self.cuts.len()
    }

    /// Bin of a raw value.
    pub fn bin(&self, value: f32) -> u8 {
        if value.is_nan() {
            self.cuts.len() as u8
        } else {
            // First cut strictly greater than the value; the last cut exceeds every
            // training value, and larger unseen values share the last bin.
            self.cuts
                .partition_point(|&c| c <= value)
                .min(self.cuts.len() - 1) as u8
        }
    }
}

/// The feature matrix as bin indices, with the cuts that produced it. Bins are stored twice:
/// column-major for partitioning rows (one byte per row of the split feature), and as sparse
/// rows of histogram slots for building histograms.
#[derive(Debug, Clone)]
pub struct BinnedMatrix {
    /// `n_features * n_rows` bin indices, column-major.
    pub columns: Vec<u8>,
    /// Number of rows.
    pub n_rows: usize,
    /// Number of features (columns).
    pub n_features: usize,
    /// Cut points per feature.
    pub cuts: Vec<FeatureCuts>,
    /// Offset of each feature's first slot in a histogram; the last entry is the total.
    pub offsets: Vec<usize>,
    /// Per feature, its most frequent bin. Histograms skip it and rebuild it as the node
    /// total minus the other bins, which saves most of the work on sparse and one-hot data.
    pub skip_bins: Vec<u8>,
    /// Row `r`'s histogram slots (`offsets[f] + bin`) other than the skipped bins:
    /// `sparse_slots[row_ptr[r]..row_ptr[r + 1]]`.
    pub sparse_slots: SparseSlots,
    /// Row starts into `sparse_slots`, `n_rows + 1` entries.
    pub row_ptr: Vec<u32>,
}

/// Histogram slot indices, as narrow as the histogram allows: building histograms is bound by
/// memory traffic, so two bytes per entry instead of four is a real speed-up.
#[derive(Debug, Clone)]
pub enum SparseSlots {
    /// Fewer than 65,536 slots.
    U16(Vec<u16>),
    /// Wider tables.
    U32(Vec<u32>),
}

impl BinnedMatrix {
    /// Find cut points (at most `max_bin - 1` real bins per feature) and bin every value.
    /// `x` is row-major `n_rows * n_features`, NaN meaning missing.
    pub fn build(x: &[f32], n_features: usize, max_bin: usize, seed: u64) -> Self {
        let n_rows = x.len() / n_features.max(1);
        let sample = sketch_rows(n_rows, seed);
        let max_real_bins = (max_bin - 1).clamp(1, 255);
        let cuts: Vec<FeatureCuts> = (0..n_features)
            .into_par_iter()
            .map(|f| {
                let values: Vec<f32> = match &sample {
                    Some(rows) => rows.iter().map(|&r| x[r * n_features + f]).collect(),
                    None => (0..n_rows).map(|r| x[r * n_features + f]).collect(),
                };
                feature_cuts(values, max_real_bins)
            })
            .collect();
        let mut offsets = Vec::with_capacity(n_features + 1);
        let mut total = 0;
        for c in &cuts {
            offsets.push(total);
            total += c.n_bins() + 1;
        }
        offsets.push(total);
        let mut bins = vec![0u8; n_rows * n_features];
        bins.par_chunks_mut(n_features.max(1) * 4096)
            .zip(x.par_chunks(n_features.max(1) * 4096))
            .for_each(|(out, raw)| {
                for (o, v) in out.chunks_mut(n_features).zip(raw.chunks(n_features)) {
                    for ((slot, &value), c) in o.iter_mut().zip(v).zip(&cuts) {
                        *slot = c.bin(value);
                    }
                }
            });
        let skip_bins = most_frequent_bins(&bins, n_features, &cuts);
        let (sparse_slots, row_ptr) = sparse_rows(&bins, n_features, &offsets, &skip_bins);
        let mut columns = vec![0u8; n_rows * n_features];
        columns
            .par_chunks_mut(n_rows.max(1))
            .enumerate()
            .for_each(|(f, col)| {
                for (r, slot) in col.iter_mut().enumerate() {
                    *slot = bins[r * n_features + f];
                }
            });
        BinnedMatrix {
            columns,
            n_rows,
            n_features,
            cuts,
            offsets,
            skip_bins,
            sparse_slots,
            row_ptr,
        }
    }

    /// The bins of one feature, one per row.
    #[inline]
    pub fn column(&self, f: usize) -> &[u8] {
        &self.columns[f * self.n_rows..(f + 1) * self.n_rows]
    }

    /// The range of row `r` in `sparse_slots`.
    #[inline]
    pub fn sparse_range(&self, r: usize) -> std::ops::Range<usize> {
        self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize
    }

    /// The bin of one cell.
    #[inline]
    pub fn bin(&self, row: usize, feature: usize) -> u8 {
        self.columns[feature * self.n_rows + row]
    }

    /// Total histogram slots over all features (real bins plus one missing bin each).
    pub fn n_slots(&self) -> usize {
        self.offsets[self.n_features]
    }
}

fn most_frequent_bins(bins: &[u8], n_features: usize, cuts: &[FeatureCuts]) -> Vec<u8> {
    let counts = bins
        .par_chunks(n_features.max(1) * 65_536)
        .fold(
            || vec![[0u32; 256]; n_features],
            |mut counts, chunk| {
                for row in chunk.chunks(n_features) {
                    for (c, &b) in counts.iter_mut().zip(row) {
                        c[b as usize] += 1;
                    }
                }
                counts
            },
        )
        .reduce(
            || vec![[0u32; 256]; n_features],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    for (u, v) in x.iter_mut().zip(y) {
                        *u += v;
                    }
                }
                a
            },
        );
    counts
        .iter()
        .zip(cuts)
        .map(|(c, cut)| {
            (0..=cut.n_bins())
                .max_by_key(|&b| (c[b], std::cmp::Reverse(b)))
                .unwrap_or(0) as u8
        })
        .collect()
}

fn sparse_rows(
    bins: &[u8],
    n_features: usize,
    offsets: &[usize],
    skip_bins: &[u8],
) -> (SparseSlots, Vec<u32>) {
    if offsets[n_features] <= u16::MAX as usize {
        let (slots, ptr) = sparse_rows_as::<u16>(bins, n_features, offsets, skip_bins);
        (SparseSlots::U16(slots), ptr)
    } else {
        let (slots, ptr) = sparse_rows_as::<u32>(bins, n_features, offsets, skip_bins);
        (SparseSlots::U32(slots), ptr)
    }
}

fn sparse_rows_as<T: TryFrom<usize> + Copy + Send + Default>(
    bins: &[u8],
    n_features: usize,
    offsets: &[usize],
    skip_bins: &[u8],
) -> (Vec<T>, Vec<u32>) {
    let nf = n_features.max(1);
    let parts: Vec<(Vec<T>, Vec<u32>)> = bins
        .par_chunks(nf * 16_384)
        .map(|chunk| {
            let mut slots = Vec::with_capacity(chunk.len() / 2);
            let mut lens = Vec::with_capacity(chunk.len() / nf);
            for row in chunk.chunks(nf) {
                let before = slots.len();
                for (f, &b) in row.iter().enumerate() {
                    if b != skip_bins[f] {
                        // Fits: the caller picked T wide enough for every slot.
                        slots.push(T::try_from(offsets[f] + b as usize).unwrap_or_default());
                    }
                }
                lens.push((slots.len() - before) as u32);
            }
            (slots, lens)
        })
        .collect();
    let total: usize = parts.iter().map(|(s, _)| s.len()).sum();
    let mut sparse = Vec::with_capacity(total);
    let mut row_ptr: Vec<u32> = Vec::with_capacity(bins.len() / nf + 1);
    row_ptr.push(0);
    for (slots, lens) in parts {
        for len in lens {
            let last = row_ptr[row_ptr.len() - 1];
            row_ptr.push(last + len);
        }
        sparse.extend_from_slice(&slots);
    }
    (sparse, row_ptr)
}

fn sketch_rows(n_rows: usize, seed: u64) -> Option<Vec<usize>> {
    if n_rows <= SKETCH_ROWS {
        return None;
    }
    let mut rng = SplitMix64::new(seed ^ 0x5EED_B175);
    let mut rows: Vec<usize> = (0..SKETCH_ROWS).map(|_| rng.below(n_rows)).collect();
    rows.sort_unstable();
    Some(rows)
}

/// Cut points for one feature: every distinct value gets its own bin when there are few;
/// otherwise equal-count quantiles over the distinct values' ranks.
fn feature_cuts(mut values: Vec<f32>, max_real_bins: usize) -> FeatureCuts {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        // All missing: one real bin that no value falls into, so no split is ever found on it.
        return FeatureCuts {
            cuts: vec![f32::MAX],
        };
    }
    values.sort_unstable_by(f32::total_cmp);
    let max = values[values.len() - 1];
    let mut distinct = values.clone();
    distinct.dedup();
    let mut cuts: Vec<f32> = if distinct.len() <= max_real_bins {
        distinct[1..].to_vec()
    } else {
        let n = values.len();
        let mut picked = Vec::with_capacity(max_real_bins);
        for i in 1..max_real_bins {
            let v = values[i * n / max_real_bins];
            // The cut is a data value: "x < v" puts everything below v on the left.
            if v > values[0] && picked.last().is_none_or(|&last| v > last) {
                picked.push(v);
            }
        }
        picked
    };
    // XGBoost's last cut: above the maximum, so that the maximum lands in a real bin.
    let last = max + (max.abs() + 1e-5);
    cuts.push(if last > max { last } else { f32::MAX });
    FeatureCuts { cuts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let c = feature_cuts(vec![0.0, 1.0, 1.0, 0.0, f32::NAN], 255);
        assert_eq!(c.cuts.len(), 2);
        assert_eq!(c.cuts[0], 1.0);
        assert_eq!(c.bin(0.0), 0);
        assert_eq!(c.bin(1.0), 1);
        assert_eq!(c.bin(f32::NAN), 2);
        // unseen values clamp into the outer real bins
        assert_eq!(c.bin(-5.0), 0);
        assert_eq!(c.bin(7.0), 1);
    }

    #[test]
    fn bin_order_matches_the_raw_split_rule() {
        let values: Vec<f32> = (0..10_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 10.0)
            .collect();
        let c = feature_cuts(values.clone(), 31);
        assert!(c.n_bins() <= 31);
        for &v in &values {
            let b = c.bin(v) as usize;
            for (s, &cut) in c.cuts.iter().enumerate() {
                assert_eq!(b <= s, v < cut, "value {v} bin {b} cut {s}={cut}");
            }
        }
    }

    #[test]
    fn quantile_bins_are_roughly_equal_count() {
        let values: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
        let c = feature_cuts(values.clone(), 100);
        let mut counts = vec![0usize; c.n_bins()];
        for &v in &values {
            counts[c.bin(v) as usize] += 1;
        }
        let max = *counts.iter().max().unwrap();
        assert!(max <= 1_100, "largest bin holds {max} of 100000 values");
    }

    #[test]
    fn matrix_offsets_cover_every_bin() {
        let x = vec![0.0, 5.0, 1.0, f32::NAN, 0.0, 7.0];
        let m = BinnedMatrix::build(&x, 2, 256, 0);
        assert_eq!(m.n_rows, 3);
        assert_eq!(m.offsets, vec![0, 3, 6]);
        assert_eq!((m.bin(1, 0), m.bin(1, 1)), (1, 2));
    }
}
