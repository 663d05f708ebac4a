//! Google Cloud table sources against real emulators on 127.0.0.1 (feature `cloud-tests`):
//! BigQuery (bqemulator) and Cloud Storage (fake-gcs-server), each started by
//! `tests/python/emulators.py` from `.venv` and stopped with SIGTERM on drop.
//!
//! What the emulators do differently from the real services, and how the tests deal with it
//! (`tests/python/probe_emulators.py` lists every difference):
//! - fake-gcs-server stores the trailing checksum part of the Rust client's single-shot upload
//!   as content, so objects are uploaded here with a plain `uploadType=media` request;
//!   downloads through the client are exact.
//! - bqemulator truncates a TIMESTAMP sent as a JSON number to whole seconds: timestamps are
//!   sent as RFC 3339 text. It cannot create a BIGNUMERIC column, so BIGNUMERIC is checked on
//!   a computed query column. It pads NUMERIC/BIGNUMERIC to their scale (`1.250000000`) and
//!   writes `nan`/`inf` for FLOAT64 (the real service: `1.25`, `NaN`, `Infinity`); the reader
//!   accepts both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlops_core::source::{self, TableSource};
use mlops_gcp::bigquery::BqColumn;
use mlops_gcp::{Auth, Gcp, GcpConfig};
use mlops_pipeline::component::executor_input_json;
use polars::prelude::*;
use serde_json::{json, Map, Value};

use crate::common::*;

const PROJECT: &str = "test-proj";
const DATASET: &str = "mlops";
const BUCKET: &str = "tables";
/// An address nothing listens on: the endpoints a test does not use point here, so no
/// request can leave the machine.
const NOWHERE: &str = "http://127.0.0.1:9";

/// One emulator process (the launcher, which owns the emulator's process group).
struct Emulator {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Emulator {
    /// Start `emulators.py KIND ARGS --port-file F` and wait for the port.
    fn start(kind: &str, args: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("log.txt")).unwrap();
        let mut child = Command::new(python())
            .arg(root().join("tests/python/emulators.py"))
            .arg(kind)
            .args(args)
            .arg("--port-file")
            .arg(&port_file)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start tests/python/emulators.py");
        let started = Instant::now();
        loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return Emulator { child, port, dir };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the {kind} emulator exited ({status}):\n{}",
                    std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the {kind} emulator did not start in 120 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn bigquery() -> Emulator {
        Emulator::start("bq", &["--project", PROJECT, "--dataset", DATASET])
    }

    fn storage() -> Emulator {
        Emulator::start("gcs", &[])
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGTERM lets the launcher stop the emulator's whole process group.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("emulator log kept in {}", self.dir.path().display());
    }
}

/// A handle on the emulators: loopback endpoints, no credentials.
fn gcp(bq: Option<&Emulator>, gcs: Option<&Emulator>) -> Gcp {
    let mut config = GcpConfig::new(PROJECT, "us-central1").all_endpoints(NOWHERE);
    if let Some(bq) = bq {
        config.bigquery_endpoint = format!("{}/bigquery/v2", bq.url());
    }
    if let Some(gcs) = gcs {
        config.storage_endpoint = gcs.url();
    }
    config.auth = Auth::Anonymous;
    config.max_attempts = 2;
    Gcp::new(config).unwrap()
}

/// The environment a binary reads its connection from ([`source::gcp_config_from_env`]).
fn with_emulators<'a>(
    cmd: &'a mut Command,
    bq: Option<&Emulator>,
    gcs: Option<&Emulator>,
) -> &'a mut Command {
    cmd.env("GCP_PROJECT_ID", PROJECT)
        .env("MLOPS_GCP_AUTH", "anonymous")
        .env(
            "BIGQUERY_EMULATOR_HOST",
            bq.map_or(NOWHERE.to_string(), Emulator::url),
        )
        // gcloud's spelling: host and port, no scheme.
        .env(
            "STORAGE_EMULATOR_HOST",
            gcs.map_or("127.0.0.1:9".to_string(), Emulator::addr),
        )
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
}

fn column(name: &str, ty: &str) -> BqColumn {
    BqColumn::new(name, ty, "")
}

