"""The /predict contract: every input form, and the shape and types of answers."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from support.iris import IRIS_FEATURES, SETOSA, VIRGINICA


def by_name(row: list[float]) -> dict[str, float]:
    return dict(zip(IRIS_FEATURES, row, strict=True))


def test_one_row_by_position(client: FlaskClient) -> None:
    response = client.post("/predict", json={"features": SETOSA})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"prediction": "setosa", "model_version": "1.0.0"}


def test_one_row_by_name_in_any_key_order(client: FlaskClient) -> None:
    reversed_row = dict(reversed(list(by_name(SETOSA).items())))
    response = client.post("/predict", json={"features": reversed_row})
    assert response.status_code == 200
    assert response.get_json() == {"prediction": "setosa", "model_version": "1.0.0"}


def test_integers_are_numbers_too(client: FlaskClient) -> None:
    response = client.post("/predict", json={"features": [7, 3, 6, 2]})
    assert response.status_code == 200
    assert response.get_json()["prediction"] == "virginica"


def test_batch_keeps_input_order_and_mixes_row_forms(client: FlaskClient) -> None:
    rows = [SETOSA, by_name(VIRGINICA), [5.9, 2.8, 4.3, 1.3], by_name(SETOSA)]
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.get_json() == {
        "predictions": ["setosa", "virginica", "versicolor", "setosa"],
        "model_version": "1.0.0",
    }


def test_batch_of_exactly_the_row_limit(make_app) -> None:
    client = make_app(MAX_BATCH_ROWS="3").test_client()
    response = client.post("/predict", json={"instances": [SETOSA] * 3})
    assert response.status_code == 200
    assert response.get_json()["predictions"] == ["setosa"] * 3


def test_probabilities_for_one_row(client: FlaskClient) -> None:
    response = client.post("/predict", json={"features": SETOSA, "return_probabilities": True})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["prediction", "probabilities", "model_version"]
    probabilities = body["probabilities"]
    assert list(probabilities) == ["setosa", "versicolor", "virginica"]
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert max(probabilities, key=probabilities.get) == body["prediction"] == "setosa"


def test_probabilities_for_a_batch(client: FlaskClient) -> None:
    response = client.post(
        "/predict", json={"instances": [SETOSA, VIRGINICA], "return_probabilities": True}
    )
    body = response.get_json()
    assert body["predictions"] == ["setosa", "virginica"]
    assert len(body["probabilities"]) == 2
    for label, probabilities in zip(body["predictions"], body["probabilities"], strict=True):
        assert max(probabilities, key=probabilities.get) == label


def test_return_probabilities_false_adds_nothing(client: FlaskClient) -> None:
    response = client.post("/predict", json={"features": SETOSA, "return_probabilities": False})
    assert response.get_json() == {"prediction": "setosa", "model_version": "1.0.0"}


def test_charset_parameter_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/predict",
        data=json.dumps({"features": SETOSA}),
        content_type="application/json; charset=UTF-8",
    )
    assert response.status_code == 200


def test_regressor_predicts_plain_floats(regressor_client: FlaskClient) -> None:
    row = [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]
    response = regressor_client.post("/predict", json={"instances": [row, row]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == "2.1.0"
    first, second = body["predictions"]
    assert type(first) is float and first == second
    assert 25 < first < 346  # the data set's target range


def test_regressor_by_feature_name(regressor_client: FlaskClient) -> None:
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    response = regressor_client.post("/predict", json={"features": dict.fromkeys(names, 0.0)})
    assert response.status_code == 200
    assert type(response.get_json()["prediction"]) is float
