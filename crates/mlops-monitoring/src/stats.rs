//! The shared arithmetic of the drift measures, each written to match one NumPy/SciPy
//! definition (named on each function) so that `tests/python/monitoring_ref.py` can check it.

/// Proportion given to an empty bin before PSI's logarithm, after which the vector is
/// renormalised to sum to 1 (the usual PSI convention; without it one empty bin makes PSI
/// infinite).
pub const EMPTY_BIN_FLOOR: f64 = 1e-6;

/// Quantile of sorted finite values by linear interpolation between order statistics
/// (NumPy's default `method="linear"`): position `q * (n - 1)`.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let n = sorted.len();
    let pos = q * (n - 1) as f64;
    let lo = (pos.floor() as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let t = pos - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    // NumPy's _lerp: interpolate from the nearer end, so t = 1 gives b exactly.
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

/// The `bins - 1` interior cut points at quantiles `k / bins` of sorted values, with repeated
/// values kept once (ties and constant columns give fewer, never empty-by-construction, bins).
pub(crate) fn quantile_cuts(sorted: &[f64], bins: usize) -> Vec<f64> {
    let mut cuts: Vec<f64> = (1..bins)
        .map(|k| quantile_sorted(sorted, k as f64 / bins as f64))
        .collect();
    cuts.dedup();
    cuts
}

/// Bin index of `x` given ascending interior cut points: the number of cuts `<= x`, so bins
/// are `[c[i-1], c[i])`, left-closed (NumPy `searchsorted(cuts, x, side="right")`).
pub(crate) fn bin_of(cuts: &[f64], x: f64) -> usize {
    cuts.partition_point(|&c| c <= x)
}

/// Counts to proportions (all zeros stay zeros when the total is 0).
pub(crate) fn proportions(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

/// Floor every proportion at [`EMPTY_BIN_FLOOR`], then renormalise to sum 1.
pub(crate) fn floor_renormalise(p: &[f64]) -> Vec<f64> {
    let floored: Vec<f64> = p.iter().map(|&v| v.max(EMPTY_BIN_FLOOR)).collect();
    let total: f64 = floored.iter().sum();
    floored.iter().map(|v| v / total).collect()
}

/// Population Stability Index `sum((c - b) * ln(c / b))` on floored, renormalised
/// proportions (`b` baseline, `c` current).
pub(crate) fn psi(baseline: &[f64], current: &[f64]) -> f64 {
    let b = floor_renormalise(baseline);
    let c = floor_renormalise(current);
    b.iter().zip(&c).map(|(b, c)| (c - b) * (c / b).ln()).sum()
}

/// Jensen-Shannon distance with base-2 logarithms (in [0, 1]): the square root of the JS
/// divergence; like `scipy.spatial.distance.jensenshannon(p, q, base=2)`, both vectors are
/// first normalised to sum 1 and empty bins contribute 0 (no floor needed).
pub(crate) fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        if a > 0.0 {
            js += a * (a / m).ln();
        }
        if b > 0.0 {
            js += b * (b / m).ln();
        }
    }
    (js / 2.0 / std::f64::consts::LN_2).max(0.0).sqrt()
}

/// Largest absolute difference between two proportion vectors (L-infinity distance).
pub(crate) fn linf(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Walk the union of two sorted samples, calling `f(x, next_x, F_a(x), F_b(x))` at each
/// distinct value, where `F` are the empirical CDFs (fraction `<= x`).
fn cdf_walk(a: &[f64], b: &[f64], mut f: impl FnMut(f64, Option<f64>, f64, f64)) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let next = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => Some(u.min(v)),
            (Some(&u), None) => Some(u),
            (None, Some(&v)) => Some(v),
            (None, None) => None,
        };
        f(x, next, i as f64 / na, j as f64 / nb);
    }
}

/// Wasserstein-1 distance between two non-empty sorted samples: the area between their
/// empirical CDFs (`scipy.stats.wasserstein_distance`).
pub(crate) fn wasserstein_sorted(a: &[f64], b: &[f64]) -> f64 {
    let mut area = 0.0;
    cdf_walk(a, b, |x, next, fa, fb| {
        if let Some(next) = next {
            area += (fa - fb).abs() * (next - x);
        }
    });
    area
}

/// Two-sample Kolmogorov-Smirnov statistic of non-empty sorted samples: the largest
/// difference of their empirical CDFs (`scipy.stats.ks_2samp(...).statistic`).
pub(crate) fn ks_sorted(a: &[f64], b: &[f64]) -> f64 {
    let mut d: f64 = 0.0;
    cdf_walk(a, b, |_, _, fa, fb| d = d.max((fa - fb).abs()));
    d
}

/// Sorted copy of finite values (callers have rejected NaN).
pub(crate) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert!((quantile_sorted(&v, 0.5) - 2.5).abs() < 1e-15);
        assert!((quantile_sorted(&v, 0.25) - 1.75).abs() < 1e-15);
        assert_eq!(quantile_cuts(&[5.0; 7], 10), vec![5.0]);
    }

    #[test]
    fn bins_are_left_closed() {
        let cuts = [0.5, 1.0];
        assert_eq!(bin_of(&cuts, 0.49), 0);
        assert_eq!(bin_of(&cuts, 0.5), 1);
        assert_eq!(bin_of(&cuts, 1.0), 2);
        assert_eq!(bin_of(&[], 3.0), 0);
    }

    #[test]
    fn psi_and_js_are_zero_on_equal_distributions_and_grow_apart() {
        let p = [0.2, 0.3, 0.5];
        assert!(psi(&p, &p).abs() < 1e-15);
        assert!(js_distance(&p, &p) < 1e-7);
        let q = [0.5, 0.3, 0.2];
        assert!(psi(&p, &q) > 0.1);
        // Disjoint supports: the JS distance is its maximum, 1 bit.
        assert!((js_distance(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!(psi(&[1.0, 0.0], &[0.0, 1.0]).is_finite());
        assert!((linf(&p, &q) - 0.3).abs() < 1e-15);
    }

    #[test]
    fn wasserstein_and_ks_of_shifted_samples() {
        let a = [0.0, 1.0, 2.0];
        let b = [0.5, 1.5, 2.5];
        assert!((wasserstein_sorted(&a, &b) - 0.5).abs() < 1e-12);
        assert!((ks_sorted(&a, &b) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(wasserstein_sorted(&a, &a), 0.0);
        assert_eq!(ks_sorted(&a, &a), 0.0);
        assert!((ks_sorted(&[0.0], &[1.0]) - 1.0).abs() < 1e-15);
    }
}
