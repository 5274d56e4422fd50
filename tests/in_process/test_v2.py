"""The Open Inference Protocol V2 with Triton's binary tensor extension, in process.

Metadata and readiness, infer in both forms (one [rows, features] tensor for the
all-number iris model, one input per feature for the mixed-type churn model), JSON
and hand-built binary bodies both ways, and every error at its exact place. An answer
is held to /predict's for the same rows: the protocols share one model and one path.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.access_log import access_lines
from support.paths import ROOT
from support.v2_tensors import (
    BINARY_HEADER,
    CHURN,
    CHURN_CLASSES,
    CHURN_DATATYPES,
    IRIS,
    IRIS_CLASSES,
    IRIS_FEATURES,
    IRIS_ROWS,
    OCTET_STREAM,
    BinaryInput,
    binary_body,
    binary_input,
    churn_json_inputs,
    churn_rows,
    column,
    encode,
    expected_outputs,
    infer_path,
    json_input,
    outputs_by_name,
    read_answer,
)

from app.http.server_info import SERVER_NAME, SERVER_VERSION

CHURN_MODEL = ROOT / "model" / "examples" / "churn.joblib"
BOTH_OUTPUTS = [{"name": "predict"}, {"name": "predict_proba"}]
# A small batch limit, so that "too many rows" needs only a few.
MAX_ROWS = 8
CANNOT_BE_MISSING = "; this feature cannot be missing"
NULL_NUMBER = "expected a number, got null" + CANNOT_BE_MISSING
CONTRACTS = '"month-to-month", "one-year", "two-year"'
ALL_DATATYPES = (
    "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES"
)
NUMERIC = "FP16, FP32, FP64, INT16, INT32, INT64, INT8, UINT16, UINT32, UINT64, UINT8"
INPUT_FIELDS = "name, shape, datatype, parameters, data"
ONE_PER_FEATURE = "one input per feature named after it: "
UNKNOWN_INPUT = "unknown input; expected one tensor [rows, features] or " + ONE_PER_FEATURE
CHURN_NAMES = ", ".join(CHURN_DATATYPES)
SIZE = "inputs[0].parameters.binary_data_size"
OVERFLOW = "the model cannot compute a finite result for these values (numeric overflow)"


@pytest.fixture
def iris(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(MAX_BATCH_ROWS=str(MAX_ROWS)).test_client()


@pytest.fixture
def churn(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(MODEL_URI=str(CHURN_MODEL), MAX_BATCH_ROWS=str(MAX_ROWS)).test_client()


def infer(
    client: FlaskClient,
    body: Any,
    model: str = IRIS,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """POST a body (JSON, or bytes as they are); the answer read back, binary or not."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        infer_path(model), data=data, headers=headers or {}, content_type=content_type
    )
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 200 and BINARY_HEADER in response.headers:
        assert response.mimetype == OCTET_STREAM
    else:
        assert response.mimetype == "application/json"
    return read_answer(response.get_data(), response.headers)


def infer_binary(
    client: FlaskClient,
    inputs: list[dict[str, Any] | BinaryInput],
    model: str = IRIS,
    status: int = 200,
    tail: bytes = b"",
    content_type: str | None = None,
    **request: Any,
) -> dict[str, Any]:
    """Infer with the extension, as tritonclient sends it (no Content-Type)."""
    body, headers = binary_body(request, inputs, tail)
    return infer(client, body, model, status, headers, content_type)


def native(client: FlaskClient, rows: list[Any]) -> dict[str, Any]:
    """/predict's answer for the same rows, probabilities included."""
    response = client.post("/predict", json={"instances": rows, "return_probabilities": True})
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def problems(answer: dict[str, Any]) -> list[tuple[str, str]]:
    """The (loc, msg) pairs of a V2 error, after checking its shape."""
    assert set(answer) == {"error", "details"}, answer
    pairs = [(d["loc"], d["msg"]) for d in answer["details"]]
    assert answer["error"].endswith("; ".join(f"{loc}: {msg}" for loc, msg in pairs))
    return pairs


def locs(answer: dict[str, Any]) -> list[str]:
    return [loc for loc, _ in problems(answer)]


def matrix(rows: list[list[float]], datatype: str = "FP64", **fields: Any) -> dict[str, Any]:
    flat = [value for row in rows for value in row]
    return {**json_input("input-0", datatype, [len(rows), 4], flat), **fields}


# Metadata and readiness


def test_server_metadata_names_the_binary_extension(iris: FlaskClient) -> None:
    response = iris.get("/v2")
    assert response.status_code == 200
    assert response.get_json() == {
        "name": SERVER_NAME,
        "version": SERVER_VERSION,
        "extensions": ["binary_tensor_data"],
    }


def test_liveness_and_readiness(iris: FlaskClient) -> None:
    live, ready = iris.get("/v2/health/live"), iris.get("/v2/health/ready")
    assert (live.status_code, live.get_json()) == (200, {"live": True})
    assert (ready.status_code, ready.get_json()) == (200, {"ready": True})


IRIS_METADATA = {
    "name": IRIS,
    "versions": ["1.0.0"],
    "platform": "scikit-learn",
    "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
    "outputs": [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ],
    # The effective row limit: MAX_BATCH_ROWS here, as iris's answers are small.
    "parameters": {"max_batch_rows": MAX_ROWS},
}


@pytest.mark.parametrize("path", [f"/v2/models/{IRIS}", f"/v2/models/{IRIS}/versions/1.0.0"])
def test_model_metadata_of_the_all_number_model(iris: FlaskClient, path: str) -> None:
    response = iris.get(path)
    assert (response.status_code, response.get_json()) == (200, IRIS_METADATA)


