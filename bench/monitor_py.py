"""Python side of the monitoring benchmark (bench/monitor_compare.py): the checks of
`mlops monitor drift` and `mlops monitor performance` as a Python template would write them,
with NumPy, SciPy, scikit-learn and pandas, vectorised throughout.

    monitor_py.py drift --model DIR --data TABLE [--bins N] [--binning quantile|uniform]
    monitor_py.py performance --predictions TABLE --outcomes TABLE [--id-column id] [--threshold T]

Same definitions as crates/mlops-monitoring (and tests/python/monitoring_ref.py, the parity
reference): score drift against the order statistics saved in the model's metadata.json
(PSI with empty bins floored at 1e-6 and renormalised, Jensen-Shannon distance base 2,
Wasserstein-1, two-sample KS), feature drift against the saved profiles (numeric: PSI and JS
over the profile's quantile cuts plus a missing bucket; categorical and binary: JS and
L-infinity over the levels plus unseen and missing), realised performance (AUC, logloss,
accuracy, precision, recall, F1, Brier, ECE, positive rate) and the confidence-based estimate
(CBPE: each row as a positive with weight p and a negative with weight 1 - p). Prints one JSON
object, the values the Rust side prints, so the driver can check both did the same work.
"""

import argparse
import json
import sys

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

EMPTY_BIN_FLOOR = 1e-6
ECE_BINS = 10
PSI_LIMIT = 0.2
JS_LIMIT = 0.1


def psi(b, c):
    b = np.maximum(np.asarray(b, dtype=np.float64), EMPTY_BIN_FLOOR)
    c = np.maximum(np.asarray(c, dtype=np.float64), EMPTY_BIN_FLOOR)
    b, c = b / b.sum(), c / c.sum()
    return float(np.sum((c - b) * np.log(c / b)))


def js(b, c):
    return float(jensenshannon(b, c, base=2))


def read(path, columns=None):
    if str(path).endswith(".csv"):
        return pd.read_csv(path, usecols=columns)
    return pd.read_parquet(path, columns=columns)


def score_drift(base, cur, bins, binning):
    base = np.sort(np.asarray(base, dtype=np.float64))
    if binning == "uniform":
        edges = np.arange(bins + 1) / bins
    else:
        cuts = np.unique(np.quantile(base, [k / bins for k in range(1, bins)], method="linear"))
        edges = np.concatenate([[0.0], cuts[(cuts > 0.0) & (cuts < 1.0)], [1.0]])
    cuts = edges[1:-1]
    nb = len(edges) - 1
    b = np.bincount(np.searchsorted(cuts, base, side="right"), minlength=nb) / len(base)
    c = np.bincount(np.searchsorted(cuts, cur, side="right"), minlength=nb) / len(cur)
    return {
        "psi": psi(b, c),
        "js_distance": js(b, c),
        "wasserstein": float(wasserstein_distance(cur, base)),
        "ks": float(ks_2samp(cur, base).statistic),
        "rows": int(len(cur)),
    }


def binary_levels(series):
    text = series.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="string")
    out[text.isin(["1", "1.0", "true", "yes"])] = "1"
    out[text.isin(["0", "0.0", "false", "no"])] = "0"
    return out


def feature_drift(profile, series):
    dist = profile["distribution"]
    missing_fraction = profile["missing_fraction"]
    n = len(series)
    if dist["kind"] == "numeric":
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        cuts = np.asarray(dist["cuts"], dtype=np.float64)
        nan = np.isnan(x)
        counts = np.bincount(np.searchsorted(cuts, x[~nan], side="right"), minlength=len(cuts) + 1)
        c = np.append(counts, nan.sum()) / n
        b = np.append(dist["proportions"], missing_fraction)
        return {"name": profile["name"], "psi": psi(b, c), "js_distance": js(b, c)}
    levels = sorted(dist["levels"])
    if dist["kind"] == "binary":
        values = binary_levels(series)
    else:
        values = series.astype("string").str.strip().replace("", pd.NA)
    codes = pd.Categorical(values, categories=levels).codes
    missing = values.isna().to_numpy()
    unseen = (codes == -1) & ~missing
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    c = np.append(counts, [unseen.sum(), missing.sum()]) / n
    b = np.append([dist["levels"][level] for level in levels], [0.0, missing_fraction])
    return {
        "name": profile["name"],
        "js_distance": js(b, c),
        "linf": float(np.max(np.abs(b - c))),
        "unseen_rows": int(unseen.sum()),
    }


