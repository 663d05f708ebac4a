//! The training pipeline against the cloud stand-ins, end to end: data extracted from a
//! BigQuery table (bqemulator), a `gs://` pipeline root (fake-gcs-server) and registration in
//! the Vertex AI Model Registry (the loopback fake), every request validated against Google's
//! discovery documents. Then batch predictions written to a BigQuery table and read back.

use mlops_gcp::bigquery::BqColumn;
use mlops_gcp::{Auth, Gcp, GcpConfig};
use serde_json::{json, Map, Value};

use crate::common::{churn_csv, mlops, ok, run};
use crate::gcp::{bq_emulator, gcs_emulator, Fake, Process, BUCKET, PROJECT, REGION};

const DATASET: &str = "mlops";

/// Emulators behind the validating fake, a bucket, and the churn table in BigQuery.
struct Cloud {
    fake: Fake,
    _gcs: Process,
    _bq: Process,
}

fn gcp(fake: &Fake) -> Gcp {
    let mut config = GcpConfig::new(PROJECT, REGION).all_endpoints(&fake.url());
    config.auth = Auth::Anonymous;
    Gcp::new(config).unwrap()
}

/// wa_churn.csv's columns as BigQuery types.
fn churn_schema(header: &[&str]) -> Vec<BqColumn> {
    header
        .iter()
        .map(|c| {
            let ty = match *c {
                "monthly_charges" | "total_charges" => "FLOAT",
                "tenure" | "female" | "senior_citizen" | "partner" | "dependents"
                | "phone_service" | "paperless_billing" => "INTEGER",
                _ => "STRING",
            };
            BqColumn::new(c, ty, "")
        })
        .collect()
}

