"""/openapi.json is a valid OpenAPI 3.1 document of all three protocols, and the app keeps
to it: native (/predict), MLflow's scoring protocol (/invocations) and V2 (/v2/...)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate
from support.iris import SETOSA, VIRGINICA
from support.paths import CHURN_MODEL, ROOT
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from app.auth.open_routes import openapi_path
from app.core.errors import ERROR_CODES
from app.openapi.common import CAUSES

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


def check_error_schema(doc: dict[str, Any], response: TestResponse, schema: str = "Error") -> None:
    """For answers to operations the document has no entry for (404, 405)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    Draft202012Validator(root).validate(response.get_json())


def openapi(doc: dict[str, Any]) -> OpenAPI:
    # A CSV body is text for its schema's pattern; openapi-core hands other types over as bytes.
    config = Config(extra_media_type_deserializers={"text/csv": bytes.decode})
    return OpenAPI.from_dict(doc, config=config)


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    """The document of an app with the default settings, as openapi-core reads it: the
    same for every such app, and reading it costs more than most tests here, so it is
    read once for the module."""
    from app.factory import create_app

    app = create_app({})
    app.testing = True
    return openapi(document(app.test_client()))


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    doc = document(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def test_document_describes_every_route_of_every_protocol(client: FlaskClient) -> None:
    # Read from the app's own route table, so a route added later must be documented too.
    routes = {
        f"{method} {openapi_path(rule.rule)}"
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    doc = document(client)
    assert set(operations(doc)) == routes
    assert len(routes) == 18
    assert [tag["name"] for tag in doc["tags"]] == ["native", "mlflow", "v2"]
    ids = [operation["operationId"] for operation in operations(doc).values()]
    assert len(set(ids)) == len(ids)


def test_document_types_the_native_protocol_from_the_model(client: FlaskClient) -> None:
    doc = document(client)
    predict = doc["paths"]["/predict"]["post"]["responses"]
    assert set(predict) >= {"200", "400", "405", "413", "415", "422", "500", "503"}
    schemas = doc["components"]["schemas"]
    assert schemas["RowObject"]["required"] == list(NAMED)
    assert schemas["RowArray"]["minItems"] == schemas["RowArray"]["maxItems"] == 4
    assert schemas["Prediction"] == {"enum": ["setosa", "versicolor", "virginica"]}
    assert schemas["BatchRequest"]["properties"]["instances"]["maxItems"] == 1000


def test_every_error_code_has_a_cause() -> None:
    assert CAUSES.keys() == ERROR_CODES.keys()


# The statuses each operation answers, and the schema of its error answers: each
# protocol's own shape; MLflow and V2 refuse input that does not fit with 400, not 422.
STATUSES = {
    "POST /predict": ({200, 400, 405, 413, 415, 422, 500, 503}, "Error"),
    "GET /health": ({200, 405, 500, 503}, "Error"),
    "GET /model": ({200, 405, 500, 503}, "Error"),
    "GET /openapi.json": ({200, 405, 500}, "Error"),
    "GET /": ({200, 405, 500}, "Error"),
    "GET /try-it/{asset}": ({200, 404, 405, 500}, "Error"),
    "POST /invocations": ({200, 400, 405, 413, 415, 500, 503}, "MlflowError"),
    "GET /ping": ({200, 405, 500, 503}, "MlflowError"),
    "GET /version": ({200, 405, 500}, "MlflowError"),
    "GET /v2": ({200, 405, 500}, "V2Error"),
    "GET /v2/health/live": ({200, 405, 500}, "V2Error"),
    "GET /v2/health/ready": ({200, 405, 500, 503}, "V2Error"),
    "GET /v2/models/{name}": ({200, 404, 405, 500, 503}, "V2Error"),
    "GET /v2/models/{name}/ready": ({200, 404, 405, 500, 503}, "V2Error"),
    "POST /v2/models/{name}/infer": ({200, 400, 404, 405, 413, 415, 500, 503}, "V2Error"),
    "GET /v2/models/{name}/versions/{version}": ({200, 404, 405, 500, 503}, "V2Error"),
    "GET /v2/models/{name}/versions/{version}/ready": ({200, 404, 405, 500, 503}, "V2Error"),
    "POST /v2/models/{name}/versions/{version}/infer": (
        {200, 400, 404, 405, 413, 415, 500, 503},
        "V2Error",
    ),
}
# Liveness and readiness answer 503 with their own bodies, not an error.
HEALTH_503 = {
    "GET /health": "HealthUnavailable",
    "GET /ping": "HealthUnavailable",
    "GET /v2/health/ready": "V2NotReady",
}


def test_each_operation_lists_the_statuses_it_answers_in_its_protocols_shape(
    client: FlaskClient,
) -> None:
    documented = operations(document(client))
    assert set(documented) == set(STATUSES)
    for name, (statuses, error) in STATUSES.items():
        responses = documented[name]["responses"]
        assert {int(status) for status in responses} == statuses, name
        for status, response in responses.items():
            if status == "200":
                continue
            expected = HEALTH_503.get(name, error) if status == "503" else error
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{expected}"}, (name, status)
    mlflow = documented["POST /invocations"]["responses"]
    assert "`BAD_REQUEST`" in mlflow["400"]["description"]
    assert "`REQUEST_LIMIT_EXCEEDED`" in mlflow["413"]["description"]


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
    answers = [
        (client.get("/predict"), 405, "Error"),
        (client.delete("/health"), 405, "Error"),
        (client.get("/nowhere"), 404, "Error"),
        (client.get("/invocations"), 405, "MlflowError"),
        (client.post("/ping"), 405, "MlflowError"),
        (client.delete("/v2/health/live"), 405, "V2Error"),
        (client.get("/v2/models/iris-logistic-regression/infer"), 405, "V2Error"),
        (client.get("/v2/nowhere"), 404, "V2Error"),
    ]
    for answer, status, schema in answers:
        assert answer.status_code == status
        check_error_schema(doc, answer, schema)


IRIS = "iris-logistic-regression"
GETS = [
    "/health",
    "/model",
    "/openapi.json",
    "/ping",
    "/version",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    f"/v2/models/{IRIS}",
    f"/v2/models/{IRIS}/ready",
    f"/v2/models/{IRIS}/versions/1.0.0",
    f"/v2/models/{IRIS}/versions/1.0.0/ready",
]


def test_other_endpoints_conform(client: FlaskClient, spec: OpenAPI) -> None:
    for path in GETS:
        exchange = call(client, "GET", path)
        assert exchange.response.status_code == 200, path
        assert request_is_valid(spec, exchange), path
        check_response(spec, exchange)


def test_unavailable_model_answers_conform(make_app, tmp_path) -> None:
    client = make_app(MODEL_PATH=str(tmp_path / "absent.joblib")).test_client()
    doc = document(client)
    validate(doc)
    spec = openapi(doc)
    exchanges = [
        call(client, "GET", "/health"),
        call(client, "GET", "/model"),
        call(client, "POST", "/predict", json={"features": SETOSA}),
        call(client, "GET", "/ping"),
        call(client, "POST", "/invocations", json={"instances": [SETOSA]}),
        call(client, "POST", "/invocations", data="a\n1\n", content_type="text/csv"),
        call(client, "GET", "/v2/health/ready"),
        call(client, "GET", f"/v2/models/{IRIS}"),
        call(client, "GET", f"/v2/models/{IRIS}/versions/1.0.0/ready"),
        call(client, "POST", f"/v2/models/{IRIS}/infer", json={"inputs": [MATRIX]}),
    ]
    assert {e.response.status_code for e in exchanges} == {503}
    for exchange in exchanges:
        check_response(spec, exchange)
    for path in ("/version", "/v2", "/v2/health/live", "/openapi.json"):
        assert client.get(path).status_code == 200


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


# MLflow's scoring protocol

CSV = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
COLUMNS = list(NAMED)


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": [SETOSA, VIRGINICA]}},
        {"dataframe_split": {"data": [SETOSA], "index": [7]}},
        {"dataframe_split": {"columns": COLUMNS[::-1], "data": [SETOSA[::-1]]}},
        {"dataframe_records": [NAMED, NAMED]},
        {"instances": [SETOSA, NAMED]},
        {"inputs": [SETOSA]},
        {"inputs": {name: [value, value] for name, value in NAMED.items()}},
        {"instances": [SETOSA], "params": {"temperature": 0.5}},
        {"instances": [SETOSA], "params": None},
    ],
)
def test_mlflow_accepted_requests_and_their_answers_conform(
    client: FlaskClient, spec: OpenAPI, body: dict
) -> None:
    exchange = call(client, "POST", "/invocations", json=body)
    assert exchange.response.status_code == 200, exchange.response.get_json()
    assert request_is_valid(spec, exchange)
    check_response(spec, exchange)