fn row(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

const N38: &str = "12345678901234567890123456789.123456789";
const N38_MIN: &str = "-99999999999999999999999999999.999999999";

/// A table with every mapped type: a full row, a row of NULLs, pre-1970 and extreme values.
fn create_typed_table(gcp: &Gcp) {
    let schema = [
        column("id", "INTEGER"),
        column("s", "STRING"),
        column("i", "INT64"),
        column("f", "FLOAT64"),
        column("b", "BOOLEAN"),
        column("ts", "TIMESTAMP"),
        column("d", "DATE"),
        column("dt", "DATETIME"),
        column("n", "NUMERIC"),
        column("t", "TIME"),
    ];
    assert!(gcp.ensure_table(DATASET, "typed", &schema).unwrap());
    let rows = [
        row(&[
            ("id", json!(1)),
            ("s", json!("a,b \"quoted\" é")),
            ("i", json!("-5")),
            ("f", json!(1.5)),
            ("b", json!(true)),
            // Text, not a number: the emulator truncates numeric timestamps to seconds.
            ("ts", json!("2024-01-02T03:04:05.123456Z")),
            ("d", json!("2024-01-02")),
            ("dt", json!("2024-01-02T03:04:05.123456")),
            ("n", json!(N38)),
            ("t", json!("03:04:05.123456")),
        ]),
        row(&[("id", json!(2))]),
        row(&[
            ("id", json!(3)),
            ("s", json!("")),
            ("i", json!("9223372036854775807")),
            ("f", json!(-0.1)),
            ("b", json!(false)),
            ("ts", json!("1969-12-31T23:59:59.999999Z")),
            ("d", json!("1969-12-31")),
            ("dt", json!("1900-01-01T00:00:00")),
            ("n", json!("-0.000000001")),
            ("t", json!("00:00:00")),
        ]),
        row(&[
            ("id", json!(4)),
            ("i", json!("-9223372036854775808")),
            ("f", json!(1e-300)),
            ("ts", json!("0001-01-01T00:00:00Z")),
            ("d", json!("0001-01-01")),
            ("dt", json!("9999-12-31T23:59:59.999999")),
            ("n", json!(N38_MIN)),
        ]),
    ];
    let ids: Vec<String> = (1..=rows.len()).map(|i| format!("typed-{i}")).collect();
    gcp.insert_rows(DATASET, "typed", &rows, &ids).unwrap();
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

/// Row positions by `id` (a query without ORDER BY may return rows in any order).
fn rows_by_id(df: &DataFrame) -> Vec<usize> {
    let ids = df.column("id").unwrap().i64().unwrap();
    (1..=4)
        .map(|want| {
            ids.iter()
                .position(|id| id == Some(want))
                .unwrap_or_else(|| panic!("no row with id {want}"))
        })
        .collect()
}

/// Every value of the typed table, exactly, with its type.
fn check_typed(df: &DataFrame) {
    assert_eq!(df.height(), 4);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(names, ["id", "s", "i", "f", "b", "ts", "d", "dt", "n", "t"]);
    let at = rows_by_id(df);
    let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let dtype = |c: &str| df.column(c).unwrap().dtype().clone();
    assert_eq!(dtype("id"), DataType::Int64);
    assert_eq!(dtype("ts"), utc);
    assert_eq!(dtype("d"), DataType::Date);
    assert_eq!(
        dtype("dt"),
        DataType::Datetime(TimeUnit::Microseconds, None)
    );
    assert_eq!(dtype("n"), DataType::Decimal(38, 9));
    assert_eq!(dtype("t"), DataType::String);

    let s = df.column("s").unwrap().str().unwrap();
    assert_eq!(
        at.iter().map(|&r| s.get(r)).collect::<Vec<_>>(),
        [Some("a,b \"quoted\" é"), None, Some(""), None]
    );
    let i = df.column("i").unwrap().i64().unwrap();
    assert_eq!(
        at.iter().map(|&r| i.get(r)).collect::<Vec<_>>(),
        [Some(-5), None, Some(i64::MAX), Some(i64::MIN)]
    );
    let f = df.column("f").unwrap().f64().unwrap();
    assert_eq!(
        at.iter().map(|&r| f.get(r)).collect::<Vec<_>>(),
        [Some(1.5), None, Some(-0.1), Some(1e-300)]
    );
    let b = df.column("b").unwrap().bool().unwrap();
    assert_eq!(
        at.iter().map(|&r| b.get(r)).collect::<Vec<_>>(),
        [Some(true), None, Some(false), None]
    );
    let ts = df.column("ts").unwrap().datetime().unwrap().physical();
    assert_eq!(
        at.iter().map(|&r| ts.get(r)).collect::<Vec<_>>(),
        [
            Some(1_704_164_645_123_456),
            None,
            Some(-1),
            Some(-62_135_596_800_000_000)
        ]
    );
    let d = df.column("d").unwrap().date().unwrap().physical();
    assert_eq!(
        at.iter().map(|&r| d.get(r)).collect::<Vec<_>>(),
        [Some(19_724), None, Some(-1), Some(-719_162)]
    );
    let dt = df.column("dt").unwrap().datetime().unwrap().physical();
    assert_eq!(
        at.iter().map(|&r| dt.get(r)).collect::<Vec<_>>(),
        [
            Some(1_704_164_645_123_456),
            None,
            Some(-2_208_988_800_000_000),
            Some(253_402_300_799_999_999)
        ]
    );
    let n = df.column("n").unwrap().decimal().unwrap().physical();
    assert_eq!(
        at.iter().map(|&r| n.get(r)).collect::<Vec<_>>(),
        [
            Some(12_345_678_901_234_567_890_123_456_789_123_456_789),
            None,
            Some(-1),
            Some(-99_999_999_999_999_999_999_999_999_999_999_999_999)
        ]
    );
    let t = df.column("t").unwrap().str().unwrap();
    assert_eq!(
        at.iter().map(|&r| t.get(r)).collect::<Vec<_>>(),
        [Some("03:04:05.123456"), None, Some("00:00:00"), None]
    );
}

/// `fetch` of a `bq://` table, and of a query page by page, give typed Parquet with every
/// value exact; `extract_data` (the component binary, connection from the environment) on a
/// query writes the same table and records the source and the fingerprint of what it read.
#[test]
fn bigquery_types_arrive_exactly_through_fetch_and_extract_data() {
    let bq = Emulator::bigquery();
    let gcp = gcp(Some(&bq), None);
    create_typed_table(&gcp);
    let scratch = tempfile::tempdir().unwrap();

    let table: TableSource = format!("bq://{PROJECT}.{DATASET}.typed").parse().unwrap();
    let path = source::fetch(&table, Some(&gcp), scratch.path()).unwrap();
    assert_eq!(path, scratch.path().join("test-proj.mlops.typed.parquet"));
    let fetched = read_parquet(&path);
    check_typed(&fetched);

    // Two rows a page: two row groups, same values.
    let sql = format!("SELECT * FROM `{PROJECT}.{DATASET}.typed` ORDER BY id");
    let query: TableSource = sql.parse().unwrap();
    let paged = scratch.path().join("paged.parquet");
    let rows = source::bigquery::query_to_parquet(&gcp, &sql, 2, &paged, &query).unwrap();
    assert_eq!(rows, 4);
    let mut reader = ParquetReader::new(std::fs::File::open(&paged).unwrap());
    assert_eq!(reader.get_metadata().unwrap().row_groups.len(), 2);
    check_typed(&reader.finish().unwrap());

    // The component, as a pipeline step runs it.
    let work = tempfile::tempdir().unwrap();
    let dataset = work.path().join("dataset");
    let output_file = work.path().join("executor_output.json");
    let params: Map<String, Value> = [("source".to_string(), json!(sql))].into_iter().collect();
    let input = executor_input_json(&params, &[], &[("dataset", &dataset)], &output_file);
    let mut cmd = Command::new(Path::new(env!("CARGO_BIN_EXE_mlops-component")));
    cmd.current_dir(work.path())
        .args(["--executor-input", &input, "--component", "extract_data"]);
    ok(with_emulators(&mut cmd, Some(&bq), None));
    let extracted = read_parquet(&dataset.join(data_components::DATA_FILE));
    check_typed(&extracted);
    let output: Value =
        serde_json::from_str(&std::fs::read_to_string(&output_file).unwrap()).unwrap();
    let meta = &output["artifacts"]["dataset"]["artifacts"][0]["metadata"];
    assert_eq!(meta["source"], json!(sql));
    assert_eq!(meta["rows"], json!(4));
    assert_eq!(meta["columns"], json!(10));
    assert!(
        meta["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:") && f.len() == 71),
        "{meta}"
    );
}

/// Computed query columns: BIGNUMERIC as its exact text, NUMERIC exact, NaN and infinities.
#[test]
fn query_columns_keep_bignumeric_text_and_special_floats() {
    let bq = Emulator::bigquery();
    let gcp = gcp(Some(&bq), None);
    let scratch = tempfile::tempdir().unwrap();
    let sql = "SELECT BIGNUMERIC '1.5' AS bn, NUMERIC '1.25' AS n, \
               CAST('NaN' AS FLOAT64) AS nan, CAST('-inf' AS FLOAT64) AS ninf";
    let path = source::fetch(&sql.parse().unwrap(), Some(&gcp), scratch.path()).unwrap();
    assert_eq!(path, scratch.path().join("query.parquet"));
    let df = read_parquet(&path);
    let bn = df.column("bn").unwrap().str().unwrap().get(0).unwrap();
    // The emulator pads to its scale (1.5000000000); the real service sends 1.5.
    assert_eq!(bn.trim_end_matches('0'), "1.5", "{bn}");
    let n = df.column("n").unwrap();
    assert_eq!(n.dtype(), &DataType::Decimal(38, 9));
    assert_eq!(n.decimal().unwrap().physical().get(0), Some(1_250_000_000));
    assert!(df
        .column("nan")
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap()
        .is_nan());
    assert_eq!(
        df.column("ninf").unwrap().f64().unwrap().get(0),
        Some(f64::NEG_INFINITY)
    );
}

/// The shipped table as typed BigQuery columns (numbers as numbers, empty cells as NULL).
fn load_churn(gcp: &Gcp) -> usize {
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let ty = |name: &str| match name {
        "tenure" | "female" | "senior_citizen" | "partner" | "dependents" | "phone_service"
        | "paperless_billing" => "INTEGER",
        "monthly_charges" | "total_charges" => "FLOAT",
        _ => "STRING",
    };
    let schema: Vec<BqColumn> = header.iter().map(|h| column(h, ty(h))).collect();
    gcp.ensure_table(DATASET, "wa_churn", &schema).unwrap();
    let rows: Vec<Map<String, Value>> = lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .filter(|(_, cell)| !cell.is_empty())
                .map(|(name, cell)| {
                    let value = match ty(name) {
                        "INTEGER" => json!(cell.parse::<i64>().unwrap()),
                        "FLOAT" => json!(cell.parse::<f64>().unwrap()),
                        _ => json!(cell),
                    };
                    (name.to_string(), value)
                })
                .collect()
        })
        .collect();
    let ids: Vec<String> = (0..rows.len()).map(|i| format!("churn-{i}")).collect();
    gcp.insert_rows(DATASET, "wa_churn", &rows, &ids).unwrap();
    rows.len()
}

