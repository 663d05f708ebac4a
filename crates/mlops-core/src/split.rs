//! Seeded, stratified splits: train/test and K folds keep the label ratio in every part.

use mlops_booster::rng::SplitMix64;

/// Row indices of a train/test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training rows, ascending.
    pub train: Vec<usize>,
    /// Test rows, ascending.
    pub test: Vec<usize>,
}

fn shuffled_by_class(y: &[f32], seed: u64) -> [Vec<usize>; 2] {
    let mut rng = SplitMix64::new(seed);
    let mut classes = [Vec::new(), Vec::new()];
    for (i, &v) in y.iter().enumerate() {
        classes[(v > 0.5) as usize].push(i);
    }
    for c in &mut classes {
        rng.shuffle(c);
    }
    classes
}

/// Hold out `test_fraction` of each class.
pub fn stratified_split(y: &[f32], test_fraction: f64, seed: u64) -> Split {
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for class in shuffled_by_class(y, seed) {
        let n_test = (class.len() as f64 * test_fraction).round() as usize;
        split.test.extend_from_slice(&class[..n_test]);
        split.train.extend_from_slice(&class[n_test..]);
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    split
}

/// K stratified folds: fold `i`'s test rows are every K-th row of each shuffled class.
pub fn stratified_kfold(y: &[f32], k: usize, seed: u64) -> Vec<Split> {
    let classes = shuffled_by_class(y, seed);
    (0..k)
        .map(|fold| {
            let mut split = Split {
                train: Vec::new(),
                test: Vec::new(),
            };
            for class in &classes {
                for (pos, &row) in class.iter().enumerate() {
                    if pos % k == fold {
                        split.test.push(row);
                    } else {
                        split.train.push(row);
                    }
                }
            }
            split.train.sort_unstable();
            split.test.sort_unstable();
            split
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<f32> {
        (0..1000).map(|i| (i % 4 == 0) as u8 as f32).collect()
    }

    #[test]
    fn split_keeps_ratio_and_is_seeded() {
        let y = labels();
        let s = stratified_split(&y, 0.2, 7);
        assert_eq!(s.test.len(), 200);
        let pos = s.test.iter().filter(|&&i| y[i] > 0.5).count();
        assert_eq!(pos, 50);
        assert_eq!(s, stratified_split(&y, 0.2, 7));
        assert_ne!(s, stratified_split(&y, 0.2, 8));
    }

    #[test]
    fn folds_partition_the_rows() {
        let y = labels();
        let folds = stratified_kfold(&y, 5, 1);
        let mut seen = vec![0; y.len()];
        for f in &folds {
            assert_eq!(f.train.len() + f.test.len(), y.len());
            for &i in &f.test {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }
}
