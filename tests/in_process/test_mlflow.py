"""MLflow's scoring protocol: /invocations, /ping and /version, as MLflow's users speak it.

Every body is built the way an MLflow user builds one: from a pandas DataFrame, by
pandas' own writers, or by MLflow's ScoringServerClient against a live server
(live_server/test_mlflow_client.py). An answer
must be exactly what /predict answers for the same rows. A refusal must be in MLflow's
shape with its status, code and the place of each problem in the body, and must never
carry the body back or a stack trace.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.access_log import access_lines
from support.iris import IRIS_FEATURES, SETOSA, VIRGINICA
from support.mlflow_users import (
    UNKNOWN_CONTRACT,
    churn_frame,
    iris_frame,
    plain_rows,
    pyproject_version,
)
from support.paths import ROOT
from werkzeug.test import TestResponse

import app.protocols.mlflow.decoding
import app.protocols.mlflow.routes
from app.http.components import part_of
from app.http.server_info import SERVER_VERSION
from app.service.model_slot import ModelSlot

CHURN = ROOT / "model" / "examples" / "churn.joblib"
JSON = "application/json"
CSV = "text/csv"
CHURN_FEATURES = [
    "tenure_months", "monthly_charges", "contract", "payment_method", "has_partner",
    "support_calls",
]  # fmt: skip
CHURN_ROW = {
    "tenure_months": 3, "monthly_charges": 70.5, "contract": "month-to-month",
    "payment_method": "electronic-check", "has_partner": False, "support_calls": 4,
}  # fmt: skip
ONE_FORMAT = (
    "expected exactly one of dataframe_split, dataframe_records, instances, inputs, "
    "and optionally params"
)
UNKNOWN_IRIS = "unknown feature; expected " + ", ".join(IRIS_FEATURES)
UNKNOWN_CHURN = "unknown feature; expected " + ", ".join(CHURN_FEATURES)
CANNOT_BE_MISSING = "got null; this feature cannot be missing"
# In a body, but never where the problem is: no error may show it.
MARKER = "zq-7731-marker"
MLFLOW_CODES = {
    "BAD_REQUEST", "UNAUTHENTICATED", "ENDPOINT_NOT_FOUND", "REQUEST_LIMIT_EXCEEDED",
    "INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE",
}  # fmt: skip
API_KEY = "mlflow-test-key-0123456789"


# The rows: the iris data set, and customers from the churn model's own generator
FRAMES: dict[str, Callable[[], pd.DataFrame]] = {"iris": iris_frame, "churn": churn_frame}


# The bodies MLflow's users send, each as pandas writes it. json.dumps writes NaN as
# NaN, as MLflow's own client does (its dump_input_data); pandas' to_json as null.

Body = tuple[str, str]


def split_dict(frame: pd.DataFrame) -> Body:
    # What ScoringServerClient.invoke(frame) sends: the index included.
    return json.dumps({"dataframe_split": frame.to_dict(orient="split")}), JSON


def split_to_json(frame: pd.DataFrame) -> Body:
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))}), JSON


def records_to_json(frame: pd.DataFrame) -> Body:
    return '{"dataframe_records": ' + frame.to_json(orient="records") + "}", JSON


def instances_objects(frame: pd.DataFrame) -> Body:
    return json.dumps({"instances": frame.to_dict(orient="records")}), JSON


def instances_arrays(frame: pd.DataFrame) -> Body:
    return json.dumps({"instances": frame.to_numpy().tolist()}), JSON


def inputs_objects(frame: pd.DataFrame) -> Body:
    return json.dumps({"inputs": frame.to_dict(orient="records")}), JSON


def inputs_arrays(frame: pd.DataFrame) -> Body:
    # What ScoringServerClient.invoke(array) sends.
    return json.dumps({"inputs": frame.to_numpy().tolist()}), JSON


def inputs_columns(frame: pd.DataFrame) -> Body:
    return json.dumps({"inputs": frame.to_dict(orient="list")}), JSON


def csv_body(frame: pd.DataFrame) -> Body:
    return frame.to_csv(index=False), CSV


# Bodies that name their columns, so the columns may come in any order.
NAMED: dict[str, Callable[[pd.DataFrame], Body]] = {
    "split_dict": split_dict,
    "split_to_json": split_to_json,
    "records_to_json": records_to_json,
    "instances_objects": instances_objects,
    "inputs_objects": inputs_objects,
    "inputs_columns": inputs_columns,
    "csv": csv_body,
}
POSITIONAL: dict[str, Callable[[pd.DataFrame], Body]] = {
    "instances_arrays": instances_arrays,
    "inputs_arrays": inputs_arrays,
}
# Where each body's rows are, for a problem with the batch as a whole.
BATCH_LOC = {
    "split_dict": "dataframe_split.data",
    "split_to_json": "dataframe_split.data",
    "records_to_json": "dataframe_records",
    "instances_objects": "instances",
    "instances_arrays": "instances",
    "inputs_objects": "inputs",
    "inputs_arrays": "inputs",
    "inputs_columns": "inputs",
    "csv": "csv",
}


# Requests and answers


@pytest.fixture
def iris(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


@pytest.fixture
def churn(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(MODEL_URI=str(CHURN)).test_client()


def invoke(
    client: FlaskClient,
    payload: Any = None,
    *,
    data: str | bytes | None = None,
    content_type: str | None = JSON,
) -> TestResponse:
    """POST /invocations: `payload` as JSON (NaN written as NaN), or `data` as it is."""
    body = json.dumps(payload) if data is None else data
    if content_type is None:
        return client.post("/invocations", data=body)
    return client.post("/invocations", data=body, content_type=content_type)


def predicted(client: FlaskClient, rows: list[Any]) -> list[Any]:
    """What /predict answers for these rows."""
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200, response.get_data(as_text=True)
    predictions: list[Any] = response.get_json()["predictions"]
    return predictions


def answered(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body: dict[str, Any] = response.get_json()
    return body


def refusal(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """MLflow's error shape: error_code, message and (for input) details, nothing else."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == JSON
    body: dict[str, Any] = response.get_json()
    assert body["error_code"] == code and code in MLFLOW_CODES
    assert set(body) <= {"error_code", "message", "details"}
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in text and "stack_trace" not in body
    for detail in body.get("details", []):
        assert set(detail) == {"loc", "msg"}
    return body


