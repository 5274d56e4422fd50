"""The tiers, and what tests of every tier share.

A test's tier is the folder it lives in (TIERS): in_process (the test client, handler
events, unit tests, runs of model/'s commands), live_server (flask run, gunicorn,
serverless-offline), browser (headless Chromium), fuzz (schemathesis and Hypothesis
properties) and bundle (Lambda packages, the unzipped bundle, the packaging plugins'
hooks, moto deploys). Helpers are in support/. Every test builds its own app through
the factory; a live server is shared by the tests that ask for the same settings.
"""

# ruff: noqa: E402 -- the lazy imports go in before any other import

from __future__ import annotations

# isort: off
# The lazy imports first, installed as the entry points install them, before anything
# imports scikit-learn: the whole suite runs as the service does (LAZY_IMPORTS=0 runs it
# without them).
from app.aws import lazy_imports

lazy_imports.install()
# isort: on
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from support.s3 import models_bucket
from support.servers import LiveServer, Offline, flask_server, sls_offline

from app.core.artifact import metadata_path_for
from app.factory import create_app
from app.service.settings import BUNDLED_MODEL
from model.export import Description, save_model

# In the order they run: the quick ones first, fuzzing and packaging last.
TIERS = ("in_process", "live_server", "browser", "fuzz", "bundle")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by the markers given here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the folder it lives in, and run the tiers in TIERS'
    order. A test outside a tier folder stops the run: nothing is left untiered."""
    tests = Path(__file__).resolve().parent
    tier_of: dict[str, str] = {}
    untiered = []
    for item in items:
        path = item.path.resolve()
        folder = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else ""
        if folder in TIERS:
            item.add_marker(folder)
            tier_of[item.nodeid] = folder
        else:
            untiered.append(item.nodeid)
    if untiered:
        raise pytest.UsageError(
            f"tests outside a tier folder ({', '.join(TIERS)}): {', '.join(untiered)}"
        )
    items.sort(key=lambda item: TIERS.index(tier_of[item.nodeid]))


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Build an app from settings given as environment-style names."""

    def build(**settings: str) -> Flask:
        app = create_app(settings)
        app.testing = True
        return app

    return build


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, and no endpoint or profile of the developer's leaking in."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    """An S3 client of moto's in-process AWS, with the bucket support.s3.BUCKET made."""
    with models_bucket() as client:
        yield client


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled artifact and its metadata; returns the artifact."""
    artifact = tmp_path / "model.joblib"
    shutil.copy(BUNDLED_MODEL, artifact)
    shutil.copy(metadata_path_for(BUNDLED_MODEL), metadata_path_for(artifact))
    return artifact


@pytest.fixture(scope="session")
def regressor_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ridge regressor on the diabetes data set that ships with scikit-learn."""
    data = load_diabetes()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0
    )
    estimator = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X_train, y_train)
    predicted = estimator.predict(X_test)
    artifact = tmp_path_factory.mktemp("regressor") / "diabetes.joblib"
    metrics = {
        "r2": float(r2_score(y_test, predicted)),
        "mae": float(mean_absolute_error(y_test, predicted)),
    }
    save_model(
        estimator, artifact, Description("diabetes-ridge", "2.1.0", data.feature_names, metrics)
    )
    return artifact


@pytest.fixture
def regressor_client(make_app: Callable[..., Flask], regressor_artifact: Path) -> FlaskClient:
    return make_app(MODEL_PATH=str(regressor_artifact)).test_client()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveServer]]:
    """`live_server(**settings)`: the app under `flask run`, as `make serve` runs it, with
    settings as environment variables (MODEL_URI=...), once it answers. Started when first
    asked for, then shared by every test that asks for the same settings, and stopped at
    the end of the run. Its output goes to its `log`."""
    with ExitStack() as servers:
        started: dict[frozenset[tuple[str, str]], LiveServer] = {}

        def serve(**settings: str) -> LiveServer:
            key = frozenset(settings.items())
            if key not in started:
                log = tmp_path_factory.mktemp("flask-run") / "flask.log"
                started[key] = servers.enter_context(flask_server(log, **settings))
            return started[key]

        yield serve


@pytest.fixture(scope="session")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Offline]]:
    """`offline_server(*params)`: `make offline` with deploy parameters (name=value), once
    the function answers; shared like `live_server`."""
    with ExitStack() as servers:
        started: dict[tuple[str, ...], Offline] = {}

        def serve(*params: str) -> Offline:
            if params not in started:
                log = tmp_path_factory.mktemp("offline") / "offline.log"
                started[params] = servers.enter_context(sls_offline(log, *params))
            return started[params]

        yield serve
