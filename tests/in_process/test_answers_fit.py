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
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from support.event_payloads import LambdaAnswer, LambdaContext, event_for
from support.iris import SETOSA
from support.v2_tensors import IRIS, binary_body, binary_input, infer_path, read_answer

import handler
from app.core.answers import json_body
from app.core.artifact import metadata_path_for, sha256_of
from app.core.errors import MSG_LIMIT
from app.core.metadata import ModelMetadata
from app.core.schema import Schema
from app.http.answer_size import (
    BUDGET,
    HEADERS_MARGIN,
    Encoded,
    payload_size,
    rows_that_fit,
    worst_outcomes,
)
from app.http.components import part_of
from app.http.serving import ProtocolAnswers
from app.service.model_slot import ModelSlot
from model.export import Description, save_model

LAMBDA_LIMIT = 6_291_456
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
    """150 inputs of unknown names each get a reason naming the model's features: the
    first of 2,000 only, so that 100 of them, in V2's message and its details, stay far
    from the limit."""
    serve(MODEL_URI=str(wide))
    inputs = [iris_matrix(1) | {"name": f"unknown-{index}"} for index in range(150)]
    size, answer = through_lambda(
        event_for(SHAPES[0], "POST", infer_path("wide"), json.dumps({"inputs": inputs}))
    )
    assert answer.status == 400
    listed = details(answer.json())
    assert len(listed) == 100
    assert all(len(detail["msg"]) <= MSG_LIMIT for detail in listed)
    assert listed[0]["msg"].endswith(", ... (2000 in all, listed in /openapi.json)")
    assert size < 400_000


# The effective row limit


def test_v2_echoes_an_id_of_at_most_256_characters(client: FlaskClient) -> None:
    longest = ASTRAL * 256
    answered = client.post(infer_path(IRIS), json={"id": longest, "inputs": [iris_matrix(1)]})
    assert answered.status_code == 200
    assert answered.get_json()["id"] == longest
    refused = client.post(infer_path(IRIS), json={"id": longest + "x", "inputs": [iris_matrix(1)]})
    assert refused.status_code == 400
    assert details(refused.get_json()) == [
        {"loc": "id", "msg": "expected at most 256 characters, got 257"}
    ]


