"""Predictions leave the predictor as plain Python types, whatever numpy returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from support.iris import SETOSA

from app.core.answers import label_key, predictions_json, probabilities_json
from app.core.metadata import ModelMetadata
from app.core.predictor import Predictor
from app.core.validation import Rows
from model.export import Description, save_model


class NumpyTypedEstimator:
    """Answers with the numpy scalar types a real estimator may produce."""

    def __init__(self, dtype: Any, classes: list[Any]) -> None:
        self.dtype = dtype
        self.classes_ = np.asarray(classes)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray([self.classes_[0]] * len(rows)).astype(self.dtype)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return np.full((len(rows), len(self.classes_)), 0.5, dtype=np.float32)


def metadata(task: str, classes: list[Any]) -> ModelMetadata:
    return ModelMetadata.from_document(
        {
            "name": "stub",
            "version": "0.1.0",
            "sha256": "0" * 64,
            "task": task,
            "features": ["a", "b"],
            "classes": classes,
            "trained_with": {},
        },
        source="test",
    )


def answers(predictor: Predictor, matrix: np.ndarray) -> tuple[list, list]:
    outcome = predictor.run(Rows(len(matrix), matrix=matrix), with_probabilities=True)
    assert outcome.probabilities is not None
    return (
        predictions_json(outcome.predictions, None),
        probabilities_json(outcome.probabilities, predictor.probability_keys, None),
    )


def test_numpy_scalars_become_plain_json_types() -> None:
    rows = np.zeros((2, 2))
    cases = [(np.int64, [3, 4], int), (np.float32, [1.5, 2.5], float), (np.str_, ["a", "b"], str)]
    for dtype, classes, plain in cases:
        predictor = Predictor(
            NumpyTypedEstimator(dtype, classes), metadata("classification", classes)
        )
        predictions, probabilities = answers(predictor, rows)
        assert [type(value) for value in predictions] == [plain, plain]
        assert all(type(key) is str for row in probabilities for key in row)
        assert all(type(value) is float for row in probabilities for value in row.values())
        json.dumps({"predictions": predictions, "probabilities": probabilities})


def test_a_label_is_keyed_as_json_writes_it() -> None:
    # Python's str() would give "True" and "False", which no JSON client writes.
    assert [label_key(label) for label in (False, True, 0, 2.5, "yes", "")] == [
        "false", "true", "0", "2.5", "yes", "",
    ]  # fmt: skip


def test_integer_labels_through_the_app(tmp_path: Path, make_app) -> None:
    iris = load_iris()
    estimator = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    artifact = tmp_path / "int-labels.joblib"
    save_model(estimator, artifact, Description("int-labels", "0.3.0", ["a", "b", "c", "d"]))
    client = make_app(MODEL_PATH=str(artifact)).test_client()
    response = client.post("/predict", json={"features": SETOSA, "return_probabilities": True})
    assert response.status_code == 200
    body = response.get_json()
    assert body["prediction"] == 0 and type(body["prediction"]) is int
    assert list(body["probabilities"]) == ["0", "1", "2"]
    assert client.get("/model").get_json()["classes"] == [0, 1, 2]


class BatchOnlyOverflow:
    """Overflows on any batch of two or more rows, never on one row alone.

    A stand-in for a matrix product that BLAS sums in another order for a batch than for
    a single row, which near the float64 limit decides whether an overflow happens.
    """

    classes_ = np.asarray(["small", "large"])

    def predict(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) > 1:
            np.float64(1e308) * 10  # raises under the predictor's strict float rules
        return np.where(rows[:, 0] > 1, "large", "small")

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) > 1:
            np.float64(1e308) * 10
        large = (rows[:, :1] > 1).astype(float)
        return np.hstack([1 - large, large])


def test_a_batch_that_overflows_only_as_a_batch_is_answered_row_by_row() -> None:
    predictor = Predictor(BatchOnlyOverflow(), metadata("classification", ["small", "large"]))
    rows = np.asarray([[0.5, 0.0], [2.0, 0.0], [0.1, 0.0]])
    predictions, probabilities = answers(predictor, rows)
    assert predictions == ["small", "large", "small"]
    assert probabilities == [
        {"small": 1.0, "large": 0.0},
        {"small": 0.0, "large": 1.0},
        {"small": 1.0, "large": 0.0},
    ]
