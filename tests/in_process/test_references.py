"""Reading what an artifact references runs nothing it names: not the model's classes,
not a malicious pickle's payload, wherever in the file it hides (a plain pickle, a
joblib file, compressed, inside an object array)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from model.references import UnreadableArtifact, read_references


class WritesMarker:
    """Unpickling this runs os.system: the attack a reference scan must never trigger."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def fitted() -> object:
    X = np.array([["a", 1], ["b", 2], ["a", 3], ["c", 4]], dtype=object)
    return make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression()).fit(
        X, [0, 1, 0, 1]
    )


EXPECTED = {
    "sklearn.pipeline:Pipeline",
    "sklearn.preprocessing._encoders:OneHotEncoder",
    "sklearn.linear_model._logistic:LogisticRegression",
}


@pytest.mark.parametrize("compress", [0, 3, ("lzma", 3)])
def test_joblib_files_compressed_or_not(tmp_path: Path, fitted: object, compress: object) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path, compress=compress)
    references = read_references(path, "joblib")
    assert set(references.names) >= EXPECTED
    assert "numpy:ndarray" in references.names or "numpy:dtype" in references.names
    assert references.sklearn_versions == (sklearn.__version__,)


def test_a_plain_pickle_and_a_skops_file_name_the_same_estimators(
    tmp_path: Path, fitted: object
) -> None:
    with (tmp_path / "model.pkl").open("wb") as stream:
        pickle.dump(fitted, stream)
    skops.io.dump(fitted, tmp_path / "model.skops")
    pickled = read_references(tmp_path / "model.pkl", "pickle")
    skopsed = read_references(tmp_path / "model.skops", "skops")
    assert set(pickled.names) >= EXPECTED
    assert set(skopsed.names) >= EXPECTED
    assert pickled.sklearn_versions == skopsed.sklearn_versions


@pytest.mark.parametrize("where", ["pickle", "joblib", "joblib object array"])
def test_a_malicious_payload_is_named_and_never_run(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "ran"
    payload = WritesMarker(marker)
    path = tmp_path / ("model.pkl" if where == "pickle" else "model.joblib")
    if where == "pickle":
        with path.open("wb") as stream:
            pickle.dump({"model": payload}, stream)
    elif where == "joblib":
        joblib.dump({"model": payload}, path)
    else:
        joblib.dump({"categories": np.array(["a", payload], dtype=object)}, path)
    references = read_references(path, "pickle" if where == "pickle" else "joblib")
    assert f"{os.system.__module__}:system" in references.names
    assert not marker.exists()


def test_a_file_that_is_not_a_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"PK\x03\x04 not a pickle at all")
    with pytest.raises(UnreadableArtifact, match=r"model\.pkl is not a readable pickle file"):
        read_references(path, "pickle")
    with pytest.raises(UnreadableArtifact, match=r"model\.pkl is not a readable skops file"):
        read_references(path, "skops")