def test_model_metadata_lists_one_input_per_feature_of_a_typed_model(churn: FlaskClient) -> None:
    response = churn.get(f"/v2/models/{CHURN}")
    assert response.status_code == 200
    assert response.get_json() == {
        "name": CHURN,
        "versions": ["1.0.0"],
        "platform": "scikit-learn",
        "inputs": [
            {"name": name, "datatype": datatype, "shape": [-1]}
            for name, datatype in CHURN_DATATYPES.items()
        ],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        ],
        "parameters": {"max_batch_rows": MAX_ROWS},
    }


@pytest.mark.parametrize(
    "path", [f"/v2/models/{IRIS}/ready", f"/v2/models/{IRIS}/versions/1.0.0/ready"]
)
def test_model_ready(iris: FlaskClient, path: str) -> None:
    response = iris.get(path)
    assert (response.status_code, response.get_json()) == (200, {"name": IRIS, "ready": True})


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v2/models/wine", "No model named 'wine'; this server serves '" + IRIS + "'."),
        ("GET", "/v2/models/wine/ready", "No model named 'wine'"),
        ("GET", "/v2/models/wine/versions/1.0.0", "No model named 'wine'"),
        ("GET", f"/v2/models/{IRIS}/versions/2.0.0", "No version '2.0.0' of '" + IRIS + "'"),
        ("GET", f"/v2/models/{IRIS}/versions/2.0.0/ready", "No version '2.0.0'"),
        ("POST", "/v2/models/wine/infer", "No model named 'wine'"),
        ("POST", f"/v2/models/{IRIS}/versions/2.0.0/infer", "No version '2.0.0'"),
    ],
)
def test_unknown_model_or_version_is_a_404(
    iris: FlaskClient, method: str, path: str, message: str
) -> None:
    body = {"inputs": [matrix(IRIS_ROWS[:1])]} if method == "POST" else None
    response = iris.open(path, method=method, json=body)
    assert response.status_code == 404
    answer = response.get_json()
    assert set(answer) == {"error"} and answer["error"].startswith(message), answer


def test_the_versioned_infer_path_answers(iris: FlaskClient) -> None:
    response = iris.post(
        f"/v2/models/{IRIS}/versions/1.0.0/infer", json={"inputs": [matrix(IRIS_ROWS)]}
    )
    assert response.status_code == 200
    assert response.get_json()["outputs"][0]["data"] == ["setosa", "virginica", "versicolor"]


def test_without_a_model_the_server_is_live_but_not_ready(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    client = make_app(MODEL_URI=str(tmp_path / "absent.joblib")).test_client()
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2").status_code == 200
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503
    assert ready.get_json()["ready"] is False
    assert "The model is not available" in ready.get_json()["error"]
    for path in (f"/v2/models/{IRIS}", f"/v2/models/{IRIS}/ready"):
        answer = client.get(path)
        assert answer.status_code == 503
        assert set(answer.get_json()) == {"error"}
        assert answer.get_json()["error"].startswith("The model is not available")
    unavailable = client.post(infer_path(IRIS), json={"inputs": [matrix(IRIS_ROWS)]})
    assert unavailable.status_code == 503
    assert set(unavailable.get_json()) == {"error"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/nowhere", 404),
        ("GET", f"/v2/models/{IRIS}/infer/more", 404),
        ("GET", f"/v2/models/{IRIS}/infer", 405),
        ("PUT", f"/v2/models/{IRIS}/infer", 405),
        ("POST", "/v2/health/ready", 405),
        ("DELETE", f"/v2/models/{IRIS}", 405),
    ],
)
def test_404_and_405_take_the_v2_shape(
    iris: FlaskClient, method: str, path: str, status: int
) -> None:
    response = iris.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert set(response.get_json()) == {"error"}
    if status == 405:
        assert response.headers["Allow"]


# Infer, all-number model: one tensor [rows, features]


@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_matrix_infer_answers_as_predict_does(iris: FlaskClient, nested: bool) -> None:
    tensor = matrix(IRIS_ROWS)
    if nested:
        tensor["data"] = IRIS_ROWS
    answer = infer(iris, {"id": "req-1", "inputs": [tensor], "outputs": BOTH_OUTPUTS})
    assert answer["model_name"] == IRIS and answer["model_version"] == "1.0.0"
    assert answer["id"] == "req-1"
    assert [(o["name"], o["datatype"], o["shape"]) for o in answer["outputs"]] == [
        ("predict", "BYTES", [3]),
        ("predict_proba", "FP64", [3, 3]),
    ]
    assert outputs_by_name(answer) == expected_outputs(native(iris, IRIS_ROWS), IRIS_CLASSES)


def test_predict_is_the_default_output_and_no_id_is_invented(iris: FlaskClient) -> None:
    answer = infer(iris, {"inputs": [matrix(IRIS_ROWS[:1])]})
    assert answer == {
        "model_name": IRIS,
        "model_version": "1.0.0",
        "outputs": [{"name": "predict", "shape": [1], "datatype": "BYTES", "data": ["setosa"]}],
    }


def test_only_the_outputs_asked_for_in_their_order(iris: FlaskClient) -> None:
    answer = infer(iris, {"inputs": [matrix(IRIS_ROWS)], "outputs": [{"name": "predict_proba"}]})
    assert [o["name"] for o in answer["outputs"]] == ["predict_proba"]
    reverse = infer(iris, {"inputs": [matrix(IRIS_ROWS)], "outputs": BOTH_OUTPUTS[::-1]})
    assert [o["name"] for o in reverse["outputs"]] == ["predict_proba", "predict"]


