//! The demo data of monitoring end to end: `gen-data --shift/--id-column`, `predict --table`
//! and `gen-outcomes`.

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;

/// A CSV file as a header and rows of cells (the generated tables have no quoted cells).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn column(table: &(Vec<String>, Vec<Vec<String>>), name: &str) -> Vec<String> {
    let i = table.0.iter().position(|h| h == name).unwrap();
    table.1.iter().map(|r| r[i].clone()).collect()
}

fn mean(values: &[String]) -> f64 {
    values
        .iter()
        .map(|v| v.parse::<f64>().unwrap())
        .sum::<f64>()
        / values.len() as f64
}

fn gen(dir: &Path, name: &str, shift: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    ok(mlops()
        .args([
            "gen-data",
            "--rows",
            "20000",
            "--seed",
            "4",
            "--id-column",
            "id",
            "--shift",
            shift,
            "--out",
        ])
        .arg(&out));
    out
}

#[test]
fn shifted_population_predictions_table_and_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let base = gen(dir.path(), "base.csv", "0");
    let shifted = gen(dir.path(), "shifted.csv", "0.5");
    let (b, s) = (read_csv(&base), read_csv(&shifted));
    assert_eq!(b.0[0], "id");
    assert_eq!(column(&b, "id"), column(&s, "id"));
    // The documented columns move; the labels stay.
    let ratio = |c: &str| mean(&column(&s, c)) / mean(&column(&b, c));
    assert!((ratio("tenure") - 0.75).abs() < 0.02, "{}", ratio("tenure"));
    assert!((ratio("monthly_charges") - 1.15).abs() < 0.02);
    let m2m = |t: &(Vec<String>, Vec<Vec<String>>)| {
        column(t, "contract")
            .iter()
            .filter(|c| *c == "Month-to-month")
            .count()
    };
    assert!(m2m(&s) as f64 > m2m(&b) as f64 * 1.15);
    assert_eq!(column(&b, "churn"), column(&s, "churn"));

    // A predictions table of each: the score distribution moves up.
    let model = dir.path().join("model");
    train(&churn_csv(), &model);
    let table = |data: &Path, out: &str| {
        let out = dir.path().join(out);
        ok(predict_command(&model, data, &out).args([
            "--table",
            "--id-column",
            "id",
            "--model-name",
            "churn",
            "--model-version",
            "3",
        ]));
        out
    };
    let pb = read_csv(&table(&base, "pb.csv"));
    let ps = read_csv(&table(&shifted, "ps.csv"));
    assert_eq!(
        pb.0,
        [
            "id",
            "probability",
            "label",
            "model_name",
            "model_version",
            "scored_at"
        ]
    );
    let (mb, ms) = (
        mean(&column(&pb, "probability")),
        mean(&column(&ps, "probability")),
    );
    assert!(ms > mb + 0.03, "mean score {mb} -> {ms}");
    for (p, l) in column(&pb, "probability").iter().zip(column(&pb, "label")) {
        assert_eq!(
            l,
            if p.parse::<f64>().unwrap() >= 0.5 {
                "1"
            } else {
                "0"
            }
        );
    }
    assert!(column(&pb, "model_version").iter().all(|v| v == "3"));

    // Outcomes for half the scored ids: the base table's labels, after scoring time.
    let outcomes = dir.path().join("outcomes.csv");
    let pb_path = dir.path().join("pb.csv");
    ok(mlops()
        .args(["gen-outcomes", "--predictions"])
        .arg(&pb_path)
        .arg("--data")
        .arg(&base)
        .arg("--out")
        .arg(&outcomes)
        .args(["--fraction", "0.5", "--delay-days", "7", "--seed", "2"]));
    let o = read_csv(&outcomes);
    assert_eq!(o.0, ["id", "churned", "outcome_at"]);
    assert_eq!(o.1.len(), 10_000);
    let truth: HashMap<String, String> = column(&b, "id")
        .into_iter()
        .zip(column(&b, "churn"))
        .collect();
    let scored_at = column(&pb, "scored_at")[0].clone();
    for ((id, churned), at) in column(&o, "id")
        .iter()
        .zip(column(&o, "churned"))
        .zip(column(&o, "outcome_at"))
    {
        let expected = if truth[id] == "Yes" { "1" } else { "0" };
        assert_eq!(churned, expected, "{id}");
        // Same format on both sides: text order is time order.
        assert!(at > scored_at, "{at} vs {scored_at}");
    }
    let err = fails(
        mlops()
            .args(["gen-outcomes", "--predictions"])
            .arg(&pb_path)
            .arg("--data")
            .arg(&base)
            .arg("--out")
            .arg(dir.path().join("x.csv"))
            .args(["--fraction", "2"]),
    );
    assert!(err.contains("--fraction must be between 0 and 1"), "{err}");
}