def problems(response: TestResponse) -> list[tuple[str, str]]:
    """The places and reasons of a 400 for input that does not fit the model, in order."""
    body = refusal(response, 400, "BAD_REQUEST")
    count = len(body["details"])
    assert body["message"] == (
        f"The input does not fit the model: {count} problem{'s' if count > 1 else ''}."
    )
    return [(detail["loc"], detail["msg"]) for detail in body["details"]]


def too_many_rows(response: TestResponse) -> list[tuple[str, str]]:
    """The place and reason of a 413 for a batch over the row limit."""
    body = refusal(response, 413, "REQUEST_LIMIT_EXCEEDED")
    return [(detail["loc"], detail["msg"]) for detail in body["details"]]


# Every format, as pandas writes it, answers exactly what /predict answers


@pytest.mark.parametrize("model", list(FRAMES))
@pytest.mark.parametrize("order", ["schema order", "reversed"])
@pytest.mark.parametrize("format_name", list(NAMED))
def test_named_formats_answer_as_predict(
    request: pytest.FixtureRequest, model: str, order: str, format_name: str
) -> None:
    client: FlaskClient = request.getfixturevalue(model)
    frame = FRAMES[model]()
    expected = predicted(client, plain_rows(frame))
    assert len(set(expected)) > 1  # rows the model tells apart
    sent = frame if order == "schema order" else frame[list(reversed(frame.columns))]
    data, content_type = NAMED[format_name](sent)
    assert answered(invoke(client, data=data, content_type=content_type)) == {
        "predictions": expected
    }


@pytest.mark.parametrize("model", list(FRAMES))
@pytest.mark.parametrize("format_name", list(POSITIONAL))
def test_positional_formats_answer_as_predict(
    request: pytest.FixtureRequest, model: str, format_name: str
) -> None:
    client: FlaskClient = request.getfixturevalue(model)
    frame = FRAMES[model]()
    data, content_type = POSITIONAL[format_name](frame)
    assert answered(invoke(client, data=data, content_type=content_type)) == {
        "predictions": predicted(client, plain_rows(frame))
    }


def test_the_split_index_is_ignored(iris: FlaskClient) -> None:
    frame = iris_frame()
    expected = predicted(iris, plain_rows(frame))
    split = frame.to_dict(orient="split")
    for index in (split["index"], [str(i) for i in split["index"]], list(range(99))):
        body = {"dataframe_split": {**split, "index": index}}
        assert answered(invoke(iris, body))["predictions"] == expected
    # And so are the columns' names when absent: the data is in the schema's order.
    body = {"dataframe_split": {"data": split["data"]}}
    assert answered(invoke(iris, body))["predictions"] == expected


@pytest.mark.parametrize("params", [None, {}, {"temperature": 0.1, "top_k": [1, 2]}])
def test_params_are_accepted_and_ignored(iris: FlaskClient, params: Any) -> None:
    # As MLflow does for a model whose signature declares no params; null is none.
    expected = predicted(iris, [SETOSA, VIRGINICA])
    for payload in (
        {"instances": [SETOSA, VIRGINICA], "params": params},
        {
            "dataframe_split": {"columns": IRIS_FEATURES, "data": [SETOSA, VIRGINICA]},
            "params": params,
        },
    ):
        assert answered(invoke(iris, payload)) == {"predictions": expected}


def test_missing_values_in_nullable_features_as_pandas_writes_them(churn: FlaskClient) -> None:
    # NaN (json.dumps, MLflow's client), null (to_json) and an empty CSV field are all
    # the same missing value, for a number and for a string.
    rows = [
        {**CHURN_ROW, "support_calls": None},
        {**CHURN_ROW, "payment_method": None},
        {**CHURN_ROW, "support_calls": None, "payment_method": None},
    ]
    expected = predicted(churn, rows)
    frame = pd.DataFrame(rows).astype({"payment_method": "str", "support_calls": "float64"})
    assert frame.isna().sum().sum() == 4
    for build in (split_dict, split_to_json, records_to_json, inputs_columns, csv_body):
        data, content_type = build(frame)
        assert answered(invoke(churn, data=data, content_type=content_type)) == {
            "predictions": expected
        }, build.__name__
    assert "NaN" in split_dict(frame)[0] and ",,False," in csv_body(frame)[0]