def drift(args):
    with open(f"{args.model}/metadata.json") as f:
        meta = json.load(f)
    baseline = meta["monitoring"]
    names = [p["name"] for p in baseline["features"]]
    df = read(args.data)
    scores = df["probability"].to_numpy(dtype=np.float64)
    if np.isnan(scores).any() or (scores < 0).any() or (scores > 1).any():
        sys.exit("probability: values outside [0, 1]")
    out = score_drift(baseline["scores"]["values"], scores, args.bins, args.binning)
    features = [feature_drift(p, df[p["name"]]) for p in baseline["features"] if p["name"] in df]
    drifted = [
        f["name"]
        for f in features
        if f.get("psi", 0.0) > PSI_LIMIT or f["js_distance"] > JS_LIMIT
    ]
    out["features"] = features
    out["drifted_features"] = drifted
    out["drift_detected"] = out["psi"] > PSI_LIMIT or bool(drifted)
    out["not_supplied"] = [n for n in names if n not in df]
    return out


def performance(args):
    pred = read(args.predictions, [args.id_column, "probability"])
    outcomes = read(args.outcomes, ["id", "churned"])
    pred[args.id_column] = pred[args.id_column].astype("string")
    outcomes["id"] = outcomes["id"].astype("string")
    joined = pred.merge(
        outcomes.drop_duplicates("id", keep="last"),
        left_on=args.id_column,
        right_on="id",
        how="left",
        suffixes=("", "_outcome"),
    )
    has = joined["churned"].notna().to_numpy()
    p_all = joined["probability"].to_numpy(dtype=np.float64)
    p = p_all[has]
    y = joined["churned"].to_numpy()[has].astype(np.int64)
    t = args.threshold
    pred_y = (p >= t).astype(np.int64)
    idx = np.searchsorted(np.arange(1, ECE_BINS) / ECE_BINS, p, side="right")
    n_bin = np.bincount(idx, minlength=ECE_BINS)
    gap = np.abs(
        np.bincount(idx, weights=y, minlength=ECE_BINS)
        - np.bincount(idx, weights=p, minlength=ECE_BINS)
    )
    realised = {
        "auc": float(roc_auc_score(y, p)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(accuracy_score(y, pred_y)),
        "precision": float(precision_score(y, pred_y, zero_division=0)),
        "recall": float(recall_score(y, pred_y, zero_division=0)),
        "f1": float(f1_score(y, pred_y, zero_division=0)),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(gap[n_bin > 0].sum() / len(p)),
        "positive_rate": float(y.mean()),
    }
    # CBPE on every prediction, labelled or not.
    y2 = np.concatenate([np.ones(len(p_all)), np.zeros(len(p_all))])
    s2 = np.concatenate([p_all, p_all])
    w2 = np.concatenate([p_all, 1 - p_all])
    pred2 = (s2 >= t).astype(np.int64)
    estimated = {
        "auc": float(roc_auc_score(y2, s2, sample_weight=w2)),
        "precision": float(precision_score(y2, pred2, sample_weight=w2, zero_division=0)),
        "recall": float(recall_score(y2, pred2, sample_weight=w2, zero_division=0)),
        "f1": float(f1_score(y2, pred2, sample_weight=w2, zero_division=0)),
    }
    return {
        "realised": realised,
        "estimated": estimated,
        "rows_with_outcome": int(has.sum()),
        "rows_without_outcome": int((~has).sum()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drift")
    d.add_argument("--model", required=True)
    d.add_argument("--data", required=True)
    d.add_argument("--bins", type=int, default=10)
    d.add_argument("--binning", default="quantile")
    p = sub.add_parser("performance")
    p.add_argument("--predictions", required=True)
    p.add_argument("--outcomes", required=True)
    p.add_argument("--id-column", default="id")
    p.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    out = drift(args) if args.command == "drift" else performance(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