@pytest.mark.parametrize("datatype", ["FP32", "FP16", "INT64", "INT32", "UINT8"])
def test_matrix_of_any_numeric_datatype(iris: FlaskClient, datatype: str) -> None:
    rows = [[5, 3, 1, 0], [7, 3, 5, 2]] if "INT" in datatype else [[5.0, 3.5, 1.5, 0.25]]
    answer = infer(iris, {"inputs": [matrix(rows, datatype)], "outputs": BOTH_OUTPUTS})
    assert outputs_by_name(answer) == expected_outputs(native(iris, rows), IRIS_CLASSES)


def test_any_name_that_is_not_a_feature_is_the_matrix(iris: FlaskClient) -> None:
    tensor = {**matrix(IRIS_ROWS), "name": "features"}
    assert outputs_by_name(infer(iris, {"inputs": [tensor]}))["predict"] == [
        "setosa", "virginica", "versicolor",
    ]  # fmt: skip


@pytest.mark.parametrize("shape", ["[rows]", "[rows, 1]"])
def test_all_number_model_takes_one_input_per_feature_too(iris: FlaskClient, shape: str) -> None:
    inputs = []
    for position, name in enumerate(IRIS_FEATURES):
        values = [row[position] for row in IRIS_ROWS]
        dims = [len(values)] if shape == "[rows]" else [len(values), 1]
        inputs.append(json_input(name, "FP64", dims, values))
    answer = infer(iris, {"inputs": inputs[::-1], "outputs": BOTH_OUTPUTS})  # any order
    assert outputs_by_name(answer) == expected_outputs(native(iris, IRIS_ROWS), IRIS_CLASSES)


# Infer, typed model: one input per feature


def test_columnar_infer_answers_as_predict_does(churn: FlaskClient) -> None:
    rows = churn_rows(4)
    assert None in column(rows, "support_calls")  # the nullable number, missing
    answer = infer(
        churn, {"id": "c", "inputs": churn_json_inputs(rows), "outputs": BOTH_OUTPUTS}, CHURN
    )
    assert answer["id"] == "c"
    assert [(o["name"], o["datatype"], o["shape"]) for o in answer["outputs"]] == [
        ("predict", "BYTES", [4]),
        ("predict_proba", "FP64", [4, 2]),
    ]
    assert outputs_by_name(answer) == expected_outputs(native(churn, rows), CHURN_CLASSES)


def test_columnar_inputs_of_shape_rows_by_one_and_other_datatypes(churn: FlaskClient) -> None:
    rows = churn_rows(3)
    inputs = churn_json_inputs(rows)
    for tensor in inputs:
        tensor["shape"] = [3, 1]
        tensor["data"] = [[value] for value in tensor["data"]]
    inputs[0]["datatype"] = "INT32"  # an integer feature, as any integer datatype
    inputs[1]["datatype"] = "FP32"
    answer = infer(churn, {"inputs": inputs, "outputs": BOTH_OUTPUTS}, CHURN)
    assert outputs_by_name(answer) == expected_outputs(native(churn, rows), CHURN_CLASSES)
    # Whole floats are integers still.
    tenures = [float(value) for value in column(rows, "tenure_months")]
    inputs[0] = json_input("tenure_months", "FP64", [3], tenures)
    predicted = outputs_by_name(infer(churn, {"inputs": inputs}, CHURN))["predict"]
    assert predicted == native(churn, rows)["predictions"]


def test_nan_in_json_float_data_is_a_missing_value(churn: FlaskClient) -> None:
    # tritonclient's JSON for a missing float: the NaN literal.
    rows = churn_rows(3)
    inputs = churn_json_inputs(rows)
    inputs[5]["data"] = [float("nan") if v is None else v for v in inputs[5]["data"]]
    body = json.dumps({"inputs": inputs, "outputs": BOTH_OUTPUTS}).encode()
    assert b"NaN" in body
    answer = infer(churn, body, CHURN)
    assert outputs_by_name(answer) == expected_outputs(native(churn, rows), CHURN_CLASSES)


# Binary tensors, built by hand


