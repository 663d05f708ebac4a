"""Benchmark `mlops` (Rust) against Python XGBoost, side by side in the same run.

    python bench/compare.py [--quick] [--python PY] [--mlops BIN] [--reps N] [--reps-large N]
    python bench/compare.py --parity [--rows N] [--reps-large N] [--python PY] [--mlops BIN]

Cases (each repetition runs both sides back to back, alternating who goes first):
  1. wa_churn training: `mlops train --json` vs bench/xgb_train.py --split
     (fit seconds, test AUC; the two 80/20 splits are different row sets),
     plus 5-fold CV AUC averaged over seeds 42, 43, 44 (deterministic, run once).
  2. 1M-row training: `mlops train --test-data` vs xgb_train.py --test-data
     (fit seconds, AUC on a 200k-row test table).
  3. 1M-row batch prediction Parquet -> Parquet with the same model (the one mlops
     trained in case 2): `mlops predict --json` vs bench/pandas_predict.py; whole
     command and model-only times; plus a probability agreement check.

Reports medians as a markdown table; writes bench/results/latest.json and latest.md
(quick.json and quick.md with --quick).

--parity runs only the booster parity case instead: `mlops gen-data --rows N --seed 0`
(default 1M), split by bench/split_table.py (sklearn stratified 80/20, random_state=42) into
two Parquet files that both sides use; then, alternating, `mlops train --data train
--test-data test` vs xgb_train.py one-hot and native categorical (enable_categorical=True),
same hyperparameters (config/model.yaml, max_bin 256); medians of --reps-large (default 3)
AUCs and fit seconds; plus a max_bin sweep (64, 128, 256; one run each, AUC is
deterministic) of ours (a config copy under bench/work/) and XGBoost one-hot.
Writes bench/results/parity_<rows>.json and .md.
Needs only the standard library; the Python side runs under --python with
OMP_WAIT_POLICY=PASSIVE. The mlops binary is copied to a temp dir first so that a
concurrent rebuild of target/ cannot swap it mid-run. --quick: 200k rows, fewer reps.
"""

import argparse
import datetime
import hashlib
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
BENCH = ROOT / "bench"
WORK, RESULTS = BENCH / "work", BENCH / "results"
WA = "data/wa_churn.csv"
CV_SEEDS = [42, 43, 44]
SWEEP_BINS = [64, 128, 256]
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def run(cmd):
    """Run a command from the repo root; return (parsed last JSON line of stdout, wall seconds)."""
    started = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def run_plain(cmd):
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, cmd))}\n{proc.stderr}")


