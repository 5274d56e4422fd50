"""A body read by the schema's own type (app.core.typed_rows) gives exactly what the
general path gives: the same rows, of the same types and dtypes, bit for bit.

The typed path may decline any body (the general path then reads it, and refuses it
if it must); what it must never do is accept a body the general path refuses, or read
one differently. Hypothesis generates schemas of every feature type and bodies built
as text, mostly valid, with the awkward cases weighted in: values of the wrong type,
nulls, rows too short or too long, unknown, missing and repeated members, integers
written as floats, numbers at and beyond float64's ends, text beyond ASCII. And the
typed path must be the one a valid body of the usual shape takes. Derandomized, no
example database.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.schema_strategies import schemas, valid_value, wrong_value

from app.core.decoding import msgspec_reads_exactly, parse_json
from app.core.errors import ApiError
from app.core.metadata import ModelMetadata
from app.core.predictor import Predictor
from app.core.schema import Feature, Schema
from app.core.typed_rows import row_type
from app.core.validation import Rows
from app.protocols.mlflow.decoding import json_rows, nan_is_missing, typed_json_rows
from app.protocols.native.decoding import (
    InputSchema,
    PredictRequest,
    parse_predict_request,
    typed_predict_request,
)
from app.protocols.v2.decoding import parse_infer_request, typed_infer_request

settings.register_profile(
    "typed-rows",
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow],
)
TYPED_ROWS = settings.get_profile("typed-rows")

# Literals written as they are, beside json.dumps of generated values.
AWKWARD_LITERALS = ["1e400", "-1e400", "1e-400", "NaN", "Infinity", "-0", "-0.0", "6.0", "1E2",
                    "9" * 320, "1" * 308, "9223372036854775807", "9223372036854775808",
                    "-9223372036854775809", '"\\ud800"', '"\\u00e9"', "[]", "{}"]  # fmt: skip


@st.composite
def value_text(draw: st.DrawFn, feature: Feature, clean: bool = False) -> str:
    choice = 9 if clean else draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.sampled_from(AWKWARD_LITERALS))
    value = draw(wrong_value(feature) if choice == 1 else valid_value(feature))
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


@st.composite
def row_text(
    draw: st.DrawFn, schema: Schema, clean: bool = False, keyed: bool | None = None
) -> str:
    """A row; a clean one is valid, with every feature once and nothing else."""
    values = [draw(value_text(feature, clean)) for feature in schema.features]
    if not clean and draw(st.integers(0, 9)) == 0:  # a value too many or too few
        values = values[:-1] if draw(st.booleans()) else [*values, "1"]
    if not (draw(st.booleans()) if keyed is None else keyed):
        return "[" + ",".join(values) + "]"
    names = [json.dumps(name) for name in schema.names]
    members = list(zip(names, values, strict=False))
    if not clean and draw(st.integers(0, 9)) == 0:  # a member repeated, another value
        members.append((names[0], draw(value_text(schema.features[0]))))
    if not clean and draw(st.integers(0, 9)) == 0:
        members.append(('"unknown"', "1"))
    members = draw(st.permutations(members))
    return "{" + ", ".join(f"{key}: {value}" for key, value in members) + "}"


@st.composite
def body_text(draw: st.DrawFn, schema: Schema) -> bytes:
    """A /predict body; half are valid, to be read by the typed path."""
    clean = draw(st.booleans())
    members = []
    shapes = ["features", "instances"] + ([] if clean else ["both", "neither"])
    shape = draw(st.sampled_from(shapes))
    if shape in ("features", "both"):
        members.append('"features": ' + draw(row_text(schema, clean)))
    if shape in ("instances", "both"):
        rows = draw(st.lists(row_text(schema, clean), min_size=int(clean), max_size=4))
        members.append('"instances": [' + ", ".join(rows) + "]")
    flag = draw(st.sampled_from([None, "true", "false"] + ([] if clean else ["null", "1"])))
    if flag is not None:
        members.append(f'"return_probabilities": {flag}')
    members = draw(st.permutations(members))
    return ("{" + ", ".join(members) + "}").encode("utf-8", "surrogatepass")


def general(body: bytes, expected: InputSchema) -> PredictRequest | tuple[str, str]:
    try:
        return parse_predict_request(parse_json(body), expected)
    except ApiError as error:
        return error.code, error.message


def assert_same_rows(typed: Rows, general_rows: Rows) -> None:
    assert typed.count == general_rows.count
    if typed.matrix is not None:
        # The general path builds a matrix too, or, for a batch of arrays and objects
        # mixed, its float64 columns.
        theirs = general_rows.matrix
        if theirs is None:
            assert all(column.dtype == np.float64 for column in general_rows.columns)
            theirs = np.column_stack(general_rows.columns)
        assert typed.matrix.dtype == theirs.dtype
        assert typed.matrix.tobytes() == np.ascontiguousarray(theirs).tobytes()
        return
    assert general_rows.matrix is None
    assert len(typed.columns) == len(general_rows.columns)
    for mine, theirs in zip(typed.columns, general_rows.columns, strict=True):
        assert type(mine) is type(theirs)
        if isinstance(theirs, np.ndarray):
            assert mine.dtype == theirs.dtype
            assert mine.tobytes() == theirs.tobytes()
        else:
            assert [_exactly(value) for value in mine] == [_exactly(value) for value in theirs]


def _exactly(value: Any) -> Any:
    if isinstance(value, float):
        return "float", math.copysign(1.0, value), value
    return type(value).__name__, value


@TYPED_ROWS
@given(data=st.data(), schema=schemas(), probabilities=st.booleans())
def test_the_typed_path_reads_only_what_the_general_path_accepts_and_the_same(
    data: st.DataObject, schema: Schema, probabilities: bool
) -> None:
    expected = InputSchema(schema, supports_probabilities=probabilities, max_rows=3)
    body = data.draw(body_text(schema))
    typed = typed_predict_request(body, expected)
    if typed is None:
        return  # the general path reads it, as it always did
    reference = general(body, expected)
    assert isinstance(reference, PredictRequest), (body, reference)
    assert (typed.batch, typed.return_probabilities) == (
        reference.batch,
        reference.return_probabilities,
    )
    assert_same_rows(typed.rows, reference.rows)


@st.composite
def invocations_text(draw: st.DrawFn, schema: Schema) -> bytes:
    """An /invocations body; half are valid, to be read by the typed path."""
    clean = draw(st.booleans())
    members = []
    formats = ["dataframe_split", "dataframe_records", "instances"]
    keys = (
        [draw(st.sampled_from(formats))]
        if clean
        else draw(st.lists(st.sampled_from([*formats, "params"]), max_size=2))
    )
    for key in keys:
        keyed = {"dataframe_split": False, "dataframe_records": True}.get(key) if clean else None
        row = row_text(schema, clean, keyed)
        rows = draw(st.lists(row, min_size=int(clean), max_size=4))
        if key == "dataframe_split":
            split = ['"data": [' + ", ".join(rows) + "]"]
            names = list(schema.names)
            wrong = [] if clean else [names[::-1], [*names, "extra"]]
            columns = draw(st.sampled_from([None, names, *wrong]))
            if columns is not None:
                split.append('"columns": ' + json.dumps(columns))
            members.append('"dataframe_split": {' + ", ".join(draw(st.permutations(split))) + "}")
        elif key == "params":
            members.append('"params": {"a": 1}')
        else:
            members.append(f'"{key}": [' + ", ".join(rows) + "]")
    return ("{" + ", ".join(members) + "}").encode("utf-8", "surrogatepass")


@TYPED_ROWS
@given(data=st.data(), schema=schemas())
def test_the_typed_path_of_invocations_reads_as_the_general_path(
    data: st.DataObject, schema: Schema
) -> None:
    body = data.draw(invocations_text(schema))
    typed = typed_json_rows(body, schema, max_rows=3)
    if typed is None:
        return
    try:
        rows, row_loc = json_rows(parse_json(body, parse_constant=nan_is_missing), schema, 3)
    except ApiError as error:
        raise AssertionError((body, error.code, error.message)) from None
    assert_same_rows(typed[0], rows)
    assert [typed[1](index) for index in range(rows.count)] == list(map(row_loc, range(rows.count)))


IRIS = Schema.numeric(["sepal_length", "sepal_width", "petal_length", "petal_width"])
CHURN = Schema(
    (
        Feature("tenure_months", "integer"),
        Feature("monthly_charges", "number"),
        Feature("contract", "string", categories=("month-to-month", "one-year"),
                accepts_unknown=False),
        Feature("payment_method", "string", nullable=True, categories=("card",)),
        Feature("has_partner", "boolean"),
        Feature("support_calls", "number", nullable=True),
    ),
    "dataframe",
)  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (IRIS, {"features": [5.1, 3.5, 1.4, 0.2]}),
        (IRIS, {"instances": [[5.1, 3.5, 1.4, 0.2], [6, 3, 4, 1]], "return_probabilities": True}),
        (IRIS, {"instances": [dict(zip(IRIS.names, [5, 3, 1, 0], strict=True)), [1, 2, 3, 4]]}),
        (CHURN, {"instances": [
            {"tenure_months": 6, "monthly_charges": 59.16, "contract": "one-year",
             "payment_method": None, "has_partner": False, "support_calls": None},
            [27, 58, "month-to-month", "wire", True, 4.0],
        ]}),
        (CHURN, {"features": {"tenure_months": -1, "monthly_charges": 0, "contract": "one-year",
                              "payment_method": "card", "has_partner": True,
                              "support_calls": 2}}),
    ],
)  # fmt: skip
def test_a_valid_body_of_the_usual_shape_takes_the_typed_path(
    schema: Schema, body: dict[str, Any]
) -> None:
    expected = InputSchema(schema, supports_probabilities=True, max_rows=10)
    text = json.dumps(body).encode()
    typed = typed_predict_request(text, expected)
    assert typed is not None
    reference = general(text, expected)
    assert isinstance(reference, PredictRequest)
    assert_same_rows(typed.rows, reference.rows)


@pytest.mark.parametrize(
    "feature",
    [
        Feature("when", "datetime", dtype="datetime64[ns]"),
        Feature("size", "number", categories=(1.0, 2.0), accepts_unknown=False),
        Feature("code", "string", categories=("a\ud800",), accepts_unknown=False),
        Feature('say "when"'),  # a name msgspec cannot match a member by
    ],
)
def test_features_the_type_cannot_say_leave_it_to_the_general_path(feature: Feature) -> None:
    assert row_type(Schema((feature,), "dataframe")) is None


@example(digits=500_000)
@given(digits=st.integers(309, 2_000))
@settings(database=None, derandomize=True, max_examples=20, deadline=None)
def test_a_float_of_many_digits_is_read_by_the_standard_library(digits: int) -> None:
    # msgspec reads "0.000...1e500000" as 0.0 where it is 0.1: such a body is declined.
    literal = "0." + "0" * digits + f"1e{digits}"
    body = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]}).replace("5.1", literal).encode()
    expected = InputSchema(IRIS, supports_probabilities=False, max_rows=1)
    assert typed_predict_request(body, expected) is None
    reference = general(body, expected)
    assert isinstance(reference, PredictRequest) and reference.rows.matrix is not None
    assert reference.rows.matrix[0, 0] == 0.1


@given(
    size=st.integers(32 * 1024, 40 * 1024),
    run=st.integers(150, 420),
    where=st.floats(0, 1),
)
@example(size=32 * 1024, run=309, where=1.0)  # the run ends the body, in its short tail
@example(size=33_000, run=309, where=0.0)
@example(size=40_000, run=308, where=0.5)
@settings(database=None, derandomize=True, max_examples=300, deadline=None)
def test_a_large_body_is_declined_exactly_when_it_holds_a_run_of_309_digits(
    size: int, run: int, where: float
) -> None:
    # Large bodies are screened by blocks first; the answer must be the plain scan's.
    start = round((size - run) * where)
    body = b"x" * start + b"7" * run + b"x" * (size - run - start)
    assert msgspec_reads_exactly(body) == (run < 309)


def test_a_large_batch_with_one_float_of_many_digits_is_read_by_the_standard_library() -> None:
    literal = "0." + "0" * 500_000 + "1e500000"
    rows = [[5.1, 3.5, 1.4, 0.2]] * 2_000 + [[literal, 3.5, 1.4, 0.2]]
    body = json.dumps({"instances": rows}).replace(f'"{literal}"', literal).encode()
    expected = InputSchema(IRIS, supports_probabilities=False, max_rows=3_000)
    assert typed_predict_request(body, expected) is None
    reference = general(body, expected)
    assert isinstance(reference, PredictRequest) and reference.rows.matrix is not None
    assert reference.rows.matrix[-1, 0] == 0.1


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": list(IRIS.names), "data": [[5.1, 3.5, 1.4, 0.2]] * 2}},
        {"dataframe_split": {"data": [[5.1, 3.5, 1.4, 0.2]]}},
        {"dataframe_records": [dict(zip(IRIS.names, [5, 3, 1, 0], strict=True))]},
        {"instances": [[5.1, 3.5, 1.4, 0.2], dict(zip(IRIS.names, [5, 3, 1, 0], strict=True))]},
    ],
)
def test_a_valid_invocations_body_of_the_usual_shape_takes_the_typed_path(
    body: dict[str, Any],
) -> None:
    text = json.dumps(body).encode()
    typed = typed_json_rows(text, IRIS, max_rows=10)
    assert typed is not None
    rows, row_loc = json_rows(parse_json(text, parse_constant=nan_is_missing), IRIS, 10)
    assert_same_rows(typed[0], rows)
    assert typed[1](1) == row_loc(1)


@pytest.fixture(scope="module")
def iris_predictor() -> Predictor:
    model = Path(__file__).parents[2] / "model"
    return Predictor.load(model / "model.joblib", ModelMetadata.read(model / "model.json"))


@st.composite
def infer_text(draw: st.DrawFn, width: int) -> bytes:
    """An infer request's JSON; half are of the usual shape, to be read by the typed path."""
    clean = draw(st.booleans())
    rows = draw(st.integers(1 if clean else 0, 4))
    values = [draw(value_text(Feature("x"), clean)) for _ in range(rows * width)]
    if not clean and draw(st.integers(0, 4)) == 0:
        values = values[1:]
    shapes = [[rows, width], [rows], [width, rows], [rows, width, 1], [-rows, width]]
    shape = [rows, width] if clean else draw(st.sampled_from(shapes))
    tensor = [f'"name": {json.dumps(draw(st.sampled_from(["input-0", "sepal_length", "x"])))}',
              f'"shape": {json.dumps(shape)}',
              f'"datatype": {json.dumps(draw(st.sampled_from(["FP64"] * 3 + ["FP32", "INT64"])))}',
              '"data": [' + ", ".join(values) + "]"]  # fmt: skip
    if not clean and draw(st.integers(0, 4)) == 0:
        tensor.append('"parameters": {}')
    members = ['"inputs": [{' + ", ".join(draw(st.permutations(tensor))) + "}]"]
    if draw(st.booleans()):
        members.append('"id": ' + json.dumps(draw(st.text(max_size=4) | st.just("a" * 257))))
    if draw(st.booleans()):
        names = st.sampled_from(["predict", "predict_proba"] + ([] if clean else ["other"]))
        outputs = draw(st.lists(names, max_size=3, unique=clean))
        members.append('"outputs": ' + json.dumps([{"name": name} for name in outputs]))
    return ("{" + ", ".join(draw(st.permutations(members))) + "}").encode()


@TYPED_ROWS
@given(data=st.data())
def test_the_typed_path_of_infer_reads_as_the_general_path(
    data: st.DataObject, iris_predictor: Predictor
) -> None:
    header = data.draw(infer_text(len(iris_predictor.schema.names)))
    typed = typed_infer_request(header, b"", iris_predictor, max_rows=3)
    if typed is None:
        return
    try:
        reference = parse_infer_request(parse_json(header), b"", iris_predictor, 3, 10**6)
    except ApiError as error:
        raise AssertionError((header, error.code, error.message)) from None
    assert (typed.id, typed.outputs) == (reference.id, reference.outputs)
    assert_same_rows(typed.rows, reference.rows)
    assert [typed.row_loc(i) for i in range(3)] == [reference.row_loc(i) for i in range(3)]