def test_csv_fields_are_read_by_their_features_types(churn: FlaskClient) -> None:
    header = ",".join(CHURN_FEATURES)
    lines = [
        "3,70.5,month-to-month,electronic-check,TRUE,4",
        "3.0,7.05e1,month-to-month,electronic-check,fAlSe,4.0",
        # A string that looks like a number is the string; quoted as pandas quotes.
        '12,-0.0,one-year,"credit, card",true,',
        "12,1E-3,two-year,0,False,0",
    ]
    rows = [
        {**CHURN_ROW, "has_partner": True},
        {**CHURN_ROW, "has_partner": False},
        {**CHURN_ROW, "tenure_months": 12, "monthly_charges": -0.0, "contract": "one-year",
         "payment_method": "credit, card", "has_partner": True, "support_calls": None},
        {**CHURN_ROW, "tenure_months": 12, "monthly_charges": 0.001, "contract": "two-year",
         "payment_method": "0", "support_calls": 0},
    ]  # fmt: skip
    response = invoke(churn, data="\n".join([header, *lines]) + "\n", content_type=CSV)
    assert answered(response) == {"predictions": predicted(churn, rows)}
    # Not only the same answers: the same values, of the same types, reach the model.
    schema = part_of(ModelSlot, churn.application).current().schema
    fields = list(csv.reader([header, *lines]))
    from_csv, _ = app.protocols.mlflow.decoding.csv_rows(fields[0], fields[1:], schema, 10)
    from_json, _ = app.protocols.mlflow.decoding.json_rows({"dataframe_records": rows}, schema, 10)
    assert from_csv.count == from_json.count == 4
    for read, expected in zip(from_csv.columns, from_json.columns, strict=True):
        if isinstance(expected, np.ndarray):
            assert read.dtype == expected.dtype
            np.testing.assert_array_equal(read, expected)
        else:
            assert [(type(v), v) for v in read] == [(type(v), v) for v in expected]


def test_csv_line_endings_and_blank_lines(iris: FlaskClient) -> None:
    expected = predicted(iris, [SETOSA, VIRGINICA])
    header = ",".join(IRIS_FEATURES)
    lines = [header, ",".join(map(str, SETOSA)), ",".join(map(str, VIRGINICA))]
    for data in ("\r\n".join(lines) + "\r\n", "\n".join(lines), "\n\n".join(lines) + "\n\n"):
        response = invoke(iris, data=data, content_type="text/csv; charset=utf-8")
        assert answered(response) == {"predictions": expected}


def test_charset_utf8_is_accepted(iris: FlaskClient) -> None:
    expected = predicted(iris, [SETOSA])
    for content_type in ("application/json; charset=utf-8", "application/json; charset=UTF-8"):
        response = invoke(iris, {"inputs": [SETOSA]}, content_type=content_type)
        assert answered(response) == {"predictions": expected}


# The body's structure: each problem at its place


