"""Trains a pipeline with the project's own transformer and function, as a user would.

    python train.py OUT_PATH [--main-function] [--sklearn-version X.Y.Z]

The format follows OUT_PATH's extension (.joblib, .pkl, .skops). --main-function puts a
function defined in this script into the pipeline; --sklearn-version stamps the fitted
estimators as another scikit-learn release writes them.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import sklearn.base
from features import AddRatio, clipped
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler


def doubled(X: np.ndarray) -> np.ndarray:
    return np.asarray(X) * 2.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--main-function", action="store_true")
    parser.add_argument("--sklearn-version")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3))
    y = np.where(X[:, 0] - 0.5 * X[:, 2] > 0, "yes", "no")
    steps = [AddRatio(0, 1), FunctionTransformer(clipped)]
    if args.main_function:
        steps.append(FunctionTransformer(doubled))
    model = make_pipeline(*steps, StandardScaler(), LogisticRegression()).fit(X, y)
    if args.sklearn_version:
        # What BaseEstimator.__getstate__ writes into each estimator's state.
        sklearn.base.__version__ = args.sklearn_version
    if args.out.suffix == ".skops":
        import skops.io

        skops.io.dump(model, args.out)
    elif args.out.suffix in (".pkl", ".pickle"):
        with args.out.open("wb") as stream:
            pickle.dump(model, stream)
    else:
        joblib.dump(model, args.out)
    rows = [dict(zip(["a", "b", "c"], row, strict=True)) for row in X[:6].round(3).tolist()]
    args.out.with_name("example.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
