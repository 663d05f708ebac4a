"""Peak memory and throughput of `mlops predict` (Parquet -> Parquet) as the table grows.

    python3 bench/predict_memory.py [--mlops BIN] [--before BIN] [--rows 1000000,10000000]
                                    [--reps 3] [--work DIR] [--format parquet|csv]

Generates each table once with `mlops gen-data --rows N --seed 1` (under --work, default
/tmp/mlops-predict-memory, outside the repo: 10M rows are ~300 MB of Parquet), trains one
model on data/wa_churn.csv (the shipped config: 200 trees of depth 6), then runs
`mlops predict --json` --reps times per table and binary, alternating binaries. Per run: peak
resident memory of the process (ru_maxrss from wait4, i.e. VmHWM: heap plus the file pages
it had mapped), wall seconds, and rows/s by wall clock and by in-process work (read + encode
+ score + write from --json). Reports medians as a markdown table, the peak-RSS ratio of the
largest to the smallest table, and writes bench/results/predict_memory.json.

--before BIN adds the same runs for a second binary (e.g. one built from an older commit).
Both binaries are copied to a temp dir first (a rebuild of target/ cannot swap them
mid-run). Needs only the standard library; Linux (wait4).
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run_checked(cmd):
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr}")
    return proc.stdout


def measure(cmd):
    """Run a command; return (stdout, wall seconds, peak RSS in MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # wait4 reports the child's own rusage (ru_maxrss in KiB on Linux).
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err}")
    return out, wall, usage.ru_maxrss / 1024


def human(n):
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mlops", default=str(ROOT / "target/release/mlops"))
    ap.add_argument("--before", help="a second binary to measure the same way")
    ap.add_argument("--rows", default="1000000,10000000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", default="/tmp/mlops-predict-memory")
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    snapshot = tempfile.TemporaryDirectory(prefix="mlops-predict-memory-")
    binaries = {}
    for name, path in [("after", args.mlops), ("before", args.before)]:
        if path:
            copy = Path(snapshot.name) / name
            shutil.copy2(path, copy)
            binaries[name] = copy
    main_bin = binaries["after"]
    sizes = [int(r) for r in args.rows.split(",")]
    # With --before, the older binary trains: newer binaries read older bundles, not the
    # other way round (an older one refuses metadata fields it does not know).
    trainer = binaries.get("before", main_bin)
    model = work / ("model-before" if "before" in binaries else "model")
    if not (model / "metadata.json").exists():
        run_checked([trainer, "train", "--data", "data/wa_churn.csv", "--out", model])
    tables = {}
    for n in sizes:
        table = work / f"rows_{human(n).lower()}.{args.format}"
        if not table.exists():
            print(f"generating {table}", file=sys.stderr)
            run_checked([main_bin, "gen-data", "--rows", n, "--seed", 1, "--out", table])
        tables[n] = table

    runs = {name: {n: [] for n in sizes} for name in binaries}
    for rep in range(args.reps):
        order = list(binaries.items())
        if rep % 2 == 1:
            order.reverse()
        for n in sizes:
            for name, binary in order:
                out = work / f"pred_{name}.parquet"
                stdout, wall, rss = measure([binary, "predict", "--model", model, "--data",
                                             tables[n], "--out", out, "--json"])
                t = json.loads(stdout.strip().splitlines()[-1])
                work_s = t["read"] + t["encode"] + t["score"] + t["write"]
                runs[name][n].append({"wall": wall, "rss_mb": rss, "work": work_s, **t})
                out.unlink(missing_ok=True)
                print(f"  rep {rep + 1}: {name} {human(n)} {rss:.0f} MB {wall:.2f} s", file=sys.stderr)

    lines = [
        f"Run {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, "
        f"{os.cpu_count()} CPUs, {args.format} -> parquet, medians of {args.reps}; "
        f"load average at end {os.getloadavg()[0]:.2f}.",
        "",
        "| Binary | Rows | Peak RSS (MB) | Wall s | Rows/s (wall) | Rows/s (work) | read / encode / score / write s |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for name in binaries:
        for n in sizes:
            rs = runs[name][n]
            m = {k: statistics.median(r[k] for r in rs)
                 for k in ["wall", "rss_mb", "work", "read", "encode", "score", "write"]}
            summary.setdefault(name, {})[n] = m
            lines.append(
                f"| {name} | {human(n)} | {m['rss_mb']:.0f} | {m['wall']:.2f} | {n / m['wall']:,.0f} "
                f"| {n / m['work']:,.0f} | {m['read']:.2f} / {m['encode']:.2f} / {m['score']:.2f} / "
                f"{m['write']:.2f} |")
    lines.append("")
    for name in binaries:
        lo, hi = summary[name][min(sizes)], summary[name][max(sizes)]
        lines.append(f"{name}: peak RSS {human(max(sizes))} / {human(min(sizes))} = "
                     f"{hi['rss_mb'] / lo['rss_mb']:.2f}x")
    text = "\n".join(lines)
    print(text)
    (RESULTS / "predict_memory.json").write_text(json.dumps(
        {"runs": {k: {str(n): v for n, v in r.items()} for k, r in runs.items()},
         "summary": {k: {str(n): v for n, v in s.items()} for k, s in summary.items()},
         "table": text}, indent=1))


if __name__ == "__main__":
    main()
