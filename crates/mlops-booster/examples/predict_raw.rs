//! Time the predictor: `predict_raw MODEL_JSON X_F32 NFEAT [REPEATS]` (raw little-endian f32 rows).
#![allow(clippy::unwrap_used, missing_docs)]
use mlops_booster::{from_xgboost_json, Predictor};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let model = from_xgboost_json(&std::fs::read_to_string(&a[1]).unwrap()).unwrap();
    let bytes = std::fs::read(&a[2]).unwrap();
    let x: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let nf: usize = a[3].parse().unwrap();
    let reps: usize = a.get(4).map_or(5, |r| r.parse().unwrap());
    let p = Predictor::new(&model);
    let mut times = Vec::new();
    let mut sum = 0.0;
    for _ in 0..reps {
        let t = std::time::Instant::now();
        let out = p.predict_proba(&x, nf).unwrap();
        times.push(t.elapsed().as_secs_f64());
        sum += out[0] as f64;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median {:.3}s min {:.3}s ({} rows) {sum}",
        times[reps / 2],
        times[0],
        x.len() / nf
    );
}
