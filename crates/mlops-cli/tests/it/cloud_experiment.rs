//! `mlops experiment run` in nprod against the loopback Vertex AI fake: the run is kept in the
//! local store and logged to Vertex AI Experiments as the Python SDK logs one (the `default`
//! metadata store, a `system.Experiment` context, a `system.ExperimentRun` child with
//! `_params`, `_metrics` and `_state`), every body valid for the aiplatform v1 discovery
//! document.

use serde_json::{json, Value};

use crate::common::{churn_csv, ok, root};
use crate::gcp::{mlops_cloud, Fake, PROJECT, REGION};

const METHODS: &str = "aiplatform.projects.locations.metadataStores";

#[test]
fn experiment_run_in_nprod_logs_to_vertex_ai_experiments() {
    let fake = Fake::start();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let run = |model_type: &str, params: &[&str]| -> Value {
        let mut cmd = mlops_cloud(&fake);
        cmd.current_dir(tmp.path())
            .args(["experiment", "run", "--experiment", "churn-vertex"])
            .args(["--model-type", model_type])
            .arg("--data")
            .arg(churn_csv())
            .arg("--config")
            .arg(root().join("config/model.yaml"))
            .arg("--store")
            .arg(&store)
            .args(["--cv", "2", "--json"]);
        for p in params {
            cmd.args(["--param", p]);
        }
        serde_json::from_str(&ok(&mut cmd)).unwrap()
    };
    let first = run("logistic_regression", &["alpha=0.5"]);
    let second = run("decision_tree", &["max_depth=4"]);

    let store_name = format!("projects/{PROJECT}/locations/{REGION}/metadataStores/default");
    let experiment = format!("{store_name}/contexts/churn-vertex");
    // The store is created once (missing on the first run), then found.
    assert_eq!(fake.requests_to(&format!("{METHODS}.create")).len(), 1);
    assert_eq!(fake.requests_to(&format!("{METHODS}.get")).len(), 2);

    let created = fake.requests_to(&format!("{METHODS}.contexts.create"));
    assert_eq!(created.len(), 3, "{created:#?}"); // the experiment once, two runs
    let body = &created[0]["body"];
    assert_eq!(created[0]["query"]["contextId"][0], "churn-vertex");
    assert_eq!(body["schemaTitle"], "system.Experiment");
    assert_eq!(body["schemaVersion"], "0.0.1");
    assert_eq!(body["metadata"], json!({"experiment_deleted": false}));

    let (_, state) = fake.control("GET", "/_fake/state", None);
    let contexts: Vec<&Value> = state["metadata"].as_array().unwrap().iter().collect();
    for (local, n) in [(&first, 1), (&second, 2)] {
        let run_id = local["run_id"].as_str().unwrap();
        let name = format!("{experiment}-{run_id}");
        assert_eq!(local["vertex_run"], name.as_str());
        let create = &created[n];
        assert_eq!(
            create["query"]["contextId"][0],
            format!("churn-vertex-{run_id}").as_str()
        );
        assert_eq!(create["body"]["schemaTitle"], "system.ExperimentRun");
        assert_eq!(create["body"]["displayName"], run_id);
        assert_eq!(create["body"]["metadata"]["_state"], "RUNNING");
        let ctx = contexts
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap();
        assert_eq!(ctx["parentContexts"], json!([experiment]));
        let metadata = &ctx["metadata"];
        assert_eq!(metadata["_state"], "COMPLETE");
        assert_eq!(metadata["_params"]["model_type"], local["model_type"]);
        assert_eq!(metadata["_params"]["cv_folds"], 2);
        assert_eq!(metadata["_params"]["data_sha256"], local["data"]["sha256"]);
        let local_auc = local["metrics"]["cv_auc_mean"].as_f64().unwrap();
        assert!((metadata["_metrics"]["cv_auc_mean"].as_f64().unwrap() - local_auc).abs() < 1e-12);
        assert!(metadata["_metrics"]["test_auc"].is_number());
        assert!(store
            .join("churn-vertex")
            .join(run_id)
            .join("run.json")
            .is_file());
    }
    assert_eq!(first["params"]["alpha"], 0.5);
    let patches = fake.requests_to(&format!("{METHODS}.contexts.patch"));
    assert_eq!(patches.len(), 6); // params, metrics, state, per run
    assert!(patches
        .iter()
        .all(|p| p["query"]["updateMask"][0] == "metadata"));
    let children = fake.requests_to(&format!("{METHODS}.contexts.addContextChildren"));
    assert_eq!(children.len(), 2);
    fake.assert_no_violations();
}
