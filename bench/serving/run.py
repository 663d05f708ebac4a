"""Serving benchmark: `mlops-serve` vs the Python reference (Flask under gunicorn) vs a constant axum server.

    python3 bench/serving/run.py               # full run: 3 servers x 2 bodies x 20 s (~3 minutes)
    python3 bench/serving/run.py --soak 60     # soak: mlops-serve only, 64-instance body, 60 s

Setup (run.py installs nothing): `apt-get install -y wrk`; `cargo build --release` and
`cargo build --release -p mlops-serving --example constant_server`; a venv with
bench/serving/requirements.txt at bench/serving/.venv (or pass --python).

Servers, all on 127.0.0.1 and nothing else:
  ours      target/release/mlops-serve (access log ON, stdout to /dev/null)
  gunicorn  bench/serving/flask_server.py, gunicorn, 2 sync workers, OMP_NUM_THREADS=1
  constant  target/release/examples/constant_server (axum, constant response: the ceiling)
The model bundle is bench/work/serve_model (trained with `mlops train --data
data/wa_churn.csv` if it is missing). Request bodies are real rows of data/wa_churn.csv:
1 instance and 64 instances.

Before timing, the same 64-row body goes to ours and to gunicorn: the probabilities must
agree within 1e-5. Then, for each server: spawn, poll GET /health every 1 ms until 200
(start-to-healthy; --starts cold starts, median and max), and for each body warm up 2 s and
run `wrk -t2 -c16 -d20s --latency -s post.lua`, sampling the server's RSS every 0.5 s
(gunicorn: master + workers). Reports req/s, instances/s, p50/p99, errors (non-2xx and
socket errors), max RSS, and the server's CPU time per request (from /proc, user + system).

Investigations: --servers ours (any subset) and --ours-env KEY=VALUE (e.g.
MLOPS_ACCESS_LOG=false) print numbers without touching results/.

--soak N: ours only, 64-instance body, N seconds of full load, RSS every second; reports
errors and RSS growth (end vs after the first 5 s).

Results: bench/serving/results/latest.json and latest.md (the main run and the soak are kept
side by side; each run replaces its own part). Standard library only.
"""

import argparse
import csv
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "serving"
WORK, RESULTS = HERE / "work", HERE / "results"
DATA = ROOT / "data" / "wa_churn.csv"
MODEL = ROOT / "bench" / "work" / "serve_model"
HOST = "127.0.0.1"  # the only address this script ever sends traffic to
TOLERANCE = 1e-5

TARGETS = {
    "single_ratio": 20.0,  # single-instance throughput >= 20x gunicorn
    "single_p99_ms": 5.0,  # ... with p99 <= 5 ms
    "batch_ratio": 20.0,  # 64-instance throughput >= 20x gunicorn
    "rss_mb": 50.0,  # server RSS under load <= 50 MB
    "healthy_ms": 100.0,  # start to healthy <= 100 ms
    "soak_growth": 0.10,  # soak RSS growth <= 10 %, zero errors
}

LUA = r"""
-- POST the body in $WRK_BODY; print one JSON summary line at the end.
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


# ---------------------------------------------------------------- helpers


def log(msg):
    print(msg, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def sha256_prefix(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http(port, method, path, body=None, timeout=5.0):
    """One HTTP/1.1 request to 127.0.0.1:port; returns (status, body bytes)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        s.sendall(head.encode() + b"\r\n" + (body or b""))
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    raw = b"".join(chunks)
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        payload = dechunk(payload)
    return status, payload


def dechunk(data):
    out, i = [], 0
    while True:
        j = data.index(b"\r\n", i)
        n = int(data[i:j].split(b";")[0], 16)
        if n == 0:
            return b"".join(out)
        out.append(data[j + 2 : j + 2 + n])
        i = j + 2 + n + 2


def descendants(pid):
    """pid and all its descendants (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU seconds used so far by pids (including their reaped children)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def memory_kb(pids):
    """(sum of VmRSS, sum of Pss) in kB over pids."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class Sampler(threading.Thread):
    """Samples (seconds since start, RSS kB, PSS kB) of a process tree every `every` seconds."""

    def __init__(self, pid, every, tree):
        super().__init__(daemon=True)
        self.pid, self.every, self.tree = pid, every, tree
        self.samples, self.stop_event = [], threading.Event()

    def run(self):
        t0 = time.monotonic()
        pids = descendants(self.pid) if self.tree else [self.pid]
        n = 0
        while not self.stop_event.is_set():
            if self.tree and n % 10 == 0:
                pids = descendants(self.pid)  # gunicorn may respawn a worker
            rss, pss = memory_kb(pids)
            self.samples.append((round(time.monotonic() - t0, 3), rss, pss))
            n += 1
            self.stop_event.wait(self.every)

    def stop(self):
        self.stop_event.set()
        self.join()
        return self.samples


