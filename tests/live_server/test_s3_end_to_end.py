"""describe -> publish -> serve, through moto's server and serverless-offline.

A classifier and a regressor are each saved with joblib, described, published to
S3 (moto's server mode) with `python -m model.publish`, and served by the function
under `make offline` with MODEL_URI=s3://...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from support.iris import IRIS_FEATURES, SETOSA
from support.paths import ROOT
from support.servers import local_s3, moto_server, sls_offline

BUCKET = "team-models"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        local_s3(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint


def aws_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    return (
        env | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    )


def tool(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def serve(uri: str, endpoint: str, log: Path, request: Any) -> Any:
    """Start `make offline` serving `uri`; answer `request(base_url)`; stop it."""
    with sls_offline(log, f"modelUri={uri}", env=aws_env(endpoint)) as served:
        return request(served.http)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def post(url: str, payload: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_classifier(moto: str, tmp_path: Path) -> None:
    iris = load_iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(iris.data, np.asarray(iris.target_names)[iris.target])
    artifact = tmp_path / "flowers.joblib"
    joblib.dump(model, artifact)

    tool(
        "model.describe", str(artifact), "--features", ",".join(IRIS_FEATURES), "--version", "4.2.0"
    )
    uri = f"s3://{BUCKET}/classifiers/flowers.joblib"
    out = tool("model.publish", str(artifact), uri, env=aws_env(moto))
    assert f"published flowers 4.2.0 to {uri}" in out

    def check(base: str) -> None:
        assert get(base + "/health") == {"status": "ok", "model_version": "4.2.0"}
        answer = post(base + "/predict", {"features": SETOSA, "return_probabilities": True})
        assert answer["prediction"] == "setosa"
        assert set(answer["probabilities"]) == {"setosa", "versicolor", "virginica"}
        assert get(base + "/model")["name"] == "flowers"

    serve(uri, moto, tmp_path / "offline.log", check)


def test_regressor_published_without_metadata(moto: str, tmp_path: Path) -> None:
    data = load_diabetes()
    model = make_pipeline(StandardScaler(), Ridge()).fit(data.data, data.target)
    artifact = tmp_path / "progression.joblib"
    joblib.dump(model, artifact)
    expected = float(model.predict(data.data[:2])[1])

    # No describe step: publish writes the metadata first.
    uri = f"s3://{BUCKET}/regressors/progression.joblib"
    features = ",".join(data.feature_names)
    out = tool("model.publish", str(artifact), uri, "--features", features, env=aws_env(moto))
    assert "wrote" in out and "published progression 1.0.0" in out

    def check(base: str) -> None:
        rows = [dict(zip(data.feature_names, row, strict=True)) for row in data.data[:2].tolist()]
        answer = post(base + "/predict", {"instances": rows})
        assert answer["predictions"][1] == pytest.approx(expected)
        assert get(base + "/model")["task"] == "regression"

    serve(uri, moto, tmp_path / "offline.log", check)
