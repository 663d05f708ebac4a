//! linfa integration: the booster as a `Fit` algorithm and its model as `PredictInplace`, so
//! that linfa datasets, cross-validation helpers and metrics work with it. Behind the `linfa`
//! feature (on by default) so that the prediction server links neither linfa nor ndarray.

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::error::BoosterError;
use crate::params::ValidBoosterParams;
use crate::predict::Predictor;
use crate::train::{TrainData, Trainer};
use crate::tree::Booster;

/// A fitted booster for linfa: predicts churn probabilities.
#[derive(Debug, Clone)]
pub struct GbdtClassifier {
    /// The trained trees.
    pub booster: Booster,
    predictor: Predictor,
}

impl GbdtClassifier {
    /// Wrap a trained booster. Fails with [`BoosterError::MalformedBooster`] when the booster
    /// breaks the tree invariants (see [`Predictor::with_kernel`]).
    pub fn new(booster: Booster) -> Result<Self, BoosterError> {
        let predictor = Predictor::new(&booster)?;
        Ok(GbdtClassifier { booster, predictor })
    }
}

impl From<linfa::Error> for BoosterError {
    fn from(e: linfa::Error) -> Self {
        BoosterError::InvalidData(e.to_string())
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, BoosterError> for ValidBoosterParams
where
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = bool>,
{
    type Object = GbdtClassifier;

    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<GbdtClassifier, BoosterError> {
        let records = dataset.records();
        let x: Vec<f32> = records.iter().copied().collect(); // iter() is row-major
        let targets = dataset.as_single_targets();
        let y: Vec<f32> = targets.iter().map(|&t| f32::from(u8::from(t))).collect();
        let data = TrainData::new(&x, records.ncols(), &y)?;
        let booster = Trainer::new(self.clone()).fit(&data, None)?;
        GbdtClassifier::new(booster)
    }
}

impl<D: Data<Elem = f32>> PredictInplace<ArrayBase<D, Ix2>, Array1<f32>> for GbdtClassifier {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f32>) {
        assert_eq!(
            x.nrows(),
            y.len(),
            "the number of rows and targets must match"
        );
        let flat: Vec<f32> = x.iter().copied().collect();
        // linfa's trait has no error channel: a width mismatch is a programming error here.
        let probs = self
            .predictor
            .predict_proba(&flat, x.ncols())
            .unwrap_or_else(|e| panic!("{e}"));
        y.iter_mut().zip(probs).for_each(|(o, p)| *o = p);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f32> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use linfa::traits::Predict;
    use linfa::Dataset;
    use ndarray::Array2;

    use super::*;
    use crate::params::BoosterParams;

    #[test]
    fn fits_and_predicts_through_linfa_traits() {
        let n = 400;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| ((i * (j + 3)) % 17) as f32);
        let y = Array1::from_shape_fn(n, |i| (i * 3) % 17 > 8);
        let dataset = Dataset::new(x.clone(), y.clone());
        let params = BoosterParams {
            n_estimators: 20,
            ..Default::default()
        }
        .check()
        .unwrap();
        let model = params.fit(&dataset).unwrap();
        let probs: Array1<f32> = model.predict(&x);
        let accuracy = probs
            .iter()
            .zip(y.iter())
            .filter(|(p, &t)| (**p > 0.5) == t)
            .count() as f64
            / n as f64;
        assert!(accuracy > 0.99, "training accuracy {accuracy}");
    }

    #[test]
    fn malformed_booster_is_an_error() {
        let booster = Booster {
            trees: vec![crate::tree::Tree::default()],
            base_score: 0.5,
            num_feature: 1,
            feature_names: vec![],
            attributes: Default::default(),
        };
        assert!(matches!(
            GbdtClassifier::new(booster),
            Err(BoosterError::MalformedBooster(_))
        ));
    }
}
