"""Every answer fits through Lambda, and what an answer quotes from a request is cut short.

Lambda's response payload is at most 6,291,456 bytes; over it, API Gateway answers its
own 502 instead of ours. Answers are measured as Lambda sends them: the length of
`json.dumps` of what handler.handler returns for REST API and HTTP API events (the body
a JSON string in that object, or base64 for a binary answer), and read through the
Flask test client as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn
from conftest import SETOSA
from event_payloads import LambdaAnswer, LambdaContext, event_for
from flask import Flask
from flask.testing import FlaskClient
from sklearn.linear_model import Ridge
from v2_tensors import IRIS, infer_path

import handler
from app.artifact import metadata_path_for, sha256_of
from app.errors import MSG_LIMIT
from app.metadata import ModelMetadata
from app.schema import Schema

JSON = "application/json"
SHAPES = ["rest-api.json", "http-api-default-stage.json"]
CONTEXT = LambdaContext()
ASTRAL = "\U0001f600"  # 4 bytes of UTF-8, 12 of ASCII-only JSON
# A field name that fills a 1 MiB body: echoed whole, it made a 7.3 MB Lambda payload.
HUGE_NAME = ASTRAL * 262_000
# How an answer quotes it: its first 37 characters and an ellipsis, in quotes.
QUOTED_HUGE_NAME = '"' + ASTRAL * 37 + '..."'


def through_lambda(event: dict[str, Any]) -> tuple[int, LambdaAnswer]:
    """The Lambda response payload's size, and the answer it carries."""
    response = handler.handler(event, CONTEXT)
    return len(json.dumps(response)), LambdaAnswer.of(response)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """Build an app from settings and serve it through handler.handler."""

    def build(**settings: str) -> Flask:
        app = make_app(**settings)
        monkeypatch.setattr(handler, "app", app)
        return app

    return build


def iris_matrix(rows: int) -> dict[str, Any]:
    return {"name": "input-0", "shape": [rows, 4], "datatype": "FP64", "data": SETOSA * rows}


# Echoed values are cut short


HUGE_FIELD = [
    ("/predict", {"features": SETOSA, HUGE_NAME: 1}),
    ("/invocations", {"inputs": [SETOSA], HUGE_NAME: 1}),
    (infer_path(IRIS), {"inputs": [iris_matrix(1)], HUGE_NAME: 1}),
]


def details(answer: dict[str, Any]) -> list[dict[str, str]]:
    """The details of any protocol's error answer."""
    error = answer.get("error")
    found: list[dict[str, str]] = error["details"] if isinstance(error, dict) else answer["details"]
    return found


@pytest.mark.parametrize(("path", "body"), HUGE_FIELD, ids=["native", "mlflow", "v2"])
def test_a_huge_unknown_field_is_quoted_cut_short(
    client: FlaskClient, path: str, body: dict[str, Any]
) -> None:
    text = json.dumps(body, ensure_ascii=False)
    assert len(text.encode()) <= 1024 * 1024  # within the default body size
    response = client.post(path, data=text, content_type="application/json")
    assert response.status_code in (400, 422)
    assert [detail["loc"] for detail in details(response.get_json())] == [QUOTED_HUGE_NAME]
    assert len(response.data) < 2_000


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("path", "body"), HUGE_FIELD, ids=["native", "mlflow", "v2"])
def test_a_huge_unknown_field_makes_a_small_lambda_payload(
    serve: Callable[..., Flask], shape: str, path: str, body: dict[str, Any]
) -> None:
    serve()
    size, answer = through_lambda(
        event_for(shape, "POST", path, json.dumps(body, ensure_ascii=False))
    )
    assert answer.status in (400, 422)
    assert [detail["loc"] for detail in details(answer.json())] == [QUOTED_HUGE_NAME]
    assert size < 4_000


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            "/predict",
            {"instances": [{"sepal_length": 5.1, "a" * 100_000: 1}]},
            'instances[0]["' + "a" * 37 + '..."]',
        ),
        (
            "/invocations",
            {"dataframe_records": [{HUGE_NAME[:100_000]: 1}]},
            "dataframe_records[0][" + QUOTED_HUGE_NAME + "]",
        ),
        (
            "/invocations",
            {"inputs": {HUGE_NAME[:100_000]: [1]}},
            "inputs[" + QUOTED_HUGE_NAME + "]",
        ),
    ],
    ids=["native-row", "mlflow-record", "mlflow-column"],
)
def test_a_long_member_name_is_quoted_cut_short(
    client: FlaskClient, path: str, body: dict[str, Any], loc: str
) -> None:
    text = json.dumps(body, ensure_ascii=False)
    response = client.post(path, data=text, content_type=JSON)
    assert loc in [detail["loc"] for detail in details(response.get_json())]
    assert len(response.data) < 3_000