@pytest.mark.parametrize(
    "csv",
    [
        CSV,
        CSV.replace("\n", "\r\n"),
        "\n" + CSV.replace("\n", "\n\n"),  # blank lines are skipped
        '"sepal_length",sepal_width,petal_length,petal_width\n"5.1",3.5,1.4,2e-1',
    ],
)
def test_mlflow_csv_bodies_fit_the_pattern_and_their_answers_conform(
    client: FlaskClient, spec: OpenAPI, csv: str
) -> None:
    exchange = call(client, "POST", "/invocations", data=csv, content_type="text/csv")
    assert exchange.response.status_code == 200, exchange.response.get_json()
    assert request_is_valid(spec, exchange)
    check_response(spec, exchange)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({}, "application/json"),
        ({"instances": [SETOSA], "inputs": [SETOSA]}, "application/json"),
        ({"dataframe_split": {"data": [SETOSA[:3]]}}, "application/json"),
        ({"dataframe_split": {"columns": COLUMNS[:3], "data": [SETOSA[:3]]}}, "application/json"),
        ({"dataframe_records": [SETOSA]}, "application/json"),
        ({"inputs": {"sepal_length": [5.1]}}, "application/json"),
        ({"instances": [SETOSA], "params": [1]}, "application/json"),
        ({"instances": []}, "application/json"),
        ({"instances": [SETOSA], "extra": 1}, "application/json"),
        ("sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n", "text/csv"),
        ("sepal_length,sepal_width,petal_length,petal_width\n5.1,x,1.4,0.2\n", "text/csv"),
        ("sepal_length,sepal_width,petal_length,petal_width\n", "text/csv"),
    ],
)
def test_mlflow_rejected_requests_are_rejected_by_the_document_too(
    client: FlaskClient, spec: OpenAPI, body: Any, content_type: str
) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    exchange = call(client, "POST", "/invocations", data=data, content_type=content_type)
    assert exchange.response.status_code == 400  # MLflow answers input that does not fit so
    assert exchange.response.get_json()["error_code"] == "BAD_REQUEST"
    assert not request_is_valid(spec, exchange)
    check_response(spec, exchange)


