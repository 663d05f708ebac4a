"""Check that `mlops` and Python XGBoost agree on the same model (used by bench/compare.py).

    python bench/agreement.py --model DIR --ours A.parquet --python B.parquet [--test-data TEST]

A and B are prediction files for the same rows (from `mlops predict` and
bench/pandas_predict.py). Prints JSON: max/mean absolute difference of
churn_probability, rows differing by more than 1e-5, churn_predicted mismatches,
and with --test-data the AUC of xgboost.Booster(model) on that labelled table
(to compare with the AUC `mlops train --test-data` reported for the same model).
"""

import argparse
import json
import os

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--test-data")
    args = ap.parse_args()

    a, b = pd.read_parquet(args.ours), pd.read_parquet(args.python)
    pa = a["churn_probability"].to_numpy(np.float64)
    pb = b["churn_probability"].to_numpy(np.float64)
    diff = np.abs(pa - pb)
    out = {
        "rows": len(pa), "same_rows": len(pa) == len(pb),
        "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
        "rows_over_1e-5": int((diff > 1e-5).sum()),
        "label_mismatches": int((a["churn_predicted"] != b["churn_predicted"]).sum()),
    }
    if args.test_data:
        meta = json.load(open(os.path.join(args.model, "metadata.json")))
        booster = xgb.Booster(model_file=os.path.join(args.model, meta["model_file"]))
        booster.set_param({"nthread": 2})
        df = pd.read_parquet(args.test_data)
        label = meta["label"]
        y = (df[label["column"]] == label["positive"]).to_numpy(np.int32)
        x = df.drop(columns=[label["column"]])
        cats = list(x.select_dtypes(exclude="number").columns)
        x = pd.get_dummies(x, columns=cats, prefix_sep="=", dtype=np.float32)
        x = x.reindex(columns=meta["feature_names"], fill_value=0).astype(np.float32)
        out["xgboost_auc_same_model"] = float(roc_auc_score(y, booster.predict(xgb.DMatrix(x))))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