@pytest.fixture(scope="module")
def many_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 classes, one of them a long non-ASCII label, each with its prior as its
    probability (long decimals: the counts are uneven)."""
    labels = [f"class-{index:04d}" for index in range(999)] + [f"étiquette {ASTRAL} " * 4]
    target = [label for index, label in enumerate(labels) for _ in range(1 + index % 3)]
    data = np.tile(SETOSA, (len(target), 1))
    estimator = DummyClassifier(strategy="prior").fit(data, target)
    artifact = tmp_path_factory.mktemp("classes") / "classes.joblib"
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    save_model(estimator, artifact, Description("many-classes", "1.0.0", names))
    return artifact


def effective_limit(client: FlaskClient) -> int:
    """The limit as /model states it, after checking V2 and the document state the same."""
    limit: int = client.get("/model").get_json()["max_batch_rows"]
    name = client.get("/").get_json()["model"]["name"]
    assert client.get(f"/v2/models/{name}").get_json()["parameters"] == {"max_batch_rows": limit}
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["BatchRequest"]["properties"]["instances"]["maxItems"] == limit
    assert schemas["MlflowInstances"]["properties"]["instances"]["maxItems"] == limit
    assert schemas["V2ModelMetadata"]["properties"]["parameters"]["properties"] == {
        "max_batch_rows": {"const": limit}
    }
    return limit


def test_the_bundled_models_answer_max_batch_rows(make_app: Callable[..., Flask]) -> None:
    assert effective_limit(make_app().test_client()) == 1000
    churn = make_app(MODEL_URI="model/examples/churn.joblib").test_client()
    assert effective_limit(churn) == 1000
    assert effective_limit(make_app(MAX_BATCH_ROWS="7").test_client()) == 7


def test_a_thousand_classes_limit_a_batch_to_what_fits(
    make_app: Callable[..., Flask], many_classes: Path
) -> None:
    client = make_app(MODEL_URI=str(many_classes)).test_client()
    limit = effective_limit(client)
    assert 100 < limit < 1000
    # 1,000 rows with probabilities would be a 28 MB answer: refused before any is read.
    body = {"instances": [SETOSA] * 1000, "return_probabilities": True}
    response = client.post("/predict", json=body)
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": "too_many_rows",
        "message": f"The batch is larger than the limit of {limit} rows.",
        "details": [{"loc": "instances", "msg": f"expected at most {limit} rows, got 1000"}],
    }


def test_the_limit_is_the_most_rows_whose_largest_answers_fit(
    make_app: Callable[..., Flask], many_classes: Path
) -> None:
    """At the limit, every protocol's every answer to the model's worst-case outcome
    (longest labels, longest floats) fits; one row more, one of them does not."""
    app = make_app(MODEL_URI=str(many_classes))
    predictor = part_of(ModelSlot, app).current()
    protocols = part_of(ProtocolAnswers, app).answers
    limit = rows_that_fit(predictor, protocols)

    def largest(rows: int) -> int:
        return max(
            payload_size(answer)
            for outcome in worst_outcomes(predictor, rows)
            for answers in protocols
            for answer in answers(predictor, outcome)
        )

    assert largest(limit) <= BUDGET < largest(limit + 1)


def test_an_answer_is_measured_as_the_handler_sends_it(
    serve: Callable[..., Flask], many_classes: Path
) -> None:
    """The size of an answer's body in the Lambda response, JSON or base64, is exactly
    what payload_size says; the rest of the response is within the margin left for it."""
    client = serve(MODEL_URI=str(many_classes)).test_client()
    batch = json.dumps({"instances": [SETOSA] * 2, "return_probabilities": True})
    outputs = {"outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}]}
    tensors, headers = binary_body(outputs, [binary_input("input-0", "FP64", [2, 4], SETOSA * 2)])
    path = infer_path("many-classes")
    for route, body, base64_body, sent_headers in (
        ("/predict", batch.encode(), False, {}),
        (path, tensors, True, headers),
    ):
        answer = client.post(route, data=body, headers=sent_headers, content_type=JSON)
        assert answer.status_code == 200
        measured = payload_size(Encoded(answer.data, answer.mimetype))
        event_body = body if base64_body else body.decode()
        event = event_for(
            SHAPES[0], "POST", route, event_body, base64_body=base64_body, headers=sent_headers
        )
        response = handler.handler(event, CONTEXT)
        assert response["isBase64Encoded"] is base64_body
        assert len(json.dumps(response["body"])) == measured
        assert len(json.dumps(response)) - measured < HEADERS_MARGIN


def largest_batches(rows: int) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """A batch of `rows` rows to the many-classes model in each protocol, asking for
    its largest answers: probabilities, and in V2 the longest id, in JSON and binary."""
    path = infer_path("many-classes")
    both = [{"name": "predict"}, {"name": "predict_proba"}]
    binary = [{**output, "parameters": {"binary_data": True}} for output in both]
    native = {"instances": [SETOSA] * rows, "return_probabilities": True}
    v2_json = {"id": ASTRAL * 256, "inputs": [iris_matrix(rows)], "outputs": both}
    tensor = binary_input("input-0", "FP64", [rows, 4], SETOSA * rows)
    return {
        "native": ("/predict", json.dumps(native).encode(), {}),
        "mlflow": ("/invocations", json.dumps({"inputs": [SETOSA] * rows}).encode(), {}),
        "v2": (path, json.dumps(v2_json).encode(), {}),
        "v2-binary": (path, *binary_body({"id": ASTRAL * 256, "outputs": binary}, [tensor])),
    }


BATCH_LOCS = {
    "native": "instances",
    "mlflow": "inputs",
    "v2": "inputs[0].shape",
    "v2-binary": "inputs[0].shape",
}


@pytest.mark.parametrize("shape", SHAPES)
def test_answers_at_the_limit_fit_through_lambda(
    serve: Callable[..., Flask], many_classes: Path, shape: str
) -> None:
    limit = effective_limit(serve(MODEL_URI=str(many_classes)).test_client())
    for rows in (limit, limit + 1):
        for name, (route, body, headers) in largest_batches(rows).items():
            event = event_for(shape, "POST", route, body, base64_body=True, headers=headers)
            size, answer = through_lambda(event)
            if rows > limit:
                assert answer.status == 413, (name, answer.body[:300])
                message = f"expected at most {limit} rows, got {rows}"
                assert details(answer.json()) == [{"loc": BATCH_LOCS[name], "msg": message}]
                continue
            assert answer.status == 200, (name, answer.body[:300])
            assert size <= LAMBDA_LIMIT, name
            read = read_answer(answer.data, answer.headers)
            predictions = read["predictions"] if "predictions" in read else read["outputs"][0]
            assert len(predictions if "predictions" in read else predictions["data"]) == rows


def test_json_body_is_what_the_app_writes(make_app: Callable[..., Flask]) -> None:
    value = {"b": [1.5, None, True], "a": f'é {ASTRAL} "quoted" \\', "n": {"x": -1e-308}}
    for debug in (False, True):
        app = make_app()
        app.debug = debug
        with app.app_context():
            assert app.json.response(value).get_data() == json_body(value)


# Documents that fit


@pytest.mark.parametrize("shape", SHAPES)
def test_a_wide_model_s_documents_fit(serve: Callable[..., Flask], wide: Path, shape: str) -> None:
    serve(MODEL_URI=str(wide))
    sizes = {}
    for path in ("/openapi.json", "/model", "/v2/models/wide", "/"):
        size, answer = through_lambda(event_for(shape, "GET", path, content_type=None))
        assert answer.status == 200, path
        sizes[path] = size
    # Each feature adds its name and schema, not a schema per pair of places: the
    # document was 6.0 MB through Lambda, its V2 part 4 MB of it.
    assert sizes["/openapi.json"] < 2_500_000
    assert sizes["/model"] < 250_000


def test_a_wide_model_s_features_share_a_v2_tensor_schema(
    make_app: Callable[..., Flask], wide: Path
) -> None:
    client = make_app(MODEL_URI=str(wide)).test_client()
    document = client.get("/openapi.json").get_json()
    inputs = document["components"]["schemas"]["V2InferRequest"]["properties"]["inputs"]
    columns = inputs["oneOf"][1]["items"]["oneOf"]
    # One tensor schema for the 2,000 features that take the same values.
    assert len(columns) == 1
    assert len(columns[0]["properties"]["name"]["enum"]) == 2000
    answered = client.post(
        infer_path("wide"),
        json={
            "inputs": [
                {"name": f"feature_{i:04d}", "shape": [1], "datatype": "FP64", "data": [0.5]}
                for i in range(2000)
            ]
        },
    )
    assert answered.status_code == 200


CODES = 50_000
CODE_LENGTH = 128
CITIES = ["lisbon", "oslo", "porto"]


@pytest.fixture(scope="module")
def many_categories(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that refuses unknown categories, of which one feature knows 50,000: 6.4 MB
    of them, too many for any one answer to list."""
    codes = np.array([f"{index:0{CODE_LENGTH}d}" for index in range(CODES)], dtype=object)
    cities = np.array([CITIES[index % 3] for index in range(CODES)], dtype=object)
    data = np.column_stack([codes, cities])
    target = np.array(["no", "yes"] * (CODES // 2))
    estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), DummyClassifier())
    estimator.fit(data, target)
    artifact = tmp_path_factory.mktemp("categories") / "categories.joblib"
    save_model(estimator, artifact, Description("codes", "1.0.0", ["code", "city"]), data[:3])
    return artifact