def test_mlflow_error_answers_conform(client: FlaskClient, spec: OpenAPI) -> None:
    too_large = " " * (1024 * 1024 + 1)
    exchanges = [
        call(client, "POST", "/invocations", data="{", content_type="application/json"),
        call(client, "POST", "/invocations", data='"a', content_type="text/csv"),
        call(client, "POST", "/invocations", data="{}", content_type="text/plain"),
        call(client, "POST", "/invocations", data=too_large, content_type="application/json"),
    ]
    assert [e.response.status_code for e in exchanges] == [400, 400, 415, 413]
    codes = [e.response.get_json()["error_code"] for e in exchanges]
    assert codes == ["BAD_REQUEST", "BAD_REQUEST", "BAD_REQUEST", "REQUEST_LIMIT_EXCEEDED"]
    for exchange in exchanges:
        check_response(spec, exchange)


# The Open Inference Protocol V2

INFER = f"/v2/models/{IRIS}/infer"
MATRIX = {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": SETOSA + VIRGINICA}


def columns(datatype: str = "FP64") -> list[dict[str, Any]]:
    return [
        {"name": name, "shape": [1], "datatype": datatype, "data": [value]}
        for name, value in NAMED.items()
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (INFER, {"inputs": [MATRIX]}),
        (INFER, {"inputs": [{**MATRIX, "name": "rows", "data": [SETOSA, VIRGINICA]}]}),
        (INFER, {"inputs": [{**MATRIX, "datatype": "FP32", "parameters": {}}]}),
        (INFER, {"inputs": [{**MATRIX, "datatype": "INT64", "data": [5, 3, 1, 0] * 2}]}),
        (INFER, {"inputs": columns()}),
        (INFER, {"inputs": columns()[::-1]}),
        (INFER, {"inputs": [{**c, "shape": [1, 1], "data": [c["data"]]} for c in columns()]}),
        (INFER, {"id": "r-1", "inputs": [MATRIX], "outputs": [{"name": "predict_proba"}]}),
        (
            f"/v2/models/{IRIS}/versions/1.0.0/infer",
            {
                "inputs": [MATRIX],
                "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
                "parameters": {"binary_data_output": False, "other": 1},
            },
        ),
    ],
)
def test_v2_accepted_requests_and_their_answers_conform(
    client: FlaskClient, spec: OpenAPI, path: str, body: dict
) -> None:
    exchange = call(client, "POST", path, json=body)
    assert exchange.response.status_code == 200, exchange.response.get_json()
    assert exchange.response.mimetype == "application/json"
    assert request_is_valid(spec, exchange)
    check_response(spec, exchange)