STRUCTURE_PROBLEMS = [
    ([SETOSA], [("body", "expected a JSON object, got an array")]),
    ("inputs", [("body", "expected a JSON object, got a string")]),
    ({}, [("body", ONE_FORMAT)]),
    ({"params": {"k": 1}}, [("body", ONE_FORMAT)]),
    ({"instances": [SETOSA], "inputs": [SETOSA]}, [("body", ONE_FORMAT)]),
    (
        {"dataframe_split": {"columns": IRIS_FEATURES, "data": [SETOSA]},
         "dataframe_records": [dict(zip(IRIS_FEATURES, SETOSA, strict=True))]},
        [("body", ONE_FORMAT)],
    ),
    (
        {"inputs": [SETOSA], "signature_name": "serving_default"},
        [("signature_name", f"unknown field; {ONE_FORMAT}")],
    ),
    ({"columns": IRIS_FEATURES, "data": [SETOSA]}, [
        ("columns", f"unknown field; {ONE_FORMAT}"),
        ("data", f"unknown field; {ONE_FORMAT}"),
        ("body", ONE_FORMAT),
    ]),
    ({"inputs": [SETOSA], "params": 5}, [("params", "expected an object, got a number")]),
    ({"inputs": [SETOSA], "params": "k=1"}, [("params", "expected an object, got a string")]),
    ({"inputs": [SETOSA], "params": [1]}, [("params", "expected an object, got an array")]),
    ({"inputs": [SETOSA], "params": True}, [("params", "expected an object, got a boolean")]),
    # dataframe_split
    (
        {"dataframe_split": [SETOSA]},
        [("dataframe_split", "expected an object with columns and data, got an array")],
    ),
    (
        {"dataframe_split": {"columns": IRIS_FEATURES, "data": [SETOSA], "dtypes": {}}},
        [("dataframe_split.dtypes", "unknown field; expected columns, data and index")],
    ),
    (
        {"dataframe_split": {"columns": IRIS_FEATURES}},
        [("dataframe_split.data", "expected an array of rows, got null")],
    ),
    (
        {"dataframe_split": {"columns": IRIS_FEATURES[:3], "data": [SETOSA[:3]]}},
        [("dataframe_split.columns", "missing feature petal_width")],
    ),
    (
        {"dataframe_split": {"columns": [*IRIS_FEATURES, "petal_size"], "data": [SETOSA]}},
        [("dataframe_split.columns[4]", UNKNOWN_IRIS)],
    ),
    (
        {"dataframe_split": {"columns": ["sepal_length", "sepal_length", *IRIS_FEATURES[2:]],
                             "data": [SETOSA]}},
        [("dataframe_split.columns[1]", "the feature is named twice"),
         ("dataframe_split.columns", "missing feature sepal_width")],
    ),
    (
        {"dataframe_split": {"columns": "sepal_length", "data": [SETOSA]}},
        [("dataframe_split.columns", "expected an array of feature names, got a string")],
    ),
    (
        {"dataframe_split": {"columns": IRIS_FEATURES,
                             "data": [SETOSA, SETOSA[:3], [*SETOSA, 9.9], {"a": 1}]}},
        [("dataframe_split.data[1]", "expected an array of 4 values, got 3 values"),
         ("dataframe_split.data[2]", "expected an array of 4 values, got 5 values"),
         ("dataframe_split.data[3]", "expected an array of 4 values, got an object")],
    ),
    (
        {"dataframe_split": {"columns": IRIS_FEATURES, "data": SETOSA}},
        [("dataframe_split.data[0]", "expected an array of 4 values, got a number"),
         ("dataframe_split.data[1]", "expected an array of 4 values, got a number"),
         ("dataframe_split.data[2]", "expected an array of 4 values, got a number"),
         ("dataframe_split.data[3]", "expected an array of 4 values, got a number")],
    ),
    # dataframe_records
    (
        {"dataframe_records": {name: [value] for name, value in zip(IRIS_FEATURES, SETOSA,
                                                                      strict=True)}},
        [("dataframe_records", "expected an array of objects, got an object")],
    ),
    (
        {"dataframe_records": [SETOSA, "row"]},
        [("dataframe_records[0]", "expected an object keyed by feature name, got an array"),
         ("dataframe_records[1]", "expected an object keyed by feature name, got a string")],
    ),
    (
        {"dataframe_records": [
            dict(zip(IRIS_FEATURES[:3], SETOSA, strict=False)),
            {**dict(zip(IRIS_FEATURES, SETOSA, strict=True)), "petal_size": 1.0},
            {**dict(zip(IRIS_FEATURES, SETOSA, strict=True)), "sepal_width": "3.5"},
        ]},
        [("dataframe_records[0].petal_width", "missing feature"),
         ("dataframe_records[1].petal_size", UNKNOWN_IRIS),
         ("dataframe_records[2].sepal_width", "expected a number, got a string")],
    ),
    # instances
    (
        {"instances": {"sepal_length": [5.1]}},
        [("instances", "expected an array of rows, got an object")],
    ),
    (
        {"instances": [SETOSA, SETOSA[:3], [5.1, "3.5", None, True]]},
        [("instances[1]", f"expected 4 values ({', '.join(IRIS_FEATURES)}), got 3"),
         ("instances[2][1]", "expected a number, got a string"),
         ("instances[2][2]", f"expected a number, {CANNOT_BE_MISSING}"),
         ("instances[2][3]", "expected a number, got a boolean")],
    ),
    (
        {"instances": [dict(zip(IRIS_FEATURES[1:], SETOSA[1:], strict=True))]},
        [("instances[0].sepal_length", "missing feature")],
    ),
    # inputs: rows, or columns
    (
        {"inputs": "5.1,3.5,1.4,0.2"},
        [("inputs", "expected an array of rows or an object of columns, got a string")],
    ),
    (
        {"inputs": [[5.1, 3.5, 1.4, "0.2"]]},
        [("inputs[0][3]", "expected a number, got a string")],
    ),
    (
        {"inputs": {"sepal_length": [5.1], "sepal_width": [3.5], "petal_length": [1.4],
                    "petal_size": [0.2]}},
        [("inputs.petal_size", UNKNOWN_IRIS), ("inputs.petal_width", "missing feature")],
    ),
    (
        {"inputs": {"sepal_length": [5.1], "sepal_width": [3.5], "petal_length": [1.4],
                    "petal_width": 0.2}},
        [("inputs.petal_width", "expected an array, got a number")],
    ),
    (
        {"inputs": {"sepal_length": [5.1, 6.7], "sepal_width": [3.5], "petal_length": [1.4],
                    "petal_width": [0.2]}},
        [("inputs", "expected arrays of one length, got lengths 1, 2")],
    ),
    (
        {"inputs": {"sepal_length": [5.1, 6.7], "sepal_width": [3.5, "3.0"],
                    "petal_length": [1.4, None], "petal_width": [0.2, 2.3]}},
        [("inputs.sepal_width[1]", "expected a number, got a string"),
         ("inputs.petal_length[1]", f"expected a number, {CANNOT_BE_MISSING}")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "details"), STRUCTURE_PROBLEMS, ids=[d[0][0] for _, d in STRUCTURE_PROBLEMS]
)
def test_body_structure_problems(
    iris: FlaskClient, payload: Any, details: list[tuple[str, str]]
) -> None:
    assert problems(invoke(iris, payload)) == details


def test_split_columns_in_another_order_place_problems_as_sent(iris: FlaskClient) -> None:
    columns = list(reversed(IRIS_FEATURES))
    data = [[0.2, 1.4, "3.5", 5.1], [0.2, None, 3.5, True], list(reversed(SETOSA))]
    details = problems(invoke(iris, {"dataframe_split": {"columns": columns, "data": data}}))
    # Each at its place in the body, whichever feature the column is.
    assert dict(details) == {
        "dataframe_split.data[0][2]": "expected a number, got a string",
        "dataframe_split.data[1][1]": f"expected a number, {CANNOT_BE_MISSING}",
        "dataframe_split.data[1][3]": "expected a number, got a boolean",
    }
    assert len(details) == 3


@pytest.mark.parametrize(
    ("literal", "msg"),
    [
        # NaN is a missing value to pandas, and so to MLflow's client; not here.
        ("NaN", f"expected a number, {CANNOT_BE_MISSING}"),
        ("Infinity", "Infinity is not a JSON number; values must be finite"),
        ("-Infinity", "-Infinity is not a JSON number; values must be finite"),
        ("1e999", "1e999 is beyond the float64 range"),
    ],
)
def test_non_finite_numbers_in_features_that_cannot_be_missing(
    iris: FlaskClient, literal: str, msg: str
) -> None:
    columns = json.dumps(IRIS_FEATURES)
    bodies = {
        "dataframe_split.data[0][0]": (
            f'{{"dataframe_split": {{"columns": {columns}, "data": [[{literal}, 3.5, 1.4, 0.2]]}}}}'
        ),
        "instances[0][0]": f'{{"instances": [[{literal}, 3.5, 1.4, 0.2]]}}',
        "inputs.sepal_length[0]": (
            f'{{"inputs": {{"sepal_width": [3.5], "petal_length": [1.4], "petal_width": [0.2],'
            f' "sepal_length": [{literal}]}}}}'
        ),
    }
    for loc, data in bodies.items():
        assert problems(invoke(iris, data=data)) == [(loc, msg)]


# Typed features: the churn model


def test_typed_problems_in_each_format(churn: FlaskClient) -> None:
    bad = [
        {**CHURN_ROW, "contract": None},
        {**CHURN_ROW, "tenure_months": 30.5, "has_partner": "no"},
        {**CHURN_ROW, "contract": "weekly"},
        {**CHURN_ROW, "monthly_charges": "61", "support_calls": True},
    ]
    why = [
        (0, "contract", f"expected a string, {CANNOT_BE_MISSING}"),
        (1, "tenure_months", "expected an integer, got 30.5"),
        (1, "has_partner", "expected true or false, got a string"),
        (2, "contract", UNKNOWN_CONTRACT),
        (3, "monthly_charges", "expected a number, got a string"),
        (3, "support_calls", "expected a number, got a boolean"),
    ]
    position = {name: index for index, name in enumerate(CHURN_FEATURES)}
    split = {"columns": CHURN_FEATURES, "data": [list(row.values()) for row in bad]}
    assert problems(invoke(churn, {"dataframe_split": split})) == [
        (f"dataframe_split.data[{row}][{position[name]}]", msg) for row, name, msg in why
    ]
    assert problems(invoke(churn, {"dataframe_records": bad})) == [
        (f"dataframe_records[{row}].{name}", msg) for row, name, msg in why
    ]
    assert problems(invoke(churn, {"instances": bad})) == [
        (f"instances[{row}].{name}", msg) for row, name, msg in why
    ]
    assert problems(invoke(churn, {"instances": [list(row.values()) for row in bad]})) == [
        (f"instances[{row}][{position[name]}]", msg) for row, name, msg in why
    ]
    columns = {name: [row[name] for row in bad] for name in CHURN_FEATURES}
    assert problems(invoke(churn, {"inputs": columns})) == [
        (f"inputs.{name}[{row}]", msg) for row, name, msg in why
    ]


def test_an_unknown_category_of_a_closed_feature(churn: FlaskClient) -> None:
    rows = [CHURN_ROW, CHURN_ROW, CHURN_ROW, {**CHURN_ROW, "contract": "weekly"}]
    columns = {name: [row[name] for row in rows] for name in CHURN_FEATURES}
    assert problems(invoke(churn, {"inputs": columns})) == [
        ("inputs.contract[3]", UNKNOWN_CONTRACT)
    ]
    records = [{**CHURN_ROW, "contract": "weekly"}]
    assert problems(invoke(churn, {"dataframe_records": records})) == [
        ("dataframe_records[0].contract", UNKNOWN_CONTRACT)
    ]
    # payment_method is open: an unknown one is the model's to handle.
    unknown_payment = [{**CHURN_ROW, "payment_method": "cash"}]
    assert answered(invoke(churn, {"dataframe_records": unknown_payment}))["predictions"] == (
        predicted(churn, unknown_payment)
    )


def test_nan_where_a_typed_feature_cannot_be_missing(churn: FlaskClient) -> None:
    frame = pd.DataFrame([CHURN_ROW, CHURN_ROW]).astype({"monthly_charges": "float64"})
    frame.loc[1, "monthly_charges"] = float("nan")
    frame.loc[0, "contract"] = None
    data, _ = split_dict(frame)
    assert problems(invoke(churn, data=data)) == [
        ("dataframe_split.data[0][2]", f"expected a string, {CANNOT_BE_MISSING}"),
        ("dataframe_split.data[1][1]", f"expected a number, {CANNOT_BE_MISSING}"),
    ]


# CSV


def csv_of(*lines: str, header: str = ",".join(CHURN_FEATURES)) -> str:
    return "\n".join([header, *lines]) + "\n"


GOOD_LINE = "3,70.5,month-to-month,electronic-check,False,4"


CSV_PROBLEMS = [
    (
        csv_of(GOOD_LINE, header=",".join(CHURN_FEATURES).replace("contract", "city")),
        [("csv.header[2]", UNKNOWN_CHURN), ("csv.header", "missing feature contract")],
    ),
    (
        csv_of(GOOD_LINE.rsplit(",", 1)[0], header=",".join(CHURN_FEATURES[:-1])),
        [("csv.header", "missing feature support_calls")],
    ),
    (
        csv_of(GOOD_LINE + ",5", header=",".join([*CHURN_FEATURES, "support_calls"])),
        [("csv.header[6]", "the feature is named twice")],
    ),
    # pandas' to_csv() writes the index first unless told index=False.
    (
        csv_of("0," + GOOD_LINE, header="," + ",".join(CHURN_FEATURES)),
        [("csv.header[0]", UNKNOWN_CHURN)],
    ),
    (
        csv_of(GOOD_LINE, "3,70.5,month-to-month,electronic-check,False", GOOD_LINE + ",1"),
        [("csv[1]", "expected 6 values as in the header, got 5"),
         ("csv[2]", "expected 6 values as in the header, got 7")],
    ),
    (
        csv_of("x,y,weekly,,yes,z", ",,,,,", "+3,.5,one-year,,1,NaN"),
        [("csv[0].tenure_months", "expected an integer"),
         ("csv[0].monthly_charges", "expected a number"),
         ("csv[0].contract", UNKNOWN_CONTRACT),
         ("csv[0].has_partner", "expected true or false"),
         ("csv[0].support_calls", "expected a number"),
         ("csv[1].tenure_months", f"expected an integer, {CANNOT_BE_MISSING}"),
         ("csv[1].monthly_charges", f"expected a number, {CANNOT_BE_MISSING}"),
         ("csv[1].contract", f"expected a string, {CANNOT_BE_MISSING}"),
         ("csv[1].has_partner", f"expected true or false, {CANNOT_BE_MISSING}"),
         ("csv[2].tenure_months", "expected an integer"),
         ("csv[2].monthly_charges", "expected a number"),
         ("csv[2].has_partner", "expected true or false"),
         ("csv[2].support_calls", "expected a number")],
    ),
    (
        csv_of("3.5,1e400,one-year,,true,", "99999999999999999999,1,one-year,,true,"),
        [("csv[0].tenure_months", "expected an integer, got 3.5"),
         ("csv[0].monthly_charges", "1e400 is beyond the float64 range"),
         ("csv[1].tenure_months", "99999999999999999999 is beyond the int64 range")],
    ),
    (
        csv_of("9" * 5000 + ",70.5,one-year,,true,"),
        [("csv[0].tenure_months", "9" * 29 + "... is beyond the float64 range")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("data", "details"), CSV_PROBLEMS, ids=[d[0][0] for _, d in CSV_PROBLEMS])
def test_csv_problems(churn: FlaskClient, data: str, details: list[tuple[str, str]]) -> None:
    assert problems(invoke(churn, data=data, content_type=CSV)) == details


def test_csv_columns_in_another_order_are_placed_by_name(churn: FlaskClient) -> None:
    header = ",".join(reversed(CHURN_FEATURES))
    data = csv_of("4,False,electronic-check,weekly,70.5,x", header=header)
    assert dict(problems(invoke(churn, data=data, content_type=CSV))) == {
        "csv[0].tenure_months": "expected an integer",
        "csv[0].contract": UNKNOWN_CONTRACT,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            csv_of('"3,70.5,month-to-month,electronic-check,False,4'),
            "The request body is not valid CSV at line 2: unexpected end of data.",
        ),
        (
            csv_of('3,70.5,"month-to-month"x,electronic-check,False,4'),
            "The request body is not valid CSV at line 2: ',' expected after '\"'.",
        ),
        (
            csv_of(GOOD_LINE).encode() + b"3,70.5,one-year,\xff\xfe,False,4\n",
            f"The request body is not valid UTF-8 (byte {len(csv_of(GOOD_LINE)) + 16}).",
        ),
        ("", "The request body is empty; expected a CSV header row."),
        ("\n\n", "The request body is empty; expected a CSV header row."),
    ],
)
def test_csv_that_cannot_be_read(churn: FlaskClient, data: str | bytes, message: str) -> None:
    body = refusal(invoke(churn, data=data, content_type=CSV), 400, "BAD_REQUEST")
    assert body == {"error_code": "BAD_REQUEST", "message": message}


# Batch size


@pytest.mark.parametrize("format_name", list(BATCH_LOC))
def test_too_many_and_zero_rows(make_app: Callable[..., Flask], format_name: str) -> None:
    client = make_app(MODEL_URI=str(CHURN), MAX_BATCH_ROWS="3").test_client()
    build = {**NAMED, **POSITIONAL}[format_name]
    frame = churn_frame()
    loc = BATCH_LOC[format_name]
    data, content_type = build(frame.head(4))
    assert too_many_rows(invoke(client, data=data, content_type=content_type)) == [
        (loc, "expected at most 3 rows, got 4")
    ]
    data, content_type = build(frame.head(3))
    assert answered(invoke(client, data=data, content_type=content_type)) == {
        "predictions": predicted(client, plain_rows(frame.head(3)))
    }
    data, content_type = build(frame.head(0))
    if format_name == "inputs_columns":
        # Columns with no values; the other formats' zero rows are an empty array.
        assert json.loads(data) == {"inputs": {name: [] for name in CHURN_FEATURES}}
    assert problems(invoke(client, data=data, content_type=content_type)) == [
        (loc, "expected at least 1 row, got none")
    ]


def test_the_default_batch_limit(iris: FlaskClient) -> None:
    split = {"columns": IRIS_FEATURES, "data": [SETOSA] * 1001}
    assert too_many_rows(invoke(iris, {"dataframe_split": split})) == [
        ("dataframe_split.data", "expected at most 1000 rows, got 1001")
    ]
    split["data"] = [SETOSA] * 1000
    assert answered(invoke(iris, {"dataframe_split": split}))["predictions"] == ["setosa"] * 1000


def test_the_first_hundred_problems_are_listed(churn: FlaskClient) -> None:
    row = [*{**CHURN_ROW, "has_partner": "no"}.values()]
    split = {"columns": CHURN_FEATURES, "data": [row] * 300}
    body = refusal(invoke(churn, {"dataframe_split": split}), 400, "BAD_REQUEST")
    assert body["message"] == (
        "The input does not fit the model: more than 100 problems; the first 100 are listed."
    )
    assert [d["loc"] for d in body["details"]] == [
        f"dataframe_split.data[{i}][4]" for i in range(100)
    ]
    # Two problems a row, in reading order.
    response = invoke(churn, data=csv_of(*["3,70.5,weekly,,no,1"] * 300), content_type=CSV)
    body = refusal(response, 400, "BAD_REQUEST")
    assert body["message"] == (
        "The input does not fit the model: more than 100 problems; the first 100 are listed."
    )
    assert [d["loc"] for d in body["details"]][:4] == [
        "csv[0].contract", "csv[0].has_partner", "csv[1].contract", "csv[1].has_partner",
    ]  # fmt: skip
    assert len(body["details"]) == 100


# The body as bytes: JSON, content type, size


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"inputs": [[5.1, 3.5,', "The request body is not valid JSON: Expecting value"),
        (b"{'inputs': [[5.1, 3.5, 1.4, 0.2]]}", "The request body is not valid JSON: Expecting"),
        (
            b'{"inputs": [[5.1, 3.5, 1.4, 0.2]],}',
            "The request body is not valid JSON: Expecting property name enclosed in double "
            "quotes at line 1, column 35.",
        ),
        (b'{"inputs": [["\xff"]]}', "The request body is not valid UTF-8 (byte 14)."),
        (b"", "The request body is empty; expected a JSON object."),
        (b"[" * 100 + b"]" * 100, "The request body nests too deep to parse"),
    ],
)
def test_json_that_cannot_be_read(iris: FlaskClient, data: bytes, message: str) -> None:
    body = refusal(invoke(iris, data=data), 400, "BAD_REQUEST")
    assert body["message"].startswith(message) and "details" not in body


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/vnd.apache.parquet",
        "application/json-seq",
    ],
)
def test_another_content_type_is_415(iris: FlaskClient, content_type: str | None) -> None:
    response = invoke(iris, {"inputs": [SETOSA]}, content_type=content_type)
    received = content_type or "no Content-Type"
    assert refusal(response, 415, "BAD_REQUEST") == {
        "error_code": "BAD_REQUEST",
        "message": f"Expected Content-Type application/json or text/csv, got {received}.",
    }


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json; charset=latin-1", "Expected a UTF-8 body, got charset latin-1."),
        ("application/json; charset=utf-16", "Expected a UTF-8 body, got charset utf-16."),
        ("text/csv; charset=iso-8859-1", "Expected a UTF-8 body, got charset iso-8859-1."),
        # The parameter of MLflow 1's protocol; MLflow 2 and later refuse it too.
        (
            "application/json; format=pandas-split",
            "Content-Type takes no parameter but charset=utf-8; got format.",
        ),
        (
            "text/csv; charset=utf-8; header=present",
            "Content-Type takes no parameter but charset=utf-8; got header.",
        ),
    ],
)
def test_content_type_parameters(iris: FlaskClient, content_type: str, message: str) -> None:
    if content_type.startswith(CSV):
        data, _ = csv_body(iris_frame())
    else:
        data, _ = split_dict(iris_frame())
    response = invoke(iris, data=data, content_type=content_type)
    assert refusal(response, 415, "BAD_REQUEST") == {
        "error_code": "BAD_REQUEST",
        "message": message,
    }


