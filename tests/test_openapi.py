"""/openapi.json is a valid OpenAPI 3.1 document, and the app keeps to it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import SETOSA, VIRGINICA
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

NAMED = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def call(client: FlaskClient, method: str, path: str, **options: Any) -> Exchange:
    """Send a request, keeping an unread copy of it: the app consumes the original."""
    request = EnvironBuilder(path=path, method=method, **options).get_request()
    return Exchange(request, client.open(path, method=method, **options))


@dataclass(frozen=True)
class Exchange:
    request: Request
    response: TestResponse


def check_response(spec: OpenAPI, exchange: Exchange) -> None:
    spec.validate_response(
        WerkzeugOpenAPIRequest(exchange.request), WerkzeugOpenAPIResponse(exchange.response)
    )


def request_is_valid(spec: OpenAPI, exchange: Exchange) -> bool:
    try:
        spec.validate_request(WerkzeugOpenAPIRequest(exchange.request))
    except OpenAPIError:
        return False
    return True


def check_error_schema(doc: dict[str, Any], response: TestResponse) -> None:
    """For answers to operations the document has no entry for (404, 405)."""
    root = {"$ref": "#/components/schemas/Error", "components": doc["components"]}
    Draft202012Validator(root).validate(response.get_json())


@pytest.fixture
def spec(client: FlaskClient) -> OpenAPI:
    return OpenAPI.from_dict(document(client))


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    doc = document(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_document_describes_every_endpoint_and_error(client: FlaskClient) -> None:
    doc = document(client)
    assert set(doc["paths"]) == {"/predict", "/health", "/model", "/openapi.json"}
    predict = doc["paths"]["/predict"]["post"]["responses"]
    assert set(predict) >= {"200", "400", "405", "413", "415", "422", "500", "503"}
    schemas = doc["components"]["schemas"]
    assert schemas["RowObject"]["required"] == list(NAMED)
    assert schemas["RowArray"]["minItems"] == schemas["RowArray"]["maxItems"] == 4
    assert schemas["Prediction"] == {"enum": ["setosa", "versicolor", "virginica"]}
    assert schemas["BatchRequest"]["properties"]["instances"]["maxItems"] == 1000


@pytest.mark.parametrize(
    "payload",
    [
        {"features": SETOSA},
        {"features": NAMED},
        {"features": NAMED, "return_probabilities": True},
        {"instances": [SETOSA, NAMED, VIRGINICA]},
        {"instances": [SETOSA, VIRGINICA], "return_probabilities": True},
    ],
)
def test_accepted_requests_and_their_answers_conform(
    client: FlaskClient, spec: OpenAPI, payload: dict
) -> None:
    exchange = call(client, "POST", "/predict", json=payload)
    assert exchange.response.status_code == 200
    assert request_is_valid(spec, exchange)
    check_response(spec, exchange)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"features": SETOSA, "instances": [SETOSA]},
        {"features": SETOSA[:3]},
        {"features": {**NAMED, "extra": 1.0}},
        {"features": [5.1, "3.5", 1.4, 0.2]},
        {"features": [5.1, None, 1.4, 0.2]},
        {"features": [5.1, True, 1.4, 0.2]},
        {"instances": []},
        {"features": SETOSA, "return_probabilities": "yes"},
        {"features": SETOSA, "unexpected": 1},
        [SETOSA],
    ],
)
def test_rejected_requests_are_rejected_by_the_document_too(
    client: FlaskClient, spec: OpenAPI, payload: Any
) -> None:
    exchange = call(
        client, "POST", "/predict", data=json.dumps(payload), content_type="application/json"
    )
    assert exchange.response.status_code == 422
    assert not request_is_valid(spec, exchange)
    check_response(spec, exchange)


def test_error_answers_conform(client: FlaskClient, spec: OpenAPI) -> None:
    exchanges = [
        call(client, "POST", "/predict", data="{", content_type="application/json"),
        call(client, "POST", "/predict", data="{}", content_type="text/plain"),
        call(
            client,
            "POST",
            "/predict",
            data=" " * (1024 * 1024 + 1),
            content_type="application/json",
        ),
    ]
    assert [e.response.status_code for e in exchanges] == [400, 415, 413]
    for exchange in exchanges:
        check_response(spec, exchange)


def test_answers_outside_the_operations_use_the_error_schema(client: FlaskClient) -> None:
    doc = document(client)
    answers = [client.get("/predict"), client.delete("/health"), client.get("/nowhere")]
    assert [answer.status_code for answer in answers] == [405, 405, 404]
    for answer in answers:
        check_error_schema(doc, answer)


def test_other_endpoints_conform(client: FlaskClient, spec: OpenAPI) -> None:
    for path in ("/health", "/model", "/openapi.json"):
        exchange = call(client, "GET", path)
        assert exchange.response.status_code == 200
        check_response(spec, exchange)


def test_unavailable_model_answers_conform(make_app, tmp_path) -> None:
    client = make_app(MODEL_PATH=str(tmp_path / "absent.joblib")).test_client()
    doc = document(client)
    validate(doc)
    spec = OpenAPI.from_dict(doc)
    exchanges = [
        call(client, "GET", "/health"),
        call(client, "GET", "/model"),
        call(client, "POST", "/predict", json={"features": SETOSA}),
    ]
    assert [e.response.status_code for e in exchanges] == [503, 503, 503]
    for exchange in exchanges:
        check_response(spec, exchange)


def test_regressor_document_and_answers(regressor_client: FlaskClient) -> None:
    doc = document(regressor_client)
    validate(doc)
    assert doc["components"]["schemas"]["Prediction"] == {"type": "number"}
    spec = OpenAPI.from_dict(doc)
    row = [0.01] * 10
    for payload, status in [
        ({"features": row}, 200),
        ({"instances": [row, row]}, 200),
        ({"features": row, "return_probabilities": True}, 422),
    ]:
        exchange = call(regressor_client, "POST", "/predict", json=payload)
        assert exchange.response.status_code == status
        check_response(spec, exchange)


def test_regressor_document_accepts_no_request_for_probabilities(
    regressor_client: FlaskClient,
) -> None:
    doc = document(regressor_client)
    spec = OpenAPI.from_dict(doc)
    row = [0.01] * 10
    asked = call(
        regressor_client, "POST", "/predict", json={"features": row, "return_probabilities": True}
    )
    assert asked.response.status_code == 422
    assert not request_is_valid(spec, asked)
    declined = call(
        regressor_client, "POST", "/predict", json={"features": row, "return_probabilities": False}
    )
    assert declined.response.status_code == 200
    assert request_is_valid(spec, declined)