def test_v2_binary_answers_are_their_documented_content_type(
    client: FlaskClient, spec: OpenAPI
) -> None:
    for body in [
        {"inputs": [MATRIX], "parameters": {"binary_data_output": True}},
        {"inputs": [MATRIX], "outputs": [{"name": "predict", "parameters": {"binary_data": True}}]},
    ]:
        exchange = call(client, "POST", INFER, json=body)
        assert exchange.response.status_code == 200
        assert exchange.response.mimetype == "application/octet-stream"
        assert int(exchange.response.headers["Inference-Header-Content-Length"]) > 0
        assert request_is_valid(spec, exchange)
        check_response(spec, exchange)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"inputs": []},
        {"inputs": [{**MATRIX, "shape": [2, 3]}]},
        {"inputs": [{**MATRIX, "datatype": "BYTES"}]},
        {"inputs": [{**MATRIX, "datatype": "INT64"}]},  # the values have fractions
        {"inputs": [{**MATRIX, "extra": 1}]},
        {"inputs": [MATRIX, MATRIX]},
        {"inputs": columns()[:3]},
        {"inputs": columns("BOOL")},
        {"inputs": [MATRIX], "outputs": [{"name": "decision_function"}]},
        {"inputs": [MATRIX], "outputs": [{"name": "predict"}, {"name": "predict"}]},
        {"inputs": [MATRIX], "outputs": [{"name": "predict", "extra": 1}]},
        {"inputs": [MATRIX], "parameters": {"binary_data_output": "yes"}},
        {"inputs": [MATRIX], "id": 7},
        {"inputs": [MATRIX], "unexpected": 1},
    ],
)
def test_v2_rejected_requests_are_rejected_by_the_document_too(
    client: FlaskClient, spec: OpenAPI, body: dict
) -> None:
    exchange = call(client, "POST", INFER, json=body)
    assert exchange.response.status_code == 400
    assert not request_is_valid(spec, exchange)
    check_response(spec, exchange)


