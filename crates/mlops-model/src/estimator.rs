//! The fitted estimator behind a bundle: a booster (boosted trees, or the decision-tree
//! baseline stored as a one-tree booster) or a logistic regression.

use mlops_booster::{Booster, Predictor};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// A fitted model that maps an encoded feature matrix to churn probabilities.
#[derive(Debug, Clone)]
pub enum Estimator {
    /// Trees in XGBoost's format (boosted trees, or one decision tree).
    Trees {
        /// The trees.
        booster: Booster,
        /// The compiled form used for scoring.
        predictor: Predictor,
    },
    /// A logistic regression baseline.
    Logistic(LogisticModel),
}

impl Estimator {
    /// Wrap a booster. Fails when the booster breaks the tree invariants
    /// ([`mlops_booster::BoosterError::MalformedBooster`]).
    pub fn trees(booster: Booster) -> Result<Self> {
        let predictor = Predictor::new(&booster)?;
        Ok(Estimator::Trees { booster, predictor })
    }

    /// Number of features expected.
    pub fn n_features(&self) -> usize {
        match self {
            Estimator::Trees { booster, .. } => booster.num_feature,
            Estimator::Logistic(m) => m.coefficients.len(),
        }
    }

    /// Churn probabilities for a row-major matrix with [`Estimator::n_features`] columns.
    pub fn predict_proba(&self, x: &[f32]) -> Result<Vec<f32>> {
        match self {
            Estimator::Trees { predictor, .. } => {
                Ok(predictor.predict_proba(x, predictor.num_feature())?)
            }
            Estimator::Logistic(m) => m.predict_proba(x),
        }
    }
}

/// Logistic regression on standardised features with missing values filled by the training
/// median. Stored as its own small JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticModel {
    /// Intercept (log-odds).
    pub intercept: f64,
    /// One coefficient per standardised feature.
    pub coefficients: Vec<f64>,
    /// Value used for a missing feature.
    pub fill: Vec<f32>,
    /// Training mean of each feature.
    pub mean: Vec<f32>,
    /// Training standard deviation of each feature (1 when constant).
    pub scale: Vec<f32>,
}

impl LogisticModel {
    /// Churn probabilities.
    pub fn predict_proba(&self, x: &[f32]) -> Result<Vec<f32>> {
        let nf = self.coefficients.len();
        if nf == 0 || !x.len().is_multiple_of(nf) {
            return Err(ModelError::Mismatch(format!(
                "the logistic model has {nf} coefficients, the matrix has {} values",
                x.len()
            )));
        }
        Ok(x.chunks(nf)
            .map(|row| {
                let mut z = self.intercept;
                for (j, &v) in row.iter().enumerate() {
                    let v = if v.is_nan() { self.fill[j] } else { v };
                    z += self.coefficients[j] * ((v - self.mean[j]) / self.scale[j]) as f64;
                }
                (1.0 / (1.0 + (-z).exp())) as f32
            })
            .collect())
    }

    /// Check the vectors agree in length.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let n = self.coefficients.len();
        if self.fill.len() != n || self.mean.len() != n || self.scale.len() != n {
            return Err(format!(
                "coefficients ({n}), fill ({}), mean ({}) and scale ({}) differ in length",
                self.fill.len(),
                self.mean.len(),
                self.scale.len()
            ));
        }
        if self.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("scale values must be finite and > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mlops_booster::tree::NO_NODE;
    use mlops_booster::{BoosterError, Node, Tree};

    use super::*;

    #[test]
    fn malformed_booster_is_an_error_not_a_panic() {
        let root = Node {
            left: 1,
            right: 7, // only two nodes
            ..Node::leaf(NO_NODE, 0.0, 1.0)
        };
        let booster = Booster {
            trees: vec![Tree {
                nodes: vec![root, Node::leaf(0, 0.5, 1.0)],
            }],
            base_score: 0.5,
            num_feature: 1,
            feature_names: vec![],
            attributes: Default::default(),
        };
        match Estimator::trees(booster) {
            Err(ModelError::Booster(BoosterError::MalformedBooster(message))) => {
                assert!(
                    message.contains("`trees[0].nodes[0].right` is 7"),
                    "{message}"
                );
            }
            other => panic!("expected a malformed-booster error, got {other:?}"),
        }
    }
}
