//! Bad input: each case gives one clear error naming the problem, a non-zero exit, and no

//! partial output.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The shipped CSV with one cell replaced (`row` is the 1-based data row).
fn with_cell(dir: &Path, column: &str, row: usize, value: &str) -> PathBuf {
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let col = lines[0].split(',').position(|h| h == column).unwrap();
    let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
    cells[col] = value.to_string();
    lines[row] = cells.join(",");
    let path = dir.join(format!("{column}_{row}.csv"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The shipped CSV without one column.
fn without_column(dir: &Path, column: &str) -> PathBuf {
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == column).unwrap();
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells.remove(col);
            cells.join(",")
        })
        .collect();
    let path = dir.join(format!("without_{column}.csv"));
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    path
}

fn train_fails(data: &Path, out: &Path) -> String {
    let err = fails(
        mlops()
            .args(["train", "--data"])
            .arg(data)
            .arg("--out")
            .arg(out),
    );
    assert!(!out.exists(), "a failed training left {}", out.display());
    err
}

fn predict_fails(model: &Path, data: &Path, out: &Path) -> String {
    let err = fails(
        mlops()
            .args(["predict", "--model"])
            .arg(model)
            .arg("--data")
            .arg(data)
            .arg("--out")
            .arg(out),
    );
    assert!(!out.exists(), "a failed prediction left {}", out.display());
    let leftovers: Vec<String> = entries(out.parent().unwrap())
        .into_iter()
        .filter(|e| e.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    err
}

/// A trained model shared by the prediction cases.
fn trained(dir: &Path) -> PathBuf {
    let model = dir.join("model");
    train(&churn_csv(), &model);
    model
}

#[test]
fn missing_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = train_fails(&without_column(dir.path(), "tenure"), &dir.path().join("m"));
    assert!(err.contains("missing column(s) `tenure`"), "{err}");
    assert!(err.starts_with("mlops: error:"), "{err}");
}

#[test]
fn non_numeric_value_names_row_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let err = train_fails(
        &with_cell(dir.path(), "monthly_charges", 3, "abc"),
        &dir.path().join("m"),
    );
    assert!(
        err.contains("row 3, column `monthly_charges`: `abc` is not a number"),
        "{err}"
    );
}

#[test]
fn label_with_a_third_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = train_fails(
        &with_cell(dir.path(), "churn", 10, "Maybe"),
        &dir.path().join("m"),
    );
    assert!(
        err.contains("row 10, column `churn`: label is `Maybe`, expected `Yes` or `No`"),
        "{err}"
    );
}

#[test]
fn empty_and_header_only_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let err = train_fails(&empty, &dir.path().join("m"));
    assert!(err.contains("is empty"), "{err}");
    let header = dir.path().join("header.csv");
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    std::fs::write(&header, text.lines().next().unwrap().to_string() + "\n").unwrap();
    let err = train_fails(&header, &dir.path().join("m"));
    assert!(err.contains("has no data rows"), "{err}");
}

#[test]
fn unknown_category_is_refused_at_prediction_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path());
    let data = with_cell(dir.path(), "contract", 5, "Two decades");
    let err = predict_fails(&model, &data, &dir.path().join("out.csv"));
    assert!(
        err.contains("row 5, column `contract`: unknown category `Two decades`"),
        "{err}"
    );
    assert!(
        err.contains("unknown_category: ignore"),
        "the error should say how to accept it: {err}"
    );
}

#[test]
fn truncated_model_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path());
    let path = model.join("model.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = predict_fails(&model, &churn_csv(), &dir.path().join("out.csv"));
    assert!(
        err.contains("invalid model file") && err.contains("model.json"),
        "{err}"
    );
}

#[test]
fn model_and_metadata_that_disagree_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path());
    // Drop one level of `contract` from the metadata: 39 features described, 40 in the model.
    let meta_path = model.join("metadata.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    for col in meta["preprocessor"]["columns"].as_array_mut().unwrap() {
        if col["name"] == "contract" {
            col["levels"].as_array_mut().unwrap().pop();
        }
    }
    let names = meta["feature_names"].as_array_mut().unwrap();
    let pos = names.iter().position(|n| n == "contract=Two year").unwrap();
    names.remove(pos);
    std::fs::write(&meta_path, serde_json::to_string(&meta).unwrap()).unwrap();
    let err = predict_fails(&model, &churn_csv(), &dir.path().join("out.csv"));
    assert!(err.contains("model/schema mismatch"), "{err}");
    assert!(err.contains("40") && err.contains("39"), "{err}");
}

#[test]
fn data_missing_a_model_column_is_refused_at_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path());
    let err = predict_fails(
        &model,
        &without_column(dir.path(), "contract"),
        &dir.path().join("out.parquet"),
    );
    assert!(err.contains("missing column(s) `contract`"), "{err}");
}

#[test]
fn unsupported_output_type_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained(dir.path());
    let err = predict_fails(&model, &churn_csv(), &dir.path().join("out.xlsx"));
    assert!(err.contains("unsupported file type"), "{err}");
}

/// A `--data` that is no table source is a usage error naming the value and every accepted
/// form; nothing is written.
#[test]
fn unusable_source_names_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    for bad in [
        "s3://bucket/t.csv",
        "gs://bucket/t.json",
        "bq://project.dataset",
    ] {
        let out_status = run(mlops().args(["train", "--data", bad, "--out"]).arg(&out));
        assert_eq!(out_status.status.code(), Some(2), "{bad}");
        let err = String::from_utf8(out_status.stderr).unwrap();
        assert!(
            err.contains(&format!("`{bad}` is not a table source"))
                && err.contains("bq://project.dataset.table")
                && err.contains("SELECT or WITH"),
            "{err}"
        );
        assert!(!out.exists());
    }
}

/// A build without the `gcp` feature names it for every source that needs Google Cloud.
#[cfg(not(feature = "gcp"))]
#[test]
fn cloud_sources_without_gcp_name_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    for source in ["bq://p.d.t", "SELECT 1", "gs://bucket/t.csv"] {
        let err = train_fails(Path::new(source), &dir.path().join("model"));
        assert!(
            err.contains(&format!("`{source}`"))
                && err.contains(
                    "this build has no Google Cloud support: build with `--features gcp`"
                ),
            "{err}"
        );
    }
}

/// A query needs a project to run in: without `GCP_PROJECT_ID` the error says so before any
/// request.
#[cfg(feature = "gcp")]
#[test]
fn query_without_a_project_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let err = fails(
        mlops()
            .env_remove("GCP_PROJECT_ID")
            .args(["train", "--data", "SELECT * FROM `p.d.t`", "--out"])
            .arg(&out),
    );
    assert!(
        err.contains("GCP_PROJECT_ID is not set") && err.contains("SELECT * FROM `p.d.t`"),
        "{err}"
    );
    assert!(!out.exists());
}