def test_v2_error_answers_conform(client: FlaskClient, spec: OpenAPI) -> None:
    exchanges = [
        call(client, "POST", INFER, data="{", content_type="application/json"),
        call(client, "POST", INFER, data="{}", content_type="text/plain"),
        call(client, "GET", "/v2/models/another"),
        call(client, "GET", f"/v2/models/{IRIS}/versions/9.9.9/ready"),
        call(client, "POST", "/v2/models/another/infer", json={"inputs": [MATRIX]}),
        call(
            client,
            "POST",
            INFER,
            data=json.dumps({"inputs": [MATRIX]}),
            headers={"Inference-Header-Content-Length": "100000"},
            content_type="application/octet-stream",
        ),
    ]
    assert [e.response.status_code for e in exchanges] == [400, 415, 404, 404, 404, 400]
    for exchange in exchanges:
        check_response(spec, exchange)
    # The document names the one model and version served: the others are not its paths.
    assert [request_is_valid(spec, e) for e in exchanges[2:5]] == [False, False, False]


def test_v2_metadata_in_the_document_is_the_models(client: FlaskClient) -> None:
    schemas = document(client)["components"]["schemas"]
    answered = client.get(f"/v2/models/{IRIS}").get_json()
    metadata = schemas["V2ModelMetadata"]["properties"]
    assert metadata["inputs"]["const"] == answered["inputs"]
    assert metadata["outputs"]["const"] == answered["outputs"]
    assert schemas["V2PredictOutput"]["properties"]["datatype"] == {"const": "BYTES"}


def test_v2_regressor_offers_no_probabilities(regressor_client: FlaskClient) -> None:
    doc = document(regressor_client)
    validate(doc)
    spec = openapi(doc)
    request = doc["components"]["schemas"]["V2InferRequest"]
    assert request["properties"]["outputs"]["items"]["properties"]["name"] == {"enum": ["predict"]}
    matrix = {"name": "x", "shape": [1, 10], "datatype": "FP64", "data": [0.01] * 10}
    path = "/v2/models/diabetes-ridge/infer"
    answered = call(regressor_client, "POST", path, json={"inputs": [matrix]})
    assert answered.response.status_code == 200
    check_response(spec, answered)
    asked = {"inputs": [matrix], "outputs": [{"name": "predict_proba"}]}
    refused = call(regressor_client, "POST", path, json=asked)
    assert refused.response.status_code == 400
    assert not request_is_valid(spec, refused)


# A model of mixed types behind a DataFrame: every protocol typed from its schema

CHURN_ROW = {
    "tenure_months": 8,
    "monthly_charges": 99.64,
    "contract": "month-to-month",
    "payment_method": None,
    "has_partner": False,
    "support_calls": 3.0,
}
CHURN_DATATYPES = {
    "tenure_months": "INT64",
    "monthly_charges": "FP64",
    "contract": "BYTES",
    "payment_method": "BYTES",
    "has_partner": "BOOL",
    "support_calls": "FP32",
}


@pytest.fixture(scope="module")
def churn() -> FlaskClient:
    from app.factory import create_app

    return create_app({"MODEL_URI": str(ROOT / CHURN_MODEL)}).test_client()


def churn_columns() -> list[dict[str, Any]]:
    return [
        {"name": name, "shape": [2], "datatype": CHURN_DATATYPES[name], "data": [value, value]}
        for name, value in CHURN_ROW.items()
    ]


def test_mixed_type_document_is_valid_and_typed(churn: FlaskClient) -> None:
    doc = document(churn)
    validate(doc)
    schemas = doc["components"]["schemas"]
    # No matrix tensor for a model of mixed types: one input per feature only.
    assert "oneOf" not in schemas["V2InferRequest"]["properties"]["inputs"]
    split = schemas["MlflowDataframeSplit"]["properties"]["dataframe_split"]
    assert split["properties"]["columns"] == {"const": list(CHURN_ROW)}


