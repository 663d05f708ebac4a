//! The container image (`docker/Dockerfile`) built, run and pushed on this machine, offline.
//!
//! The test starts its own Docker engine (Debian's `docker.io`) on a private socket, with its
//! data and exec roots in a temporary folder, no bridge and no iptables. Nothing is pulled: the
//! builder base is a local image with busybox (and `strip`), the runtime base one with exactly
//! the shared libraries the binaries need plus the distroless `nonroot` user (65532). The image
//! is built with `PREBUILT=true` from `target/release/` (the suite has built the workspace), run
//! with host networking on 127.0.0.1 against a freshly trained model bundle, asked for
//! `/health` and `/predict`, checked for a non-root user and for `mlops` as an overridden
//! entrypoint, then pushed to and pulled back from a local `docker-registry` (as CI does with
//! Artifact Registry). A guard removes containers, the registry, the engine and the temporary
//! folder even when an assertion fails.
//!
//! Needs root and the Debian packages docker.io, docker-registry and busybox-static, which
//! `cargo xtask ci` installs. Slow (tens of seconds); figures are printed on stderr
//! (`--no-capture` shows them).

use crate::common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image size budget (bytes, as `docker image inspect -f {{.Size}}` reports). The `mlops`
/// binary carries Google's Cloud Storage and BigQuery clients (feature `gcp`, on in CI's
/// `--all-features` build and in the image, whose pipeline steps read `bq://` and `gs://`):
/// 47.9 MB stripped instead of 30.3 MB, a 55.7 MB image instead of 38.5 MB (measured).
const MAX_IMAGE_BYTES: u64 = 60_000_000;
/// The build context: sources and the prebuilt binaries, not target/ or bench/.
const MAX_CONTEXT_BYTES: f64 = 300e6;
/// The distroless user the Dockerfile runs as.
const NONROOT_UID: u32 = 65532;
const BUILDER_IMAGE: &str = "mlops-test/builder:local";
const RUNTIME_IMAGE: &str = "mlops-test/runtime:local";
const IMAGE: &str = "mlops-test/mlops:test";
const GIT_SHA: &str = "container-test";

/// Debian packages the test needs, and a file each one installs.
const PACKAGES: &[(&str, &str)] = &[
    ("docker.io", "/usr/sbin/dockerd"),
    ("docker.io", "/usr/bin/docker"),
    ("docker-registry", "/usr/bin/docker-registry"),
    ("busybox-static", "/bin/busybox"),
];