@pytest.mark.parametrize("shape", SHAPES)
def test_many_categories_are_listed_where_they_fit(
    serve: Callable[..., Flask], many_categories: Path, shape: str
) -> None:
    app = serve(MODEL_URI=str(many_categories))
    for path in ("/openapi.json", "/model"):
        size, answer = through_lambda(event_for(shape, "GET", path, content_type=None))
        assert (answer.status, size <= LAMBDA_LIMIT) == (200, True), path
    client = app.test_client()
    document = client.get("/openapi.json").get_json()
    validate(document)
    assert "cut short to fit through Lambda" in document["info"]["description"]
    row = document["components"]["schemas"]["RowObject"]["properties"]
    # The 50,000 codes are described by their type and a few examples; the cities listed.
    assert row["code"]["type"] == "string" and len(row["code"]["examples"]) == 10
    assert row["city"]["enum"] == CITIES
    features = {feature["name"]: feature for feature in client.get("/model").get_json()["features"]}
    assert len(features["code"]["categories"]) == 100
    assert features["code"]["categories_total"] == CODES
    assert features["city"]["categories"] == CITIES and "categories_total" not in features["city"]
    # Still refused at the edge, as the model would fail on them.
    refused = client.post("/predict", json={"features": {"code": "0", "city": "oslo"}})
    assert refused.status_code == 422
    known = client.post("/predict", json={"features": {"code": "0" * CODE_LENGTH, "city": "oslo"}})
    assert known.status_code == 200


@pytest.fixture(scope="module")
def sixty_thousand_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    labels = [f"label-{index:024d}" for index in range(60_000)]
    estimator = DummyClassifier(strategy="prior").fit(np.zeros((len(labels), 4)), labels)
    artifact = tmp_path_factory.mktemp("labels") / "labels.joblib"
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    save_model(estimator, artifact, Description("labels", "1.0.0", names))
    return artifact


def test_a_model_whose_answers_are_huge_answers_a_row_at_a_time(
    serve: Callable[..., Flask], sixty_thousand_classes: Path
) -> None:
    """60,000 classes: one row's probabilities are 3.6 MB, two would not fit; the
    document describes the classes by their type instead of listing them."""
    client = serve(MODEL_URI=str(sixty_thousand_classes)).test_client()
    assert effective_limit(client) == 1
    one = json.dumps({"features": SETOSA, "return_probabilities": True})
    two = json.dumps({"instances": [SETOSA] * 2})
    for shape in SHAPES:
        size, answer = through_lambda(event_for(shape, "POST", "/predict", one))
        assert (answer.status, len(answer.json()["probabilities"])) == (200, 60_000)
        assert size <= LAMBDA_LIMIT
        size, answer = through_lambda(event_for(shape, "POST", "/predict", two))
        assert answer.status == 413
        message = "expected at most 1 row, got 2"
        assert details(answer.json()) == [{"loc": "instances", "msg": message}]
        size, answer = through_lambda(event_for(shape, "GET", "/openapi.json", content_type=None))
        assert answer.status == 200 and size <= LAMBDA_LIMIT
    schemas = answer.json()["components"]["schemas"]
    assert schemas["Prediction"]["type"] == "string" and "enum" not in schemas["Prediction"]
    assert schemas["Probabilities"]["minProperties"] == 60_000
