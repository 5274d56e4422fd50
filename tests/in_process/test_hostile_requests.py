"""Hostile requests: every size a body declares is checked before the work it would cost.

Each request here is one an attacker can send in a body under MAX_CONTENT_LENGTH: a V2
shape of hundreds of thousands of sizes or of sizes too long to print, a binary header
length of thousands of digits, hundreds of thousands of columns, tensors or problems,
and a browser's untyped POST. Each is answered with a documented 4xx at its place, in
its protocol's shape, through the test client and through handler.handler with REST and
HTTP API events, and costs at most MEMORY_FACTOR times its size in extra memory
(tracemalloc's peak; numpy reports to it). Time is not asserted: memory is what a body
could blow up, and work tracks it. A derandomized Hypothesis property generates
oversized declarations of every kind, for every protocol: fuzz/test_hostile_declarations.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sklearn.linear_model import LinearRegression
from support.event_payloads import LambdaAnswer, LambdaContext, event_for
from support.hostile_requests import (
    CSV,
    JSON,
    MIB,
    V2_INFER,
    Answer,
    Hostile,
    measured,
    through_client,
    within_budget,
)
from support.iris import IRIS_FEATURES, SETOSA
from support.v2_tensors import BINARY_HEADER, OCTET_STREAM

import handler
from app.core.validation import MAX_DETAILS
from app.factory import create_app
from model.export import Description, save_model

MORE_THAN_100 = (
    f"The input does not fit the model: more than {MAX_DETAILS} problems; "
    f"the first {MAX_DETAILS} are listed."
)
# Wide enough that a body's worth of wrong-typed rows stays within MAX_BATCH_ROWS: 873
# rows, 349,200 problems (as 174 rows of a 2,000-feature model), while describing the
# model (which asks it about each feature) stays quick.
WIDE_FEATURES = 400
LAMBDA_SHAPES = ["rest-api.json", "http-api-default-stage.json"]
ROUTES = ["client", *LAMBDA_SHAPES]


def filled(prefix: str, item: str, suffix: str, size: int = MIB) -> bytes:
    """`prefix`, then `item` repeated (comma-separated) as often as fits in `size` bytes."""
    count = (size - len(prefix) - len(suffix) + 1) // (len(item) + 1)
    return (prefix + ",".join([item] * count) + suffix).encode()


@pytest.fixture(scope="module")
def wide_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear model of WIDE_FEATURES number features."""
    names = [f"f{index}" for index in range(WIDE_FEATURES)]
    features = np.random.default_rng(7).normal(size=(40, WIDE_FEATURES))
    estimator = LinearRegression().fit(features, features[:, 0])
    artifact = tmp_path_factory.mktemp("wide") / "wide.joblib"
    save_model(estimator, artifact, Description("wide", "1.0.0", names))
    return artifact


@pytest.fixture(scope="module")
def apps(wide_artifact: Path) -> dict[str, Flask]:
    built = {"iris": create_app({}), "wide": create_app({"MODEL_PATH": str(wide_artifact)})}
    for app in built.values():
        app.testing = True
    return built


@pytest.fixture
def send(
    apps: dict[str, Flask], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Hostile], Answer]:
    """Send a request the way the test's `route` parameter names: the test client, or a
    Lambda event of that shape through handler.handler (its app swapped for the model's)."""
    route: str = request.param

    def through_lambda(hostile: Hostile) -> Answer:
        monkeypatch.setattr(handler, "app", apps[hostile.model])
        event = event_for(
            route,
            "POST",
            hostile.path,
            hostile.body,
            content_type=hostile.content_type,
            base64_body=True,
            headers=hostile.headers,
        )

        def call() -> tuple[int, bytes]:
            answer = LambdaAnswer.of(handler.handler(event, LambdaContext()))
            return answer.status, answer.data

        return measured(call)

    return partial(through_client, apps) if route == "client" else through_lambda


def by_route(test: Callable[..., None]) -> Callable[..., None]:
    return pytest.mark.parametrize("send", ROUTES, indirect=True)(test)


