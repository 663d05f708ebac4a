"""Batch scoring the way the original Python template did it (baseline for `mlops predict`).

    python bench/pandas_predict.py --model DIR --data IN.parquet --out OUT.parquet

pandas.read_parquet -> one-hot with pandas.get_dummies -> reindex to the model's
feature names from DIR/metadata.json (missing columns = 0) -> xgboost.Booster.predict
on a DMatrix -> Parquet with churn_probability and churn_predicted.

Prints JSON: seconds (whole work, after imports), rows, rows_per_s, dmatrix_seconds
(DMatrix construction only) and predict_seconds (only the Booster.predict call).
Run with OMP_WAIT_POLICY=PASSIVE (compare.py does); 2 threads.
"""

import argparse
import json
import os
import time

import numpy as np
import pandas as pd
import xgboost as xgb


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model bundle folder (model.json + metadata.json)")
    ap.add_argument("--data", required=True, help="input Parquet")
    ap.add_argument("--out", required=True, help="output Parquet")
    args = ap.parse_args()

    started = time.perf_counter()
    with open(os.path.join(args.model, "metadata.json")) as f:
        meta = json.load(f)
    booster = xgb.Booster(model_file=os.path.join(args.model, meta.get("model_file", "model.json")))
    booster.set_param({"nthread": 2})
    features = meta["feature_names"]
    threshold = meta.get("threshold", 0.5)

    df = pd.read_parquet(args.data)
    df = df.drop(columns=[meta["label"]["column"]], errors="ignore")  # label is not a feature
    cats = list(df.select_dtypes(exclude="number").columns)
    x = pd.get_dummies(df, columns=cats, prefix_sep="=", dtype=np.float32)
    x = x.reindex(columns=features, fill_value=0).astype(np.float32)

    t = time.perf_counter()
    dmatrix = xgb.DMatrix(x, nthread=2)
    dmatrix_seconds = time.perf_counter() - t
    t = time.perf_counter()
    p = booster.predict(dmatrix)
    predict_seconds = time.perf_counter() - t

    label = meta["label"]
    predicted = np.where(p >= threshold, label["positive"], label["negative"])
    pd.DataFrame({"churn_probability": p.astype(np.float32), "churn_predicted": predicted}).to_parquet(
        args.out, index=False
    )
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": seconds, "rows": len(p), "rows_per_s": len(p) / seconds,
        "dmatrix_seconds": dmatrix_seconds, "predict_seconds": predict_seconds,
    }))


if __name__ == "__main__":
    main()
