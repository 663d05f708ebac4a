"""Model interop with Python XGBoost, driven by the Rust test suite.

Usage:
  interop.py score-ours MODEL_DIR DATA_CSV OUT_JSON
      Encode DATA_CSV exactly as described by MODEL_DIR/metadata.json (numeric as float,
      binary as 0/1, categorical one-hot over the saved levels, empty = missing), load
      MODEL_DIR/model.json with xgboost and write the probabilities as a JSON list.
  interop.py train-pandas DATA_CSV OUT_DIR
      As a Python user would: pandas.get_dummies(prefix_sep="=") on the raw table (so the
      feature order is pandas', not ours), XGBoost 50 rounds; saves OUT_DIR/model.json and
      OUT_DIR/probabilities.json for every row.
  interop.py train-python DATA_CSV METADATA_JSON OUT_DIR
      Train XGBoost in Python (binary:logistic, hist, depth 6, eta 0.1, 50 rounds) on
      DATA_CSV encoded with METADATA_JSON's preprocessor; save OUT_DIR/model.json,
      OUT_DIR/features.f32 (row-major float32) and OUT_DIR/probabilities.json.
"""
import json
import sys

import numpy as np
import pandas as pd
import xgboost as xgb


def encode(df, meta):
    """The encoding documented in crates/mlops-model/src/preprocess.rs."""
    cols = []
    for enc in meta["preprocessor"]["columns"]:
        name, kind = enc["name"], enc["kind"]
        if kind == "numeric":
            cols.append(pd.to_numeric(df[name].replace("", np.nan), errors="raise").astype("float64"))
        elif kind == "binary":
            text = df[name].astype("str").str.strip().str.lower()
            mapping = {"1": 1.0, "1.0": 1.0, "true": 1.0, "yes": 1.0,
                       "0": 0.0, "0.0": 0.0, "false": 0.0, "no": 0.0}
            cols.append(text.map(mapping).astype("float64"))
        else:
            text = df[name].fillna("").astype("str")
            for level in enc["levels"]:
                cols.append((text == level).astype("float64"))
    return np.column_stack(cols).astype(np.float32)


def score_ours(model_dir, data_csv, out_json):
    meta = json.load(open(f"{model_dir}/metadata.json"))
    df = pd.read_csv(data_csv, dtype=str, keep_default_na=False)
    x = encode(df, meta)
    booster = xgb.Booster(model_file=f"{model_dir}/model.json")
    probs = booster.predict(xgb.DMatrix(x, feature_names=meta["feature_names"]))
    json.dump([float(p) for p in probs], open(out_json, "w"))


def train_python(data_csv, metadata_json, out_dir):
    meta = json.load(open(metadata_json))
    df = pd.read_csv(data_csv, dtype=str, keep_default_na=False)
    x = encode(df, meta)
    label = meta["label"]
    y = (df[label["column"]] == label["positive"]).astype(np.float32).to_numpy()
    dtrain = xgb.DMatrix(x, label=y, feature_names=meta["feature_names"])
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6,
              "eta": 0.1, "nthread": 2, "seed": 0}
    booster = xgb.train(params, dtrain, num_boost_round=50)
    booster.save_model(f"{out_dir}/model.json")
    x.tofile(f"{out_dir}/features.f32")
    probs = booster.predict(xgb.DMatrix(x, feature_names=meta["feature_names"]))
    json.dump([float(p) for p in probs], open(f"{out_dir}/probabilities.json", "w"))


def train_pandas(data_csv, out_dir):
    df = pd.read_csv(data_csv)
    y = (df.pop("churn") == "Yes").astype(np.float32)
    categorical = list(df.select_dtypes(exclude="number").columns)
    x = pd.get_dummies(df, columns=categorical, prefix_sep="=", dtype=np.float32).astype(np.float32)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4,
              "eta": 0.2, "nthread": 2, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=50)
    booster.save_model(f"{out_dir}/model.json")
    probs = booster.predict(xgb.DMatrix(x))
    json.dump([float(p) for p in probs], open(f"{out_dir}/probabilities.json", "w"))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"score-ours": score_ours, "train-python": train_python, "train-pandas": train_pandas}[command](*args)
