"""Loading is verified before it is trusted; a model that fails leaves the app up."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import joblib
import pytest
import sklearn
from flask import Flask
from support.attacks import CreatesMarkerWhenUnpickled
from support.iris import SETOSA

from app.core.artifact import metadata_path_for, sha256_of


def assert_unavailable(app: Flask, fragment: str) -> str:
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "unavailable"
    assert fragment in body["reason"], body["reason"]

    predict = client.post("/predict", json={"features": SETOSA})
    assert predict.status_code == 503
    error = predict.get_json()["error"]
    assert error["code"] == "model_unavailable"
    assert fragment in error["message"]

    assert client.get("/model").status_code == 503
    assert client.get("/openapi.json").status_code == 200  # the app itself is up
    return body["reason"]


def rewrite_metadata(artifact: Path, **changes) -> None:
    path = metadata_path_for(artifact)
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


def test_the_marker_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    # Control for the test below: the payload does what it claims when loaded.
    marker = tmp_path / "marker"
    payload = tmp_path / "evil.joblib"
    payload.write_bytes(pickle.dumps(CreatesMarkerWhenUnpickled(marker)))
    joblib.load(payload)
    assert marker.exists()


def test_tampered_artifact_is_never_unpickled(model_copy: Path, make_app) -> None:
    marker = model_copy.parent / "marker"
    model_copy.write_bytes(pickle.dumps(CreatesMarkerWhenUnpickled(marker)))

    reason = assert_unavailable(make_app(MODEL_PATH=str(model_copy)), "refusing to load")
    assert sha256_of(model_copy) in reason
    assert not marker.exists()


def test_missing_artifact(model_copy: Path, make_app) -> None:
    model_copy.unlink()
    assert_unavailable(make_app(MODEL_PATH=str(model_copy)), "model artifact not found")


def test_missing_metadata(model_copy: Path, make_app) -> None:
    metadata_path_for(model_copy).unlink()
    assert_unavailable(make_app(MODEL_PATH=str(model_copy)), "model metadata not found")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "metadata unreadable"),
        ("[]", "expected a JSON object"),
        ('{"name": "x"}', "'version' must be a string"),
    ],
)
def test_malformed_metadata(model_copy: Path, make_app, content: str, fragment: str) -> None:
    metadata_path_for(model_copy).write_text(content)
    assert_unavailable(make_app(MODEL_PATH=str(model_copy)), fragment)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"sha256": "ABC"}, "'sha256' must be 64 lowercase hex digits"),
        ({"task": "ranking"}, "'task' must be one of"),
        ({"features": []}, "'features' must be a non-empty list"),
        ({"features": ["a", "a", "b", "c"]}, "feature names must be distinct"),
        ({"features": ["a", "b", "c"]}, "estimator expects 4 features, metadata lists 3"),
        ({"classes": ["x", "y", "z"]}, "differ from metadata classes"),
    ],
)
def test_metadata_that_contradicts_itself_or_the_model(
    model_copy: Path, make_app, changes: dict, fragment: str
) -> None:
    rewrite_metadata(model_copy, **changes)
    assert_unavailable(make_app(MODEL_PATH=str(model_copy)), fragment)


def trained_with_other_sklearn(artifact: Path) -> None:
    document = json.loads(metadata_path_for(artifact).read_text())
    rewrite_metadata(artifact, trained_with={**document["trained_with"], "scikit-learn": "0.24.2"})


def test_version_mismatch_refuses_to_load(model_copy: Path, make_app) -> None:
    trained_with_other_sklearn(model_copy)
    reason = assert_unavailable(make_app(MODEL_PATH=str(model_copy)), "scikit-learn 0.24.2")
    assert sklearn.__version__ in reason
    assert "ALLOW_VERSION_MISMATCH" in reason


def test_version_mismatch_allowed_loads_with_a_warning(
    model_copy: Path, make_app, caplog: pytest.LogCaptureFixture
) -> None:
    trained_with_other_sklearn(model_copy)
    with caplog.at_level(logging.WARNING):
        app = make_app(MODEL_PATH=str(model_copy), ALLOW_VERSION_MISMATCH="1")
    assert "trained with scikit-learn 0.24.2" in caplog.text
    client = app.test_client()
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json={"features": SETOSA}).get_json()["prediction"] == "setosa"


def test_model_is_loaded_once_not_per_request(make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    real_load = joblib.load
    monkeypatch.setattr(joblib, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    client = make_app().test_client()
    for _ in range(3):
        assert client.post("/predict", json={"features": SETOSA}).status_code == 200
    assert len(loads) == 1


def test_health_and_model_when_loaded(client) -> None:
    assert client.get("/health").get_json() == {"status": "ok", "model_version": "1.0.0"}
    info = client.get("/model").get_json()
    bundled = json.loads(Path("model/model.json").read_text())
    assert {key: info[key] for key in bundled} == bundled
    # pandas is named only for a model handed a DataFrame; this one is not.
    assert set(info["serving_with"]) == {"python", "scikit-learn", "numpy", "joblib"}
    assert info["serving_with"]["scikit-learn"] == sklearn.__version__


class OpensWhenUnpickled:
    """An artifact whose unpickling fails with an error that quotes a path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path),))


def break_metadata_file(artifact: Path) -> None:
    path = metadata_path_for(artifact)
    path.unlink()
    path.mkdir()  # an OSError whatever the user: root reads a file it may not


def unpickling_quotes_a_path(artifact: Path) -> None:
    artifact.write_bytes(pickle.dumps(OpensWhenUnpickled(artifact.parent / "nowhere")))
    rewrite_metadata(artifact, sha256=sha256_of(artifact))


PATH_FAULTS = {
    "missing metadata": (lambda a: metadata_path_for(a).unlink(), "model metadata not found: "),
    "unreadable metadata": (break_metadata_file, "model metadata unreadable: model.json: "),
    "missing artifact": (Path.unlink, "model artifact not found: model.joblib"),
    "unpickling": (unpickling_quotes_a_path, "could not be unpickled: FileNotFoundError"),
    "pinned metadata": (
        lambda a: rewrite_metadata(a, description="changed"),
        "model metadata model.json has sha256 ",
    ),
}
UNAVAILABLE_ROUTES = [
    ("GET", "/health"),
    ("GET", "/ping"),
    ("GET", "/v2/health/ready"),
    ("POST", "/predict"),
    ("POST", "/invocations"),
    ("POST", "/v2/models/iris-logistic-regression/infer"),
    ("GET", "/model"),
    ("GET", "/"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize("fault", list(PATH_FAULTS))
def test_reasons_name_no_path_on_this_server(
    model_copy: Path, make_app, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    """Open routes say why the model is unavailable, but not where it lives: the log does."""
    settings = {"MODEL_PATH": str(model_copy)}
    if fault == "pinned metadata":
        settings["MODEL_METADATA_SHA256"] = sha256_of(metadata_path_for(model_copy))
    damage, fragment = PATH_FAULTS[fault]
    damage(model_copy)
    folder = str(model_copy.parent)
    with caplog.at_level(logging.ERROR, logger="app.service.model_slot"):
        client = make_app(**settings).test_client()
    assert folder in caplog.text
    for method, path in UNAVAILABLE_ROUTES:
        answer = client.open(path, method=method, json={})
        body = answer.get_data(as_text=True)
        assert folder not in body, (path, body)
        assert model_copy.parent.name not in body, (path, body)
        if answer.status_code == 503:
            assert fragment in body, (path, body)
    assert client.get("/health").status_code == 503