fn train_json(data: &str, out: &Path, bq: Option<&Emulator>, gcs: Option<&Emulator>) -> Value {
    let mut cmd = mlops();
    cmd.args(["train", "--json", "--data", data, "--out"])
        .arg(out);
    serde_json::from_str(&ok(with_emulators(&mut cmd, bq, gcs))).unwrap()
}

/// `mlops train --data bq://...` on the shipped table loaded into BigQuery trains on every
/// row, with the same train/test partition as the CSV (rows hash by their cells' text);
/// `evaluate` and `predict` take a query.
#[test]
fn train_evaluate_and_predict_from_bigquery() {
    let bq = Emulator::bigquery();
    let gcp = gcp(Some(&bq), None);
    let loaded = load_churn(&gcp);
    assert_eq!(loaded, 7043);
    let dir = tempfile::tempdir().unwrap();

    let csv = churn_csv();
    let from_csv = train_json(csv.to_str().unwrap(), &dir.path().join("csv"), None, None);
    let source = format!("bq://{PROJECT}.{DATASET}.wa_churn");
    let model = dir.path().join("bq");
    let from_bq = train_json(&source, &model, Some(&bq), None);
    let train_rows = from_bq["train_rows"].as_u64().unwrap();
    let test_rows = from_bq["rows"].as_u64().unwrap();
    assert_eq!(train_rows + test_rows, 7043, "{from_bq}");
    assert_eq!(from_bq["train_rows"], from_csv["train_rows"]);
    assert_eq!(from_bq["rows"], from_csv["rows"]);

    let sql = format!("SELECT * FROM `{PROJECT}.{DATASET}.wa_churn` WHERE tenure >= 0");
    let mut cmd = mlops();
    cmd.args(["evaluate", "--json", "--data", &sql, "--model"])
        .arg(&model);
    let on_bq: Value =
        serde_json::from_str(&ok(with_emulators(&mut cmd, Some(&bq), None))).unwrap();
    let on_csv = evaluate_json(&model, &csv);
    assert_eq!(on_bq["rows"], json!(7043));
    for metric in ["auc", "logloss", "accuracy"] {
        let (a, b) = (
            on_bq[metric].as_f64().unwrap(),
            on_csv[metric].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-9, "{metric}: {a} vs {b}");
    }

    let scores = dir.path().join("scores.csv");
    let mut cmd = mlops();
    cmd.args(["predict", "--data", &sql, "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&scores);
    ok(with_emulators(&mut cmd, Some(&bq), None));
    assert_eq!(read_probabilities(&scores, "churn_probability").len(), 7043);
}

/// Upload with a plain media request (fake-gcs-server stores the Rust client's trailing
/// checksum part as content).
fn upload(gcs: &Emulator, object: &str, text: &str) {
    let (status, body) = mlops_serving::testing::http(
        &gcs.addr(),
        "POST",
        &format!("/storage/v1/b?project={PROJECT}"),
        Some(&json!({"name": BUCKET}).to_string()),
    );
    assert!(
        status == 200 || status == 409,
        "create bucket: {status} {body}"
    );
    let name = object.replace('/', "%2F");
    let (status, body) = mlops_serving::testing::http(
        &gcs.addr(),
        "POST",
        &format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}"),
        Some(text),
    );
    assert_eq!(status, 200, "upload: {body}");
}

/// `fetch` downloads a `gs://` object byte for byte, keeping its name; `mlops train` from it
/// trains as from the local file.
#[test]
fn train_from_cloud_storage() {
    let gcs = Emulator::storage();
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    upload(&gcs, "churn/wa_churn.csv", &text);
    let gcp = gcp(None, Some(&gcs));
    let scratch = tempfile::tempdir().unwrap();
    let object: TableSource = format!("gs://{BUCKET}/churn/wa_churn.csv").parse().unwrap();
    // Outside Vertex AI (no /gcs mount here): a download.
    let path: PathBuf = source::fetch_with_mount(
        &object,
        Some(&gcp),
        scratch.path(),
        &scratch.path().join("no-gcs"),
    )
    .unwrap();
    assert_eq!(path, scratch.path().join("wa_churn.csv"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    let dir = tempfile::tempdir().unwrap();
    let from_csv = train_json(
        churn_csv().to_str().unwrap(),
        &dir.path().join("csv"),
        None,
        None,
    );
    let from_gcs = train_json(
        &format!("gs://{BUCKET}/churn/wa_churn.csv"),
        &dir.path().join("gcs"),
        None,
        Some(&gcs),
    );
    assert_eq!(from_gcs["train_rows"], from_csv["train_rows"]);
    assert_eq!(from_gcs["rows"], from_csv["rows"]);
    assert_eq!(from_gcs["auc"], from_csv["auc"]);
    let bundle = |d: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(d).join("metadata.json")).unwrap(),
        )
        .unwrap()
    };
    // Same bytes, same fingerprint.
    let fingerprint = bundle("gcs")["data_fingerprint"].clone();
    assert!(fingerprint
        .as_str()
        .is_some_and(|f| f.starts_with("sha256:")));
    assert_eq!(fingerprint, bundle("csv")["data_fingerprint"]);
}
