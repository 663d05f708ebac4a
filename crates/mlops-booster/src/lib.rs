//! Histogram gradient-boosted trees for binary classification with XGBoost semantics
//! (`binary:logistic`, `tree_method=hist`), saved in XGBoost's JSON model format.
//!
//! The crate does no network I/O, has no async runtime and does not know about tables or
//! schemas: it takes a dense `f32` feature matrix (NaN = missing) and 0/1 labels.
//!
//! Cargo feature `linfa` (default): `GbdtClassifier` and linfa's `Fit`/`PredictInplace` for
//! the booster. Crates that only score (the server) depend on this crate with
//! `default-features = false` and so link neither linfa nor ndarray.
//!
//! ```
//! use mlops_booster::{BoosterParams, Trainer, TrainData};
//! let x: Vec<f32> = (0..200).map(|i| (i % 20) as f32).collect();
//! let y: Vec<f32> = (0..100).map(|i| ((i % 20) >= 10) as u8 as f32).collect();
//! let data = TrainData::new(&x, 2, &y).unwrap();
//! let params = BoosterParams { n_estimators: 10, ..Default::default() }.check().unwrap();
//! let model = Trainer::new(params).fit(&data, None).unwrap();
//! assert_eq!(model.trees.len(), 10);
//! ```

pub mod binning;
pub mod error;
mod histogram;
#[cfg(feature = "linfa")]
mod linfa_impl;
pub mod params;
pub mod predict;
pub mod rng;
pub mod train;
pub mod tree;
pub mod xgboost_json;

pub use error::{BoosterError, Result};
#[cfg(feature = "linfa")]
pub use linfa_impl::GbdtClassifier;
pub use params::{BoosterParams, ValidBoosterParams};
pub use predict::{Kernel, Predictor};
pub use train::{RoundReport, TrainData, Trainer, TrainingObserver};
pub use tree::{Booster, Node, Tree};
pub use xgboost_json::{from_xgboost_json, to_xgboost_json};