# ---------------------------------------------------------------- bodies


def make_bodies(meta):
    kinds = {c["name"]: c["kind"] for c in meta["preprocessor"]["columns"]}
    label = meta["label"]["column"]
    rows = []
    with open(DATA, newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            if i >= 64:
                break
            inst = {}
            for k, v in r.items():
                if k == label:
                    continue
                kind = kinds.get(k, "categorical")
                if v is None or v.strip() == "":
                    inst[k] = None
                elif kind == "numeric":
                    inst[k] = float(v)
                elif kind == "binary":
                    inst[k] = int(float(v))
                else:
                    inst[k] = v
            rows.append(inst)
    WORK.mkdir(parents=True, exist_ok=True)
    bodies = {}
    for name, n in (("single", 1), ("batch64", 64)):
        path = WORK / f"body_{name}.json"
        path.write_text(json.dumps({"instances": rows[:n]}, separators=(",", ":")))
        bodies[name] = {"path": path, "instances": n, "bytes": path.stat().st_size}
    return bodies


# ---------------------------------------------------------------- servers


STDOUT_PIPE = False  # set from --stdout in main()


class Server:
    def __init__(self, name, cmd, env, tree, cwd=ROOT):
        self.name, self.cmd, self.env, self.tree, self.cwd = name, cmd, env, tree, cwd
        self.port = free_port()
        self.env = {**os.environ, **{k: v.format(port=self.port) for k, v in env.items()}}
        self.cmd = [c.format(port=self.port) for c in cmd]
        self.proc = None

    def start(self, timeout=60.0):
        """Spawn and poll GET /health every 1 ms; returns ms from spawn to the first 200."""
        # stdout to /dev/null, or (STDOUT_PIPE) into a pipe drained by a thread, as a
        # container runtime's log collector reads it.
        stdout = subprocess.PIPE if STDOUT_PIPE else open(os.devnull, "wb")
        self.stderr_path = WORK / f"{self.name}.stderr.log"
        stderr = open(self.stderr_path, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, cwd=self.cwd, env=self.env, stdout=stdout, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        if STDOUT_PIPE:
            pipe = self.proc.stdout
            threading.Thread(target=lambda: [None for _ in iter(lambda: pipe.read(65536), b"")],
                             daemon=True).start()
        else:
            stdout.close()
        stderr.close()
        polls = 0
        while time.perf_counter() - t0 < timeout:
            polls += 1
            try:
                status, _ = http(self.port, "GET", "/health", timeout=1.0)
                if status == 200:
                    ms = (time.perf_counter() - t0) * 1000
                    self.polls = polls
                    return ms
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"{self.name} exited with {self.proc.returncode}; see {self.stderr_path}")
            time.sleep(0.001)
        self.stop()
        sys.exit(f"{self.name} not healthy after {timeout} s; see {self.stderr_path}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script created
            self.proc.wait(timeout=5)


def servers(args, bindir):
    model = str(MODEL)
    return {
        "ours": lambda: Server(
            "ours",
            [str(bindir / "mlops-serve")],
            {
                "AIP_HTTP_PORT": "{port}", "MLOPS_BIND_ADDR": HOST, "AIP_STORAGE_URI": model,
                "MLOPS_ACCESS_LOG": "true", "AIP_HEALTH_ROUTE": "/health",
                "AIP_PREDICT_ROUTE": "/predict",
                **dict(kv.split("=", 1) for kv in args.ours_env),
            },
            tree=False,
        ),
        "gunicorn": lambda: Server(
            "gunicorn",
            [
                args.python, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b", HOST + ":{port}",
                "--no-control-socket", "flask_server:app",
            ],
            {"MODEL_DIR": model, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
            tree=True,
            cwd=HERE,
        ),
        "constant": lambda: Server("constant", [str(bindir / "constant_server")], {"PORT": "{port}"}, tree=False),
    }


# ---------------------------------------------------------------- wrk


def wrk(port, body, duration, args, parse=True):
    lua = WORK / "post.lua"
    cmd = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency",
        "-s", str(lua), f"http://{HOST}:{port}/predict",
    ]
    proc = subprocess.run(
        cmd, env={**os.environ, "WRK_BODY": str(body["path"])}, capture_output=True, text=True,
        timeout=duration + 60,
    )
    if proc.returncode != 0:
        sys.exit(f"wrk failed: {proc.stderr}")
    if not parse:
        return None
    line = next(l for l in proc.stdout.splitlines() if l.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", proc.stdout)
    secs = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "seconds": secs,
        "req_per_s": r["requests"] / secs,
        "instances_per_s": r["requests"] * body["instances"] / secs,
        "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
        "p999_ms": r["p999_us"] / 1000, "max_ms": r["max_us"] / 1000, "mean_ms": r["mean_us"] / 1000,
        "non_2xx": int(m.group(1)) if m else 0,
        "socket_errors": {k: r[k] for k in ("connect", "read", "write", "timeout")},
        "errors": (int(m.group(1)) if m else 0) + sum(r[k] for k in ("connect", "read", "write", "timeout")),
        "wrk_output": proc.stdout,
    }


# ---------------------------------------------------------------- phases


def correctness(mk, bodies):
    """Same 64-row body to ours and to gunicorn: probabilities must agree within 1e-5."""
    body = bodies["batch64"]["path"].read_bytes()
    out = {}
    for name in ("ours", "gunicorn"):
        s = mk[name]()
        s.start()
        try:
            status, payload = http(s.port, "POST", "/predict", body, timeout=30)
        finally:
            s.stop()
        if status != 200:
            sys.exit(f"correctness: {name} answered {status}: {payload[:500]!r}")
        out[name] = json.loads(payload)["predictions"]
    a, b = out["ours"], out["gunicorn"]
    if len(a) != 64 or len(b) != 64:
        sys.exit(f"correctness: expected 64 predictions, got {len(a)} and {len(b)}")
    diffs = [abs(x["probability"] - y["probability"]) for x, y in zip(a, b)]
    labels = sum(x["label"] != y["label"] for x, y in zip(a, b))
    res = {
        "rows": 64, "max_abs_diff": max(diffs), "over_tolerance": sum(d > TOLERANCE for d in diffs),
        "label_mismatches": labels, "tolerance": TOLERANCE,
        "pass": max(diffs) <= TOLERANCE and labels == 0,
    }
    log(f"correctness (64 rows, ours vs gunicorn+flask): max |dp| = {res['max_abs_diff']:.3g}, "
        f"over {TOLERANCE:g}: {res['over_tolerance']}, label mismatches: {labels} -> "
        f"{'PASS' if res['pass'] else 'FAIL'}")
    if not res["pass"]:
        sys.exit("correctness check failed")
    return res


def bench_server(mk, name, bodies, args):
    la = loadavg()
    starts = []
    for _ in range(args.starts - 1):  # extra cold starts, only for start-to-healthy
        t = mk[name]()
        starts.append(t.start())
        t.stop()
    s = mk[name]()
    starts.append(s.start())
    healthy_ms = statistics.median(starts)
    log(f"[{name}] start to healthy: median {healthy_ms:.1f} ms, max {max(starts):.1f} ms over {len(starts)} starts "
        f"({', '.join(f'{x:.1f}' for x in starts)}); load average {la[0]:.2f}")
    res = {"start_to_healthy_ms": healthy_ms, "start_to_healthy_all_ms": starts, "start_to_healthy_max_ms": max(starts),
           "load_start": la, "bodies": {}}
    try:
        for bname, body in bodies.items():
            status, payload = http(s.port, "POST", "/predict", body["path"].read_bytes(), timeout=30)
            n = len(json.loads(payload)["predictions"]) if status == 200 else -1
            if n != (1 if name == "constant" else body["instances"]):
                sys.exit(f"[{name}] {bname}: status {status}, {n} predictions")
            wrk(s.port, body, args.warmup, args, parse=False)
            sampler = Sampler(s.proc.pid, 0.5, s.tree)
            pids = descendants(s.proc.pid) if s.tree else [s.proc.pid]
            cpu0, la0 = cpu_seconds(pids), loadavg()
            sampler.start()
            r = wrk(s.port, body, args.duration, args)
            samples = sampler.stop()
            cpu = cpu_seconds(pids) - cpu0
            r["server_cpu_seconds"] = cpu
            r["server_cpu_cores"] = cpu / r["seconds"]
            r["server_cpu_us_per_request"] = cpu / max(r["requests"], 1) * 1e6
            r["load_before"], r["load_after"] = la0, loadavg()
            r["rss_max_mb"] = max(x[1] for x in samples) / 1024
            r["pss_max_mb"] = max(x[2] for x in samples) / 1024
            r["rss_samples"] = len(samples)
            res["bodies"][bname] = r
            log(f"[{name}] {bname}: {r['req_per_s']:,.0f} req/s, {r['instances_per_s']:,.0f} inst/s, "
                f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, errors {r['errors']}, "
                f"max RSS {r['rss_max_mb']:.1f} MB, server CPU {r['server_cpu_cores']:.2f} cores = "
                f"{r['server_cpu_us_per_request']:,.0f} us/request")
    finally:
        s.stop()
    res["load_end"] = loadavg()
    return res


def soak(mk, bodies, args):
    s = mk["ours"]()
    la = loadavg()
    healthy_ms = s.start()
    log(f"[soak] ours healthy after {healthy_ms:.1f} ms; {args.soak} s of load, 64-instance body")
    try:
        sampler = Sampler(s.proc.pid, 1.0, False)
        cpu0 = cpu_seconds([s.proc.pid])
        sampler.start()
        r = wrk(s.port, bodies["batch64"], args.soak, args)
        samples = sampler.stop()
        r["server_cpu_seconds"] = cpu_seconds([s.proc.pid]) - cpu0
        r["server_cpu_us_per_request"] = r["server_cpu_seconds"] / max(r["requests"], 1) * 1e6
    finally:
        s.stop()
    after5 = next((x for x in samples if x[0] >= 5.0), samples[0])
    end = samples[-1]
    growth = (end[1] - after5[1]) / after5[1]
    r.update({
        "seconds_requested": args.soak, "start_to_healthy_ms": healthy_ms,
        "rss_after_5s_mb": after5[1] / 1024, "rss_end_mb": end[1] / 1024,
        "rss_max_mb": max(x[1] for x in samples) / 1024, "rss_growth": growth,
        "rss_series": samples, "load_start": la, "load_end": loadavg(),
        "pass": r["errors"] == 0 and growth <= TARGETS["soak_growth"],
    })
    log(f"[soak] {r['requests']:,} requests, {r['req_per_s']:,.0f} req/s, errors {r['errors']}, "
        f"p99 {r['p99_ms']:.2f} ms, RSS {after5[1]/1024:.1f} MB at 5 s -> {end[1]/1024:.1f} MB at end "
        f"({growth:+.1%}) -> {'PASS' if r['pass'] else 'FAIL'}")
    return r


# ---------------------------------------------------------------- report


def verdicts(main):
    o, g = main["servers"]["ours"], main["servers"]["gunicorn"]
    os_, ob = o["bodies"]["single"], o["bodies"]["batch64"]
    gs, gb = g["bodies"]["single"], g["bodies"]["batch64"]
    rs, rb = os_["req_per_s"] / gs["req_per_s"], ob["req_per_s"] / gb["req_per_s"]
    rss = max(os_["rss_max_mb"], ob["rss_max_mb"])
    errors = os_["errors"] + ob["errors"]
    return [
        ("single-instance throughput >= 20x gunicorn", f"{rs:.1f}x", rs >= TARGETS["single_ratio"]),
        ("single-instance p99 <= 5 ms", f"{os_['p99_ms']:.2f} ms", os_["p99_ms"] <= TARGETS["single_p99_ms"]),
        ("64-instance throughput >= 20x gunicorn", f"{rb:.1f}x", rb >= TARGETS["batch_ratio"]),
        ("server RSS under load <= 50 MB", f"{rss:.1f} MB", rss <= TARGETS["rss_mb"]),
        ("start to healthy <= 100 ms (median of cold starts)", f"{o['start_to_healthy_ms']:.1f} ms",
         o["start_to_healthy_ms"] <= TARGETS["healthy_ms"]),
        ("start to healthy <= 100 ms (slowest cold start)", f"{o['start_to_healthy_max_ms']:.1f} ms",
         o["start_to_healthy_max_ms"] <= TARGETS["healthy_ms"]),
        ("no errors under load (ours)", str(errors), errors == 0),
    ]


def render(results):
    lines = []
    main = results.get("main")
    if main:
        m = main["meta"]
        lines += [
            f"Run {m['started']}, {m['cpus']} CPUs ({m['cpu']}), mlops-serve {m['serve_sha']}, "
            f"constant_server {m['constant_sha']}, {m['wrk']}; wrk -t{m['threads']} -c{m['connections']} "
            f"-d{m['duration']}s --latency after a {m['warmup']} s warm-up; {m.get('starts', 1)} cold starts per server; load average at start/end "
            f"{m['load_start'][0]:.2f}/{m['load_end'][0]:.2f}.",
            "",
            "| Server | Body | req/s | instances/s | p50 ms | p99 ms | errors (non-2xx / socket) | max RSS MB | start to healthy ms (median / max) | server CPU µs/request |",
            "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        labels = {"ours": "mlops-serve (Rust)", "gunicorn": "gunicorn + Flask (2 workers)",
                  "constant": "constant axum (ceiling)"}
        for name, s in main["servers"].items():
            for i, (bname, r) in enumerate(s["bodies"].items()):
                sock = sum(r["socket_errors"].values())
                first = i == 0
                lines.append(
                    f"| {labels[name] if first else ''} | {'1 instance' if bname == 'single' else '64 instances'} "
                    f"| {r['req_per_s']:,.0f} | {r['instances_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                    f"| {r['non_2xx']} / {sock} | {r['rss_max_mb']:.1f} "
                    f"| {format(s['start_to_healthy_ms'], '.1f') + ' / ' + format(s['start_to_healthy_max_ms'], '.1f') if first else ''} "
                    f"| {r['server_cpu_us_per_request']:,.0f} |"
                )
        sv = main["servers"]
        ratio = lambda a, b, k: sv[a]["bodies"][k]["req_per_s"] / sv[b]["bodies"][k]["req_per_s"]
        cpu_ratio = lambda k: (sv["gunicorn"]["bodies"][k]["server_cpu_us_per_request"]
                               / sv["ours"]["bodies"][k]["server_cpu_us_per_request"])
        lines += [
            "",
            "| Ratio | 1 instance | 64 instances |",
            "|---|---:|---:|",
            f"| throughput, ours / gunicorn | {ratio('ours', 'gunicorn', 'single'):.1f}x | {ratio('ours', 'gunicorn', 'batch64'):.1f}x |",
            f"| throughput, ours / constant ceiling | {ratio('ours', 'constant', 'single'):.2f} | {ratio('ours', 'constant', 'batch64'):.2f} |",
            f"| server CPU per request, gunicorn / ours | {cpu_ratio('single'):.0f}x | {cpu_ratio('batch64'):.1f}x |",
            "",
        ]
        c = main["correctness"]
        lines += [
            f"Correctness (same 64-row body to both, before timing): max |p_ours - p_flask| = "
            f"{c['max_abs_diff']:.3g}, rows over {c['tolerance']:g}: {c['over_tolerance']}, label "
            f"mismatches: {c['label_mismatches']} ({'pass' if c['pass'] else 'FAIL'}).",
            "",
            "| Target | Measured | Result |",
            "|---|---:|---|",
        ]
        for what, value, ok in verdicts(main):
            lines.append(f"| {what} | {value} | {'PASS' if ok else 'FAIL'} |")
        lines.append("")
    s = results.get("soak")
    if s:
        sock = sum(s["socket_errors"].values())
        lines += [
            f"Soak {s['started']}: mlops-serve only, 64-instance body, {s['seconds_requested']} s "
            f"(wrk -t{s['threads']} -c{s['connections']}), RSS every second; load average at start/end "
            f"{s['load_start'][0]:.2f}/{s['load_end'][0]:.2f}.",
            "",
            "| requests | req/s | instances/s | p50 ms | p99 ms | non-2xx | socket errors | RSS at 5 s MB | RSS at end MB | max RSS MB | growth | Result |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {s['requests']:,} | {s['req_per_s']:,.0f} | {s['instances_per_s']:,.0f} | {s['p50_ms']:.2f} "
            f"| {s['p99_ms']:.2f} | {s['non_2xx']} | {sock} | {s['rss_after_5s_mb']:.1f} | {s['rss_end_mb']:.1f} "
            f"| {s['rss_max_mb']:.1f} | {s['rss_growth']:+.1%} | {'PASS' if s['pass'] else 'FAIL'} |",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_py = HERE / ".venv" / "bin" / "python"
    ap.add_argument("--duration", type=int, default=20, help="seconds of load per server and body (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each measured run (default 2)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--starts", type=int, default=5, help="cold starts per server for start-to-healthy (median, max)")
    ap.add_argument("--soak", type=int, metavar="SECONDS", help="soak mode: ours only, 64 instances, SECONDS of load")
    ap.add_argument("--python", default=str(default_py) if default_py.exists() else "python3",
                    help="Python with requirements.txt installed, for gunicorn (default bench/serving/.venv)")
    ap.add_argument("--serve", default=str(ROOT / "target/release/mlops-serve"))
    ap.add_argument("--constant", default=str(ROOT / "target/release/examples/constant_server"))
    ap.add_argument("--mlops", default=str(ROOT / "target/release/mlops"), help="used only to train a missing model")
    ap.add_argument("--servers", default="ours,gunicorn,constant",
                    help="comma-separated subset; a subset prints its numbers and does not update results/")
    ap.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for mlops-serve, for investigations (e.g. MLOPS_ACCESS_LOG=false)")
    ap.add_argument("--stdout", choices=["devnull", "pipe"], default="devnull",
                    help="servers' stdout: /dev/null (default) or a pipe drained by a reader thread")
    args = ap.parse_args()
    global STDOUT_PIPE
    STDOUT_PIPE = args.stdout == "pipe"

    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    for b in (args.serve, args.constant):
        if not Path(b).exists():
            sys.exit(f"{b} missing: cargo build --release && cargo build --release -p mlops-serving --example constant_server")
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (WORK / "post.lua").write_text(LUA)
    if not (MODEL / "model.json").exists():
        log(f"training the model bundle {MODEL.relative_to(ROOT)}")
        subprocess.run([args.mlops, "train", "--data", str(DATA), "--out", str(MODEL)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    meta = json.loads((MODEL / "metadata.json").read_text())
    bodies = make_bodies(meta)

    # Snapshot the binaries so a concurrent rebuild of target/ cannot swap them mid-run.
    bindir = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    shutil.copy2(args.serve, bindir / "mlops-serve")
    shutil.copy2(args.constant, bindir / "constant_server")
    mk = servers(args, bindir)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].split(" [")[0]
    meta_run = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
        "serve_sha": sha256_prefix(bindir / "mlops-serve"), "constant_sha": sha256_prefix(bindir / "constant_server"),
        "wrk": wrk_version, "threads": args.threads, "connections": args.connections,
        "duration": args.duration, "warmup": args.warmup, "starts": args.starts, "load_start": loadavg(),
        "bodies": {k: {"instances": v["instances"], "bytes": v["bytes"]} for k, v in bodies.items()},
        "model": str(MODEL.relative_to(ROOT)),
    }
    try:
        with open("/proc/cpuinfo") as f:
            meta_run["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass

    latest = RESULTS / "latest.json"
    results = json.loads(latest.read_text()) if latest.exists() else {}
    try:
        if args.soak:
            r = soak(mk, bodies, args)
            r.update({"started": meta_run["started"], "serve_sha": meta_run["serve_sha"],
                      "threads": args.threads, "connections": args.connections})
            results["soak"] = r
        else:
            names = args.servers.split(",")
            correct = correctness(mk, bodies) if {"ours", "gunicorn"} <= set(names) else None
            main_res = {"meta": meta_run, "correctness": correct, "servers": {}}
            for name in names:
                main_res["servers"][name] = bench_server(mk, name, bodies, args)
            meta_run["load_end"] = loadavg()
            if names == ["ours", "gunicorn", "constant"] and not args.ours_env:
                results["main"] = main_res
            else:
                log(json.dumps({k: {b: {x: y for x, y in r.items() if x != "wrk_output"}
                                    for b, r in v["bodies"].items()} for k, v in main_res["servers"].items()},
                               indent=1))
                log("(partial run: results/latest.* not updated)")
                return
    finally:
        shutil.rmtree(bindir, ignore_errors=True)

    latest.write_text(json.dumps(results, indent=1))
    md = render(results)
    (RESULTS / "latest.md").write_text(md + "\n")
    log("")
    log(md)
    log(f"wrote {latest.relative_to(ROOT)} and latest.md")


if __name__ == "__main__":
    main()
