//! Train on raw little-endian f32 files (a quick harness for comparing with Python XGBoost):
#![allow(clippy::unwrap_used, missing_docs)]
//! `raw_f32 NFEAT XTRAIN YTRAIN XTEST OUT [ROUNDS]` writes test probabilities to OUT.
use mlops_booster::{BoosterParams, Predictor, TrainData, Trainer};

fn read(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let nf: usize = a[1].parse().unwrap();
    let (x, y, xt) = (read(&a[2]), read(&a[3]), read(&a[4]));
    let rounds = a.get(6).map_or(200, |r| r.parse().unwrap());
    let params = BoosterParams {
        n_estimators: rounds,
        max_depth: 6,
        learning_rate: 0.1,
        ..Default::default()
    };
    let data = TrainData::new(&x, nf, &y).unwrap();
    let t = std::time::Instant::now();
    let model = Trainer::new(params.check().unwrap())
        .fit(&data, None)
        .unwrap();
    eprintln!("fit {:.3}s", t.elapsed().as_secs_f64());
    let p = Predictor::new(&model).unwrap();
    let t = std::time::Instant::now();
    let probs = p.predict_proba(&xt, nf).unwrap();
    eprintln!(
        "predict {:.3}s ({} rows)",
        t.elapsed().as_secs_f64(),
        probs.len()
    );
    let out: Vec<u8> = probs.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&a[5], out).unwrap();
    std::fs::write(
        format!("{}.model.json", a[5]),
        mlops_booster::to_xgboost_json(&model).unwrap(),
    )
    .unwrap();
}
