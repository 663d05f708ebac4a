//! Loopback stand-ins for Google Cloud, started and stopped by the tests: the Vertex AI /
//! Cloud Monitoring fake (`tests/python/gcp_fake.py`, which validates every body against
//! Google's discovery documents and proxies Storage and BigQuery to the emulators) and the
//! real emulators (`tests/python/emulators.py`: fake-gcs-server, bqemulator). Nothing leaves
//! 127.0.0.1: every `mlops` command here runs with anonymous credentials and loopback
//! endpoints.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{mlops, python, root};

/// A background Python process that reports its port through a file; stopped on drop.
pub struct Process {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Process {
    fn start(script: &str, args: &[&str]) -> Process {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new(python())
            .arg(root().join("tests/python").join(script))
            .args(args)
            .arg("--port-file")
            .arg(&port_file)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut p = Process {
            child,
            port: 0,
            _dir: dir,
        };
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if let Ok(port) = text.trim().parse() {
                    p.port = port;
                    return p;
                }
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{script} {args:?} exited before it was ready: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{script} {args:?} not ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGTERM lets the launchers stop their emulators and clean their scratch folders.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Vertex AI / Cloud Monitoring fake, optionally proxying Storage and BigQuery.
pub struct Fake {
    pub process: Process,
}

impl Fake {
    /// The fake alone (Vertex AI and Cloud Monitoring).
    pub fn start() -> Fake {
        Fake::start_with(&[])
    }

    /// The fake with extra arguments (`--gcs-upstream URL`, `--job-polls N`, ...).
    pub fn start_with(args: &[&str]) -> Fake {
        let mut all = vec!["serve", "--lro-polls", "1", "--job-polls", "2"];
        all.extend_from_slice(args);
        Fake {
            process: Process::start("gcp_fake.py", &all),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.process.url()
    }

    /// A control call (`/_fake/...`): status and JSON body.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (status, text) =
            mlops_serving::testing::http(&self.process.addr(), method, path, body.as_deref());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Every request the fake received.
    pub fn requests(&self) -> Vec<Value> {
        let (_, v) = self.control("GET", "/_fake/requests", None);
        match v {
            Value::Array(a) => a,
            Value::Object(mut o) => o
                .remove("requests")
                .and_then(|r| r.as_array().cloned())
                .unwrap_or_default(),
            other => panic!("unexpected /_fake/requests reply: {other}"),
        }
    }

    /// The requests whose discovery-document method id is `method`.
    pub fn requests_to(&self, method: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["method_id"] == method)
            .collect()
    }

    /// Fail the test when any request broke Google's schema.
    pub fn assert_no_violations(&self) {
        let (_, v) = self.control("GET", "/_fake/violations", None);
        let none = |key: &str| {
            v.get(key)
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        };
        let empty = none("violations") && none("fake_errors");
        assert!(empty, "requests broke Google's discovery schema: {v:#}");
    }

    /// Queue faults for requests matching `pattern` (`METHOD /path` regex).
    pub fn fault(&self, pattern: &str, responses: Value) {
        let (status, body) = self.control(
            "POST",
            "/_fake/faults",
            Some(&serde_json::json!({"match": pattern, "responses": responses})),
        );
        assert!(status < 300, "cannot queue faults: {status} {body}");
    }
}

/// fake-gcs-server on loopback.
pub fn gcs_emulator() -> Process {
    Process::start("emulators.py", &["gcs"])
}

/// bqemulator on loopback with `project` and `dataset`.
pub fn bq_emulator(project: &str, dataset: &str) -> Process {
    Process::start(
        "emulators.py",
        &["bq", "--project", project, "--dataset", dataset],
    )
}

/// The project every cloud test uses.
pub const PROJECT: &str = "test-project";
/// Its region.
pub const REGION: &str = "australia-southeast1";
/// Its pipeline bucket.
pub const BUCKET: &str = "test-bucket";

/// `mlops` in nprod against `fake` (every endpoint), anonymous credentials, image tag
/// `abc123def456`.
pub fn mlops_cloud(fake: &Fake) -> Command {
    let mut cmd = mlops();
    cmd.env("ENVIRONMENT", "nprod")
        .env("GCP_PROJECT_ID", PROJECT)
        .env("GCP_REGION", REGION)
        .env("PIPELINE_BUCKET", format!("gs://{BUCKET}"))
        .env("IMAGE_TAG", "abc123def456")
        .env("MLOPS_GCP_AUTH", "anonymous")
        .env("MLOPS_VERTEX_ENDPOINT", fake.url())
        .env("MLOPS_MONITORING_ENDPOINT", fake.url())
        .env("STORAGE_EMULATOR_HOST", fake.url())
        .env("BIGQUERY_EMULATOR_HOST", fake.url())
        // Never the real metadata server, whatever the credentials setting.
        .env("GCE_METADATA_HOST", fake.process.addr())
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json");
    cmd
}
