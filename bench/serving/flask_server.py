"""Reference prediction server, as the original Python template served the churn model.

    MODEL_DIR=bench/work/serve_model OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
        .venv/bin/python -m gunicorn -w 2 -b 127.0.0.1:8081 --chdir bench/serving flask_server:app

Flask app (run under gunicorn, 2 sync workers). Each worker loads MODEL_DIR/model.json
(XGBoost JSON) with xgboost.Booster and MODEL_DIR/metadata.json at import.
POST /predict: {"instances": [{column: value, ...}, ...]} -> pandas DataFrame ->
pd.get_dummies on the categorical columns -> reindex to the model's feature names (missing
columns 0) -> DMatrix -> Booster.predict -> {"predictions": [{"probability": p, "label": ...}]}.
GET /health: 200 {"status": "ok"}.
"""

import json
import os

import numpy as np
import pandas as pd
import xgboost as xgb
from flask import Flask, jsonify, request

MODEL_DIR = os.environ.get("MODEL_DIR", os.environ.get("AIP_STORAGE_URI", "model"))

with open(os.path.join(MODEL_DIR, "metadata.json")) as f:
    META = json.load(f)
BOOSTER = xgb.Booster(model_file=os.path.join(MODEL_DIR, META.get("model_file", "model.json")))
BOOSTER.set_param({"nthread": int(os.environ.get("OMP_NUM_THREADS", "1"))})
FEATURES = META["feature_names"]
THRESHOLD = float(META.get("threshold", 0.5))
POSITIVE, NEGATIVE = META["label"]["positive"], META["label"]["negative"]
CATEGORICAL = [c["name"] for c in META["preprocessor"]["columns"] if c["kind"] == "categorical"]

app = Flask(__name__)


@app.get(os.environ.get("AIP_HEALTH_ROUTE", "/health"))
def health():
    return jsonify(status="ok")


@app.post(os.environ.get("AIP_PREDICT_ROUTE", "/predict"))
def predict():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
        return jsonify(error="expected {\"instances\": [...]}"), 400
    df = pd.DataFrame(body["instances"])
    cats = [c for c in CATEGORICAL if c in df.columns]
    x = pd.get_dummies(df, columns=cats, prefix_sep="=", dtype=np.float32)
    x = x.reindex(columns=FEATURES, fill_value=0).astype(np.float32)
    p = BOOSTER.predict(xgb.DMatrix(x))
    return jsonify(
        predictions=[
            {"probability": float(v), "label": POSITIVE if v >= THRESHOLD else NEGATIVE} for v in p
        ]
    )
