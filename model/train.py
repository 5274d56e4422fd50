"""Train the default model: iris, standardised, logistic regression.

    python -m model.train [--out DIR]

Deterministic: the split and the solver are seeded, so training twice gives
the same predictions. Trained on plain arrays (no feature names attached), so
serving needs no pandas and scikit-learn never warns about feature names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from model.export import Description, save_model, training_main

NAME = "iris-logistic-regression"
VERSION = "1.0.0"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SEED = 42
TEST_FRACTION = 0.25
DEFAULT_OUT = Path(__file__).resolve().parent


def build_pipeline() -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(max_iter=1000, random_state=SEED)),
        ]
    )


def train(out_dir: Path = DEFAULT_OUT) -> Path:
    """Fit the pipeline, write model.joblib and model.json, return the artifact path."""
    iris = load_iris()
    X = iris.data.astype(np.float64)
    # String labels make predictions self-explanatory in the API.
    y = np.asarray(iris.target_names)[iris.target]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y
    )
    pipeline = build_pipeline().fit(X_train, y_train)
    accuracy = accuracy_score(y_test, pipeline.predict(X_test))

    artifact = out_dir / "model.joblib"
    metrics = {"accuracy": round(float(accuracy), 4), "test_rows": len(y_test)}
    # A few held-out rows: the metadata keeps them, and the server proves the model on them.
    save_model(pipeline, artifact, Description(NAME, VERSION, FEATURES, metrics), X_test[:5])
    return artifact


def main() -> None:
    training_main(train, __doc__ or "", DEFAULT_OUT)


if __name__ == "__main__":
    main()