def test_binary_fp64_matrix_and_binary_outputs(iris: FlaskClient) -> None:
    flat = [value for row in IRIS_ROWS for value in row]
    tensor = binary_input("input-0", "FP64", [3, 4], flat)
    body, headers = binary_body(
        {"id": "bin", "parameters": {"binary_data_output": True}, "outputs": BOTH_OUTPUTS}, [tensor]
    )
    response = iris.post(infer_path(IRIS), data=body, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == OCTET_STREAM
    raw = response.get_data()
    header_length = int(response.headers[BINARY_HEADER])
    head = json.loads(raw[:header_length])
    assert head["id"] == "bin"
    sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
    assert [("data" in o) for o in head["outputs"]] == [False, False]
    assert header_length + sum(sizes) == len(raw)
    # predict: BYTES, each label length-prefixed; predict_proba: 9 little-endian doubles.
    labels = b"".join(
        struct.pack("<I", len(s)) + s for s in (b"setosa", b"virginica", b"versicolor")
    )
    assert raw[header_length : header_length + sizes[0]] == labels
    expected = expected_outputs(native(iris, IRIS_ROWS), IRIS_CLASSES)
    assert raw[header_length + sizes[0] :] == np.array(expected["predict_proba"], "<f8").tobytes()
    assert outputs_by_name(read_answer(raw, response.headers)) == expected


@pytest.mark.parametrize("datatype", ["FP32", "INT64", "FP16", "UINT16"])
def test_binary_matrix_of_other_datatypes(iris: FlaskClient, datatype: str) -> None:
    rows = [[5, 3, 1, 0], [7, 3, 5, 2]] if "INT" in datatype else [[5.0, 3.5, 1.5, 0.25]]
    tensor = binary_input("input-0", datatype, [len(rows), 4], [v for row in rows for v in row])
    answer = infer_binary(iris, [tensor], outputs=BOTH_OUTPUTS)
    assert outputs_by_name(answer) == expected_outputs(native(iris, rows), IRIS_CLASSES)


def test_binary_columnar_every_datatype_and_a_nan_for_missing(churn: FlaskClient) -> None:
    rows = churn_rows(5)
    rows[2]["payment_method"] = "caf\u00e9 card"  # unknown, accepted; UTF-8 beyond ASCII
    inputs = [
        binary_input(name, datatype, [len(rows)], column(rows, name))
        for name, datatype in CHURN_DATATYPES.items()
    ]
    assert np.isnan(np.frombuffer(inputs[5].blob, "<f8")[1])  # None went out as NaN
    answer = infer_binary(churn, inputs, CHURN, id="b", outputs=BOTH_OUTPUTS)
    assert answer["id"] == "b"
    assert outputs_by_name(answer) == expected_outputs(native(churn, rows), CHURN_CLASSES)


def test_json_and_binary_inputs_mixed_and_outputs_each_their_own_way(churn: FlaskClient) -> None:
    rows = churn_rows(4)
    inputs: list[dict[str, Any] | BinaryInput] = []
    for position, (name, datatype) in enumerate(CHURN_DATATYPES.items()):
        values = column(rows, name)
        if position % 2:
            inputs.append(binary_input(name, datatype, [4], values))
        else:
            inputs.append(json_input(name, datatype, [4], values))
    outputs = [
        {"name": "predict", "parameters": {"binary_data": True}},
        {"name": "predict_proba", "parameters": {"binary_data": False}},
    ]
    body, headers = binary_body({"outputs": outputs}, inputs)
    response = churn.post(infer_path(CHURN), data=body, headers=headers)
    assert response.status_code == 200, response.get_data()
    raw = response.get_data()
    sent = json.loads(raw[: int(response.headers[BINARY_HEADER])])["outputs"]
    assert "data" not in sent[0] and sent[0]["parameters"]["binary_data_size"] > 0
    assert sent[1]["data"] and "parameters" not in sent[1]
    head = read_answer(raw, response.headers)
    assert outputs_by_name(head) == expected_outputs(native(churn, rows), CHURN_CLASSES)


def test_binary_data_output_false_overridden_per_output(iris: FlaskClient) -> None:
    outputs = [{"name": "predict", "parameters": {"binary_data": True}}]
    response = iris.post(
        infer_path(IRIS),
        json={
            "parameters": {"binary_data_output": False},
            "inputs": [matrix(IRIS_ROWS)],
            "outputs": outputs,
        },
    )
    assert response.mimetype == OCTET_STREAM
    answer = read_answer(response.get_data(), response.headers)
    assert answer["outputs"][0]["data"] == ["setosa", "virginica", "versicolor"]
    # And binary_data_output alone, with no outputs listed: predict, binary.
    default = iris.post(
        infer_path(IRIS),
        json={"parameters": {"binary_data_output": True}, "inputs": [matrix(IRIS_ROWS)]},
    )
    assert default.mimetype == OCTET_STREAM
    assert [o["name"] for o in read_answer(default.get_data(), default.headers)["outputs"]] == [
        "predict"
    ]


@pytest.mark.parametrize("content_type", [None, OCTET_STREAM, "application/json"])
def test_binary_body_content_types(iris: FlaskClient, content_type: str | None) -> None:
    tensor = binary_input("input-0", "FP64", [1, 4], IRIS_ROWS[0])
    answer = infer_binary(iris, [tensor], content_type=content_type)
    assert outputs_by_name(answer)["predict"] == ["setosa"]


def test_binary_bool_is_true_or_false(churn: FlaskClient) -> None:
    rows = churn_rows(2)
    rows[0]["has_partner"], rows[1]["has_partner"] = True, False
    inputs = [
        binary_input(name, datatype, [2], column(rows, name))
        for name, datatype in CHURN_DATATYPES.items()
    ]
    assert inputs[4].blob == b"\x01\x00"
    assert (
        outputs_by_name(infer_binary(churn, inputs, CHURN))["predict"]
        == (native(churn, rows)["predictions"])
    )


def test_the_request_log_line_names_the_v2_protocol(
    iris: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        infer(iris, {"inputs": [matrix(IRIS_ROWS)]})
        infer(iris, {"inputs": []}, status=400)
        iris.get("/v2/health/ready")
        iris.get("/v2/nowhere")
    lines = access_lines(capsys)
    assert [(line["protocol"], line["path"], line["status"]) for line in lines] == [
        ("v2", infer_path(IRIS), 200),
        ("v2", infer_path(IRIS), 400),
        ("v2", "/v2/health/ready", 200),
        ("v2", "/v2/nowhere", 404),
    ]
    assert [line["rows"] for line in lines] == [3, 0, 0, 0]
    assert [line["error_code"] for line in lines] == [None, "invalid_input", None, "not_found"]


# Errors: each at its place


def ok_tensor(**fields: Any) -> dict[str, Any]:
    return {**matrix(IRIS_ROWS[:1]), **fields}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], [("body", "expected a JSON object, got an array")]),
        (
            {"inputs": [ok_tensor(foo=1)], "bar": 2, "outputs": [{"name": "predict", "baz": 3}]},
            [
                ("bar", "unknown field; allowed: id, parameters, inputs, outputs"),
                ("outputs[0].baz", "unknown field; allowed: name, parameters"),
                ("inputs[0].foo", "unknown field; allowed: " + INPUT_FIELDS),
            ],
        ),
        ({"inputs": [ok_tensor()], "id": 7}, [("id", "expected a string, got a number")]),
        (
            {"inputs": [ok_tensor()], "parameters": [1]},
            [("parameters", "expected an object, got an array")],
        ),
        (
            {"inputs": [ok_tensor()], "parameters": {"binary_data_output": 1}},
            [("parameters.binary_data_output", "expected true or false, got a number")],
        ),
        ({}, [("inputs", "expected a non-empty array of tensors, got null")]),
        ({"inputs": []}, [("inputs", "expected a non-empty array of tensors, got an array")]),
        (
            {"inputs": {"a": 1}},
            [("inputs", "expected a non-empty array of tensors, got an object")],
        ),
        ({"inputs": [ok_tensor(), 3]}, [("inputs[1]", "expected a tensor object, got a number")]),
        ({"inputs": [ok_tensor(name=None)]}, [("inputs[0].name", "expected a string, got null")]),
        ({"inputs": [ok_tensor(), ok_tensor()]}, [("inputs[1].name", "two inputs have this name")]),
        (
            {"inputs": [ok_tensor(datatype="FP128")]},
            [("inputs[0].datatype", "expected one of " + ALL_DATATYPES)],
        ),
        ({"inputs": [ok_tensor(datatype=["FP64"])]}, ["inputs[0].datatype"]),
        ({"inputs": [ok_tensor(datatype={"type": "FP64"})]}, ["inputs[0].datatype"]),
        (
            {"inputs": [ok_tensor(shape="1,4")]},
            [("inputs[0].shape", "expected an array of sizes (non-negative integers)")],
        ),
        ({"inputs": [ok_tensor(shape=[])]}, ["inputs[0].shape"]),
        ({"inputs": [ok_tensor(shape=[1, -4])]}, ["inputs[0].shape"]),
        ({"inputs": [ok_tensor(shape=[1, True, 4])]}, ["inputs[0].shape"]),
        ({"inputs": [ok_tensor(shape=[1, 4.0])]}, ["inputs[0].shape"]),
        (
            {"inputs": [ok_tensor(data=[1, 2, 3])]},
            [("inputs[0].data", "expected 4 values for shape [1, 4], got 3")],
        ),
        (
            {"inputs": [ok_tensor(data="5.1,3.5")]},
            [("inputs[0].data", "expected an array of values (nested or flat)")],
        ),
        ({"inputs": [ok_tensor(data=[5.1, [3.5], 1.4, 0.2])]}, ["inputs[0].data"]),
        # The matrix's own shape and type.
        (
            {"inputs": [ok_tensor(shape=[2, 2])]},
            [("inputs[0].shape", "expected [rows, 4], got [2, 2]")],
        ),
        ({"inputs": [ok_tensor(shape=[4])]}, [("inputs[0].shape", "expected [rows, 4], got [4]")]),
        ({"inputs": [ok_tensor(shape=[1, 4, 1])]}, ["inputs[0].shape"]),
        (
            {"inputs": [ok_tensor(datatype="BOOL", data=[True] * 4)]},
            [("inputs[0].datatype", "expected a numeric datatype (FP64, FP32, INT64)")],
        ),
        ({"inputs": [ok_tensor(datatype="BYTES", data=["5.1"] * 4)]}, ["inputs[0].datatype"]),
        (
            {"inputs": [ok_tensor(name="a"), ok_tensor(name="b")]},
            ["inputs[0].name", "inputs[1].name"],
        ),
        (
            {"inputs": [json_input("sepal_length", "FP64", [1], [5.1]), ok_tensor(name="x")]},
            [("inputs[1].name", UNKNOWN_INPUT + ", ".join(IRIS_FEATURES))],
        ),
        (
            {"inputs": [json_input("sepal_length", "FP64", [1], [5.1])]},
            [
                ("inputs", "missing input sepal_width: one input per feature is expected"),
                ("inputs", "missing input petal_length: one input per feature is expected"),
                ("inputs", "missing input petal_width: one input per feature is expected"),
            ],
        ),
        # Row counts (more than the limit: test_too_many_rows).
        (
            {"inputs": [ok_tensor(shape=[0, 4], data=[])]},
            [("inputs[0].shape", "expected at least 1 row, got none")],
        ),
        # Values, each at its element's row-major index.
        (
            {"inputs": [matrix([[5.1, 3.5, 1.4, 0.2], [6.7, "3.0", None, True]])]},
            [
                ("inputs[0].data[5]", "expected a number, got a string"),
                ("inputs[0].data[6]", NULL_NUMBER),
                ("inputs[0].data[7]", "expected a number, got a boolean"),
            ],
        ),
        (
            {"inputs": [matrix([[5, 3, 1, 0], [6, 3.5, "x", None]], "INT64")]},
            [
                ("inputs[0].data[5]", "expected an integer for datatype INT64, got a number"),
                ("inputs[0].data[6]", "expected an integer for datatype INT64, got a string"),
                ("inputs[0].data[7]", NULL_NUMBER),
            ],
        ),
        # Outputs.
        (
            {"inputs": [ok_tensor()], "outputs": []},
            [("outputs", "expected a non-empty array, got an array")],
        ),
        ({"inputs": [ok_tensor()], "outputs": {"name": "predict"}}, ["outputs"]),
        (
            {"inputs": [ok_tensor()], "outputs": [{"name": 1}]},
            [("outputs[0]", "expected an object with a name")],
        ),
        ({"inputs": [ok_tensor()], "outputs": ["predict"]}, ["outputs[0]"]),
        (
            {"inputs": [ok_tensor()], "outputs": [{"name": "decision_function"}]},
            [("outputs[0].name", "unknown output; this model offers predict, predict_proba")],
        ),
        (
            {"inputs": [ok_tensor()], "outputs": [{"name": "predict"}, {"name": "predict"}]},
            [("outputs[1].name", "the output is asked for twice")],
        ),
        (
            {
                "inputs": [ok_tensor()],
                "outputs": [{"name": "predict", "parameters": {"binary_data": "yes"}}],
            },
            [("outputs[0].parameters.binary_data", "expected true or false, got a string")],
        ),
        (
            {"inputs": [ok_tensor()], "outputs": [{"name": "predict", "parameters": []}]},
            [("outputs[0].parameters", "expected an object, got an array")],
        ),
        # Every problem of the request's own fields at once, in reading order.
        (
            {"id": 1, "inputs": [ok_tensor(datatype="X")], "outputs": [{"name": "y"}]},
            ["id", "outputs[0].name", "inputs[0].datatype"],
        ),
    ],
)
def test_iris_errors(iris: FlaskClient, body: Any, expected: list[Any]) -> None:
    answer = infer(iris, body, status=400)
    if expected and isinstance(expected[0], tuple):
        assert problems(answer) == expected
    else:
        assert locs(answer) == expected


