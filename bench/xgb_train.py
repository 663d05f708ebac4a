"""Python XGBoost training baseline for the churn benchmark (bench/compare.py).

Same hyperparameters as config/model.yaml: 200 trees, depth 6, learning rate 0.1,
hist with 256 bins, 2 threads. Features: categorical (text) columns one-hot with
pandas.get_dummies (float32), everything else as-is; label `churn` == "Yes".

Modes (each prints one JSON object on stdout):
  --data CSV --split                    sklearn stratified 80/20 split (random_state=42);
                                        {fit_seconds, auc, logloss, accuracy, f1}
  --data CSV --cv 5 --seeds 42,43,44    StratifiedKFold(shuffle=True, random_state=seed);
                                        mean AUC per seed and overall mean
  --data TRAIN --test-data TEST         fit on all of TRAIN, evaluate on TEST
                                        (one-hot aligned to TRAIN's columns); fit_seconds, auc
  --max-bin N                           hist bins (default 256, as config/model.yaml)
  --native-categorical                  with --test-data: text columns as pandas categories
                                        (TRAIN's levels) and enable_categorical=True
                                        instead of one-hot

fit_seconds times XGBClassifier.fit on a float32 matrix (quantile sketch + boosting),
like `mlops train`'s fit_seconds. Run with OMP_WAIT_POLICY=PASSIVE (compare.py does).
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from xgboost import XGBClassifier

LABEL, POSITIVE = "churn", "Yes"


def read(path):
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def encode(df, columns=None):
    """One-hot the text columns; optionally reindex to a training table's columns."""
    y = (df[LABEL] == POSITIVE).to_numpy(np.int32)
    x = df.drop(columns=[LABEL])
    cats = list(x.select_dtypes(exclude="number").columns)
    x = pd.get_dummies(x, columns=cats, prefix_sep="=", dtype=np.float32).astype(np.float32)
    if columns is not None:
        x = x.reindex(columns=columns, fill_value=0.0)
    return x, y


MAX_BIN = 256


def encode_native(df, categories=None):
    """Text columns as pandas categories (levels from `categories`, a training table's), numbers as float32."""
    y = (df[LABEL] == POSITIVE).to_numpy(np.int32)
    x = df.drop(columns=[LABEL])
    cats = list(x.select_dtypes(exclude="number").columns)
    categories = categories or {c: sorted(x[c].dropna().unique()) for c in cats}
    for c in x.columns:
        x[c] = pd.Categorical(x[c], categories=categories[c]) if c in cats else x[c].astype(np.float32)
    return x, y, categories


def model(seed=42, **extra):
    return XGBClassifier(
        n_estimators=200, max_depth=6, learning_rate=0.1, tree_method="hist",
        max_bin=MAX_BIN, n_jobs=2, random_state=seed, **extra,  # n_jobs is nthread
    )


def matrix(x):
    """float32 C-contiguous for one-hot tables; native-categorical tables stay DataFrames."""
    if any(isinstance(t, pd.CategoricalDtype) for t in x.dtypes):
        return x
    return np.ascontiguousarray(x.to_numpy(np.float32))


def fit_timed(x, y, seed=42, **extra):
    clf = model(seed, **extra)
    x = matrix(x)
    started = time.perf_counter()
    clf.fit(x, y)
    return clf, time.perf_counter() - started


def proba(clf, x):
    return clf.predict_proba(matrix(x))[:, 1]


def split_mode(args):
    x, y = encode(read(args.data))
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=42)
    clf, fit_seconds = fit_timed(x_tr, y_tr)
    p = proba(clf, x_te)
    return {
        "fit_seconds": fit_seconds, "auc": roc_auc_score(y_te, p), "logloss": log_loss(y_te, p),
        "accuracy": accuracy_score(y_te, p >= 0.5), "f1": f1_score(y_te, p >= 0.5),
        "train_rows": len(y_tr), "rows": len(y_te),
    }


def cv_mode(args):
    x, y = encode(read(args.data))
    per_seed = {}
    started = time.perf_counter()
    for seed in [int(s) for s in args.seeds.split(",")]:
        folds = StratifiedKFold(n_splits=args.cv, shuffle=True, random_state=seed)
        aucs = []
        for tr, te in folds.split(x, y):
            clf, _ = fit_timed(x.iloc[tr], y[tr], seed)
            aucs.append(roc_auc_score(y[te], proba(clf, x.iloc[te])))
        per_seed[str(seed)] = float(np.mean(aucs))
    return {
        "cv_auc_per_seed": per_seed, "cv_auc_mean": float(np.mean(list(per_seed.values()))),
        "folds": args.cv, "seconds": time.perf_counter() - started,
    }


def test_file_mode(args):
    if args.native_categorical:
        x, y, levels = encode_native(read(args.data))
        x_te, y_te, _ = encode_native(read(args.test_data), levels)
        clf, fit_seconds = fit_timed(x, y, enable_categorical=True)
    else:
        x, y = encode(read(args.data))
        x_te, y_te = encode(read(args.test_data), columns=x.columns)
        clf, fit_seconds = fit_timed(x, y)
    p = proba(clf, x_te)
    return {
        "fit_seconds": fit_seconds, "auc": roc_auc_score(y_te, p), "logloss": log_loss(y_te, p),
        "accuracy": accuracy_score(y_te, p >= 0.5), "train_rows": len(y), "rows": len(y_te),
    }


def main():
    global MAX_BIN
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/wa_churn.csv")
    ap.add_argument("--split", action="store_true", help="stratified 80/20 split (random_state=42)")
    ap.add_argument("--cv", type=int, help="K-fold cross-validation")
    ap.add_argument("--seeds", default="42,43,44", help="CV seeds, comma-separated")
    ap.add_argument("--test-data", help="held-out table; fit on all of --data")
    ap.add_argument("--max-bin", type=int, default=MAX_BIN, help="hist bins per feature")
    ap.add_argument("--native-categorical", action="store_true",
                    help="with --test-data: categories instead of one-hot (enable_categorical)")
    args = ap.parse_args()
    MAX_BIN = args.max_bin
    if args.test_data:
        out = test_file_mode(args)
    elif args.cv:
        out = cv_mode(args)
    else:
        out = split_mode(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
