//! Test support (feature `test-support`): `mlops-serve` as a child process on loopback, a
//! minimal HTTP client, and churn rows as JSON instances. Shared by this crate's tests and the
//! CLI's end-to-end tests, so neither keeps its own copy. Panics on failure, as test helpers do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// Columns of the churn table that are numbers in an instance (the rest are strings).
const NUMERIC: [&str; 9] = [
    "tenure",
    "monthly_charges",
    "total_charges",
    "female",
    "senior_citizen",
    "partner",
    "dependents",
    "phone_service",
    "paperless_billing",
];

/// The rows of a churn CSV as JSON instances: numbers for numeric and binary columns (`null`
/// for an empty cell), strings otherwise.
pub fn churn_instances(csv: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let mut obj = Map::new();
            for (h, v) in header.iter().zip(l.split(',')) {
                let value = if !NUMERIC.contains(h) {
                    json!(v)
                } else if v.is_empty() {
                    Value::Null
                } else {
                    json!(v.parse::<f64>().unwrap())
                };
                obj.insert(h.to_string(), value);
            }
            Value::Object(obj)
        })
        .collect()
}

/// A minimal HTTP/1.1 exchange over loopback (`Connection: close`): status and body.
pub fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status: u16 = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A running `mlops-serve` on a free loopback port; killed on drop.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
    /// When it was started.
    pub started: Instant,
    /// Lines the server wrote on stdout after `listening`, collected by a thread.
    log: Arc<Mutex<Vec<String>>>,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Start the server `binary` on a model bundle folder, with or without access log.
    pub fn start(binary: &Path, model: &Path, access_log: bool) -> Server {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env("AIP_HTTP_PORT", "0")
            .env("MLOPS_BIND_ADDR", "127.0.0.1")
            .env("AIP_STORAGE_URI", model)
            .env("MLOPS_ACCESS_LOG", access_log.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("mlops-serve exited before listening")
                .unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["message"] == "listening" {
                break v["addr"].as_str().unwrap().to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let drain = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            addr,
            started,
            log,
            drain: Some(drain),
        }
    }

    /// Stop with SIGTERM, wait for a clean exit, and return everything it logged on stdout
    /// after `listening`.
    pub fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status after SIGTERM: {status}");
                break;
            }
            assert!(
                started.elapsed().as_secs() < 10,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.drain.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Poll health until 200; returns the time from start to healthy.
    pub fn wait_healthy(&self) -> Duration {
        for _ in 0..2000 {
            if http(&self.addr, "GET", "/health", None).0 == 200 {
                return self.started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("mlops-serve did not become healthy");
    }

    /// Score instances in requests of `batch`, as Vertex batch prediction does.
    pub fn score(&self, instances: &[Value], batch: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(instances.len());
        for chunk in instances.chunks(batch) {
            let body = json!({ "instances": chunk }).to_string();
            let (status, reply) = http(&self.addr, "POST", "/predict", Some(&body));
            assert_eq!(status, 200, "{reply}");
            let v: Value = serde_json::from_str(&reply).unwrap();
            out.extend(
                v["predictions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["probability"].as_f64().unwrap()),
            );
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