def churn_inputs(**changes: Any) -> list[dict[str, Any]]:
    """JSON inputs for two churn rows, with some inputs' fields replaced."""
    inputs = churn_json_inputs(churn_rows(2))
    for tensor in inputs:
        tensor.update(changes.get(tensor["name"], {}))
    return inputs


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            churn_inputs(contract={"data": ["weekly", "month-to-month"]}),
            [("inputs[2].data[0]", 'unknown category "weekly"; the model knows ' + CONTRACTS)],
        ),
        (
            churn_inputs(contract={"data": ["one-year", None]}, has_partner={"data": [None, True]}),
            # In reading order: row by row.
            [
                ("inputs[4].data[0]", "expected true or false, got null" + CANNOT_BE_MISSING),
                ("inputs[2].data[1]", "expected a string, got null" + CANNOT_BE_MISSING),
            ],
        ),
        (
            churn_inputs(monthly_charges={"data": [None, 1.0]}),
            [("inputs[1].data[0]", NULL_NUMBER)],
        ),
        (
            churn_inputs(has_partner={"data": ["no", 1]}),
            [
                ("inputs[4].data[0]", "expected true or false, got a string"),
                ("inputs[4].data[1]", "expected true or false, got a number"),
            ],
        ),
        (
            churn_inputs(tenure_months={"data": [1.5, "3"]}),
            [
                ("inputs[0].data[0]", "expected an integer for datatype INT64, got a number"),
                ("inputs[0].data[1]", "expected an integer for datatype INT64, got a string"),
            ],
        ),
        (
            churn_inputs(tenure_months={"datatype": "FP64", "data": [1.5, 2**63]}),
            [
                ("inputs[0].data[0]", "expected an integer, got 1.5"),
                ("inputs[0].data[1]", "9223372036854775808 is beyond the int64 range"),
            ],
        ),
        (
            churn_inputs(payment_method={"data": [3, "mailed-check"]}),
            [("inputs[3].data[0]", "expected a string, got a number")],
        ),
        (
            churn_inputs(monthly_charges={"data": [float("inf"), 1.0]}),
            [("inputs[1].data[0]", "Infinity is not a JSON number; values must be finite")],
        ),
        (
            churn_inputs(has_partner={"datatype": "INT64"}, tenure_months={"datatype": "BOOL"}),
            [
                ("inputs[0].datatype", "tenure_months is an integer feature: expected " + NUMERIC),
                ("inputs[4].datatype", "has_partner is a boolean feature: expected BOOL"),
            ],
        ),
        (
            churn_inputs(contract={"datatype": "FP64"}),
            [("inputs[2].datatype", "contract is a string feature: expected BYTES")],
        ),
        (
            churn_inputs(monthly_charges={"shape": [1, 2]}, support_calls={"shape": [2, 1]}),
            [
                ("inputs[1].shape", "expected [rows] or [rows, 1], got [1, 2]"),
                ("inputs", "expected one number of rows in every input"),
            ],
        ),
        # No model takes a tensor of more than 2 sizes: refused before their product.
        (
            churn_inputs(monthly_charges={"shape": [1, 2]}, support_calls={"shape": [2, 1, 1]}),
            [("inputs[5].shape", "expected [rows, features], [rows] or [rows, 1], got 3 sizes")],
        ),
        (
            churn_inputs(contract={"shape": [1], "data": ["one-year"]}),
            [("inputs", "expected one number of rows in every input")],
        ),
        (
            churn_json_inputs(churn_rows(2))[:5],
            [("inputs", "missing input support_calls: one input per feature is expected")],
        ),
        (
            [*churn_json_inputs(churn_rows(2))[:5], json_input("region", "BYTES", [2], ["n", "s"])],
            [("inputs[5].name", UNKNOWN_INPUT + CHURN_NAMES)],
        ),
        # More inputs than the model has features: one problem, whatever they hold.
        (
            [*churn_json_inputs(churn_rows(2)), json_input("region", "BYTES", [2], ["n", "s"])],
            [
                (
                    "inputs",
                    "expected at most 6 (one tensor [rows, features], or one input per "
                    "feature), got 7",
                )
            ],
        ),
        (
            [json_input("input-0", "FP64", [1, 6], [1.0] * 6)],
            [
                (
                    "inputs[0].name",
                    "this model takes one input per feature, named after it: " + CHURN_NAMES,
                )
            ],
        ),
    ],
)
def test_churn_errors(churn: FlaskClient, inputs: list[Any], expected: list[Any]) -> None:
    assert problems(infer(churn, {"inputs": inputs}, CHURN, status=400)) == expected


