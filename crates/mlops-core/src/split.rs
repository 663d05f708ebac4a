//! Splits. The train/test split is by a hash of each row's key ([`PartitionRule`]), so a row
//! stays on the same side across runs, seeds and table growth, and a later model can be
//! compared with an earlier one on rows neither trained on. Seeded, stratified splits remain
//! for what is internal to one training run: K folds and the early-stopping hold-out.

use std::path::Path;

use mlops_booster::rng::SplitMix64;
use mlops_model::PartitionRule;
use polars::prelude::{DataFrame, DataType};

use crate::error::{CoreError, Result};

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

/// Which rows of a table are test rows under `rule`. The key columns must exist; each cell is
/// hashed as text (CSV cells as written, Parquet values cast to text).
pub fn test_mask(df: &DataFrame, rule: &PartitionRule, path: &Path) -> Result<Vec<bool>> {
    crate::table::require_columns(df, path, rule.columns.iter().map(String::as_str))?;
    let mut texts = Vec::with_capacity(rule.columns.len());
    for name in &rule.columns {
        let column = df
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(|e| CoreError::Table {
                action: "hash the key column of",
                path: path.to_path_buf(),
                source: e.into(),
            })?;
        texts.push(column);
    }
    let strings = texts
        .iter()
        .map(|c| c.str())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| CoreError::Table {
            action: "hash the key columns of",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
    Ok((0..df.height())
        .map(|row| rule.is_test(strings.iter().map(|s| s.get(row))))
        .collect())
}

/// The split of rows given each row's test membership (from [`test_mask`]).
pub fn split_by_mask(is_test: &[bool]) -> Split {
    let (test, train): (Vec<usize>, Vec<usize>) = (0..is_test.len()).partition(|&i| is_test[i]);
    Split { train, test }
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

    /// Membership depends on the row's key only: not on its position, the seed, or the other
    /// rows, so appending rows or shuffling the table moves no row across the split.
    #[test]
    fn hash_split_membership_is_stable_under_growth_and_reordering() {
        use polars::prelude::Column;
        let rule = PartitionRule {
            rule: mlops_model::PartitionKey::HashId,
            columns: vec!["id".into()],
            test_fraction: 0.2,
            salt: mlops_model::PARTITION_SALT.into(),
        };
        let frame = |ids: &[String]| {
            DataFrame::new(ids.len(), vec![Column::new("id".into(), ids.to_vec())]).unwrap()
        };
        let ids: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
        let path = Path::new("t.csv");
        let small = test_mask(&frame(&ids[..1500]), &rule, path).unwrap();
        let grown = test_mask(&frame(&ids), &rule, path).unwrap();
        assert_eq!(small[..], grown[..1500], "appending rows moves none");
        let reversed: Vec<String> = ids.iter().rev().cloned().collect();
        let mut rev = test_mask(&frame(&reversed), &rule, path).unwrap();
        rev.reverse();
        assert_eq!(rev, grown, "reordering moves none");
        let split = split_by_mask(&grown);
        assert_eq!(split.train.len() + split.test.len(), 2000);
        assert!(
            (split.test.len() as i64 - 400).abs() < 80,
            "{}",
            split.test.len()
        );
        let e = test_mask(
            &frame(&ids),
            &PartitionRule {
                columns: vec!["customer".into()],
                ..rule
            },
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing column(s) `customer`"), "{e}");
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
