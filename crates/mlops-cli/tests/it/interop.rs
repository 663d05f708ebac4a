//! Model interop with Python XGBoost, both ways, within 1e-5 on real rows, in batch and served.
//! Needs Python with `xgboost` (feature `python-tests`).

use crate::common::*;

#[test]
fn model_trained_by_mlops_scores_the_same_in_python_xgboost() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let ours = dir.path().join("ours.csv");
    predict(&model, &churn_csv(), &ours);
    let theirs = dir.path().join("python.json");
    interop(&[
        "score-ours",
        model.to_str().unwrap(),
        churn_csv().to_str().unwrap(),
        theirs.to_str().unwrap(),
    ]);

    let ours = read_probabilities(&ours, "churn_probability");
    let theirs: Vec<f64> = serde_json::from_str(&std::fs::read_to_string(theirs).unwrap()).unwrap();
    assert_eq!(ours.len(), 7043);
    assert_eq!(ours.len(), theirs.len());
    let worst = max_abs_diff(&ours, &theirs);
    assert!(worst < 1e-5, "largest probability difference {worst}");
}

#[test]
fn model_trained_by_python_xgboost_scores_the_same_here() {
    let dir = tempfile::tempdir().unwrap();
    // Our metadata supplies the encoding, so both sides build the same matrix.
    let py = python_model(dir.path());

    let text = std::fs::read_to_string(py.join("model.json")).unwrap();
    let booster = mlops_booster::from_xgboost_json(&text).unwrap();
    assert_eq!(booster.trees.len(), 50);
    let bytes = std::fs::read(py.join("features.f32")).unwrap();
    let x: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let probs = mlops_booster::Predictor::new(&booster)
        .unwrap()
        .predict_proba(&x, booster.num_feature)
        .unwrap();
    let expected = read_json_probabilities(&py.join("probabilities.json"));
    assert_eq!(probs.len(), expected.len());
    let worst = probs
        .iter()
        .zip(&expected)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "largest probability difference {worst}");
}

#[test]
fn python_model_imported_serves_python_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let py = python_model(dir.path());
    let imported = dir.path().join("imported");
    import_xgboost(&py.join("model.json"), &imported);
    let expected = read_json_probabilities(&py.join("probabilities.json"));

    let server = serve(&imported);
    server.wait_healthy();
    let served = server.score(&churn_instances(), 500);
    assert_eq!(served.len(), expected.len());
    let worst = max_abs_diff(&served, &expected);
    assert!(
        worst < 1e-5,
        "largest difference from Python xgboost: {worst}"
    );
}

#[test]
fn python_model_with_pandas_column_order_is_imported_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let py = dir.path().join("py");
    std::fs::create_dir(&py).unwrap();
    interop(&[
        "train-pandas",
        churn_csv().to_str().unwrap(),
        py.to_str().unwrap(),
    ]);
    let imported = dir.path().join("imported");
    import_xgboost(&py.join("model.json"), &imported);
    let expected = read_json_probabilities(&py.join("probabilities.json"));
    // Batch scoring and serving both agree with Python.
    let csv = dir.path().join("batch.csv");
    predict(&imported, &churn_csv(), &csv);
    let batch = read_probabilities(&csv, "churn_probability");
    let server = serve(&imported);
    server.wait_healthy();
    let served = server.score(&churn_instances(), 64);
    for (name, got) in [("batch", &batch), ("server", &served)] {
        assert_eq!(got.len(), expected.len());
        let worst = max_abs_diff(got, &expected);
        assert!(
            worst < 1e-5,
            "{name}: largest difference from Python xgboost: {worst}"
        );
    }
}