#[test]
fn image_builds_serves_predictions_as_nonroot_and_round_trips_through_a_registry() {
    let test_started = Instant::now();
    require_tools();
    let mut engine = Engine::start();
    eprintln!(
        "container test: dockerd ({}) ready in {:.1}s",
        engine.driver,
        test_started.elapsed().as_secs_f64()
    );

    // Base images made here, not pulled.
    engine.import_builder_base();
    engine.import_runtime_base();

    // The image, from the real Dockerfile with the prebuilt binaries.
    let build_started = Instant::now();
    let context = engine.build_image(None);
    let build_secs = build_started.elapsed().as_secs_f64();
    eprintln!("container test: build context {context}");
    assert!(
        context_bytes(&context) < MAX_CONTEXT_BYTES,
        "the build context is {context}: .dockerignore lets too much in"
    );
    engine.check_build_context();
    let size: u64 = engine
        .inspect(IMAGE, "{{.Size}}", "image size")
        .parse()
        .unwrap();
    let base_size: u64 = engine
        .inspect(RUNTIME_IMAGE, "{{.Size}}", "runtime base size")
        .parse()
        .unwrap();
    eprintln!(
        "container test: image built in {build_secs:.1}s; size {:.1} MB ({:.1} MB on top of the {:.1} MB local runtime base)",
        size as f64 / 1e6,
        size.saturating_sub(base_size) as f64 / 1e6,
        base_size as f64 / 1e6
    );
    assert!(
        size <= MAX_IMAGE_BYTES,
        "image is {size} bytes, over the budget of {MAX_IMAGE_BYTES}"
    );

    // Metadata: non-root user, entrypoint, labels.
    let user = engine.inspect(IMAGE, "{{.Config.User}}", "image user");
    assert_eq!(user, format!("{NONROOT_UID}:{NONROOT_UID}"), "image user");
    let entrypoint = engine.inspect(IMAGE, "{{json .Config.Entrypoint}}", "image entrypoint");
    assert_eq!(entrypoint, r#"["/usr/local/bin/mlops-serve"]"#);
    let labels: serde_json::Value =
        serde_json::from_str(&engine.inspect(IMAGE, "{{json .Config.Labels}}", "image labels"))
            .unwrap();
    assert_eq!(labels["org.opencontainers.image.revision"], GIT_SHA);
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert!(labels["org.opencontainers.image.title"].is_string());

    // The server on a mounted model bundle, host networking, loopback only.
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    train(&churn_csv(), &model);
    let expected = batch_probability_of_first_row(work.path(), &model);
    let port = free_port();
    let name = engine.unique("serve");
    let run_started = Instant::now();
    engine.containers.push(name.clone());
    engine.docker_ok(
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "-v",
            &format!("{}:/model:ro", model.display()),
            "-e",
            "AIP_STORAGE_URI=/model",
            "-e",
            &format!("AIP_HTTP_PORT={port}"),
            "-e",
            "MLOPS_BIND_ADDR=127.0.0.1",
            IMAGE,
        ],
        "docker run (server)",
    );
    let addr = format!("127.0.0.1:{port}");
    let healthy_after = engine.wait_healthy(&name, &addr, run_started);
    eprintln!(
        "container test: docker run to healthy in {:.0} ms",
        healthy_after.as_secs_f64() * 1e3
    );

    let instance = churn_instances().into_iter().next().unwrap();
    let body = serde_json::json!({ "instances": [instance] }).to_string();
    let (status, reply) = try_http(&addr, "POST", "/predict", &body)
        .unwrap_or_else(|e| engine.fail("POST /predict", &e, Some(&name)));
    if status != 200 {
        engine.fail("POST /predict", &format!("{status}: {reply}"), Some(&name));
    }
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let predictions = reply["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 1, "{reply}");
    let probability = predictions[0]["probability"].as_f64().unwrap();
    assert!(
        (probability - expected).abs() < 1e-6,
        "container predicted {probability}, `mlops predict` on the host {expected}"
    );

    // The server process runs as the nonroot user (read from the host's /proc).
    let pid = engine.inspect(&name, "{{.State.Pid}}", "container pid");
    let status_file = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status_file.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == NONROOT_UID.to_string()),
        "server process is not running as {NONROOT_UID}: {uid_line}"
    );

    // Clean shutdown on SIGTERM (docker stop), exit code 0.
    let stop_started = Instant::now();
    engine.docker_ok(&["stop", "-t", "10", &name], "docker stop");
    let stop_ms = stop_started.elapsed().as_secs_f64() * 1e3;
    let exit = engine.inspect(&name, "{{.State.ExitCode}}", "exit code");
    if exit != "0" {
        engine.fail("server exit code after docker stop", &exit, Some(&name));
    }
    eprintln!("container test: docker stop took {stop_ms:.0} ms, exit code 0");
    engine.docker_ok(&["rm", &name], "docker rm");
    engine.containers.retain(|c| *c != name);

    // Pipeline steps override the entrypoint with the CLI.
    let version = engine.mlops(IMAGE, &[], &["--version"], "mlops --version in the image");
    assert!(version.starts_with("mlops "), "{version}");
    // Compiled pipelines run `mlops-component`: a link to `mlops` in the image.
    let listed = engine.docker_ok(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/usr/local/bin/mlops-component",
            IMAGE,
            "--list",
        ],
        "mlops-component --list in the image",
    );
    assert!(listed.lines().any(|l| l == "train"), "{listed}");
    // ... and the CLI trains with the model config baked into the image, as the nonroot user.
    let trained = engine.mlops(
        IMAGE,
        &[
            "-v",
            &format!("{}:/data/churn.csv:ro", churn_csv().display()),
        ],
        &[
            "train",
            "--data",
            "/data/churn.csv",
            "--out",
            "model",
            "--json",
        ],
        "mlops train in the image",
    );
    let metrics: serde_json::Value = serde_json::from_str(trained.trim()).unwrap();
    assert!(metrics["auc"].as_f64().unwrap() > 0.7, "{metrics}");

    // Push to a local registry and pull back, as CI does with Artifact Registry.
    let registry = engine.start_registry();
    let remote = format!("{registry}/mlops:{GIT_SHA}");
    let image_id = engine.inspect(IMAGE, "{{.Id}}", "image id");
    engine.docker_ok(&["tag", IMAGE, &remote], "docker tag");
    let push_started = Instant::now();
    engine.docker_ok(&["push", &remote], "docker push");
    let push_secs = push_started.elapsed().as_secs_f64();
    let pushed_bytes = pushed_size(&registry, "mlops", GIT_SHA);
    engine.docker_ok(&["rmi", IMAGE, &remote], "docker rmi before pull");
    assert!(
        !engine
            .docker(&["image", "inspect", &image_id])
            .status
            .success(),
        "image still present after rmi; the pull would prove nothing"
    );
    let pull_started = Instant::now();
    engine.docker_ok(&["pull", &remote], "docker pull");
    let pull_secs = pull_started.elapsed().as_secs_f64();
    let pulled_id = engine.inspect(&remote, "{{.Id}}", "pulled image id");
    assert_eq!(pulled_id, image_id, "pulled image differs");
    let version = engine.mlops(
        &remote,
        &[],
        &["--version"],
        "mlops --version, pulled image",
    );
    assert!(version.starts_with("mlops "), "{version}");
    eprintln!(
        "container test: push {push_secs:.1}s, pull {pull_secs:.1}s, {:.1} MB compressed in the registry",
        pushed_bytes as f64 / 1e6
    );

    drop(engine);
    eprintln!(
        "container test: passed in {:.1}s (including cleanup)",
        test_started.elapsed().as_secs_f64()
    );
}

