"""Every input limit, at its bound, just under it and just over it, through the app.

Body size (MAX_CONTENT_LENGTH: 413), rows in a batch (MAX_BATCH_ROWS: 413), nesting
of arrays and objects (MAX_JSON_DEPTH: 400) and the size of a number (float64: 422).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from support.iris import IRIS_FEATURES, SETOSA
from werkzeug.test import TestResponse

from model.export import Description, save_model

FLOAT64_MAX = "1.7976931348623157e308"
# The neighbouring float64 below the largest, and the next decimal above the largest,
# which rounds to infinity.
FLOAT64_BELOW_MAX = "1.7976931348623155e308"
FLOAT64_ABOVE_MAX = "1.7976931348623159e308"


def post(client: FlaskClient, body: str | bytes) -> TestResponse:
    return client.post("/predict", data=body, content_type="application/json")


def error_code(response: TestResponse) -> str:
    return response.get_json()["error"]["code"]


def nested(depth: int) -> str:
    """A body `depth` levels deep: the request object around arrays in arrays."""
    return '{"features": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.fixture(scope="module")
def constant_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that answers its most frequent class and computes nothing with the values.

    Real models overflow on values near the float64 limit (a tree casts them to float32,
    a scaler divides them): this one leaves the number limit to the parser alone.
    """
    iris = load_iris()
    labels = iris.target_names[iris.target]
    estimator = DummyClassifier(strategy="most_frequent").fit(iris.data, labels)
    artifact = tmp_path_factory.mktemp("constant") / "constant.joblib"
    save_model(estimator, artifact, Description("iris-constant", "1.0.0", IRIS_FEATURES))
    return artifact


@pytest.fixture
def constant_client(make_app: Callable[..., Flask], constant_artifact: Path) -> FlaskClient:
    return make_app(MODEL_PATH=str(constant_artifact)).test_client()


# MAX_CONTENT_LENGTH: 413 payload_too_large


