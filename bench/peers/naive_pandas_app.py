"""Tutorial-style Flask peer for a DataFrame model: get_json -> pd.DataFrame -> predict -> jsonify.

Serves the mixed-type example model (model/examples/churn.joblib), whose pipeline selects
its columns by name. No validation, no dtypes beyond what pandas infers from the rows,
no error handling. Needs flask, pandas and scikit-learn (bench/.venvs/bench has them).
Rows are JSON objects keyed by feature name:
    {"features": {"tenure_months": 8, ...}} -> {"prediction": "no"}
    {"instances": [{"tenure_months": 8, ...}, ...]} -> {"predictions": ["no", ...]}
"""

from pathlib import Path

import joblib
import pandas as pd
from flask import Flask, jsonify, request

ARTIFACT = Path(__file__).resolve().parent / ".." / ".." / "model" / "examples" / "churn.joblib"
model = joblib.load(ARTIFACT)
app = Flask(__name__)


@app.post("/predict")
def predict():
    data = request.get_json()
    if "instances" in data:
        predictions = model.predict(pd.DataFrame(data["instances"]))
        return jsonify({"predictions": predictions.tolist()})
    prediction = model.predict(pd.DataFrame([data["features"]]))[0]
    return jsonify({"prediction": str(prediction)})