/// Fail (never skip) when a tool is missing, saying how to get it.
fn require_tools() {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    assert!(
        missing.is_empty(),
        "the container test needs the Debian packages docker.io, docker-registry and \
         busybox-static (missing: {}); run `cargo xtask ci`, which installs them when run as root",
        missing.join(", ")
    );
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the container test starts its own dockerd and needs root, as CI has"
    );
}

/// The probability `mlops predict` gives the first row of the shipped data.
fn batch_probability_of_first_row(work: &Path, model: &Path) -> f64 {
    let out = work.join("batch.csv");
    ok(mlops()
        .args(["predict", "--model"])
        .arg(model)
        .arg("--data")
        .arg(churn_csv())
        .arg("--out")
        .arg(&out));
    read_probabilities(&out, "churn_probability")[0]
}

/// A free TCP port on loopback (free when returned; the container binds it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One HTTP/1.1 exchange on loopback that reports errors instead of panicking.
fn try_http(addr: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let sock: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Compressed size of an image in the registry: config plus layers, from its manifest.
fn pushed_size(registry: &str, repo: &str, tag: &str) -> u64 {
    let mut stream = std::net::TcpStream::connect(registry).unwrap();
    let request = format!(
        "GET /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    let manifest: serde_json::Value = serde_json::from_str(body).unwrap();
    let layers: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    layers + manifest["config"]["size"].as_u64().unwrap()
}

/// Last `n` lines of a file (for failure messages).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Last `n` lines of a text.
fn tail_text(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run with a deadline; stdout and stderr go to files so that no pipe can fill up.
fn run_timeout(cmd: &mut Command, dir: &Path, timeout: Duration) -> Result<Output, String> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = dir.join(format!("cmd-{n}.out"));
    let err_path = dir.join(format!("cmd-{n}.err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).map_err(|e| e.to_string())?)
        .stderr(std::fs::File::create(&err_path).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{cmd:?} timed out after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    tail(&out_path, 30),
                    tail(&err_path, 30)
                ));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let output = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(output)
}

/// Send a signal with the `kill` command (no unsafe code, no libc).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A private Docker engine and, later, a registry; everything is removed on drop.
struct Engine {
    /// Everything lives under here: sockets, data root, exec root, logs, base rootfs, registry.
    tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    socket: PathBuf,
    dockerd: Option<Child>,
    dockerd_log: PathBuf,
    /// The storage driver that worked (overlay2, else vfs).
    driver: &'static str,
    registry: Option<Child>,
    registry_log: PathBuf,
    containers: Vec<String>,
    /// Makes container names unique across concurrent runs on one machine.
    tag: String,
}

impl Engine {
    fn start() -> Engine {
        // A short path: unix socket paths are limited to 108 bytes.
        let tmp = tempfile::Builder::new()
            .prefix("mlops-ct-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = tmp.path().to_path_buf();
        let tag = root
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let mut engine = Engine {
            socket: root.join("docker.sock"),
            dockerd_log: root.join("dockerd.log"),
            registry_log: root.join("registry.log"),
            tmp: Some(tmp),
            root,
            dockerd: None,
            driver: "",
            registry: None,
            containers: Vec::new(),
            tag,
        };
        std::fs::create_dir_all(engine.root.join("client")).unwrap();
        let mut errors = Vec::new();
        for driver in ["overlay2", "vfs"] {
            match engine.try_dockerd(driver) {
                Ok(()) => {
                    engine.driver = driver;
                    return engine;
                }
                Err(e) => errors.push(format!(
                    "with --storage-driver={driver}: {e}\ndockerd log (tail):\n{}",
                    tail(&engine.dockerd_log, 30)
                )),
            }
        }
        panic!("dockerd did not start:\n{}", errors.join("\n\n"));
    }

    /// Start dockerd with one storage driver and wait for `/_ping`.
    fn try_dockerd(&mut self, driver: &str) -> Result<(), String> {
        let data = self.root.join(format!("data-{driver}"));
        let exec = self.root.join(format!("exec-{driver}"));
        let config = self.root.join("daemon.json");
        // The trust key would otherwise be written to /etc/docker/key.json.
        std::fs::write(
            &config,
            serde_json::json!({ "deprecated-key-path": self.root.join("key.json") }).to_string(),
        )
        .unwrap();
        let log = std::fs::File::create(&self.dockerd_log).unwrap();
        let child = Command::new("/usr/sbin/dockerd")
            .arg("--host")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(&data)
            .arg("--exec-root")
            .arg(&exec)
            .arg("--pidfile")
            .arg(self.root.join("docker.pid"))
            .arg("--config-file")
            .arg(&config)
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--log-level=warn",
            ])
            .arg(format!("--storage-driver={driver}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start /usr/sbin/dockerd: {e}"))?;
        self.dockerd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.dockerd.as_mut().unwrap().try_wait().unwrap() {
                self.dockerd = None;
                self.cleanup_dockerd_leftovers();
                return Err(format!("dockerd exited ({status})"));
            }
            if self.ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop_dockerd();
                return Err("no answer on the socket within 60s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.") && reply.ends_with("OK")
    }

    /// The docker client of the same package as dockerd, talking only to this engine.
    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("/usr/bin/docker");
        cmd.args(args)
            .current_dir(root())
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.root.join("client"))
            // The classic builder: BuildKit may try to resolve images or frontends remotely.
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        cmd
    }

    fn docker_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        run_timeout(&mut self.docker_cmd(args), &self.root, timeout)
            .unwrap_or_else(|e| self.fail(&format!("docker {}", args.join(" ")), &e, None))
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_timeout(args, Duration::from_secs(120))
    }

    /// Run docker, fail with its output and the dockerd log unless it succeeds; stdout.
    fn docker_ok(&self, args: &[&str], what: &str) -> String {
        let out = self.docker(args);
        self.check(&out, args, what);
        String::from_utf8(out.stdout).unwrap()
    }

    fn check(&self, out: &Output, args: &[&str], what: &str) {
        if !out.status.success() {
            self.fail(
                what,
                &format!(
                    "`docker {}` failed ({})\nstdout (tail):\n{}\nstderr (tail):\n{}",
                    args.join(" "),
                    out.status,
                    tail_text(&String::from_utf8_lossy(&out.stdout), 40),
                    tail_text(&String::from_utf8_lossy(&out.stderr), 40)
                ),
                None,
            );
        }
    }

    /// Panic with what failed, the container's log if any and the tail of the dockerd log.
    fn fail(&self, what: &str, detail: &str, container: Option<&str>) -> ! {
        let logs = container
            .and_then(|c| {
                run_timeout(
                    &mut self.docker_cmd(&["logs", "--tail", "40", c]),
                    &self.root,
                    Duration::from_secs(20),
                )
                .ok()
            })
            .map(|o| {
                format!(
                    "\ncontainer log (tail):\n{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default();
        panic!(
            "container test: {what} failed:\n{detail}{logs}\ndockerd log (tail):\n{}",
            tail(&self.dockerd_log, 30)
        );
    }

    /// `docker inspect -f FORMAT TARGET` (image or container), trimmed.
    fn inspect(&self, target: &str, format: &str, what: &str) -> String {
        self.docker_ok(&["inspect", "-f", format, target], what)
            .trim()
            .to_string()
    }

    /// `docker run --rm --network none [docker_args] --entrypoint mlops IMAGE args`: stdout.
    fn mlops(&self, image: &str, docker_args: &[&str], args: &[&str], what: &str) -> String {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend(docker_args);
        all.extend(["--entrypoint", "/usr/local/bin/mlops", image]);
        all.extend(args);
        self.docker_ok(&all, what)
    }

    fn unique(&self, what: &str) -> String {
        format!("mlops-test-{what}-{}", self.tag)
    }

    /// Import a folder as an image (`docker import`), owners and modes as they are.
    fn import(&self, rootfs: &Path, image: &str, changes: &[&str]) {
        let tar = self.root.join(format!(
            "{}.tar",
            rootfs.file_name().unwrap().to_string_lossy()
        ));
        let out = Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tar of {} failed: {}",
            rootfs.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut args = vec!["import".to_string()];
        for c in changes {
            args.push("--change".into());
            args.push((*c).to_string());
        }
        args.push(tar.to_string_lossy().into_owned());
        args.push(image.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker_ok(&args, &format!("docker import {image}"));
        let _ = std::fs::remove_file(&tar);
    }

    /// The builder base: busybox for `sh`/`cp`/`mkdir`, and the host's `strip` with its
    /// libraries when there is one (the rust image has it through gcc's binutils).
    fn import_builder_base(&self) {
        let rootfs = self.root.join("rootfs-builder");
        for dir in ["bin", "tmp", "usr/bin"] {
            std::fs::create_dir_all(rootfs.join(dir)).unwrap();
        }
        set_mode(&rootfs.join("tmp"), 0o1777);
        copy_with_libraries(
            Path::new("/bin/busybox"),
            &rootfs,
            Path::new("/bin/busybox"),
        );
        let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&applets.stdout).lines() {
            let link = rootfs.join("bin").join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", link).unwrap();
            }
        }
        if let Some(strip) = find_in_path("strip") {
            copy_with_libraries(&strip, &rootfs, Path::new("/usr/bin/strip"));
        }
        self.import(
            &rootfs,
            BUILDER_IMAGE,
            &["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        );
    }

    /// The runtime base, like distroless/cc: the shared libraries the binaries link (per
    /// `ldd`), /etc/passwd and /etc/group with `nonroot` (65532), /tmp and /home/nonroot.
    fn import_runtime_base(&self) {
        let rootfs = self.root.join("rootfs-runtime");
        for dir in ["etc", "tmp", "home/nonroot"] {
            std::fs::create_dir_all(rootfs.join(dir)).unwrap();
        }
        set_mode(&rootfs.join("tmp"), 0o1777);
        set_mode(&rootfs.join("home/nonroot"), 0o700);
        let owner = Command::new("chown")
            .arg(format!("{NONROOT_UID}:{NONROOT_UID}"))
            .arg(rootfs.join("home/nonroot"))
            .status()
            .unwrap();
        assert!(owner.success(), "chown of home/nonroot failed");
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
             nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
        )
        .unwrap();
        for bin in prebuilt_binaries() {
            for lib in libraries(&bin) {
                copy_file(&lib, &rootfs.join(lib.strip_prefix("/").unwrap()));
            }
        }
        self.import(&rootfs, RUNTIME_IMAGE, &[]);
    }

    /// `docker build` of docker/Dockerfile with the local bases and the prebuilt binaries.
    /// Returns the size of the build context as the client reported it.
    fn build_image(&self, target: Option<(&str, &str)>) -> String {
        let builder = format!("BUILDER_IMAGE={BUILDER_IMAGE}");
        let runtime = format!("RUNTIME_IMAGE={RUNTIME_IMAGE}");
        let sha = format!("GIT_SHA={GIT_SHA}");
        let mut args = vec![
            "build",
            "--network",
            "none",
            "-f",
            "docker/Dockerfile",
            "--build-arg",
            &builder,
            "--build-arg",
            &runtime,
            "--build-arg",
            "PREBUILT=true",
            "--build-arg",
            &sha,
        ];
        let (stage, tag) = target.unwrap_or(("", IMAGE));
        if !stage.is_empty() {
            args.extend(["--target", stage]);
        }
        args.extend(["-t", tag, "."]);
        let out = self.docker_timeout(&args, Duration::from_secs(600));
        self.check(&out, &args, "docker build");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Sending build context to Docker daemon"))
            .unwrap_or("?")
            .trim()
            .to_string()
    }

    /// The builder stage's /src is the build context: it must hold every workspace member
    /// (or the default, compile-from-source path breaks) and nothing big.
    fn check_build_context(&self) {
        let stage = "mlops-test/builder-stage:test";
        self.build_image(Some(("builder", stage)));
        let mut wanted = vec![
            "Cargo.toml".to_string(),
            "Cargo.lock".to_string(),
            "config/model.yaml".to_string(),
        ];
        wanted.extend(
            workspace_members()
                .iter()
                .map(|m| format!("{m}/Cargo.toml")),
        );
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            stage,
            "sh",
            "-c",
            "cd /src; for f in \"$@\"; do [ -f \"$f\" ] || echo \"missing: $f\"; done; \
             for d in .git .venv bench data target/debug; do [ ! -e \"$d\" ] || echo \"unwanted: $d\"; done",
            "sh",
        ];
        args.extend(wanted.iter().map(String::as_str));
        let problems = self.docker_ok(&args, "listing the build context");
        if !problems.trim().is_empty() {
            self.fail(
                "build context (.dockerignore)",
                &format!("in the builder stage's /src:\n{problems}"),
                None,
            );
        }
    }

    /// Poll the health route until 200; fail early if the container stops.
    fn wait_healthy(&self, name: &str, addr: &str, started: Instant) -> Duration {
        let deadline = started + Duration::from_secs(30);
        loop {
            let last = match try_http(addr, "GET", "/health", "") {
                Ok((200, _)) => return started.elapsed(),
                Ok((status, body)) => format!("{status}: {body}"),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                self.fail(
                    "waiting for GET /health = 200",
                    &format!("not healthy after 30s; last answer: {last}"),
                    Some(name),
                );
            }
            if started.elapsed() > Duration::from_secs(1) {
                let running = self.docker(&["inspect", "-f", "{{.State.Running}}", name]);
                if String::from_utf8_lossy(&running.stdout).trim() == "false" {
                    self.fail(
                        "waiting for GET /health = 200",
                        &format!("the container stopped; last answer: {last}"),
                        Some(name),
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A docker-registry on 127.0.0.1 with config and storage here; returns host:port.
    fn start_registry(&mut self) -> String {
        let dir = self.root.join("registry");
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("storage").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(&self.registry_log).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| self.fail("starting docker-registry", &e.to_string(), None));
        self.registry = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = try_http(&addr, "GET", "/v2/", "") {
                return addr;
            }
            let exited = self.registry.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                self.fail(
                    "starting docker-registry",
                    &format!(
                        "no answer on {addr} ({exited:?})\nregistry log (tail):\n{}",
                        tail(&self.registry_log, 30)
                    ),
                    None,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then SIGKILL after 30s; then whatever dockerd left behind.
    fn stop_dockerd(&mut self) {
        if let Some(mut child) = self.dockerd.take() {
            signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.cleanup_dockerd_leftovers();
    }

    /// The containerd that dockerd started (when dockerd was killed), and mounts under root
    /// (dockerd leaves its netns bind mount behind even on a clean stop).
    fn cleanup_dockerd_leftovers(&self) {
        for driver in ["overlay2", "vfs"] {
            let pidfile = self
                .root
                .join(format!("exec-{driver}/containerd/containerd.pid"));
            if let Ok(pid) = std::fs::read_to_string(&pidfile) {
                let pid = pid.trim();
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let root = self.root.to_string_lossy();
                if String::from_utf8_lossy(&cmdline).contains(root.as_ref()) {
                    if let Ok(pid) = pid.parse() {
                        signal(pid, "KILL");
                    }
                }
            }
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&self.root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount")
                .args(["-l", m])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.dockerd.is_some() {
            for c in std::mem::take(&mut self.containers) {
                let _ = run_timeout(
                    &mut self.docker_cmd(&["rm", "-f", &c]),
                    &self.root,
                    Duration::from_secs(30),
                );
            }
        }
        if let Some(mut registry) = self.registry.take() {
            let _ = registry.kill();
            let _ = registry.wait();
        }
        self.stop_dockerd();
        if let Some(tmp) = self.tmp.take() {
            let path = tmp.path().to_path_buf();
            if let Err(e) = tmp.close() {
                eprintln!("container test: could not remove {}: {e}", path.display());
            }
        }
    }
}

/// The binaries the PREBUILT=true path copies, as built by the test suite.
fn prebuilt_binaries() -> Vec<PathBuf> {
    let release = root().join("target/release");
    let mlops = PathBuf::from(env!("CARGO_BIN_EXE_mlops"));
    assert_eq!(
        mlops.parent(),
        Some(release.as_path()),
        "the Dockerfile takes binaries from target/release/ in the workspace; this test's \
         binaries are in {} (CARGO_TARGET_DIR or another profile?)",
        mlops.display()
    );
    let bins = vec![release.join("mlops"), release.join("mlops-serve")];
    for b in &bins {
        assert!(
            b.exists(),
            "{} is missing: build the workspace first (`cargo build --release`; `cargo xtask ci` does)",
            b.display()
        );
    }
    bins
}

/// "44.95MB" (as `docker build` reports the context) in bytes; infinite when unreadable.
fn context_bytes(size: &str) -> f64 {
    let digits = size
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(size.len());
    let (number, unit) = size.split_at(digits);
    let scale = match unit.trim() {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => f64::INFINITY,
    };
    number.parse::<f64>().map_or(f64::INFINITY, |n| n * scale)
}

/// The workspace members, from the `members` array of the root Cargo.toml.
fn workspace_members() -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let start = manifest
        .find("members = [")
        .expect("no workspace members in Cargo.toml");
    let list = &manifest[start + "members = [".len()..];
    let list = &list[..list.find(']').unwrap()];
    let members: Vec<String> = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(!members.is_empty(), "no workspace members found");
    members
}

/// The shared libraries a binary loads, per `ldd` (including the dynamic loader).
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("not a dynamic executable") {
        return Vec::new();
    }
    text.lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect()
}

/// Copy a program to `dest` inside `rootfs`, and its libraries to their own paths.
fn copy_with_libraries(program: &Path, rootfs: &Path, dest: &Path) {
    copy_file(program, &rootfs.join(dest.strip_prefix("/").unwrap()));
    for lib in libraries(program) {
        copy_file(&lib, &rootfs.join(lib.strip_prefix("/").unwrap()));
    }
}

/// Copy the file (following symbolic links), creating folders.
fn copy_file(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
