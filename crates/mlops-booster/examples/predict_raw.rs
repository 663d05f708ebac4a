//! Time the predictor: `predict_raw MODEL_JSON X_F32 NFEAT [REPEATS] [MODE]` (raw
//! little-endian f32 rows). MODE `portable` or `avx2` times that kernel (default: the best
//! available); `check` also compares every margin of the best kernel with the portable one,
//! bit for bit; `check-avx2` does the same for the AVX2 kernel.
#![allow(clippy::unwrap_used, missing_docs)]
use mlops_booster::{from_xgboost_json, Kernel, Predictor};

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
    let mode = a.get(5).map_or("", String::as_str);
    let p = match mode {
        "portable" => Predictor::with_kernel(&model, Kernel::Portable),
        "avx2" | "check-avx2" => Predictor::with_kernel(&model, Kernel::Avx2),
        _ => Predictor::new(&model),
    }
    .unwrap();
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
        "{:?} kernel: median {:.3}s min {:.3}s ({} rows) {sum}",
        p.kernel(),
        times[reps / 2],
        times[0],
        x.len() / nf
    );
    if mode.starts_with("check") {
        let fast = p.predict_margin(&x, nf).unwrap();
        let portable = Predictor::with_kernel(&model, Kernel::Portable)
            .unwrap()
            .predict_margin(&x, nf)
            .unwrap();
        let differ = fast
            .iter()
            .zip(&portable)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        println!(
            "{differ} of {} margins differ from the portable kernel",
            fast.len()
        );
    }
}
