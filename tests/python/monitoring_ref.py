"""Reference implementation of the monitoring measures (crates/mlops-monitoring) with NumPy,
SciPy and scikit-learn, for the parity test `crates/mlops-cli/tests/it/monitoring_parity.rs`.

    monitoring_ref.py CASES_JSON OUT_JSON

Reads the cases the Rust test generated, computes every value from the same definitions
(documented in the crate's modules) and writes them keyed by case name. An empty current
sample (or no rows) is written as {"insufficient": true}.
"""

import json
import sys

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

MAX_ORDER_STATISTICS = 10_000
EMPTY_BIN_FLOOR = 1e-6
ECE_BINS = 10


def order_statistics(scores):
    """All sorted scores, or the order statistics at ranks floor(k (n-1) / (m-1))."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    if n <= MAX_ORDER_STATISTICS:
        return s
    m = MAX_ORDER_STATISTICS
    ranks = [(k * (n - 1)) // (m - 1) for k in range(m)]
    return s[ranks]


def quantile_cuts(values, bins):
    """Interior cuts at quantiles k/bins (NumPy 'linear'), repeated ones kept once."""
    qs = [k / bins for k in range(1, bins)]
    cuts = np.quantile(np.asarray(values, dtype=np.float64), qs, method="linear")
    return np.unique(cuts)


def shares(counts, total):
    counts = np.asarray(counts, dtype=np.float64)
    return counts / total if total > 0 else np.zeros_like(counts)


def bin_counts(cuts, values, nbins):
    idx = np.searchsorted(cuts, np.asarray(values, dtype=np.float64), side="right")
    return np.bincount(idx, minlength=nbins)[:nbins]


def psi(b, c):
    b = np.maximum(np.asarray(b, dtype=np.float64), EMPTY_BIN_FLOOR)
    c = np.maximum(np.asarray(c, dtype=np.float64), EMPTY_BIN_FLOOR)
    b, c = b / b.sum(), c / c.sum()
    return float(np.sum((c - b) * np.log(c / b)))


def js(b, c):
    return float(jensenshannon(b, c, base=2))


def score_drift(case):
    base = order_statistics(case["baseline"])
    cur = np.asarray(case["current"], dtype=np.float64)
    if len(cur) == 0:
        return {"insufficient": True}
    bins = case["bins"]
    if case["binning"] == "uniform":
        edges = np.arange(bins + 1) / bins
    else:
        inner = [c for c in quantile_cuts(base, bins) if 0.0 < c < 1.0]
        edges = np.array([0.0] + inner + [1.0])
    cuts = edges[1:-1]
    nb = len(edges) - 1
    b = shares(bin_counts(cuts, base, nb), len(base))
    c = shares(bin_counts(cuts, cur, nb), len(cur))
    return {
        "baseline_n": len(case["baseline"]),
        "baseline_values": base.tolist(),
        "edges": edges.tolist(),
        "baseline": b.tolist(),
        "current": c.tolist(),
        "psi": psi(b, c),
        "js_distance": js(b, c),
        "wasserstein": float(wasserstein_distance(cur, base)),
        "ks": float(ks_2samp(cur, base).statistic),
    }


def as_float(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def feature_numeric(case):
    train = as_float(case["train"])
    cur = as_float(case["current"])
    present = train[~np.isnan(train)]
    cuts = quantile_cuts(present, case["bins"]) if len(present) else np.array([])
    nb = len(cuts) + 1
    profile = shares(bin_counts(cuts, present, nb), len(train))
    missing = float(np.isnan(train).sum() / len(train))
    if len(cur) == 0:
        return {"insufficient": True}
    cur_present = cur[~np.isnan(cur)]
    b = np.append(profile, missing)
    c = np.append(bin_counts(cuts, cur_present, nb), np.isnan(cur).sum()) / len(cur)
    return {
        "cuts": cuts.tolist(),
        "profile": profile.tolist(),
        "missing_fraction": missing,
        "baseline": b.tolist(),
        "current": c.tolist(),
        "psi": psi(b, c),
        "js_distance": js(b, c),
    }


def feature_levels(case):
    train, cur = case["train"], case["current"]
    levels = sorted({v for v in train if v is not None})
    n = len(train)
    b = [sum(v == level for v in train) / n for level in levels]
    b += [0.0, sum(v is None for v in train) / n]
    if len(cur) == 0:
        return {"insufficient": True}
    unseen = sum(v is not None and v not in levels for v in cur)
    c = [sum(v == level for v in cur) / len(cur) for level in levels]
    c += [unseen / len(cur), sum(v is None for v in cur) / len(cur)]
    b, c = np.array(b), np.array(c)
    return {
        "buckets": levels + ["unseen", "missing"],
        "baseline": b.tolist(),
        "current": c.tolist(),
        "js_distance": js(b, c),
        "linf": float(np.max(np.abs(b - c))),
        "unseen_rows": unseen,
    }


def performance(case):
    p = np.asarray(case["scores"], dtype=np.float64)
    y = np.asarray(case["labels"], dtype=np.int64)
    if len(p) == 0:
        return {"insufficient": True}
    t = case["threshold"]
    pred = (p >= t).astype(np.int64)
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    edges = np.arange(ECE_BINS + 1) / ECE_BINS
    idx = np.searchsorted(edges[1:-1], p, side="right")
    ece = 0.0
    for b in range(ECE_BINS):
        in_bin = idx == b
        if in_bin.any():
            ece += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return {
        "rows": len(p),
        "auc": auc,
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(ece),
        "positive_rate": float(y.mean()),
    }


def cbpe(case):
    """Each row counted twice, positive with weight p and negative with weight 1 - p: the
    weighted (sklearn) metrics of that table are the expected ones."""
    p = np.asarray(case["scores"], dtype=np.float64)
    if len(p) == 0:
        return {"insufficient": True}
    t = case["threshold"]
    y2 = np.concatenate([np.ones(len(p)), np.zeros(len(p))])
    s2 = np.concatenate([p, p])
    w2 = np.concatenate([p, 1 - p])
    pred2 = (s2 >= t).astype(np.int64)
    auc = None
    if p.sum() > 0 and (1 - p).sum() > 0:
        auc = float(roc_auc_score(y2, s2, sample_weight=w2))
    pos = p >= t
    return {
        "auc": auc,
        "precision": float(precision_score(y2, pred2, sample_weight=w2, zero_division=0)),
        "recall": float(recall_score(y2, pred2, sample_weight=w2, zero_division=0)),
        "f1": float(f1_score(y2, pred2, sample_weight=w2, zero_division=0)),
        "accuracy": float(accuracy_score(y2, pred2, sample_weight=w2)),
        "confusion": [
            float(p[pos].sum()),
            float((1 - p[pos]).sum()),
            float(p[~pos].sum()),
            float((1 - p[~pos]).sum()),
        ],
    }


def calibration(case):
    """Platt scaling on the logit (scores clipped to [1e-7, 1 - 1e-7]), unpenalised but for
    scikit-learn's 1 / C with C = 1e6 on the slope."""
    p = np.clip(np.asarray(case["scores"], dtype=np.float64), 1e-7, 1 - 1e-7)
    x = np.log(p / (1 - p))[:, None]
    y = np.asarray(case["labels"], dtype=np.int64)
    fit = LogisticRegression(C=1e6, tol=1e-12, max_iter=10_000).fit(x, y)
    return {"a": float(fit.coef_[0][0]), "b": float(fit.intercept_[0])}


KINDS = {
    "score_drift": score_drift,
    "feature_numeric": feature_numeric,
    "feature_levels": feature_levels,
    "performance": performance,
    "cbpe": cbpe,
    "calibration": calibration,
}


def main():
    cases_path, out_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        cases = json.load(f)
    out = {}
    for case in cases:
        out[case["name"]] = KINDS[case["kind"]](case)
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