def alternate(reps, ours, python, label):
    """Run ours() and python() `reps` times, alternating which goes first."""
    results = {"ours": [], "python": []}
    for i in range(reps):
        order = [("ours", ours), ("python", python)] if i % 2 == 0 else [("python", python), ("ours", ours)]
        for side, fn in order:
            results[side].append(fn())
        print(f"  {label}: rep {i + 1}/{reps} done", file=sys.stderr)
    return results


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def human(n):
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def loadavg():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_py = ROOT / ".venv/bin/python"
    ap.add_argument("--python", default=str(default_py) if default_py.exists() else "python3")
    ap.add_argument("--mlops", default=str(ROOT / "target/release/mlops"))
    ap.add_argument("--quick", action="store_true", help="smoke run: 200k rows, fewer repetitions")
    ap.add_argument("--reps", type=int, help="repetitions of the small cases (default 5; quick 2)")
    ap.add_argument("--reps-large", type=int, help="repetitions of the large cases (default 3; quick 1)")
    ap.add_argument("--parity", action="store_true", help="only the booster parity case (see above)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the parity table (default 1M)")
    args = ap.parse_args()
    reps = args.reps or (2 if args.quick else 5)
    reps_large = args.reps_large or (1 if args.quick else 3)
    n_train = 200_000 if args.quick else 1_000_000
    n_test = n_train // 5
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)

    # Snapshot the binary (in a temp dir, removed at exit): another build may replace
    # target/release/mlops during the run.
    snapshot = tempfile.TemporaryDirectory(prefix="mlops-bench-")
    mlops = Path(snapshot.name) / "mlops"
    shutil.copy2(args.mlops, mlops)
    sha = hashlib.sha256(mlops.read_bytes()).hexdigest()[:12]
    py = args.python
    config = ["--config", "config/model.yaml"]
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick, "reps": reps, "reps_large": reps_large,
        "cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": loadavg(),
        "mlops": args.mlops, "mlops_sha256": sha,
        "mlops_version": subprocess.run([mlops, "--version"], capture_output=True, text=True).stdout.strip(),
        "python": py,
        "python_versions": run([py, "-c", "import json,sys,xgboost,pandas,numpy,sklearn;print(json.dumps("
                                "{'python':sys.version.split()[0],'xgboost':xgboost.__version__,"
                                "'pandas':pandas.__version__,'numpy':numpy.__version__,"
                                "'sklearn':sklearn.__version__}))"])[0],
    }
    print(f"mlops {sha} ({meta['mlops_version']}), python {meta['python_versions']}", file=sys.stderr)
    if args.parity:
        return parity(mlops, py, args.rows, args.reps_large or 3, meta)

    # Data for the large cases (generated once, reused across runs).
    train = WORK / f"train_{human(n_train).lower()}.parquet"
    test = WORK / f"test_{human(n_test).lower()}.parquet"
    for path, rows, seed in [(train, n_train, 1), (test, n_test, 2)]:
        if not path.exists():
            run_plain([mlops, "gen-data", "--rows", rows, "--seed", seed, "--out", path, *config])

    # 1. wa_churn: split training, then CV AUC.
    def ours_wa():
        out, wall = run([mlops, "train", "--data", WA, "--out", WORK / "model_wa", "--json", *config])
        return {**out, "wall": wall}

    def py_wa():
        out, wall = run([py, BENCH / "xgb_train.py", "--data", WA, "--split"])
        return {**out, "wall": wall}

    wa = alternate(reps, ours_wa, py_wa, "wa_churn split")
    ours_cv = {}
    for s in CV_SEEDS:
        out, _ = run([mlops, "train", "--data", WA, "--out", WORK / "model_cv", "--json",
                      "--cv", 5, "--seed", s, *config])
        ours_cv[str(s)] = out["cv_auc_mean"]
    py_cv, _ = run([py, BENCH / "xgb_train.py", "--data", WA, "--cv", 5,
                    "--seeds", ",".join(map(str, CV_SEEDS))])
    print("  wa_churn CV done", file=sys.stderr)

    # 2. Large training on generated data; the last mlops model is used for prediction.
    model = WORK / "model_large"

    def ours_fit():
        out, wall = run([mlops, "train", "--data", train, "--test-data", test, "--out", model, "--json", *config])
        return {**out, "wall": wall}

    def py_fit():
        out, wall = run([py, BENCH / "xgb_train.py", "--data", train, "--test-data", test])
        return {**out, "wall": wall}

    big = alternate(reps_large, ours_fit, py_fit, f"train {human(n_train)}")

    # 3. Batch prediction with the same model, Parquet -> Parquet.
    ours_out, py_out = WORK / "pred_ours.parquet", WORK / "pred_python.parquet"

    def ours_pred():
        out, wall = run([mlops, "predict", "--model", model, "--data", train, "--out", ours_out, "--json"])
        return {**out, "work": out["read"] + out["encode"] + out["score"] + out["write"], "wall": wall}

    def py_pred():
        out, wall = run([py, BENCH / "pandas_predict.py", "--model", model, "--data", train, "--out", py_out])
        return {**out, "wall": wall}

    pred = alternate(reps_large, ours_pred, py_pred, f"predict {human(n_train)}")
    agree, _ = run([py, BENCH / "agreement.py", "--model", model, "--ours", ours_out,
                    "--python", py_out, "--test-data", test])
    meta["loadavg_end"] = loadavg()

    # Summary (medians).
    s = {
        "wa_fit": (med(wa["ours"], "fit_seconds"), med(wa["python"], "fit_seconds")),
        "wa_auc": (med(wa["ours"], "auc"), med(wa["python"], "auc")),
        "cv_auc": (statistics.mean(ours_cv.values()), py_cv["cv_auc_mean"]),
        "big_fit": (med(big["ours"], "fit_seconds"), med(big["python"], "fit_seconds")),
        "big_auc": (med(big["ours"], "auc"), med(big["python"], "auc")),
        "pred_wall": (med(pred["ours"], "wall"), med(pred["python"], "wall")),
        "pred_work": (med(pred["ours"], "work"), med(pred["python"], "seconds")),
        "pred_model": (med(pred["ours"], "score"), med(pred["python"], "predict_seconds")),
        "py_dmatrix": med(pred["python"], "dmatrix_seconds"),
    }
    rows = pred["ours"][0]["rows"]
    s["pred_rps"] = (rows / s["pred_work"][0], rows / s["pred_work"][1])
    s["pred_rps_wall"] = (rows / s["pred_wall"][0], rows / s["pred_wall"][1])
    table = render(s, meta, n_train, n_test, ours_cv, py_cv, agree, big)
    print(table)

    results = {"meta": meta, "summary_medians": s, "agreement": agree,
               "cv_auc_per_seed": {"ours": ours_cv, "python": py_cv["cv_auc_per_seed"]},
               "raw": {"wa_churn_split": wa, "train_large": big, "predict_large": pred},
               "rows": {"train": n_train, "test": n_test, "wa_churn_train": wa["ours"][0]["train_rows"]}}
    name = "quick" if args.quick else "latest"  # a smoke run never overwrites the full results
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(table + "\n")
    print(f"wrote {RESULTS / name}.json and {name}.md", file=sys.stderr)


