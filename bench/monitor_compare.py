"""Benchmark `mlops monitor drift` + `mlops monitor performance` (Rust) against the same
checks in Python (bench/monitor_py.py: NumPy, SciPy, scikit-learn, pandas), whole processes,
side by side in the same run.

    python3 bench/monitor_compare.py --python PY [--mlops BIN] [--rows 1000000] [--reps 5]
                                     [--work DIR]

Builds the inputs once under --work (default /tmp/mlops-monitor-bench, outside the repo):
a model trained on data/wa_churn.csv; `mlops gen-data --rows N --seed 0 --id-column id
--shift 0.2` (a moderately shifted population, so that some features drift);
its predictions table (`mlops predict --table`); a scored table = the rows with their
`probability` column (so drift reads the scores and every input column from one file, as a
scoring job's output does); the outcomes of 80 % of the ids (`mlops gen-outcomes`). All
Parquet. Then, --reps times, alternating who goes first: each side's drift process (score
drift + feature drift of every profiled column) and performance process (join by id,
realised metrics, CBPE estimate). Wall seconds per process and per pair; medians.

Both sides must print the same values: PSI, JS, KS, Wasserstein, every feature's JS, the
realised and estimated AUC agree within 1e-9 or the run stops. The Python side runs with
OMP_WAIT_POLICY=PASSIVE (2 busy cores). Writes bench/results/monitor_<rows>.json and .md.
Standard library only (the Python side needs bench/requirements.txt in --python).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
TOLERANCE = 1e-9


def run(cmd):
    """Run a command from the repo root; (stdout, wall seconds). Stops the benchmark on failure."""
    started = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr}")
    return proc.stdout, wall


def prepare(mlops, python, rows, work):
    work.mkdir(parents=True, exist_ok=True)
    model = work / "model"
    data = work / f"rows_{rows}.parquet"
    predictions = work / f"predictions_{rows}.parquet"
    scored = work / f"scored_{rows}.parquet"
    outcomes = work / f"outcomes_{rows}.parquet"
    if not (model / "metadata.json").exists():
        run([mlops, "train", "--data", "data/wa_churn.csv", "--out", model])
    if not data.exists():
        run([mlops, "gen-data", "--rows", rows, "--seed", 0, "--id-column", "id",
             "--shift", "0.2", "--out", data])
    if not predictions.exists():
        run([mlops, "predict", "--model", model, "--data", data, "--out", predictions,
             "--table", "--id-column", "id"])
    if not scored.exists():
        join = (
            "import pandas as pd, sys; d = pd.read_parquet(sys.argv[1]); "
            "p = pd.read_parquet(sys.argv[2], columns=['id', 'probability']); "
            "assert (d['id'].astype(str).values == p['id'].astype(str).values).all(); "
            "d['probability'] = p['probability'].values; d.to_parquet(sys.argv[3], index=False)"
        )
        run([python, "-c", join, data, predictions, scored])
    if not outcomes.exists():
        run([mlops, "gen-outcomes", "--predictions", predictions, "--data", data,
             "--out", outcomes])
    return model, scored, predictions, outcomes


def commands(mlops, python, model, scored, predictions, outcomes):
    rust = {
        "drift": [mlops, "monitor", "drift", "--json", "--model", model, "--data", scored],
        "performance": [mlops, "monitor", "performance", "--json", "--predictions",
                        predictions, "--outcomes", outcomes],
    }
    script = ROOT / "bench" / "monitor_py.py"
    py = {
        "drift": [python, script, "drift", "--model", model, "--data", scored],
        "performance": [python, script, "performance", "--predictions", predictions,
                        "--outcomes", outcomes],
    }
    return {"rust": rust, "python": py}


def agree(name, a, b):
    if a is None or b is None or abs(a - b) > TOLERANCE:
        sys.exit(f"the two sides disagree on {name}: rust {a}, python {b}")


def check_same(rust, py):
    """Stop unless both sides computed the same values."""
    for key in ["psi", "js_distance", "ks", "wasserstein"]:
        agree(key, rust["drift"][key], py["drift"][key])
    rust_features = {
        c["name"]: c for c in rust["drift"]["features"]["columns"] if c.get("status") == "computed"
    }
    for f in py["drift"]["features"]:
        agree(f"{f['name']} js_distance", rust_features[f["name"]]["js_distance"], f["js_distance"])
        if "psi" in f:
            agree(f"{f['name']} psi", rust_features[f["name"]]["psi"], f["psi"])
    if sorted(rust["drift"]["drifted_features"]) != sorted(py["drift"]["drifted_features"]):
        sys.exit(f"drifted features differ: {rust['drift']['drifted_features']} vs "
                 f"{py['drift']['drifted_features']}")
    for side in ["realised", "estimated"]:
        for key in py["performance"][side]:
            agree(f"{side} {key}", rust["performance"][side][key], py["performance"][side][key])
    agree("rows with an outcome", rust["performance"]["rows_with_outcome"],
          py["performance"]["rows_with_outcome"])
    return len(py["drift"]["features"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="Python with bench/requirements.txt")
    parser.add_argument("--mlops", default=str(ROOT / "target" / "release" / "mlops"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--work", default="/tmp/mlops-monitor-bench")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        # A rebuild of target/ must not swap the binary mid-run.
        mlops = Path(tmp) / "mlops"
        shutil.copy2(args.mlops, mlops)
        model, scored, predictions, outcomes = prepare(mlops, args.python, args.rows,
                                                       Path(args.work))
        cmds = commands(mlops, args.python, model, scored, predictions, outcomes)
        times = {side: {"drift": [], "performance": [], "total": []} for side in cmds}
        checked = 0
        for rep in range(args.reps):
            order = ["rust", "python"] if rep % 2 == 0 else ["python", "rust"]
            outputs = {}
            for side in order:
                outputs[side] = {}
                total = 0.0
                for step in ["drift", "performance"]:
                    out, wall = run(cmds[side][step])
                    outputs[side][step] = json.loads(out)
                    times[side][step].append(wall)
                    total += wall
                times[side]["total"].append(total)
            checked = check_same(outputs["rust"], outputs["python"])
            print(f"rep {rep + 1}/{args.reps}: rust {times['rust']['total'][-1]:.3f}s, "
                  f"python {times['python']['total'][-1]:.3f}s", file=sys.stderr)

    med = {s: {k: statistics.median(v) for k, v in t.items()} for s, t in times.items()}
    speedup = {k: med["python"][k] / med["rust"][k] for k in med["rust"]}
    drift = outputs["rust"]["drift"]
    perf = outputs["rust"]["performance"]
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "rows": args.rows,
        "reps": args.reps,
        "features_compared": checked,
        "median_seconds": med,
        "all_seconds": times,
        "speedup": speedup,
        "values": {
            "psi": drift["psi"],
            "js_distance": drift["js_distance"],
            "drift_detected": drift["drift_detected"],
            "drifted_features": drift["drifted_features"],
            "realised_auc": perf["realised"]["auc"],
            "estimated_auc": perf["estimated"]["auc"],
            "rows_with_outcome": perf["rows_with_outcome"],
        },
    }
    lines = [
        f"Monitoring benchmark {result['date']}: {args.rows:,} scored rows, medians of "
        f"{args.reps}, whole processes ({result['machine']}, load average at end "
        f"{result['load_average'][0]:.2f}).",
        "",
        "| Step | Rust `mlops monitor` s | Python (numpy/scipy/sklearn) s | Speed-up |",
        "|---|---|---|---|",
    ]
    for step, label in [("drift", "drift (score + features)"), ("performance", "performance"),
                        ("total", "**both**")]:
        lines.append(f"| {label} | {med['rust'][step]:.3f} | {med['python'][step]:.3f} | "
                     f"{speedup[step]:.1f}× |")
    lines += [
        "",
        f"Same values on both sides (within {TOLERANCE:g}): PSI {drift['psi']:.4f}, JS "
        f"{drift['js_distance']:.4f}, {checked} features, drifted: "
        f"{', '.join(drift['drifted_features']) or 'none'}; realised AUC "
        f"{perf['realised']['auc']:.4f}, estimated {perf['estimated']['auc']:.4f}.",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"monitor_{args.rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"monitor_{args.rows}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