def churn_columns_with(name: str, **changes: Any) -> list[dict[str, Any]]:
    return [{**c, **changes} if c["name"] == name else c for c in churn_columns()]


CHURN_INFER = "/v2/models/customer-churn/infer"
CHURN_VALUES = list(CHURN_ROW.values())
CHURN_COLUMNS = {name: [value] for name, value in CHURN_ROW.items()}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/invocations", {"dataframe_split": {"columns": list(CHURN_ROW), "data": [CHURN_VALUES]}}),
        ("/invocations", {"dataframe_records": [CHURN_ROW]}),
        ("/invocations", {"instances": [CHURN_VALUES, CHURN_ROW]}),
        ("/invocations", {"inputs": CHURN_COLUMNS}),
        (CHURN_INFER, {"inputs": churn_columns()}),
        (CHURN_INFER, {"inputs": churn_columns(), "outputs": [{"name": "predict_proba"}]}),
        # Null is a missing value in an integer datatype's data too.
        (
            CHURN_INFER,
            {"inputs": churn_columns_with("support_calls", datatype="INT32", data=[3, None])},
        ),
        ("/predict", {"instances": [CHURN_ROW, CHURN_VALUES], "return_probabilities": True}),
    ],
)
def test_mixed_type_accepted_requests_and_their_answers_conform(
    churn: FlaskClient, path: str, body: dict
) -> None:
    spec = openapi(document(churn))
    exchange = call(churn, "POST", path, json=body)
    assert exchange.response.status_code == 200, exchange.response.get_json()
    assert request_is_valid(spec, exchange)
    check_response(spec, exchange)


@pytest.mark.parametrize(
    "csv",
    [
        "tenure_months,monthly_charges,contract,payment_method,has_partner,support_calls\n"
        "8,99.64,month-to-month,,false,3\n"
        '13,56.53,"two-year","mailed, ""check""",TRUE,\n',
    ],
)
def test_mixed_type_csv_fits_the_pattern(churn: FlaskClient, csv: str) -> None:
    spec = openapi(document(churn))
    exchange = call(churn, "POST", "/invocations", data=csv, content_type="text/csv")
    assert exchange.response.status_code == 200, exchange.response.get_json()
    assert request_is_valid(spec, exchange)
    check_response(spec, exchange)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/invocations", {"dataframe_records": [{**CHURN_ROW, "contract": "weekly"}]}),
        ("/invocations", {"instances": [{**CHURN_ROW, "tenure_months": 8.5}]}),
        ("/invocations", {"inputs": {**CHURN_COLUMNS, "has_partner": [1]}}),
        (CHURN_INFER, {"inputs": [{**MATRIX, "shape": [1, 6], "data": [0] * 6}]}),
        (CHURN_INFER, {"inputs": churn_columns_with("contract", datatype="FP64")}),
        (CHURN_INFER, {"inputs": churn_columns_with("tenure_months", data=[None, None])}),
        (CHURN_INFER, {"inputs": churn_columns_with("has_partner", data=[0, 1])}),
    ],
)
def test_mixed_type_rejected_requests_are_rejected_by_the_document_too(
    churn: FlaskClient, path: str, body: dict
) -> None:
    spec = openapi(document(churn))
    exchange = call(churn, "POST", path, json=body)
    assert exchange.response.status_code == 400
    assert not request_is_valid(spec, exchange)
    check_response(spec, exchange)


def test_mixed_type_csv_with_a_wrong_type_is_rejected_by_the_document_too(
    churn: FlaskClient,
) -> None:
    spec = openapi(document(churn))
    csv = (
        "tenure_months,monthly_charges,contract,payment_method,has_partner,support_calls\n"
        "8.5,99.64,month-to-month,,false,3\n"
    )
    exchange = call(churn, "POST", "/invocations", data=csv, content_type="text/csv")
    assert exchange.response.status_code == 400
    assert not request_is_valid(spec, exchange)
