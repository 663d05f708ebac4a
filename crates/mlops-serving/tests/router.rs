//! The HTTP contract, driven through the router without a socket: health, predict, every 4xx,
//! and ten thousand malformed requests that must never produce a 5xx.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use mlops_model::ModelBundle;
use mlops_serving::{app, AppState, ServeConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn config() -> ServeConfig {
    ServeConfig::from_lookup(|k| match k {
        "AIP_STORAGE_URI" => Some(fixtures().join("churn_model").display().to_string()),
        "MLOPS_ACCESS_LOG" => Some("false".into()),
        _ => None,
    })
    .unwrap()
}

fn bundle() -> ModelBundle {
    ModelBundle::load(fixtures().join("churn_model")).unwrap()
}

fn ready_app() -> Router {
    let state = AppState::new(&config());
    state.set_model(bundle());
    app(state)
}

/// The fixture rows as JSON instances: numbers for numeric/binary columns, strings otherwise.
fn instances() -> Vec<Value> {
    mlops_serving::testing::churn_instances(&fixtures().join("rows.csv"))
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn predict(app: &Router, body: Value) -> (StatusCode, Value) {
    send(
        app,
        "POST",
        "/predict",
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn health_is_503_until_the_model_is_loaded() {
    let state = AppState::new(&config());
    let router = app(state.clone());
    assert_eq!(
        send(&router, "GET", "/health", None, vec![]).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, _) = predict(&router, json!({"instances": instances()})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    state.set_model(bundle());
    assert_eq!(
        send(&router, "GET", "/health", None, vec![]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn predictions_are_in_order_and_objects_and_arrays_agree() {
    let router = ready_app();
    let rows = instances();
    let (status, body) = predict(&router, json!({"instances": rows})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), rows.len());

    // Each row alone gives the same answer as in the batch: order is kept.
    let b = bundle();
    let order: Vec<String> = b
        .preprocessor()
        .array_order()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (i, row) in rows.iter().enumerate().step_by(7) {
        let (_, single) = predict(&router, json!({"instances": [row]})).await;
        assert_eq!(single["predictions"][0], preds[i]);
        let as_array: Vec<Value> = order.iter().map(|c| row[c].clone()).collect();
        let (_, arr) = predict(&router, json!({"instances": [as_array]})).await;
        assert_eq!(arr["predictions"][0], preds[i]);
    }
    for p in preds {
        let prob = p["probability"].as_f64().unwrap();
        let expected = if prob >= 0.5 { "Yes" } else { "No" };
        assert_eq!(p["label"], expected);
    }
}

#[tokio::test]
async fn threshold_parameter_overrides_the_label_cut() {
    let router = ready_app();
    let (_, low) = predict(
        &router,
        json!({"instances": instances(), "parameters": {"threshold": 0.01}}),
    )
    .await;
    assert!(low["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["label"] == "Yes"));
    let (status, body) = predict(
        &router,
        json!({"instances": instances(), "parameters": {"threshold": 2}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("parameters.threshold"));
}

#[tokio::test]
async fn bad_instances_list_every_problem() {
    let router = ready_app();
    let mut rows = instances();
    rows[1]["tenure"] = json!("twelve");
    rows[3]["contract"] = json!("Forever");
    rows[3].as_object_mut().unwrap().remove("partner");
    let (status, body) = predict(&router, json!({"instances": rows})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(body["problem_count"], 3, "{body}");
    assert_eq!(
        (
            problems[0]["instance"].as_u64(),
            problems[0]["field"].as_str()
        ),
        (Some(1), Some("tenure"))
    );
    assert_eq!(problems[0]["value"], "\"twelve\"");
    assert!(problems
        .iter()
        .any(|p| p["field"] == "partner" && p["instance"] == 3));
    assert!(problems.iter().any(|p| p["field"] == "contract"
        && p["expected"].as_str().unwrap().contains("unknown category")));
}

#[tokio::test]
async fn status_codes_for_the_wrong_request() {
    let router = ready_app();
    let body = json!({"instances": instances()}).to_string().into_bytes();
    assert_eq!(
        send(
            &router,
            "POST",
            "/predict",
            Some("text/plain"),
            body.clone()
        )
        .await
        .0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        send(&router, "POST", "/predict", None, body.clone())
            .await
            .0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        send(
            &router,
            "POST",
            "/nope",
            Some("application/json"),
            body.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&router, "GET", "/predict", None, vec![]).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let big = vec![b' '; 1_600_000];
    assert_eq!(
        send(&router, "POST", "/predict", Some("application/json"), big)
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        predict(&router, json!({"instances": []})).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        predict(&router, json!({"instances": [1], "extra": true}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let many: Vec<Value> = (0..10_000).map(|_| json!([1])).collect();
    let (status, body) = predict(&router, json!({"instances": many})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("at most"));
}

/// A small deterministic generator for malformed bodies.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn malformed(i: usize, rng: &mut Lcg, valid: &[Value]) -> (Option<&'static str>, Vec<u8>) {
    let row = valid[i % valid.len()].clone();
    let pick = |rng: &mut Lcg, n: usize| (rng.next() as usize) % n;
    let json = Some("application/json");
    match i % 14 {
        0 => (
            json,
            (0..pick(rng, 300)).map(|_| rng.next() as u8).collect(),
        ),
        1 => {
            let text = json!({"instances": [row]}).to_string();
            let cut = pick(rng, text.len());
            (json, text.as_bytes()[..cut].to_vec())
        }
        2 => {
            let mut r = row;
            let bad = [
                ("tenure", json!("NaN")),
                ("tenure", json!("Infinity")),
                ("monthly_charges", json!("-inf")),
                ("monthly_charges", json!([1])),
                ("tenure", json!(true)),
                ("partner", json!({"a": 1})),
                ("partner", json!(2)),
                ("partner", json!("maybe")),
                ("contract", json!(true)),
                ("contract", json!("Forever")),
                ("contract", json!([])),
            ];
            let (key, value) = bad[pick(rng, bad.len())].clone();
            r[key] = value;
            (json, json!({"instances": [r]}).to_string().into_bytes())
        }
        3 => (
            json,
            format!(
                "{{\"instances\":[{{\"tenure\":1e308,\"monthly_charges\":{}}}]}}",
                "9".repeat(400)
            )
            .into_bytes(),
        ),
        4 => {
            let depth = 10 + pick(rng, 5000);
            (
                json,
                format!(
                    "{{\"instances\":[{}{}]}}",
                    "[".repeat(depth),
                    "]".repeat(depth)
                )
                .into_bytes(),
            )
        }
        5 => {
            let mut r = row;
            r.as_object_mut()
                .unwrap()
                .remove(["tenure", "contract", "female"][pick(rng, 3)]);
            (json, json!({"instances": [r]}).to_string().into_bytes())
        }
        6 => (
            json,
            json!({"instances": [row], "parameters": {"threshold": "high"}})
                .to_string()
                .into_bytes(),
        ),
        7 => (json, json!({"instances": []}).to_string().into_bytes()),
        8 => (json, json!({"instances": row}).to_string().into_bytes()),
        9 => (json, json!({"instance": [row]}).to_string().into_bytes()),
        10 => (
            [
                Some("text/plain"),
                Some("application/xml"),
                None,
                Some("application/jsonx"),
            ][pick(rng, 4)],
            json!({"instances": [row]}).to_string().into_bytes(),
        ),
        11 => (json, json!([row]).to_string().into_bytes()),
        12 => (
            json,
            json!({"instances": [null, 1, "x", [], {}]})
                .to_string()
                .into_bytes(),
        ),
        _ => (
            json,
            b"{\"instances\": [NaN, Infinity, -Infinity]}".to_vec(),
        ),
    }
}

#[tokio::test]
async fn ten_thousand_malformed_requests_get_4xx_and_health_stays_200() {
    let router = ready_app();
    let valid = instances();
    let mut rng = Lcg(42);
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let (ct, body) = malformed(i, &mut rng, &valid);
        let (status, reply) = send(&router, "POST", "/predict", ct, body).await;
        assert!(
            status.is_client_error(),
            "request {i} (kind {}) got {status}: {reply}",
            i % 14
        );
        assert!(
            reply["error"].is_string(),
            "request {i}: 4xx without an error message"
        );
        *counts.entry(status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(counts.values().sum::<i32>(), 10_000);
    assert!(
        counts.contains_key(&400) && counts.contains_key(&415),
        "{counts:?}"
    );
    assert_eq!(
        send(&router, "GET", "/health", None, vec![]).await.0,
        StatusCode::OK
    );
    let (status, _) = predict(&router, json!({"instances": valid})).await;
    assert_eq!(status, StatusCode::OK);
}
