//! The errors of this crate: each names the input, the offending value and what was expected.

/// Why a monitoring computation refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MonitoringError {
    /// Scores that are NaN or outside [0, 1].
    #[error(
        "{field}: {count} value(s) are not probabilities in [0, 1] (first at index {first_index}: \
         {first_value}); expected finite scores between 0 and 1"
    )]
    InvalidScores {
        /// Which input (`current scores`, `baseline scores`).
        field: &'static str,
        /// How many values are bad.
        count: usize,
        /// Index of the first bad value.
        first_index: usize,
        /// The first bad value.
        first_value: f64,
    },
    /// Numeric feature values that are infinite (NaN is "missing" and allowed).
    #[error(
        "column `{column}`: {count} value(s) are infinite (first at index {first_index}: \
         {first_value}); expected finite numbers, or NaN for missing"
    )]
    InvalidValues {
        /// The column.
        column: String,
        /// How many values are bad.
        count: usize,
        /// Index of the first bad value.
        first_index: usize,
        /// The first bad value.
        first_value: f64,
    },
    /// Two inputs that must be aligned row by row have different lengths.
    #[error("{field}: {found} values, expected {expected} (one per score)")]
    LengthMismatch {
        /// Which input.
        field: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// A parameter outside its domain (bins, threshold).
    #[error("{field}: `{value}` is not valid; expected {expected}")]
    InvalidParameter {
        /// The parameter.
        field: &'static str,
        /// Its value, as text.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A baseline that cannot be built or used (no rows, inconsistent fields).
    #[error("baseline {field}: {message}")]
    InvalidBaseline {
        /// Which part of the baseline.
        field: String,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A current column of another kind than its baseline profile.
    #[error(
        "column `{column}`: its baseline profile is {expected}, but {found} values were given"
    )]
    KindMismatch {
        /// The column.
        column: String,
        /// The profile's kind.
        expected: &'static str,
        /// The kind of the values given.
        found: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, MonitoringError>;

/// The result of a computation that needs a minimum of data: either the values or an explicit
/// statement that there was too little data (never NaN, never a false alert).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome<T> {
    /// Enough data: the values.
    Computed(T),
    /// Too little data; nothing to compare or alert on.
    InsufficientData {
        /// Rows that were available.
        rows: usize,
        /// Why that is not enough.
        reason: String,
    },
}

impl<T> Outcome<T> {
    /// The values, when computed.
    pub fn computed(&self) -> Option<&T> {
        match self {
            Outcome::Computed(v) => Some(v),
            Outcome::InsufficientData { .. } => None,
        }
    }

    /// Whether this is [`Outcome::InsufficientData`].
    pub fn is_insufficient(&self) -> bool {
        matches!(self, Outcome::InsufficientData { .. })
    }
}

/// Check that every score is finite and in [0, 1]; name the count and the first bad one.
pub(crate) fn check_scores(field: &'static str, scores: &[f64]) -> Result<()> {
    let mut bad = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| !(0.0..=1.0).contains(*s));
    if let Some((first_index, &first_value)) = bad.next() {
        return Err(MonitoringError::InvalidScores {
            field,
            count: 1 + bad.count(),
            first_index,
            first_value,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_scores_are_counted_and_the_first_is_named() {
        let err = check_scores("current scores", &[0.2, f64::NAN, 1.5, 0.0, -0.1]).unwrap_err();
        assert!(matches!(
            err,
            MonitoringError::InvalidScores {
                count: 3,
                first_index: 1,
                ..
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("current scores") && text.contains("3 value(s)"),
            "{text}"
        );
        assert!(check_scores("s", &[0.0, 1.0, 0.5]).is_ok());
    }
}
