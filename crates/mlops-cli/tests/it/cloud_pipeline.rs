//! The training pipeline against the cloud stand-ins, end to end: data extracted from a
//! BigQuery table (bqemulator), a `gs://` pipeline root (fake-gcs-server) and registration in
//! the Vertex AI Model Registry (the loopback fake), every request validated against Google's
//! discovery documents. Then batch predictions written to a BigQuery table and read back.

use std::collections::BTreeMap;

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
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&local).unwrap().lines().skip(1) {
        let p: f64 = line.split(',').next().unwrap().parse().unwrap();
        *expected.entry(format!("{p:.6}")).or_default() += 1;
    }
    let gcp = gcp(&cloud.fake);
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    let mut columns = Vec::new();
    gcp.query(
        &format!("SELECT * FROM `{PROJECT}.{DATASET}.predictions`"),
        1000,
        &mut |schema, rows| {
            columns = schema.iter().map(|c| c.name.clone()).collect();
            let at = schema
                .iter()
                .position(|c| c.name == "churn_probability")
                .unwrap();
            for r in rows {
                let p: f64 = r[at].as_deref().unwrap().parse().unwrap();
                *got.entry(format!("{p:.6}")).or_default() += 1;
            }
            Ok(())
        },
    )
    .unwrap();
    assert!(
        columns.contains(&"churn_predicted".to_string()),
        "{columns:?}"
    );
    assert_eq!(
        got, expected,
        "BigQuery holds other probabilities than the local scoring"
    );
    cloud.fake.assert_no_violations();
}
