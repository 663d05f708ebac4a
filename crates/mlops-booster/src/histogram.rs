//! Gradient histograms: per feature and bin, the sums of gradients and hessians of a node's rows.

use std::ops::{AddAssign, SubAssign};

use rayon::prelude::*;

use crate::binning::{BinnedMatrix, SparseSlots};

/// Rows per parallel work item; small nodes are summed on one thread.
const CHUNK_ROWS: usize = 8_192;

/// A gradient and hessian sum. Sums are `f64` (as XGBoost's `GradientPairPrecise`) so that a
/// million small `f32` gradients add up without drift.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GradSum {
    /// Sum of first-order gradients.
    pub g: f64,
    /// Sum of second-order gradients.
    pub h: f64,
}

impl AddAssign for GradSum {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        self.g += o.g;
        self.h += o.h;
    }
}

impl SubAssign for GradSum {
    #[inline]
    fn sub_assign(&mut self, o: Self) {
        self.g -= o.g;
        self.h -= o.h;
    }
}

/// A histogram over all features of a [`BinnedMatrix`], laid out by its `offsets`.
pub type Histogram = Vec<GradSum>;

/// Build the histogram of the given rows.
pub fn build(matrix: &BinnedMatrix, rows: &[u32], grad: &[[f32; 2]]) -> Histogram {
    // One extra slot at the end carries the node total.
    let n_slots = matrix.n_slots() + 1;
    let mut hist = if rows.len() <= CHUNK_ROWS {
        let mut hist = vec![GradSum::default(); n_slots];
        accumulate(&mut hist, matrix, rows, grad);
        hist
    } else {
        rows.par_chunks(CHUNK_ROWS)
            .fold(
                || vec![GradSum::default(); n_slots],
                |mut hist, chunk| {
                    accumulate(&mut hist, matrix, chunk, grad);
                    hist
                },
            )
            .reduce_with(|mut a, b| {
                add(&mut a, &b);
                a
            })
            .unwrap_or_else(|| vec![GradSum::default(); n_slots])
    };
    let total = hist.pop().unwrap_or_default();
    restore_skipped_bins(&mut hist, matrix, total);
    hist
}

/// Each feature's skipped bin holds what the other bins do not: the node total minus them.
fn restore_skipped_bins(hist: &mut [GradSum], matrix: &BinnedMatrix, total: GradSum) {
    for f in 0..matrix.n_features {
        let slots = &mut hist[matrix.offsets[f]..matrix.offsets[f + 1]];
        let skip = matrix.skip_bins[f] as usize;
        let mut rest = total;
        for (b, s) in slots.iter().enumerate() {
            if b != skip {
                rest -= *s;
            }
        }
        slots[skip] = rest;
    }
}

/// `a += b`, slot by slot.
pub fn add(a: &mut [GradSum], b: &[GradSum]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// `parent -= child`, turning a parent's histogram into its other child's.
pub fn subtract(parent: &mut [GradSum], child: &[GradSum]) {
    for (x, y) in parent.iter_mut().zip(child) {
        *x -= *y;
    }
}

/// Add the rows' gradients to their non-skipped slots, and to the total in the last slot.
fn accumulate(hist: &mut [GradSum], matrix: &BinnedMatrix, rows: &[u32], grad: &[[f32; 2]]) {
    match &matrix.sparse_slots {
        SparseSlots::U16(slots) => accumulate_slots(hist, matrix, slots, rows, grad),
        SparseSlots::U32(slots) => accumulate_slots(hist, matrix, slots, rows, grad),
    }
}

#[inline]
fn accumulate_slots<T: Copy + Into<u32>>(
    hist: &mut [GradSum],
    matrix: &BinnedMatrix,
    slots: &[T],
    rows: &[u32],
    grad: &[[f32; 2]],
) {
    let total_slot = hist.len() - 1;
    let mut total = GradSum::default();
    for &r in rows {
        let r = r as usize;
        let [g, h] = grad[r];
        let gs = GradSum {
            g: g as f64,
            h: h as f64,
        };
        total += gs;
        for &slot in &slots[matrix.sparse_range(r)] {
            hist[slot.into() as usize] += gs;
        }
    }
    hist[total_slot] += total;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_build_equals_sequential_and_subtraction_gives_sibling() {
        let n = 50_000;
        let x: Vec<f32> = (0..n * 3).map(|i| ((i * 31) % 97) as f32).collect();
        let m = BinnedMatrix::build(&x, 3, 64, 1);
        let grad: Vec<[f32; 2]> = (0..n).map(|i| [(i % 7) as f32 - 3.0, 0.25]).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let (left, right): (Vec<u32>, Vec<u32>) = all.iter().partition(|&&r| r % 3 == 0);
        let whole = build(&m, &all, &grad);
        // dense reference: every row adds to its bin of every feature
        let mut dense = vec![GradSum::default(); m.n_slots()];
        for &r in &all {
            let [g, h] = grad[r as usize];
            for f in 0..3 {
                let b = m.bin(r as usize, f);
                dense[m.offsets[f] + b as usize] += GradSum {
                    g: g as f64,
                    h: h as f64,
                };
            }
        }
        for (a, b) in whole.iter().zip(&dense) {
            assert!((a.g - b.g).abs() < 1e-6 && (a.h - b.h).abs() < 1e-6);
        }
        let mut sibling = whole.clone();
        subtract(&mut sibling, &build(&m, &left, &grad));
        let direct = build(&m, &right, &grad);
        for (a, b) in sibling.iter().zip(&direct) {
            assert!((a.g - b.g).abs() < 1e-6 && (a.h - b.h).abs() < 1e-6);
        }
        // every row lands once per feature
        let total_h: f64 = whole[m.offsets[1]..m.offsets[2]].iter().map(|s| s.h).sum();
        assert!((total_h - 0.25 * n as f64).abs() < 1e-6);
    }
}