def test_ordinary_names_are_quoted_as_they_are(client: FlaskClient) -> None:
    row = dict(zip(["sepal_length", "sepal_width", "petal_length"], SETOSA, strict=False))
    body = {"features": {**row, "petal width (cm)": 0.2, "a" * 40: 1}}
    locs = [detail["loc"] for detail in details(client.post("/predict", json=body).get_json())]
    assert locs == ['features["petal width (cm)"]', "features." + "a" * 40, "features.petal_width"]


@pytest.mark.parametrize("shape", SHAPES)
def test_an_unknown_path_is_quoted_cut_short(serve: Callable[..., Flask], shape: str) -> None:
    serve()
    path = "/" + "x" * 200_000
    size, answer = through_lambda(event_for(shape, "GET", path))
    assert answer.status == 404
    assert answer.json()["error"]["message"] == (
        f"No endpoint at /{'x' * 96}.... The API is described at /openapi.json."
    )
    assert size < 2_000


def test_a_method_not_allowed_quotes_the_path_cut_short(client: FlaskClient) -> None:
    path = "/v2/models/" + "y" * 100_000
    response = client.post(path)
    assert response.status_code == 405
    message = response.get_json()["error"]
    assert message == f"POST is not allowed on {path[:97]}.... Allowed: GET, HEAD, OPTIONS."


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/v2/models/" + ASTRAL * 100_000,
            f"No model named '{ASTRAL * 37}...'; this server serves '{IRIS}'.",
        ),
        (
            f"/v2/models/{IRIS}/versions/" + "9" * 100_000,
            f"No version '{'9' * 37}...' of '{IRIS}'; this server serves '1.0.0'.",
        ),
    ],
    ids=["name", "version"],
)
def test_v2_quotes_an_unknown_model_cut_short(client: FlaskClient, path: str, message: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.get_json()) == (404, {"error": message})


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regressor of 2,000 number features. Its metadata is written here, not described:
    describing asks the model about each feature with a whole row, 2,000 x 2,000 values."""
    names = [f"feature_{index:04d}" for index in range(2000)]
    data = np.random.default_rng(5).normal(size=(50, len(names)))
    estimator = Ridge().fit(data, data[:, 0])
    artifact = tmp_path_factory.mktemp("wide") / "wide.joblib"
    joblib.dump(estimator, artifact)
    ModelMetadata(
        name="wide",
        version="1.0.0",
        sha256=sha256_of(artifact),
        task="regression",
        schema=Schema.numeric(names),
        example=(dict(zip(names, data[0].tolist(), strict=True)),),
        trained_with={"scikit-learn": sklearn.__version__},
    ).write(metadata_path_for(artifact))
    return artifact


def test_every_text_of_an_error_answer_is_bounded(serve: Callable[..., Flask], wide: Path) -> None:
    """150 inputs of unknown names each get a reason naming all 2,000 features: cut, so
    that 100 of them, in V2's message and its details, stay far from the limit."""
    serve(MODEL_URI=str(wide))
    inputs = [iris_matrix(1) | {"name": f"unknown-{index}"} for index in range(150)]
    size, answer = through_lambda(
        event_for(SHAPES[0], "POST", infer_path("wide"), json.dumps({"inputs": inputs}))
    )
    assert answer.status == 400
    listed = details(answer.json())
    assert len(listed) == 100
    assert all(len(detail["msg"]) <= MSG_LIMIT for detail in listed)
    assert listed[0]["msg"].endswith("...")
    assert size < 400_000