def v2_details(answer: Answer) -> list[tuple[str, str]]:
    assert answer.status == 400, answer.body
    assert set(answer.body) == {"error", "details"}
    return [(detail["loc"], detail["msg"]) for detail in answer.body["details"]]


# V2 shapes: at most 2 sizes, of at most as many values as a body can hold, before any
# product of them, and before any message could print them.

MANY_SIZES = filled(
    '{"inputs": [{"name": "input-0", "datatype": "FP64", "data": [], "shape": [', "2", "]}]}"
)
# 15 sizes of 301 digits: a product of 4,501 digits, past what Python turns into text.
HUGE_SIZES = [10**300] * 15


def v2_tensor(shape: Any, **fields: Any) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": shape, **fields}]}
    ).encode()


@by_route
def test_a_shape_of_half_a_million_sizes_is_refused_before_their_product(
    send: Callable[[Hostile], Answer],
) -> None:
    answer = send(Hostile(V2_INFER, MANY_SIZES))
    sizes = MANY_SIZES.count(b"2")
    assert sizes > 340_000
    assert v2_details(answer) == [
        ("inputs[0].shape", f"expected [rows, features], [rows] or [rows, 1], got {sizes} sizes")
    ]
    within_budget(answer, MANY_SIZES)


def binary_form(shape: Any) -> tuple[bytes, dict[str, str]]:
    header = v2_tensor(shape, parameters={"binary_data_size": 8})
    return header + b"\0" * 8, {BINARY_HEADER: str(len(header))}


@by_route
@pytest.mark.parametrize("form", ["json", "binary", "columnar"])
@pytest.mark.parametrize(
    ("shape", "why"),
    [
        (HUGE_SIZES, "expected [rows, features], [rows] or [rows, 1], got 15 sizes"),
        (
            [10**300, 10**300],
            f"declares more values than a body of at most {MIB} bytes can hold",
        ),
        ([0, 10**300], f"declares more values than a body of at most {MIB} bytes can hold"),
        ([MIB + 1], f"declares more values than a body of at most {MIB} bytes can hold"),
    ],
    ids=["4501-digit-product", "602-digit-product", "zero-rows", "past-the-body"],
)
def test_a_shape_too_large_to_print_is_a_400_at_its_place(
    send: Callable[[Hostile], Answer], form: str, shape: list[int], why: str
) -> None:
    headers: dict[str, str] = {}
    if form == "binary":
        body, headers = binary_form(shape)
    elif form == "columnar":
        tensor = {"name": IRIS_FEATURES[0], "datatype": "FP64", "shape": shape, "data": [1.0]}
        body = json.dumps({"inputs": [tensor]}).encode()
    else:
        body = v2_tensor(shape, data=[1.0] * 4)
    answer = send(Hostile(V2_INFER, body, OCTET_STREAM if headers else JSON, headers))
    assert v2_details(answer) == [("inputs[0].shape", why)]
    within_budget(answer, body)


@by_route
@pytest.mark.parametrize("digits", ["9" * 5000, "0" * 5000 + "101", "1" + "0" * 7])
def test_a_binary_header_length_of_thousands_of_digits_is_a_400(
    send: Callable[[Hostile], Answer], digits: str
) -> None:
    body = v2_tensor([1, 4], data=SETOSA)
    answer = send(Hostile(V2_INFER, body, OCTET_STREAM, {BINARY_HEADER: digits}))
    assert answer.status == 400
    assert answer.body == {
        "error": f"The {BINARY_HEADER} header must be a byte count of at most the body's "
        f"{len(body)} bytes."
    }
    within_budget(answer, body)


# Counts: more tensors, outputs or columns than a model can take is one problem, and any
# other flood of problems stops at the first MAX_DETAILS in reading order.

EMPTY_TENSORS = filled('{"inputs": [', "{}", "]}")
NAMED_TENSORS = filled('{"inputs": [', '{"name": "t"}', "]}")


