//! Helpers shared by the integration tests: run the real `mlops` binary in a temporary folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// The shipped data file.
pub fn churn_csv() -> PathBuf {
    root().join("data/wa_churn.csv")
}

/// `mlops` with the workspace as working directory and no stray settings.
pub fn mlops() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlops"));
    cmd.current_dir(root())
        .env_remove("ENVIRONMENT")
        .env_remove("MLOPS_MODEL_CONFIG")
        .env_remove("MLOPS_PREDICT_KERNEL")
        .arg("--env-file")
        .arg("/nonexistent/.env");
    cmd
}

/// Run and return the output, whatever the exit status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("cannot start mlops")
}

/// Run, assert success, return stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed: {:?}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run, assert failure, return stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {cmd:?}"
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The Python interpreter with xgboost: `MLOPS_PYTHON`, else `.venv/bin/python`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MLOPS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python test environment: run `cargo xtask pyenv` (or `bash .ci/run`), or set MLOPS_PYTHON"
    );
    venv
}

/// Run the interop helper script.
pub fn interop(args: &[&str]) {
    let script = root().join("tests/python/interop.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("cannot start python");
    assert!(
        out.status.success(),
        "interop.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Train the shipped config on `data` into `out`.
pub fn train(data: &Path, out: &Path) {
    ok(mlops()
        .args(["train", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out));
}

/// Every file name in a folder (to check nothing partial was left behind).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Read a CSV column of floats from `mlops predict` output.
pub fn read_probabilities(csv: &Path, column: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let idx = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| l.split(',').nth(idx).unwrap().parse().unwrap())
        .collect()
}

/// A minimal HTTP/1.1 exchange over loopback (`Connection: close`): status and body.
pub fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
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

/// The shipped CSV's rows as JSON instances (numbers for numeric/binary columns).
pub fn churn_instances() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(churn_csv()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let numeric = [
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
    lines
        .map(|l| {
            let mut obj = serde_json::Map::new();
            for (h, v) in header.iter().zip(l.split(',')) {
                let value = if numeric.contains(h) {
                    if v.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::json!(v.parse::<f64>().unwrap())
                    }
                } else {
                    serde_json::json!(v)
                };
                obj.insert(h.to_string(), value);
            }
            serde_json::Value::Object(obj)
        })
        .collect()
}

/// A running `mlops-serve` on a free loopback port; killed on drop.
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
    pub started: std::time::Instant,
    /// Lines the server wrote on stdout after `listening`, collected by a thread.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Start the server binary (built beside `mlops`) on a model bundle, without access log.
    pub fn start(model: &Path) -> Server {
        Server::start_with(model, false)
    }

    /// Start the server binary (built beside `mlops`) on a model bundle.
    pub fn start_with(model: &Path, access_log: bool) -> Server {
        use std::io::BufRead;
        let binary = Path::new(env!("CARGO_BIN_EXE_mlops")).with_file_name("mlops-serve");
        let started = std::time::Instant::now();
        let mut child = Command::new(binary)
            .env("AIP_HTTP_PORT", "0")
            .env("MLOPS_BIND_ADDR", "127.0.0.1")
            .env("AIP_STORAGE_URI", model)
            .env("MLOPS_ACCESS_LOG", access_log.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("cannot start mlops-serve (build the workspace first)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("mlops-serve exited before listening")
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["message"] == "listening" {
                break v["addr"].as_str().unwrap().to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
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
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status after SIGTERM: {status}");
                break;
            }
            assert!(
                started.elapsed().as_secs() < 10,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.drain.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Poll health until 200; returns the time from start to healthy.
    pub fn wait_healthy(&self) -> std::time::Duration {
        for _ in 0..2000 {
            if http(&self.addr, "GET", "/health", None).0 == 200 {
                return self.started.elapsed();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("mlops-serve did not become healthy");
    }

    /// Score instances in requests of `batch`, as Vertex batch prediction does.
    pub fn score(&self, instances: &[serde_json::Value], batch: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(instances.len());
        for chunk in instances.chunks(batch) {
            let body = serde_json::json!({ "instances": chunk }).to_string();
            let (status, reply) = http(&self.addr, "POST", "/predict", Some(&body));
            assert_eq!(status, 200, "{reply}");
            let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
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

/// Largest absolute difference between two equally long lists (asserts the lengths match).
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "different numbers of probabilities");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// A model trained by Python XGBoost on the shipped data, encoded as our metadata says (our
/// bundle is trained first for its metadata). Returns the folder with `model.json`,
/// `features.f32` and `probabilities.json`.
pub fn python_model(dir: &Path) -> PathBuf {
    let ours = dir.join("ours");
    train(&churn_csv(), &ours);
    let py = dir.join("py");
    std::fs::create_dir_all(&py).unwrap();
    interop(&[
        "train-python",
        churn_csv().to_str().unwrap(),
        ours.join("metadata.json").to_str().unwrap(),
        py.to_str().unwrap(),
    ]);
    py
}

/// `mlops models import-xgboost --model MODEL_JSON --out OUT`, asserting success.
pub fn import_xgboost(model_json: &Path, out: &Path) {
    ok(mlops()
        .args(["models", "import-xgboost", "--model"])
        .arg(model_json)
        .arg("--out")
        .arg(out));
}

/// The probabilities a Python script wrote as a JSON list.
pub fn read_json_probabilities(path: &Path) -> Vec<f64> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The command `mlops predict --model MODEL --data DATA --out OUT`.
pub fn predict_command(model: &Path, data: &Path, out: &Path) -> Command {
    let mut cmd = mlops();
    cmd.args(["predict", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    cmd
}

/// `mlops predict --model MODEL --data DATA --out OUT`, asserting success.
pub fn predict(model: &Path, data: &Path, out: &Path) {
    ok(&mut predict_command(model, data, out));
}

/// `mlops evaluate --json --model MODEL --data DATA`: the metrics, asserting success.
pub fn evaluate_json(model: &Path, data: &Path) -> serde_json::Value {
    let stdout = ok(mlops()
        .args(["evaluate", "--json", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data));
    serde_json::from_str(&stdout).unwrap()
}