def parity(mlops, py, n_rows, reps, meta):
    """Booster parity: both sides on the same sklearn split of one generated table."""
    meta["reps_large"] = reps
    tag = human(n_rows).lower()
    table = WORK / f"parity_table_{tag}.parquet"
    train, test = WORK / f"parity_train_{tag}.parquet", WORK / f"parity_test_{tag}.parquet"
    if not table.exists():
        run_plain([mlops, "gen-data", "--rows", n_rows, "--seed", 0, "--out", table,
                   "--config", "config/model.yaml"])
    if not (train.exists() and test.exists()):
        run([py, BENCH / "split_table.py", "--data", table, "--train", train, "--test", test])
    base = (ROOT / "config/model.yaml").read_text()
    assert "    max_bin: 256\n" in base, "config/model.yaml: expected max_bin: 256"
    model = WORK / "model_parity"

    def ours(max_bin=256):
        config = WORK / f"parity_model_{max_bin}.yaml"
        config.write_text(base.replace("    max_bin: 256\n", f"    max_bin: {max_bin}\n"))
        out, wall = run([mlops, "train", "--data", train, "--test-data", test, "--out", model,
                         "--json", "--config", config])
        return {**out, "wall": wall}

    def xgb(max_bin=256, native=False):
        extra = ["--native-categorical"] if native else []
        out, wall = run([py, BENCH / "xgb_train.py", "--data", train, "--test-data", test,
                         "--max-bin", max_bin, *extra])
        return {**out, "wall": wall}

    runs = {"ours": [], "onehot": [], "native": []}
    sides = [("ours", ours), ("onehot", xgb), ("native", lambda: xgb(native=True))]
    for i in range(reps):
        for side, fn in sides[i % 3:] + sides[:i % 3]:  # rotate who goes first
            runs[side].append(fn())
        print(f"  parity {human(n_rows)}: rep {i + 1}/{reps} done", file=sys.stderr)
    sweep = {"ours": {}, "onehot": {}}
    for b in SWEEP_BINS:
        sweep["ours"][str(b)] = runs["ours"][0]["auc"] if b == 256 else ours(b)["auc"]
        sweep["onehot"][str(b)] = runs["onehot"][0]["auc"] if b == 256 else xgb(b)["auc"]
        print(f"  parity sweep max_bin {b} done", file=sys.stderr)
    meta["loadavg_end"] = loadavg()
    s = {k: {"auc": med(v, "auc"), "logloss": med(v, "logloss"), "fit_seconds": med(v, "fit_seconds")}
         for k, v in runs.items()}
    o, p, n = s["ours"], s["onehot"], s["native"]
    lines = [
        f"Run {meta['date']}, {meta['cpus']} CPUs, mlops {meta['mlops_sha256']}, "
        f"xgboost {meta['python_versions']['xgboost']}; `mlops gen-data --rows {n_rows} --seed 0`, "
        f"sklearn stratified 80/20 split (random_state=42); medians of {reps}; "
        f"load average at start/end {meta['loadavg_start'][0]:.2f}/{meta['loadavg_end'][0]:.2f}.",
        "",
        "| max_bin 256 | mlops (Rust) | XGBoost one-hot | XGBoost native categorical |",
        "|---|---|---|---|",
        f"| test AUC | {o['auc']:.4f} | {p['auc']:.4f} ({o['auc'] - p['auc']:+.4f}) | "
        f"{n['auc']:.4f} ({o['auc'] - n['auc']:+.4f}) |",
        f"| test logloss | {o['logloss']:.4f} | {p['logloss']:.4f} | {n['logloss']:.4f} |",
        f"| fit seconds | {o['fit_seconds']:.2f} | {p['fit_seconds']:.2f} (ours/xgb "
        f"{o['fit_seconds'] / p['fit_seconds']:.2f}) | {n['fit_seconds']:.2f} |",
        "",
        "| max_bin | " + " | ".join(map(str, SWEEP_BINS)) + " |",
        "|---|" + "---|" * len(SWEEP_BINS),
        "| mlops AUC | " + " | ".join(f"{sweep['ours'][str(b)]:.4f}" for b in SWEEP_BINS) + " |",
        "| XGBoost one-hot AUC | " + " | ".join(f"{sweep['onehot'][str(b)]:.4f}" for b in SWEEP_BINS) + " |",
    ]
    text = "\n".join(lines)
    print(text)
    results = {"meta": meta, "rows": n_rows, "summary_medians": s, "max_bin_sweep": sweep, "raw": runs}
    (RESULTS / f"parity_{tag}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"parity_{tag}.md").write_text(text + "\n")
    print(f"wrote {RESULTS}/parity_{tag}.json and .md", file=sys.stderr)


def render(s, meta, n_train, n_test, ours_cv, py_cv, agree, big):
    N, T = human(n_train), human(n_test)

    def t(key, d=3):  # times: ours, python, ours/python
        o, p = s[key]
        return f"{o:.{d}f} | {p:.{d}f} | {o / p:.2f}"

    def a(key):  # AUCs: ours, python, ours - python
        o, p = s[key]
        return f"{o:.4f} | {p:.4f} | {o - p:+.4f}"

    o_rps, p_rps = s["pred_rps"]
    ow_rps, pw_rps = s["pred_rps_wall"]
    lines = [
        f"Run {meta['date']}, {meta['cpus']} CPUs, mlops {meta['mlops_sha256']}, "
        f"xgboost {meta['python_versions']['xgboost']}; medians of {meta['reps']} (wa_churn) / "
        f"{meta['reps_large']} ({N}) repetitions; load average at start/end "
        f"{meta['loadavg_start'][0]:.2f}/{meta['loadavg_end'][0]:.2f}.",
        "",
        "| Case | Metric | mlops (Rust) | Python XGBoost | ours/Python (time) or ours−Python (AUC) |",
        "|---|---|---|---|---|",
        f"| wa_churn train, 80/20 split | fit seconds | {t('wa_fit')} |",
        f"| | test AUC (different splits) | {a('wa_auc')} |",
        f"| wa_churn 5-fold CV, seeds 42/43/44 | mean AUC | {a('cv_auc')} |",
        f"| train {N} rows, test {T} rows | fit seconds | {t('big_fit', 2)} |",
        f"| | test AUC | {a('big_auc')} |",
        f"| predict {N} rows, Parquet→Parquet | whole command wall seconds | {t('pred_wall', 2)} |",
        f"| | work seconds (in-process, excl. startup) | {t('pred_work', 2)} |",
        f"| | rows/s (work) | {o_rps:,.0f} | {p_rps:,.0f} | {o_rps / p_rps:.1f}× throughput |",
        f"| | rows/s (wall) | {ow_rps:,.0f} | {pw_rps:,.0f} | {ow_rps / pw_rps:.1f}× throughput |",
        f"| | model-only seconds (score vs Booster.predict) | {t('pred_model', 2)} |",
        f"| | Python DMatrix construction seconds | – | {s['py_dmatrix']:.2f} | |",
        "",
        f"Same-model agreement ({agree['rows']:,} rows): max |p_ours − p_xgboost| = {agree['max_abs_diff']:.2e}, "
        f"rows over 1e-5: {agree['rows_over_1e-5']}, predicted-label mismatches: {agree['label_mismatches']}; "
        f"xgboost AUC of the mlops model on the test table {agree['xgboost_auc_same_model']:.6f} "
        f"vs mlops-reported {big['ours'][-1]['auc']:.6f}.",
    ]
    if agree["rows_over_1e-5"]:
        lines.append(f"\n**WARNING: {agree['rows_over_1e-5']} probabilities differ by more than 1e-5 "
                     "between mlops and xgboost on the same model.**")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