TOO_MANY = [("inputs[0].shape", f"expected at most {MAX_ROWS} rows, got {MAX_ROWS + 1}")]


def test_too_many_rows(iris: FlaskClient, churn: FlaskClient) -> None:
    """A batch over the limit is a 413 (not the 400 of input that does not fit), with the
    batch's place in `details`, in every body form."""
    over = MAX_ROWS + 1
    matrix_body = {"inputs": [ok_tensor(shape=[over, 4], data=[1.0] * 4 * over)]}
    assert problems(infer(iris, matrix_body, status=413)) == TOO_MANY
    binary = [iris_tensor([1.0] * 4 * over, [over, 4])]
    assert problems(infer_binary(iris, binary, status=413)) == TOO_MANY
    columns = {"inputs": churn_json_inputs(churn_rows(over))}
    assert problems(infer(churn, columns, CHURN, status=413)) == TOO_MANY


def test_rows_the_model_refuses_are_named(iris: FlaskClient) -> None:
    huge = [[5.1, 3.5, 1.4, 0.2], [1.7e308] * 4]
    assert problems(infer(iris, {"inputs": [matrix(huge)]}, status=400)) == [
        ("inputs[0].data[4:8]", OVERFLOW)
    ]
    # One input per feature: the row is the same index in every input.
    inputs = [
        json_input(name, "FP64", [2], [row[position] for row in huge])
        for position, name in enumerate(IRIS_FEATURES)
    ]
    assert problems(infer(iris, {"inputs": inputs}, status=400)) == [
        ("inputs[*].data[1]", OVERFLOW)
    ]