@by_route
def test_300_000_empty_tensors_are_refused_before_they_are_parsed(
    send: Callable[[Hostile], Answer],
) -> None:
    # Each would cost the parser about 100 bytes for its 3: no request needs them so dense.
    # (Two more: the body object and its inputs array.)
    count = EMPTY_TENSORS.count(b"{}")
    assert count > 300_000
    answer = send(Hostile(V2_INFER, EMPTY_TENSORS))
    assert answer.status == 400
    assert answer.body == {
        "error": f"The request body holds {count + 2:,} arrays and objects in "
        f"{len(EMPTY_TENSORS):,} bytes: more than one per 4 bytes, which no request needs."
    }
    within_budget(answer, EMPTY_TENSORS)


@by_route
def test_a_binary_matrix_of_infinities_explains_only_the_first_100(
    send: Callable[[Hostile], Answer],
) -> None:
    rows = MIB // (8 * WIDE_FEATURES) - 1
    data = np.full((rows, WIDE_FEATURES), np.inf).tobytes()
    tensor = {
        "name": "input-0",
        "datatype": "FP64",
        "shape": [rows, WIDE_FEATURES],
        "parameters": {"binary_data_size": len(data)},
    }
    header = json.dumps({"inputs": [tensor]}).encode()
    body = header + data
    answer = send(
        Hostile(
            "/v2/models/wide/infer",
            body,
            content_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(len(header))},
            model="wide",
        )
    )
    assert v2_details(answer) == [
        (f"inputs[0].data[{position}]", "Infinity is not a JSON number; values must be finite")
        for position in range(MAX_DETAILS)
    ]
    assert answer.body["error"].startswith(MORE_THAN_100)
    within_budget(answer, body)


DEEP_UNIT = "[" * 29 + "1" + "]" * 29  # inside {"x": [...]}: 31 levels, within the limit


@by_route
@pytest.mark.parametrize("path", ["/predict", "/invocations", V2_INFER])
def test_arrays_nested_to_the_depth_limit_are_refused_before_they_are_parsed(
    send: Callable[[Hostile], Answer], path: str
) -> None:
    # Within MAX_JSON_DEPTH, but two bytes of text per list: parsed, 44 times the body.
    body = filled('{"x": [', DEEP_UNIT, "]}")
    answer = send(Hostile(path, body))
    assert answer.status == 400
    assert "arrays and objects in 1,048,5" in json.dumps(answer.body)
    within_budget(answer, body)


@by_route
def test_70_000_tensors_are_one_problem(send: Callable[[Hostile], Answer]) -> None:
    answer = send(Hostile(V2_INFER, NAMED_TENSORS))
    count = NAMED_TENSORS.count(b'{"name"')
    assert count > 70_000
    assert v2_details(answer) == [
        (
            "inputs",
            "expected at most 4 (one tensor [rows, features], or one input per feature), "
            f"got {count}",
        )
    ]
    within_budget(answer, NAMED_TENSORS)


@by_route
def test_outputs_past_what_the_model_offers_are_one_problem(
    send: Callable[[Hostile], Answer],
) -> None:
    tensor = json.dumps({"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": SETOSA})
    body = filled('{"inputs": [' + tensor + '], "outputs": [', '{"name": "predict"}', "]}")
    answer = send(Hostile(V2_INFER, body))
    count = body.count(b'"predict"')
    assert v2_details(answer) == [
        ("outputs", f"expected at most 2 (this model offers predict, predict_proba), got {count}")
    ]
    within_budget(answer, body)


CSV_HEADER = filled("", "a", "\n")


@by_route
def test_a_csv_header_of_500_000_columns_lists_the_first_100(
    send: Callable[[Hostile], Answer],
) -> None:
    answer = send(Hostile("/invocations", CSV_HEADER, CSV))
    assert CSV_HEADER.count(b",") >= 500_000
    assert answer.status == 400
    assert answer.body["error_code"] == "BAD_REQUEST"
    assert answer.body["message"] == MORE_THAN_100
    assert [detail["loc"] for detail in answer.body["details"]] == [
        f"csv.header[{index}]" for index in range(MAX_DETAILS)
    ]
    within_budget(answer, CSV_HEADER)