def test_a_body_over_the_size_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_CONTENT_LENGTH="64").test_client()
    expected = {
        "error_code": "REQUEST_LIMIT_EXCEEDED",
        "message": "The request body is larger than the limit of 64 bytes.",
    }
    for data, content_type in (split_dict(iris_frame()), csv_body(iris_frame())):
        response = invoke(client, data=data, content_type=content_type)
        assert refusal(response, 413, "REQUEST_LIMIT_EXCEEDED") == expected


# No error carries the body back, nor a stack trace


# "@" stands for the marker.
@pytest.mark.parametrize(
    ("model", "template", "content_type", "status"),
    [
        ("iris", '{"inputs": [["@", 3.5,', JSON, 400),
        ("iris", '["@"]', JSON, 400),
        ("iris", '{"inputs": [[5.1, 3.5, 1.4, 0.2]], "note": "@"}', JSON, 400),
        ("iris", '{"inputs": [[5.1, 3.5, 1.4, 0.2]], "params": "@"}', JSON, 400),
        ("iris", '{"inputs": "@"}', JSON, 400),
        ("iris", '{"dataframe_split": "@"}', JSON, 400),
        ("iris", '{"dataframe_split": {"columns": ["@"], "data": [[1]]}}', JSON, 400),
        ("iris", '{"instances": [[5.1, "@", 1.4, 0.2]]}', JSON, 400),
        ("iris", '{"instances": [[5.1, 3.5, 1.4], ["@"]]}', JSON, 400),
        ("iris", '{"inputs": [[5.1, 3.5, 1.4, 0.2]], "x": "\xff@"}', JSON, 400),
        ("iris", '{"inputs": [["@"]]}', "text/plain", 415),
        ("iris", '{"inputs": [["@"]]}', "application/json; charset=latin-1", 415),
        ("churn", csv_of('3,70.5,"@'), CSV, 400),
        ("churn", csv_of(GOOD_LINE, header="@," + ",".join(CHURN_FEATURES[1:])), CSV, 400),
        # The culprit is elsewhere in the row; the marker is a valid payment method.
        ("churn", csv_of("x,70.5,month-to-month,@,False,4"), CSV, 400),
        ("churn", csv_of("3,70.5,month-to-month,@,False"), CSV, 400),
        (
            "churn",
            json.dumps({"dataframe_records": [{**CHURN_ROW, "payment_method": "@",
                                               "contract": None}]}),
            JSON,
            400,
        ),
        (
            "churn",
            json.dumps({"inputs": {**{name: [value] for name, value in CHURN_ROW.items()},
                                   "payment_method": ["@"], "has_partner": ["no"]}}),
            JSON,
            400,
        ),
    ],
)  # fmt: skip
def test_no_error_echoes_the_body(
    request: pytest.FixtureRequest, model: str, template: str, content_type: str, status: int
) -> None:
    client: FlaskClient = request.getfixturevalue(model)
    data = template.replace("@", MARKER)
    raw = data.encode("latin-1") if "\xff" in data else data
    response = invoke(client, data=raw, content_type=content_type)
    refusal(response, status, "BAD_REQUEST")
    assert MARKER not in response.get_data(as_text=True)


