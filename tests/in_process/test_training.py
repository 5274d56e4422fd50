"""The default model trains reproducibly, and the bundled one matches its recipe."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris

from app.core.artifact import library_versions, metadata_path_for, sha256_of
from app.core.metadata import METADATA_KEYS
from app.service.settings import BUNDLED_MODEL
from model.train import FEATURES, train


def grid() -> np.ndarray:
    """Iris itself plus points well outside it, to compare models everywhere."""
    rng = np.random.default_rng(7)
    return np.vstack([load_iris().data, rng.uniform(0, 10, size=(500, 4))])


def test_training_twice_gives_the_same_predictions(tmp_path: Path) -> None:
    first = joblib.load(train(tmp_path / "first"))
    second = joblib.load(train(tmp_path / "second"))
    X = grid()
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_bundled_model_is_what_training_produces(tmp_path: Path) -> None:
    fresh = joblib.load(train(tmp_path))
    bundled = joblib.load(BUNDLED_MODEL)
    X = grid()
    np.testing.assert_array_equal(fresh.predict(X), bundled.predict(X))
    np.testing.assert_allclose(fresh.predict_proba(X), bundled.predict_proba(X))


def test_metadata_describes_the_artifact(tmp_path: Path) -> None:
    artifact = train(tmp_path)
    metadata = json.loads(metadata_path_for(artifact).read_text())
    assert list(metadata) == list(METADATA_KEYS)
    assert metadata["sha256"] == sha256_of(artifact)
    assert metadata["version"] == "1.0.0"
    assert metadata["task"] == "classification"
    assert [feature["name"] for feature in metadata["features"]] == FEATURES
    assert {feature["type"] for feature in metadata["features"]} == {"number"}
    assert metadata["model_input"] == "float64_array"
    assert len(metadata["example"]) == 5
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert metadata["trained_with"] == library_versions()
    assert 0.85 <= metadata["metrics"]["accuracy"] <= 1.0


def test_bundled_metadata_matches_the_bundled_artifact() -> None:
    metadata = json.loads(metadata_path_for(BUNDLED_MODEL).read_text())
    assert list(metadata) == list(METADATA_KEYS)
    assert metadata["sha256"] == sha256_of(BUNDLED_MODEL)
    assert metadata["trained_with"]["scikit-learn"] == library_versions()["scikit-learn"]


def test_model_has_no_feature_names_so_arrays_raise_no_warning() -> None:
    # A model fitted on a DataFrame warns on every array it predicts; pytest
    # turns warnings into errors, so every /predict test checks this too.
    assert not hasattr(joblib.load(BUNDLED_MODEL), "feature_names_in_")