@by_route
def test_wrong_typed_rows_of_a_wide_model_list_the_first_100(
    send: Callable[[Hostile], Answer],
) -> None:
    row = "[" + ",".join(['""'] * WIDE_FEATURES) + "]"
    body = filled('{"instances": [', row, "]}")
    assert body.count(b'""') > 340_000
    answer = send(Hostile("/predict", body, model="wide"))
    assert answer.status == 422
    assert answer.body["error"]["code"] == "invalid_input"
    assert answer.body["error"]["message"] == MORE_THAN_100
    # Reading order: the first row's first 100 values, though each column is checked whole.
    assert answer.body["error"]["details"] == [
        {"loc": f"instances[0][{position}]", "msg": "expected a number, got a string"}
        for position in range(MAX_DETAILS)
    ]
    within_budget(answer, body)


@by_route
def test_unknown_names_for_a_wide_model_name_only_the_first_features(
    send: Callable[[Hostile], Answer],
) -> None:
    # Each problem once listed every feature: a hundred of them held the schema a hundred
    # times over, and building them took the process past a gigabyte.
    row = "{" + ",".join(f'"u{index}": 0' for index in range(100)) + "}"
    body = filled('{"instances": [', row, "]}", size=MIB // 2)  # within the row limit
    answer = send(Hostile("/predict", body, model="wide"))
    assert answer.status == 422
    assert answer.body["error"]["message"] == MORE_THAN_100
    first = answer.body["error"]["details"][0]
    assert first["loc"] == "instances[0].u0"
    shown = ", ".join(f"f{index}" for index in range(30))
    assert first["msg"] == (
        f"unknown feature; expected {shown}, ... ({WIDE_FEATURES} in all, listed in /openapi.json)"
    )
    within_budget(answer, body)


# A browser's POST with no Content-Type needs no preflight: V2 reads an untyped body as
# JSON only when no browser sent it (tritonclient sends none).

UNTYPED_INFER = v2_tensor([1, 4], data=SETOSA)
BROWSER_HEADERS = [
    {"Origin": "https://elsewhere.example"},
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    {"Sec-Fetch-Mode": "cors"},
    {"Sec-Fetch-Site": "same-site"},
]


@by_route
@pytest.mark.parametrize("headers", BROWSER_HEADERS, ids=["origin", "no-cors", "cors", "same-site"])
def test_a_browsers_untyped_post_does_not_reach_the_model(
    send: Callable[[Hostile], Answer], headers: dict[str, str]
) -> None:
    answer = send(Hostile(V2_INFER, UNTYPED_INFER, None, headers))
    assert answer.status == 415
    assert answer.body == {"error": "Expected Content-Type application/json, got no Content-Type."}
    within_budget(answer, UNTYPED_INFER)


@by_route
def test_an_untyped_post_from_any_other_client_is_json(send: Callable[[Hostile], Answer]) -> None:
    answer = send(Hostile(V2_INFER, UNTYPED_INFER, None))
    assert answer.status == 200, answer.body
    assert answer.body["outputs"][0]["data"] == ["setosa"]


@by_route
def test_octet_stream_needs_the_binary_header(send: Callable[[Hostile], Answer]) -> None:
    answer = send(Hostile(V2_INFER, UNTYPED_INFER, OCTET_STREAM))
    assert answer.status == 415
    assert answer.body == {
        "error": f"Expected Content-Type {JSON}, or {OCTET_STREAM} with the {BINARY_HEADER} header."
    }


@by_route
@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "/predict",
            json.dumps({"features": SETOSA}).encode(),
            {
                "error": {
                    "code": "unsupported_media_type",
                    "message": "Expected Content-Type application/json, got no Content-Type.",
                }
            },
        ),
        (
            "/invocations",
            json.dumps({"inputs": [SETOSA]}).encode(),
            {
                "error_code": "BAD_REQUEST",
                "message": "Expected Content-Type application/json or text/csv, got no "
                "Content-Type.",
            },
        ),
    ],
)
def test_native_and_mlflow_refuse_an_untyped_body_from_anyone(
    send: Callable[[Hostile], Answer], path: str, body: bytes, error: dict[str, Any]
) -> None:
    answer = send(Hostile(path, body, None))
    assert (answer.status, answer.body) == (415, error)