def test_an_unknown_category_is_shown_only_in_part(churn: FlaskClient) -> None:
    records = [{**CHURN_ROW, "contract": MARKER * 10}]
    response = invoke(churn, {"dataframe_records": records})
    ((loc, msg),) = problems(response)
    assert loc == "dataframe_records[0].contract" and msg.startswith("unknown category")
    assert MARKER * 3 not in response.get_data(as_text=True)


def test_an_unexpected_failure_is_500_without_its_story(
    iris: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError(f"internal detail {MARKER}")

    monkeypatch.setattr(app.protocols.mlflow.routes, "json_rows", broken)
    with caplog.at_level(logging.ERROR, logger="app.core.errors"):
        response = invoke(iris, {"inputs": [SETOSA]})
    assert refusal(response, 500, "INTERNAL_ERROR") == {
        "error_code": "INTERNAL_ERROR",
        "message": "The server hit an unexpected error. It has been logged.",
    }
    assert MARKER not in response.get_data(as_text=True)
    assert MARKER in caplog.text  # the log has the story


# The model, its keys and the other routes


def test_model_unavailable(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    client = make_app(MODEL_PATH=str(tmp_path / "missing.joblib")).test_client()
    for data, content_type in (split_dict(iris_frame()), csv_body(iris_frame())):
        response = invoke(client, data=data, content_type=content_type)
        body = refusal(response, 503, "TEMPORARILY_UNAVAILABLE")
        assert body["message"].startswith("The model is not available: ")
    for path in ("/ping", "/health"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.get_json()["status"] == "unavailable"
    # The server's version needs no model.
    assert client.get("/version").get_data(as_text=True) == SERVER_VERSION


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_ping_and_health(iris: FlaskClient, path: str) -> None:
    response = iris.get(path)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": "1.0.0"}
    assert iris.head(path).status_code == 200


def test_version_is_the_servers(iris: FlaskClient) -> None:
    response = iris.get("/version")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    # app/http/server_info.py is kept equal to pyproject.toml: the bundle has no package metadata.
    assert response.get_data(as_text=True) == SERVER_VERSION == pyproject_version()


def test_api_keys_guard_invocations_but_not_ping(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEYS=API_KEY).test_client()
    body = refusal(invoke(client, {"inputs": [SETOSA]}), 401, "UNAUTHENTICATED")
    assert "x-api-key" in body["message"]
    wrong = client.post("/invocations", json={"inputs": [SETOSA]}, headers={"x-api-key": "x" * 24})
    refusal(wrong, 401, "UNAUTHENTICATED")
    keyed = client.post("/invocations", json={"inputs": [SETOSA]}, headers={"x-api-key": API_KEY})
    assert answered(keyed) == {"predictions": ["setosa"]}
    assert client.get("/ping").status_code == 200


@pytest.mark.parametrize("path", ["/invocations/", "/invocations/extra", "/ping/x", "/version/1"])
def test_not_found_on_mlflow_paths(iris: FlaskClient, path: str) -> None:
    assert refusal(iris.get(path), 404, "ENDPOINT_NOT_FOUND") == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": f"No endpoint at {path}. The API is described at /openapi.json.",
    }


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/invocations", "OPTIONS, POST"),
        ("put", "/invocations", "OPTIONS, POST"),
        ("delete", "/invocations", "OPTIONS, POST"),
        ("post", "/ping", "GET, HEAD, OPTIONS"),
        ("post", "/version", "GET, HEAD, OPTIONS"),
    ],
)
def test_method_not_allowed_on_mlflow_paths(
    iris: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = getattr(iris, method)(path)
    assert refusal(response, 405, "BAD_REQUEST") == {
        "error_code": "BAD_REQUEST",
        "message": f"{method.upper()} is not allowed on {path}. Allowed: {allowed}.",
    }
    assert sorted(response.headers["Allow"].split(", ")) == allowed.split(", ")


def test_other_paths_keep_the_native_shape(iris: FlaskClient) -> None:
    assert set(iris.get("/nowhere").get_json()) == {"error"}
    assert iris.post("/health").get_json()["error"]["code"] == "method_not_allowed"


def test_the_request_log_names_the_protocol(
    churn: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [{**CHURN_ROW, "payment_method": MARKER}] * 3
    with caplog.at_level(logging.INFO, logger="app.access"):
        invoke(churn, {"dataframe_records": rows})
        invoke(churn, data=csv_body(pd.DataFrame(rows))[0], content_type=CSV)
        invoke(churn, {"dataframe_records": [{**rows[0], "contract": "weekly"}]})
        invoke(churn, data="{", content_type=JSON)
        churn.get("/ping")
        churn.get("/version")
        churn.get("/invocations")
        churn.get("/invocations/extra")
        churn.get("/health")
    lines = access_lines(capsys)
    seen = [
        (line["method"], line["path"], line["protocol"], line["status"], line["rows"],
         line["error_code"])
        for line in lines
    ]  # fmt: skip
    assert seen == [
        ("POST", "/invocations", "mlflow", 200, 3, None),
        ("POST", "/invocations", "mlflow", 200, 3, None),
        ("POST", "/invocations", "mlflow", 400, 0, "invalid_input"),
        ("POST", "/invocations", "mlflow", 400, 0, "invalid_json"),
        ("GET", "/ping", "mlflow", 200, 0, None),
        ("GET", "/version", "mlflow", 200, 0, None),
        ("GET", "/invocations", "mlflow", 405, 0, "method_not_allowed"),
        ("GET", "/invocations/extra", "mlflow", 404, 0, "not_found"),
        ("GET", "/health", "native", 200, 0, None),
    ]
    assert [line["model_version"] for line in lines[:3]] == ["1.0.0"] * 3
    assert MARKER not in caplog.text