# Binary errors


def iris_tensor(
    values: list[float] | bytes = IRIS_ROWS[0],
    shape: list[int] | None = None,
    datatype: str = "FP64",
) -> BinaryInput:
    return binary_input("input-0", datatype, shape or [1, 4], values)


def with_size(item: BinaryInput, size: Any) -> BinaryInput:
    tensor = {**item.tensor, "parameters": {"binary_data_size": size}}
    return BinaryInput(tensor, item.blob)


@pytest.mark.parametrize(
    ("inputs", "tail", "expected"),
    [
        ([iris_tensor()], b"\x00", [("body", "1 bytes after the tensors are not used")]),
        (
            [iris_tensor(encode(IRIS_ROWS[0], "FP64")[:-1])],
            b"",
            [(SIZE, "expected 32 bytes for 4 FP64 values, got 31")],
        ),
        (
            [iris_tensor(encode(IRIS_ROWS[0], "FP32"))],  # FP32 bytes said to be FP64
            b"",
            [(SIZE, "expected 32 bytes for 4 FP64 values, got 16")],
        ),
        (
            [with_size(iris_tensor(), 40)],
            b"",
            [(SIZE, "expected a byte count within the 32 bytes after the header")],
        ),
        # Where the later tensors start is unknown: no count of unused bytes either.
        ([with_size(iris_tensor(), -1)], b"", [SIZE]),
        ([with_size(iris_tensor(), "32")], b"", [SIZE]),
        (
            [BinaryInput({**iris_tensor().tensor, "data": IRIS_ROWS[0]}, iris_tensor().blob)],
            b"",
            [("inputs[0].data", "expected no data beside binary_data_size")],
        ),
        (
            [iris_tensor([5.1, float("nan"), float("inf"), float("-inf")])],
            b"",
            [
                ("inputs[0].data[1]", NULL_NUMBER),
                ("inputs[0].data[2]", "Infinity is not a JSON number; values must be finite"),
                ("inputs[0].data[3]", "-Infinity is not a JSON number; values must be finite"),
            ],
        ),
        (
            [iris_tensor([True] * 4, datatype="BOOL")],
            b"",
            [("inputs[0].datatype", "expected a numeric datatype (FP64, FP32, INT64)")],
        ),
    ],
)
def test_iris_binary_errors(
    iris: FlaskClient, inputs: list[BinaryInput], tail: bytes, expected: list[Any]
) -> None:
    answer = infer_binary(iris, inputs, status=400, tail=tail)
    if isinstance(expected[0], tuple):
        assert problems(answer) == expected
    else:
        assert locs(answer) == expected


def churn_binary(**changes: bytes | tuple[str, list[Any]]) -> list[BinaryInput]:
    """Binary inputs for two churn rows; a change is raw bytes for the input's own
    datatype, or (another datatype, values)."""
    rows = churn_rows(2)
    inputs = []
    for name, datatype in CHURN_DATATYPES.items():
        change = changes.get(name)
        if isinstance(change, tuple):
            inputs.append(binary_input(name, change[0], [2], change[1]))
        else:
            inputs.append(binary_input(name, datatype, [2], change or column(rows, name)))
    return inputs


