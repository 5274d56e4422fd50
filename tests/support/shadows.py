"""Models to put beside the bundled iris model as its shadow: one that agrees on some rows
and not others, ones that fail, and ones that must be refused."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from model.export import Description, save_model
from support.iris import IRIS_FEATURES
from support.paths import TESTS

SPECIES = np.array(["setosa", "versicolor", "virginica"])
# The user's own code the failing shadows are made with, shipped as their code archive.
SHADOW_FAULTS = TESTS / "user_project" / "shadow_faults"


def iris_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, SPECIES[y]


def iris_tree(folder: Path, features: list[str] | None = None) -> Path:
    """A depth-2 tree on iris: it agrees with the bundled model on most flowers, not all."""
    X, y = iris_data()
    names = features or IRIS_FEATURES
    order = [IRIS_FEATURES.index(name) for name in names]
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[:, order], y)
    artifact = folder / "iris-tree.joblib"
    save_model(tree, artifact, Description("iris-tree", "2.0.0", names), X[:3, order].tolist())
    return artifact


def iris_failing(folder: Path, fail: str = "refuse_long_petals") -> Path:
    """A model that answers short petals like the bundled one, and fails on long ones in
    the step `fail` of the user's code (tests/user_project/shadow_faults)."""
    if str(SHADOW_FAULTS.parent) not in sys.path:  # importable as the user's own code is
        sys.path.insert(0, str(SHADOW_FAULTS.parent))
    faults = importlib.import_module("shadow_faults")
    step, long_petal = getattr(faults, fail), faults.LONG_PETAL
    X, y = iris_data()
    pipeline = make_pipeline(FunctionTransformer(step), LogisticRegression(max_iter=1000))
    short = X[:, 2] <= long_petal
    pipeline.fit(X[short], y[short])
    artifact = folder / f"iris-{fail}.joblib"
    description = Description("iris-failing", "0.1.0", IRIS_FEATURES)
    save_model(pipeline, artifact, description, X[:3].tolist(), code=[SHADOW_FAULTS])
    return artifact


def iris_regressor(folder: Path) -> Path:
    """Petal width from the other three and the species' index: a regressor on iris."""
    X, y = load_iris(return_X_y=True)
    regression = LinearRegression().fit(X, y.astype(float))
    artifact = folder / "iris-regressor.joblib"
    save_model(regression, artifact, Description("iris-regressor", "1.0.0", IRIS_FEATURES))
    return artifact


def iris_with_extra_feature(folder: Path) -> Path:
    """A model that needs a fifth feature the bundled model's rows do not carry."""
    X, y = iris_data()
    wider = np.column_stack([X, X[:, 2] * X[:, 3]])
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(wider, y)
    artifact = folder / "iris-area.joblib"
    names = [*IRIS_FEATURES, "petal_area"]
    save_model(tree, artifact, Description("iris-area", "3.0.0", names))
    return artifact
