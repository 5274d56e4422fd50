"""Tutorial-style Flask peer: get_json -> np.array -> model.predict -> jsonify.

No validation, no error handling, nothing cached beyond the model itself.
Needs only flask, numpy and scikit-learn (the project's .venv has them):
    .venv/bin/flask --app bench/peers/naive_app run -p PORT
Under gunicorn, from any venv holding requirements.txt plus gunicorn:
    gunicorn -w 2 -b 127.0.0.1:PORT --chdir bench/peers naive_app:app
Body: {"features": [5.1, 3.5, 1.4, 0.2]} -> {"prediction": "setosa"}
   or {"instances": [[5.1, 3.5, 1.4, 0.2], ...]} -> {"predictions": ["setosa", ...]}
"""

from pathlib import Path

import joblib
import numpy as np
from flask import Flask, jsonify, request

model = joblib.load(Path(__file__).resolve().parent / ".." / ".." / "model" / "model.joblib")
app = Flask(__name__)


@app.post("/predict")
def predict():
    data = request.get_json()
    if "instances" in data:
        predictions = model.predict(np.array(data["instances"]))
        return jsonify({"predictions": predictions.tolist()})
    features = np.array(data["features"]).reshape(1, -1)
    prediction = model.predict(features)[0]
    return jsonify({"prediction": str(prediction)})
