"""Every error is JSON, with the documented status, code and details."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from support.iris import SETOSA
from werkzeug.test import TestResponse

from app.http.components import part_of
from app.service.model_slot import ModelSlot
from model.export import Description, ExportError, save_model

NON_FINITE = "the model produced a non-finite value (NaN or infinity) for these values"


def error_of(response: TestResponse, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


def details_of(response: TestResponse) -> dict[str, str]:
    error = error_of(response, 422, "invalid_input")
    return {detail["loc"]: detail["msg"] for detail in error["details"]}


def post_raw(client: FlaskClient, body: bytes | str, content_type: str = "application/json"):
    return client.post("/predict", data=body, content_type=content_type)


# 400 invalid_json


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"features": [1, 2, 3, 4]', "not valid JSON"),
        (b"{'features': [1, 2, 3, 4]}", "not valid JSON"),
        (b'{"features": [1, 2, 3, 4],}', "not valid JSON"),
        (b'{"features": [5.1, 3.5, 1.4, "\xff"]}', "not valid UTF-8"),
        ('{"features": "é"}'.encode("latin-1"), "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deep"),
    ],
)
def test_body_that_is_not_json(client: FlaskClient, body: bytes, fragment: str) -> None:
    error = error_of(post_raw(client, body), 400, "invalid_json")
    assert fragment in error["message"]


# 415 unsupported_media_type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "application/json-seq"],
)
def test_body_that_is_not_declared_json(client: FlaskClient, content_type: str) -> None:
    response = post_raw(client, '{"features": [5.1, 3.5, 1.4, 0.2]}', content_type)
    error = error_of(response, 415, "unsupported_media_type")
    assert content_type in error["message"]


def test_missing_content_type(client: FlaskClient) -> None:
    response = client.post("/predict", data=b'{"features": [5.1, 3.5, 1.4, 0.2]}')
    error_of(response, 415, "unsupported_media_type")


def test_charset_other_than_utf8(client: FlaskClient) -> None:
    response = post_raw(client, '{"features": [1, 2, 3, 4]}', "application/json; charset=latin-1")
    error = error_of(response, 415, "unsupported_media_type")
    assert "latin-1" in error["message"]


# 413 payload_too_large


def test_body_over_the_limit(make_app) -> None:
    client = make_app(MAX_CONTENT_LENGTH="64").test_client()
    body = '{"instances": [' + ", ".join(["[5.1, 3.5, 1.4, 0.2]"] * 5) + "]}"
    error = error_of(post_raw(client, body), 413, "payload_too_large")
    assert "64 bytes" in error["message"]


def test_default_limit_is_one_mebibyte(client: FlaskClient) -> None:
    error_of(post_raw(client, b" " * (1024 * 1024 + 1)), 413, "payload_too_large")


# 404 and 405


def test_unknown_path(client: FlaskClient) -> None:
    error = error_of(client.get("/nowhere"), 404, "not_found")
    assert "/nowhere" in error["message"]


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/predict"), ("delete", "/health"), ("put", "/model")]
)
def test_wrong_method(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    error = error_of(response, 405, "method_not_allowed")
    assert method.upper() in error["message"]
    assert response.headers["Allow"]


# Paths a router would redirect, each as a server hands it to the app (PATH_INFO): the test
# client would read `//predict` as a host.
REDIRECT_BAIT = [
    "", "//predict", "/v2//health/live", "/predict/", "/v2/", "/try-it//x",
    "/try-it//page.js", "/health/", "/v2/health/live/", "//", "/v2/models/iris//ready",
]  # fmt: skip
# Leading slashes are stripped before matching: these two are answered by their routes.
CANONICAL = {
    "//predict": {"GET": 405, "HEAD": 405, "POST": 415, "OPTIONS": 200},
    "//": {"GET": 200, "HEAD": 200, "POST": 405, "OPTIONS": 200},
}


@pytest.mark.parametrize("path", REDIRECT_BAIT)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "OPTIONS"])
def test_no_path_is_answered_with_a_redirect(client: FlaskClient, path: str, method: str) -> None:
    """Never a Location built from the Host header: a route as sent, or a 404."""
    response = client.open(
        "/", method=method, headers={"Host": "evil.example"}, environ_overrides={"PATH_INFO": path}
    )
    assert "Location" not in response.headers
    assert response.status_code == CANONICAL.get(path, {}).get(method, 404)
    if response.status_code == 404 and method != "HEAD":
        assert "error" in response.get_json()


# 422 invalid_input


@pytest.mark.parametrize(
    ("payload", "loc", "fragment"),
    [
        ([5.1, 3.5, 1.4, 0.2], "body", "expected a JSON object, got an array"),
        ("features", "body", "got a string"),
        (None, "body", "got null"),
        ({}, "body", "exactly one of"),
        ({"features": SETOSA, "instances": [SETOSA]}, "body", "exactly one of"),
        ({"features": SETOSA, "extra": 1}, "extra", "unknown field"),
        ({"features": [5.1, 3.5, 1.4]}, "features", "expected 4 values"),
        ({"features": [5.1, 3.5, 1.4, 0.2, 9.9]}, "features", "got 5"),
        ({"features": []}, "features", "got 0"),
        ({"features": "5.1,3.5,1.4,0.2"}, "features", "got a string"),
        ({"features": 5.1}, "features", "got a number"),
        ({"features": [5.1, "3.5", 1.4, 0.2]}, "features[1]", "got a string"),
        ({"features": [5.1, True, 1.4, 0.2]}, "features[1]", "got a boolean"),
        ({"features": [5.1, 3.5, None, 0.2]}, "features[2]", "got null"),
        ({"features": [5.1, 3.5, 1.4, [0.2]]}, "features[3]", "got an array"),
        ({"features": [5.1, 3.5, 1.4, {"v": 0.2}]}, "features[3]", "got an object"),
        ({"instances": []}, "instances", "at least 1 row"),
        ({"instances": SETOSA}, "instances[0]", "got a number"),
        ({"instances": {"a": SETOSA}}, "instances", "expected an array of rows"),
        ({"instances": [[SETOSA]]}, "instances[0]", "expected 4 values"),
        (
            {"features": SETOSA, "return_probabilities": "yes"},
            "return_probabilities",
            "true or false",
        ),
        ({"features": SETOSA, "return_probabilities": 1}, "return_probabilities", "true or false"),
        ({"features": SETOSA, "return_probabilities": None}, "return_probabilities", "got null"),
    ],
)
def test_json_that_does_not_fit(client: FlaskClient, payload, loc: str, fragment: str) -> None:
    details = details_of(post_raw(client, json.dumps(payload)))
    assert loc in details, details
    assert fragment in details[loc]


def test_names_unknown_and_missing_features(client: FlaskClient) -> None:
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_wdth": 0.2}
    details = details_of(client.post("/predict", json={"features": row}))
    assert details == {
        "features.petal_wdth": details["features.petal_wdth"],
        "features.petal_width": "missing feature",
    }
    assert "unknown feature" in details["features.petal_wdth"]
    assert "petal_width" in details["features.petal_wdth"]  # says what was expected


def test_lists_every_problem_in_a_batch(client: FlaskClient) -> None:
    rows = [
        SETOSA,
        [5.1, "x", 1.4, None],
        {"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": False},
        [1, 2],
        "row",
    ]
    response = client.post("/predict", json={"instances": rows, "return_probabilities": "no"})
    details = details_of(response)
    assert set(details) == {
        "instances[1][1]",
        "instances[1][3]",
        "instances[2].petal_width",
        "instances[3]",
        "instances[4]",
        "return_probabilities",
    }
    assert "6 problems" in response.get_json()["error"]["message"]


def test_caps_the_details_of_a_huge_bad_batch(client: FlaskClient) -> None:
    response = client.post("/predict", json={"instances": [["x"] * 4] * 200})
    error = error_of(response, 422, "invalid_input")
    assert len(error["details"]) == 100
    assert "more than 100 problems" in error["message"]
    assert error["details"][0]["loc"] == "instances[0][0]"


def rows_refused(response: TestResponse) -> dict[str, str]:
    error = error_of(response, 413, "too_many_rows")
    return {detail["loc"]: detail["msg"] for detail in error["details"]}


def test_batch_over_the_row_limit(make_app) -> None:
    client = make_app(MAX_BATCH_ROWS="3").test_client()
    details = rows_refused(client.post("/predict", json={"instances": [SETOSA] * 4}))
    assert details == {"instances": "expected at most 3 rows, got 4"}


def test_default_row_limit_is_1000(client: FlaskClient) -> None:
    assert client.post("/predict", json={"instances": [SETOSA] * 1000}).status_code == 200
    details = rows_refused(client.post("/predict", json={"instances": [SETOSA] * 1001}))
    assert details == {"instances": "expected at most 1000 rows, got 1001"}


def test_an_empty_batch_is_still_invalid_input(client: FlaskClient) -> None:
    details = details_of(client.post("/predict", json={"instances": []}))
    assert details == {"instances": "expected at least 1 row, got none"}


@pytest.mark.parametrize(
    ("literal", "fragment"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e400", "1e400 is beyond the float64 range"),
        ("-1.7976931348623159e308", "beyond the float64 range"),
        ("1" + "0" * 400, "beyond the float64 range"),
        ("9" * 5000, "beyond the float64 range"),
    ],
)
def test_numbers_a_float64_cannot_hold(client: FlaskClient, literal: str, fragment: str) -> None:
    response = post_raw(client, f'{{"features": [5.1, {literal}, 1.4, 0.2]}}')
    details = details_of(response)
    assert list(details) == ["features[1]"]
    assert fragment in details["features[1]"]
    assert len(details["features[1]"]) < 100  # a huge literal is shortened


def test_largest_finite_float64_parses(client: FlaskClient) -> None:
    response = post_raw(client, '{"features": [1.7976931348623157e308, 3.5, 1.4, 0.2]}')
    # Accepted by the parser; the model overflows on it, and says so at the row.
    assert details_of(response) == {
        "features": "the model cannot compute a finite result for these values (numeric overflow)"
    }


def test_overflowing_rows_are_named_in_a_batch(client: FlaskClient) -> None:
    rows = [SETOSA, [5.1, 1.7e308, 1.4, 0.2], SETOSA, [5.1, 3.5, 1.4, -1.7e308]]
    details = details_of(client.post("/predict", json={"instances": rows}))
    assert list(details) == ["instances[1]", "instances[3]"]
    assert client.post("/predict", json={"instances": [SETOSA, [1e300] * 4]}).status_code == 200


def test_a_non_finite_value_inside_the_model_is_named_for_what_it_is(
    make_app, tmp_path: Path
) -> None:
    # log1p of a value below -1 is NaN (of -1, minus infinity): no overflow, yet no answer.
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(50, 2))
    model = make_pipeline(FunctionTransformer(np.log1p), LinearRegression()).fit(X, X.sum(axis=1))
    artifact = tmp_path / "log.joblib"
    save_model(model, artifact, Description("log", "1.0.0", ["a", "b"]), example=X[:3])
    client = make_app(MODEL_URI=str(artifact)).test_client()
    rows = [[1.0, 2.0], [-5.0, 2.0], [1.0, -1.0], [1.0, 1e308]]
    assert details_of(client.post("/predict", json={"instances": rows})) == {
        "instances[1]": NON_FINITE,
        "instances[2]": NON_FINITE,
    }
    # At describe, as the same words: the rows, and what the model produced for them.
    with pytest.raises(ExportError, match=r"fails on its example rows \[0\]: a non-finite value"):
        save_model(model, tmp_path / "bad.joblib", Description("log", "1.0.0", ["a", "b"]),
                   example=np.array([[-5.0, 1.0]]))  # fmt: skip


def test_large_but_computable_values_still_predict(client: FlaskClient) -> None:
    response = client.post("/predict", json={"features": [1e300, 1e300, 1e300, 1e300]})
    assert response.status_code == 200


def test_probabilities_from_a_regressor(regressor_client: FlaskClient) -> None:
    row = [0.0] * 10
    response = regressor_client.post(
        "/predict", json={"features": row, "return_probabilities": True}
    )
    details = details_of(response)
    assert "not a classifier" in details["return_probabilities"]


# 500 internal_error


class ExplodingEstimator:
    def predict(self, rows):
        raise RuntimeError("secret connection string: postgres://admin:hunter2@db")


def test_unexpected_error_reveals_nothing(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    part_of(ModelSlot, client.application).predictor.estimator = ExplodingEstimator()
    with caplog.at_level(logging.ERROR):
        response = client.post("/predict", json={"features": SETOSA})
    error = error_of(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "RuntimeError" not in text and "Traceback" not in text
    assert set(error) == {"code", "message"}
    # ...while the log has the whole story.
    assert "hunter2" in caplog.text and "Traceback" in caplog.text


def test_odd_member_names_are_quoted_in_their_place(client: FlaskClient) -> None:
    body = {"features": {**dict.fromkeys(["sepal_length", "sepal_width", "petal_length"], 1.0)}}
    body["features"]["petal width (cm)"] = 0.2
    body[""] = 1
    body["features.petal_width"] = 2
    details = details_of(post_raw(client, json.dumps(body)))
    assert details['features["petal width (cm)"]'].startswith("unknown feature")
    assert details["features.petal_width"] == "missing feature"
    assert details['""'].startswith("unknown field")
    assert details['"features.petal_width"'].startswith("unknown field")