LENGTH = struct.Struct("<I")


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            churn_binary(contract=LENGTH.pack(8) + b"one-year" + b"\x03\x00"),
            [
                (
                    "inputs[2].parameters.binary_data_size",
                    "a BYTES element's 4-byte length is cut short",
                )
            ],
        ),
        (
            churn_binary(contract=LENGTH.pack(8) + b"one-year" + LENGTH.pack(9) + b"two-year"),
            [
                (
                    "inputs[2].parameters.binary_data_size",
                    "a BYTES element is shorter than its length says",
                )
            ],
        ),
        (
            churn_binary(contract=LENGTH.pack(8) + b"one-year"),
            [("inputs[2].parameters.binary_data_size", "expected 2 BYTES elements, got 1")],
        ),
        (
            churn_binary(payment_method=encode([b"\xff\xfe", b"credit-card"], "BYTES")),
            [("inputs[3].data[0]", "expected UTF-8 text")],
        ),
        (
            churn_binary(contract=encode(["weekly", None], "BYTES")),
            [
                ("inputs[2].data[0]", 'unknown category "weekly"; the model knows ' + CONTRACTS),
                ("inputs[2].data[1]", 'unknown category "None"; the model knows ' + CONTRACTS),
            ],
        ),
        (
            churn_binary(monthly_charges=encode([float("nan"), float("inf")], "FP64")),
            [
                ("inputs[1].data[0]", NULL_NUMBER),
                ("inputs[1].data[1]", "Infinity is not a JSON number; values must be finite"),
            ],
        ),
        (
            churn_binary(tenure_months=("FP64", [3.5, 4.0])),
            [("inputs[0].data[0]", "expected an integer, got 3.5")],
        ),
        (
            churn_binary(tenure_months=("UINT64", [2**63, 4])),
            [("inputs[0].data[0]", "9223372036854775808 is beyond the int64 range")],
        ),
        (
            churn_binary(has_partner=encode([True], "BOOL")),
            [
                (
                    "inputs[4].parameters.binary_data_size",
                    "expected 2 bytes for 2 BOOL values, got 1",
                )
            ],
        ),
    ],
)
def test_churn_binary_errors(
    churn: FlaskClient, inputs: list[BinaryInput], expected: list[Any]
) -> None:
    assert problems(infer_binary(churn, inputs, CHURN, status=400)) == expected


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("abc", "The Inference-Header-Content-Length header must be a byte count of at most"),
        ("-1", "The Inference-Header-Content-Length header must be a byte count of at most"),
        ("\u00b2", "The Inference-Header-Content-Length header must be a byte count of at most"),
        ("9999", "The Inference-Header-Content-Length header must be a byte count of at most"),
        ("0", "The request body is empty; expected a JSON object."),
        ("-5+", "The Inference-Header-Content-Length header must be a byte count of at most"),
        ("short", "The Inference-Header-Content-Length header must be a byte count of at most"),
    ],
)
def test_a_header_length_that_is_not_one(iris: FlaskClient, length: str, message: str) -> None:
    body, _ = binary_body({}, [iris_tensor()])
    answer = infer(iris, body, status=400, headers={BINARY_HEADER: length}, content_type=None)
    assert set(answer) == {"error"} and answer["error"].startswith(message), answer


@pytest.mark.parametrize("shift", [-1, 1], ids=["short", "long"])
def test_a_header_length_that_misses_the_json_by_a_byte(iris: FlaskClient, shift: int) -> None:
    body, headers = binary_body({}, [iris_tensor()])
    length = int(headers[BINARY_HEADER]) + shift
    answer = infer(iris, body, status=400, headers={BINARY_HEADER: str(length)}, content_type=None)
    assert set(answer) == {"error"}
    assert answer["error"].startswith("The request body is not valid JSON")


@pytest.mark.parametrize(
    ("content_type", "headers", "status"),
    [
        ("text/plain", {}, 415),
        (OCTET_STREAM, {}, 415),  # binary without the header that says where it starts
        ("application/json; charset=latin-1", {}, 415),
        ("text/plain", {BINARY_HEADER: "2"}, 415),
    ],
)
def test_media_types(iris: FlaskClient, content_type: str, headers: dict, status: int) -> None:
    answer = infer(
        iris, {"inputs": [ok_tensor()]}, status=status, headers=headers, content_type=content_type
    )
    assert set(answer) == {"error"} and answer["error"].startswith("Expected")


def test_no_content_type_is_json(iris: FlaskClient) -> None:
    answer = infer(iris, {"inputs": [ok_tensor()]}, content_type=None)
    assert outputs_by_name(answer)["predict"] == ["setosa"]


def test_a_body_over_the_size_limit_is_a_413(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_CONTENT_LENGTH="200").test_client()
    body, headers = binary_body({}, [binary_input("input-0", "FP64", [8, 4], [1.0] * 32)])
    assert len(body) > 200
    answer = infer(client, body, status=413, headers=headers, content_type=None)
    assert set(answer) == {"error"} and "larger than the limit of 200 bytes" in answer["error"]


def test_invalid_json_is_a_400_without_details(iris: FlaskClient) -> None:
    answer = infer(iris, b'{"inputs": [', status=400)
    assert set(answer) == {"error"} and answer["error"].startswith(
        "The request body is not valid JSON"
    )