impl Cloud {
    fn start() -> Cloud {
        let gcs = gcs_emulator();
        let bq = bq_emulator(PROJECT, DATASET);
        let fake = Fake::start_with(&["--gcs-upstream", &gcs.url(), "--bq-upstream", &bq.url()]);
        let (status, body) = fake.control(
            "POST",
            &format!("/storage/v1/b?project={PROJECT}"),
            Some(&json!({"name": BUCKET})),
        );
        assert!(status < 300, "{status} {body}");
        // The shipped table, loaded into BigQuery with typed columns (empty cells are NULL).
        let text = std::fs::read_to_string(churn_csv()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let schema = churn_schema(&header);
        let rows: Vec<Map<String, Value>> = lines
            .map(|line| {
                header
                    .iter()
                    .zip(line.split(','))
                    .zip(&schema)
                    .map(|((name, cell), col)| {
                        let v = match (cell.trim(), col.field_type.as_str()) {
                            ("", _) => Value::Null,
                            (c, "INTEGER") => json!(c.parse::<i64>().unwrap()),
                            (c, "FLOAT") => json!(c.parse::<f64>().unwrap()),
                            (c, _) => json!(c),
                        };
                        (name.to_string(), v)
                    })
                    .collect()
            })
            .collect();
        let gcp = gcp(&fake);
        gcp.ensure_table(DATASET, "wa_churn", &schema).unwrap();
        let ids: Vec<String> = (0..rows.len()).map(|i| format!("row-{i}")).collect();
        gcp.insert_rows(DATASET, "wa_churn", &rows, &ids).unwrap();
        Cloud {
            fake,
            _gcs: gcs,
            _bq: bq,
        }
    }

    /// `mlops` with every endpoint on the fake, anonymous credentials.
    fn mlops(&self, environment: &str) -> std::process::Command {
        let url = self.fake.url();
        let mut cmd = mlops();
        cmd.env("ENVIRONMENT", environment)
            .env("GCP_PROJECT_ID", PROJECT)
            .env("GCP_REGION", REGION)
            .env("PIPELINE_BUCKET", format!("gs://{BUCKET}"))
            .env("IMAGE_TAG", "abc123def456")
            .env("MLOPS_GCP_AUTH", "anonymous")
            .env("MLOPS_VERTEX_ENDPOINT", &url)
            .env("MLOPS_MONITORING_ENDPOINT", &url)
            .env("STORAGE_EMULATOR_HOST", &url)
            .env("BIGQUERY_EMULATOR_HOST", &url)
            .env(
                "GCE_METADATA_HOST",
                format!("127.0.0.1:{}", self.fake.process.port),
            );
        cmd
    }
}

#[test]
fn training_reads_bigquery_writes_to_the_bucket_and_registers_on_vertex() {
    let cloud = Cloud::start();
    let local_root = tempfile::tempdir().unwrap();
    let registry = format!("vertex://projects/{PROJECT}/locations/{REGION}");
    let train = |job: &str| {
        let out = run(cloud
            .mlops("local")
            .env("MLOPS_LOCAL_ROOT", local_root.path())
            .args(["pipelines", "run", "training", "--no-cache"])
            .args(["--pipeline-root", &format!("gs://{BUCKET}/root")])
            .args([
                "--param",
                &format!("data_path=bq://{PROJECT}.{DATASET}.wa_churn"),
            ])
            .args(["--param", &format!("registry={registry}")])
            .args(["--param", "model_name=churn_churn"])
            .args([
                "--param",
                "serving_image=registry.example/churn-mlops-serve:abc",
            ])
            .args(["--param", "n_estimators=40"])
            .args(["--json"]));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{job}: {stderr}");
        let record: Value = serde_json::from_slice(&out.stdout).unwrap();
        record
    };
    let first = train("first run");
    let tasks = &first["tasks"];
    assert_eq!(
        tasks["extract-data"]["outputs"]["artifacts"]["dataset"]["metadata"]["rows"],
        json!(7043)
    );

    let uploads = cloud
        .fake
        .requests_to("aiplatform.projects.locations.models.upload");
    assert_eq!(uploads.len(), 1, "{uploads:#?}");
    let model = &uploads[0]["body"]["model"];
    let artifact = model["artifactUri"].as_str().unwrap();
    assert!(
        artifact.starts_with(&format!("gs://{BUCKET}/root/")),
        "{artifact}"
    );
    assert_eq!(
        model["containerSpec"]["imageUri"],
        json!("registry.example/churn-mlops-serve:abc")
    );
    assert_eq!(model["containerSpec"]["command"], json!(["mlops-serve"]));
    let listed = ok(cloud.mlops("nprod").args(["models", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.trim_start().starts_with('1') && l.contains("champion")),
        "{listed}"
    );

    // The same data and seed again: the candidate ties the champion (read back from its gs://
    // artifactUri), so nothing new is registered.
    let second = train("second run");
    let compare = &second["tasks"]["compare-champion"]["outputs"]["parameters"];
    assert_eq!(compare["champion_version"], json!("1"), "{compare}");
    assert_eq!(compare["is_better"], json!(false), "{compare}");
    assert_eq!(
        cloud
            .fake
            .requests_to("aiplatform.projects.locations.models.upload")
            .len(),
        1
    );
    cloud.fake.assert_no_violations();
}

#[test]
fn predictions_land_in_a_bigquery_table_and_read_back() {
    let cloud = Cloud::start();
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    crate::common::train(&churn_csv(), &model);
    let table = format!("bq://{PROJECT}.{DATASET}.predictions");
    ok(cloud
        .mlops("local")
        .args(["predict", "--model"])
        .arg(&model)
        .args([
            "--data",
            &format!("bq://{PROJECT}.{DATASET}.wa_churn"),
            "--out",
            &table,
        ]));
    // Read back through BigQuery, and compare with the same model scoring the CSV locally.
    let local = work.path().join("local.csv");
    ok(mlops()
        .args(["predict", "--model"])
        .arg(&model)
        .args(["--data"])
        .arg(churn_csv())
        .args(["--out"])
        .arg(&local));
    let mut expected: Vec<f64> = std::fs::read_to_string(&local)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    let gcp = gcp(&cloud.fake);
    let mut got: Vec<f64> = Vec::new();
    let mut columns = Vec::new();
    gcp.query(
        &format!("SELECT * FROM `{PROJECT}.{DATASET}.predictions`"),
        1000,
        &mut |schema, rows| {
            columns = schema.iter().map(|c| c.name.clone()).collect();
            let at = schema.iter().position(|c| c.name == "probability").unwrap();
            for r in rows {
                got.push(r[at].as_deref().unwrap().parse().unwrap());
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        columns,
        [
            "id",
            "probability",
            "label",
            "model_name",
            "model_version",
            "scored_at"
        ],
        "the declared predictions-table schema"
    );
    // The same scores (f32 in both files; the CSV prints them shortest-round-trip).
    expected.sort_by(f64::total_cmp);
    got.sort_by(f64::total_cmp);
    assert_eq!(got.len(), expected.len());
    let worst = crate::common::max_abs_diff(&got, &expected);
    assert!(
        worst < 1e-6,
        "BigQuery holds other probabilities than the local scoring (max diff {worst})"
    );
    cloud.fake.assert_no_violations();
}

/// The inference and monitoring pipelines with their nprod tables: batch-predict appends to a
/// BigQuery predictions table (streamed, declared schema), prediction-drift writes its metrics
/// to BigQuery and Cloud Monitoring, and performance-monitoring queries the window of
/// predictions back from BigQuery and joins them with the outcomes.
#[test]
fn inference_and_monitoring_pipelines_use_the_bigquery_predictions_table() {
    let cloud = Cloud::start();
    let local_root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let pipeline = |args: &[&str]| -> Value {
        let out = run(cloud
            .mlops("local")
            .env("MLOPS_LOCAL_ROOT", local_root.path())
            .args(["pipelines", "run"])
            .args(args)
            .args(["--no-cache", "--json"]));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{args:?}: {stderr}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // A champion in the local registry.
    pipeline(&[
        "training",
        "--param",
        &format!("data_path={}", churn_csv().display()),
        "--param",
        "n_estimators=40",
    ]);
    let customers = work.path().join("customers.parquet");
    ok(mlops()
        .args([
            "gen-data",
            "--rows",
            "3000",
            "--seed",
            "5",
            "--id-column",
            "id",
            "--out",
        ])
        .arg(&customers));
    let predictions = format!("predictions_table=bq://{PROJECT}.{DATASET}.scored");
    let metrics = format!("metrics_table=bq://{PROJECT}.{DATASET}.monitoring_metrics");
    let inference = pipeline(&[
        "inference",
        "--param",
        &format!("data_path={}", customers.display()),
        "--param",
        "id_column=id",
        "--param",
        &predictions,
        "--param",
        &metrics,
    ]);
    let tasks = &inference["tasks"];
    assert_eq!(
        tasks["batch-predict"]["outputs"]["parameters"]["rows"],
        json!(3000)
    );
    assert_eq!(
        tasks["prediction-drift"]["outputs"]["parameters"]["drift_detected"],
        json!(false)
    );

    // Every scored row is in BigQuery once, with its id and the champion's version.
    let gcp = gcp(&cloud.fake);
    let mut read = Vec::new();
    gcp.query(
        &format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, MIN(model_version) AS v \
             FROM `{PROJECT}.{DATASET}.scored`"
        ),
        10,
        &mut |_, rows| {
            read.extend(rows);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(read[0][0].as_deref(), Some("3000"), "{read:?}");
    assert_eq!(read[0][1].as_deref(), Some("3000"), "{read:?}");
    assert_eq!(read[0][2].as_deref(), Some("1"), "{read:?}");

    // Outcomes for 80 % of the customers, then the monitoring pipeline reads the window of
    // predictions back from BigQuery.
    let scored = tasks["batch-predict"]["outputs"]["artifacts"]["predictions"]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let outcomes = work.path().join("outcomes");
    std::fs::create_dir_all(&outcomes).unwrap();
    ok(mlops()
        .args(["gen-outcomes", "--predictions"])
        .arg(std::path::Path::new(&scored).join("data.parquet"))
        .arg("--data")
        .arg(&customers)
        .arg("--out")
        .arg(outcomes.join("o.parquet")));
    let monitoring = pipeline(&[
        "monitoring",
        "--param",
        &predictions,
        "--param",
        &format!("outcomes_table={}", outcomes.display()),
        "--param",
        "id_column=id",
        "--param",
        &metrics,
    ]);
    let perf = &monitoring["tasks"]["performance-monitoring"]["outputs"]["parameters"];
    let without = perf["rows_without_outcome"].as_i64().unwrap();
    assert!((400..=800).contains(&without), "{perf}");
    assert!(perf["auc"].as_f64().unwrap() > 0.7, "{perf}");
    let queries = cloud.fake.requests_to("bigquery.jobs.query");
    assert!(
        queries.iter().any(|q| q["body"]["query"]
            .as_str()
            .is_some_and(|s| s.contains("scored_at >= TIMESTAMP"))),
        "the window is queried, not the whole table"
    );
    assert!(!cloud
        .fake
        .requests_to("monitoring.projects.timeSeries.create")
        .is_empty());
    cloud.fake.assert_no_violations();
}