def padded(size: int) -> bytes:
    """A valid one-row request padded with trailing whitespace to exactly `size` bytes."""
    body = json.dumps({"features": SETOSA}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize(("size", "status"), [(255, 200), (256, 200), (257, 413)])
def test_body_size_bound(make_app: Callable[..., Flask], size: int, status: int) -> None:
    client = make_app(MAX_CONTENT_LENGTH="256").test_client()
    response = post(client, padded(size))
    assert response.status_code == status
    if status == 413:
        assert error_code(response) == "payload_too_large"
        assert "256 bytes" in response.get_json()["error"]["message"]


def test_a_body_of_exactly_the_default_limit_is_served(client: FlaskClient) -> None:
    assert post(client, padded(1024 * 1024)).status_code == 200
    assert post(client, padded(1024 * 1024 + 1)).status_code == 413


# MAX_BATCH_ROWS: 413 too_many_rows


@pytest.mark.parametrize(("rows", "status"), [(4, 200), (5, 200), (6, 413)])
def test_batch_rows_bound(make_app: Callable[..., Flask], rows: int, status: int) -> None:
    client = make_app(MAX_BATCH_ROWS="5").test_client()
    response = client.post("/predict", json={"instances": [SETOSA] * rows})
    assert response.status_code == status
    if status == 200:
        assert response.get_json()["predictions"] == ["setosa"] * rows
    else:
        assert error_code(response) == "too_many_rows"
        assert response.get_json()["error"]["details"] == [
            {"loc": "instances", "msg": "expected at most 5 rows, got 6"}
        ]


# MAX_JSON_DEPTH: 400 invalid_json


def test_depth_bound_at_the_depth_of_a_batch(make_app: Callable[..., Flask]) -> None:
    """At 3, the least that serves every request form, a batch is exactly at the bound."""
    client = make_app(MAX_JSON_DEPTH="3").test_client()
    assert post(client, json.dumps({"features": SETOSA})).status_code == 200  # depth 2
    assert post(client, json.dumps({"instances": [SETOSA]})).status_code == 200  # depth 3
    too_deep = post(client, json.dumps({"instances": [[SETOSA]]}))  # depth 4
    assert too_deep.status_code == 400
    assert error_code(too_deep) == "invalid_json"
    assert "more than 3 levels" in too_deep.get_json()["error"]["message"]


@pytest.mark.parametrize(("depth", "status"), [(31, 422), (32, 422), (33, 400)])
def test_default_depth_bound(client: FlaskClient, depth: int, status: int) -> None:
    response = post(client, nested(depth))
    assert response.status_code == status
    if status == 400:
        assert error_code(response) == "invalid_json"
        assert (
            "nests too deep to parse: more than 32 levels"
            in (response.get_json()["error"]["message"])
        )
    else:  # parsed, and refused for its shape, not its depth
        assert error_code(response) == "invalid_input"


@pytest.mark.parametrize(("depth", "status"), [(511, 422), (512, 422), (513, 400)])
def test_the_largest_depth_setting_stays_clear_of_recursion_limits(
    make_app: Callable[..., Flask], depth: int, status: int
) -> None:
    client = make_app(MAX_JSON_DEPTH="512").test_client()
    # Trailing blanks, as JSON allows, keep the arrays within one per 4 bytes of body, so
    # that the parser itself is reached at this depth.
    assert post(client, nested(depth) + " " * 4 * depth).status_code == status


def test_brackets_inside_strings_are_not_nesting(client: FlaskClient) -> None:
    body = json.dumps({"features": SETOSA, "note": "[" * 100 + '\\"{' * 100})
    response = post(client, body)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["loc"] == "note"


def test_a_mebibyte_of_brackets_is_refused_before_parsing(client: FlaskClient) -> None:
    response = post(client, b"[" * (1024 * 1024))
    assert response.status_code == 400
    assert "nests too deep" in response.get_json()["error"]["message"]


# Number size: a float64, else 422 invalid_input at the value


@pytest.mark.parametrize("sign", ["", "-"])
@pytest.mark.parametrize("literal", [FLOAT64_BELOW_MAX, FLOAT64_MAX, "1" + "0" * 308])
def test_numbers_up_to_the_float64_bound_are_served(
    constant_client: FlaskClient, sign: str, literal: str
) -> None:
    response = post(constant_client, f'{{"features": [5.1, {sign}{literal}, 1.4, 0.2]}}')
    assert response.status_code == 200
    assert response.get_json()["prediction"] in ("setosa", "versicolor", "virginica")


@pytest.mark.parametrize("sign", ["", "-"])
@pytest.mark.parametrize("literal", [FLOAT64_ABOVE_MAX, "1" + "0" * 309])
def test_numbers_just_over_the_float64_bound_are_refused(
    constant_client: FlaskClient, sign: str, literal: str
) -> None:
    response = post(constant_client, f'{{"features": [5.1, {sign}{literal}, 1.4, 0.2]}}')
    assert response.status_code == 422
    [detail] = response.get_json()["error"]["details"]
    assert detail["loc"] == "features[1]"
    assert detail["msg"].endswith("is beyond the float64 range")


@pytest.mark.parametrize(
    "literal",
    ["9" * 500_000, "-" + "9" * 500_000, "0." + "0" * 500_000 + "1e999999999"],
)
def test_half_a_million_digits_beyond_float64_get_one_short_detail(
    constant_client: FlaskClient, literal: str
) -> None:
    response = post(
        constant_client, f'{{"instances": [[5.1, 3.5, 1.4, 0.2], [{literal}, 1, 1, 1]]}}'
    )
    assert response.status_code == 422
    [detail] = response.get_json()["error"]["details"]
    assert detail["loc"] == "instances[1][0]"
    assert detail["msg"].endswith("is beyond the float64 range")
    assert len(detail["msg"]) < 100


def test_half_a_million_digits_within_float64_are_read_as_the_number(
    client: FlaskClient,
) -> None:
    one = "1." + "0" * 500_000 + "1"  # a long way of writing 1.0
    answers = [
        post(client, f'{{"features": [5.1, 3.5, {value}, 0.2], "return_probabilities": true}}')
        for value in (one, "1.0")
    ]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].get_json() == answers[1].get_json()
