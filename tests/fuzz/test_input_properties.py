"""Property tests of the input contract: whatever arrives, a clean matrix or a 4xx.

Hypothesis generates JSON values of every kind, request-shaped ones among them, and
writes them as JSON text that may also hold what Python's json module reads but JSON
does not allow (NaN, Infinity, -Infinity) and numbers beyond float64 (1e400, integers of
hundreds or thousands of digits). Derandomized, with no example database, and a
bounded number of examples per property.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from support.iris import IRIS_FEATURES

from app.core.decoding import NonFiniteNumber, parse_json
from app.core.errors import ApiError
from app.core.json_depth import nesting_depth, nests_deeper_than
from app.core.model_input import to_model_input
from app.core.schema import Schema
from app.core.validation import MAX_DETAILS
from app.factory import create_app
from app.protocols.native.decoding import (
    ALLOWED_FIELDS,
    InputSchema,
    PredictRequest,
    parse_predict_request,
)

settings.register_profile(
    "input-properties",
    database=None,  # nothing written to the repository
    derandomize=True,  # the same examples on every run
    deadline=None,  # timing is not a property
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("input-properties")


@dataclass(frozen=True)
class Raw:
    """A number written verbatim into the JSON text: one a float64 cannot hold."""

    literal: str


NOT_FLOAT64 = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1E+309",
        "1.7976931348623159e308",
        "-2.5e308",
        "9" * 400,
        "-" + "9" * 400,
        "1" + "0" * 5000,
        "0." + "0" * 400 + "1e999",
    ]
).map(Raw)
FINITE_NUMBERS = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, 10**308]),
)
# Integers past float64 are valid JSON; only their decoding says they cannot be used.
NUMBERS = st.one_of(FINITE_NUMBERS, st.integers(-(10**400), 10**400), NOT_FLOAT64)
# What a caller other than parse_json might hand over: json.loads gives NaN and
# infinities as floats, and integers of any length (up to what repr() can print).
PYTHON_NUMBERS = st.one_of(
    FINITE_NUMBERS,
    st.floats(),
    st.integers(-(10**4000), 10**4000),
    NOT_FLOAT64.map(lambda raw: NonFiniteNumber(raw.literal)),
)
STRINGS = st.text(st.sampled_from('[]{}"\\:, ab\u00e9\u2028') | st.characters(), max_size=12)
KEYS = st.sampled_from([*ALLOWED_FIELDS, *IRIS_FEATURES]) | STRINGS


def json_values(numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), st.booleans(), numbers, STRINGS),
        lambda inner: st.lists(inner, max_size=6) | st.dictionaries(KEYS, inner, max_size=6),
        max_leaves=40,
    )


def payloads(numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Any JSON value, often shaped like a request: right, nearly right, or wrong."""
    anything = json_values(numbers)
    scalars = st.one_of(st.none(), st.booleans(), numbers, STRINGS)
    rows = st.one_of(
        st.lists(numbers | scalars, min_size=3, max_size=5),
        st.dictionaries(st.sampled_from(IRIS_FEATURES) | KEYS, numbers | scalars, max_size=5),
        st.fixed_dictionaries({name: numbers for name in IRIS_FEATURES}),
        anything,
    )
    # The right shape, with any of the numbers in it.
    shaped_rows = st.lists(numbers, min_size=4, max_size=4) | st.fixed_dictionaries(
        {name: numbers for name in IRIS_FEATURES}
    )
    well_shaped = st.builds(
        lambda fields, flag: {**fields, **flag},
        st.fixed_dictionaries({"features": shaped_rows})
        | st.fixed_dictionaries({"instances": st.lists(shaped_rows, min_size=1, max_size=7)}),
        st.fixed_dictionaries({}, optional={"return_probabilities": st.booleans()}),
    )
    request_like = st.builds(
        lambda fields, extra: {**extra, **fields},
        st.fixed_dictionaries(
            {},
            optional={
                "features": rows,
                "instances": st.lists(rows, max_size=7) | anything,
                "return_probabilities": st.booleans() | scalars,
            },
        ),
        st.dictionaries(KEYS, anything, max_size=2),
    )
    return st.one_of(well_shaped, request_like, anything)


JSON_VALUES = json_values(NUMBERS)
PAYLOADS = payloads(NUMBERS)

FINITE_VALUES = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**300), 10**300)
VALID_ROWS = st.lists(FINITE_VALUES, min_size=4, max_size=4) | st.fixed_dictionaries(
    {name: FINITE_VALUES for name in IRIS_FEATURES}
)
PROBABILITY_FLAG = st.fixed_dictionaries({}, optional={"return_probabilities": st.booleans()})


IRIS_SCHEMA = Schema.numeric(IRIS_FEATURES)
IRIS = InputSchema(schema=IRIS_SCHEMA, supports_probabilities=True, max_rows=6)


def schemas(max_rows: int = 6) -> st.SearchStrategy[InputSchema]:
    return st.builds(
        InputSchema,
        schema=st.just(IRIS_SCHEMA),
        supports_probabilities=st.booleans(),
        max_rows=st.integers(1, max_rows),
    )


@st.composite
def valid_requests(draw: st.DrawFn, max_rows: int) -> dict[str, Any]:
    flag = draw(PROBABILITY_FLAG)
    if draw(st.booleans()):
        return {"features": draw(VALID_ROWS), **flag}
    return {"instances": draw(st.lists(VALID_ROWS, min_size=1, max_size=max_rows)), **flag}


def to_json(value: Any, compact: bool = True, ascii_only: bool = True) -> str:
    """JSON text for a value, with Raw numbers written as they are."""
    comma, colon = (",", ":") if compact else (", ", ": ")
    if isinstance(value, Raw):
        return value.literal
    if isinstance(value, dict):
        items = (
            json.dumps(key, ensure_ascii=ascii_only) + colon + to_json(item, compact, ascii_only)
            for key, item in value.items()
        )
        return "{" + comma.join(items) + "}"
    if isinstance(value, list):
        return "[" + comma.join(to_json(item, compact, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def decoded(value: Any) -> Any:
    """What parse_json should give for to_json(value): numbers past float64 as markers."""
    if isinstance(value, Raw):
        return NonFiniteNumber(value.literal)
    if isinstance(value, dict):
        return {key: decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decoded(item) for item in value]
    if type(value) is int and not math.isfinite(float(str(value))):
        return NonFiniteNumber(str(value))
    return value


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    return 0


def expected_rows(payload: dict[str, Any], features: Sequence[str]) -> list[list[float]]:
    given_rows = payload["instances"] if "instances" in payload else [payload["features"]]
    return [
        [float(row[name]) for name in features]
        if isinstance(row, dict)
        else [float(item) for item in row]
        for row in given_rows
    ]


def check_accepted(payload: Any, schema: InputSchema, parsed: PredictRequest) -> None:
    assert isinstance(payload, dict)
    rows = to_model_input(parsed.rows, schema.schema)
    assert rows.dtype == np.float64
    assert rows.shape[1:] == (len(schema.schema.features),)
    assert 1 <= rows.shape[0] <= schema.max_rows
    assert np.isfinite(rows).all()
    assert parsed.batch == ("instances" in payload)
    if not parsed.batch:
        assert rows.shape[0] == 1
    assert rows.tolist() == expected_rows(payload, schema.schema.names)
    assert parsed.return_probabilities is payload.get("return_probabilities", False)
    assert schema.supports_probabilities or not parsed.return_probabilities


def check_refused(error: ApiError) -> None:
    # A batch over the row limit is a 413 naming it; anything else that does not fit, a 422.
    assert (error.status, error.code) in ((422, "invalid_input"), (413, "too_many_rows"))
    assert error.message
    assert 1 <= len(error.details) <= (MAX_DETAILS if error.status == 422 else 1)
    for detail in error.details:
        assert isinstance(detail.loc, str) and detail.loc
        assert isinstance(detail.msg, str) and detail.msg


def check_outcome(payload: Any, schema: InputSchema) -> None:
    try:
        parsed = parse_predict_request(payload, schema)
    except ApiError as error:
        event("refused")
        check_refused(error)
        return
    event("accepted")
    check_accepted(payload, schema, parsed)


# parse_predict_request


@FUZZ
@given(payload=PAYLOADS, schema=schemas(), compact=st.booleans())
def test_any_json_body_is_a_clean_matrix_or_a_422(
    payload: Any, schema: InputSchema, compact: bool
) -> None:
    body = to_json(payload, compact).encode()
    try:
        value = parse_json(body)
    except ApiError as error:  # only for nesting past the default bound
        assert (error.status, error.code) == (400, "invalid_json")
        assert depth(payload) > 32
        return
    check_outcome(value, schema)


@FUZZ
@given(payload=payloads(PYTHON_NUMBERS), schema=schemas())
@example(payload={"features": [math.nan, 1, 1, 1]}, schema=IRIS)
@example(payload={"instances": [[1, 1, 1, 1], [1, -math.inf, 1, 1]]}, schema=IRIS)
@example(payload={"features": [1, 1, 10**400, 1]}, schema=IRIS)
def test_any_python_value_is_a_clean_matrix_or_a_422(payload: Any, schema: InputSchema) -> None:
    """Called directly, with what json.loads could give: NaN, inf, integers of any size."""
    check_outcome(payload, schema)


@FUZZ
@given(data=st.data(), schema=schemas())
def test_every_valid_request_is_accepted_with_its_values(
    data: st.DataObject, schema: InputSchema
) -> None:
    payload = data.draw(valid_requests(schema.max_rows))
    if not schema.supports_probabilities:
        payload.pop("return_probabilities", None)
    body = to_json(payload, compact=data.draw(st.booleans())).encode()
    check_accepted(payload, schema, parse_predict_request(parse_json(body), schema))


# parse_json


@FUZZ
@given(value=JSON_VALUES, compact=st.booleans(), ascii_only=st.booleans(), limit=st.integers(0, 8))
def test_json_text_decodes_to_its_value(
    value: Any, compact: bool, ascii_only: bool, limit: int
) -> None:
    try:
        body = to_json(value, compact, ascii_only).encode()
    except UnicodeEncodeError:  # a lone surrogate can only be written escaped
        body = to_json(value, compact).encode()
    assert nesting_depth(body) == depth(value)
    assert nests_deeper_than(body, limit) == (depth(value) > limit)
    if depth(value) > 32:
        with pytest.raises(ApiError, match="nests too deep"):
            parse_json(body)
    else:
        assert parse_json(body) == decoded(value)


@st.composite
def damaged_json(draw: st.DrawFn) -> bytes:
    """Valid JSON text with a few bytes changed, inserted or cut: nearly a body."""
    body = bytearray(to_json(draw(PAYLOADS)).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        byte = draw(st.sampled_from(b'[]{}",:\\ 0e-.\xff\xc3') | st.integers(0, 255))
        match draw(st.sampled_from(["insert", "replace", "cut"])):
            case "insert":
                body[at:at] = bytes([byte])
            case "replace":
                body[at : at + 1] = bytes([byte])
            case "cut":
                del body[at:]
    return bytes(body)


@FUZZ
@given(body=st.binary(max_size=200) | damaged_json())
def test_any_bytes_are_a_value_or_a_400(body: bytes) -> None:
    try:
        value = parse_json(body)
    except ApiError as error:
        assert (error.status, error.code) == (400, "invalid_json")
        assert error.message and not error.details
        return
    assert nesting_depth(body) <= 32
    json.dumps(value, default=lambda marker: marker.literal)  # plain JSON types, or markers


# The whole app, through Flask's test client


@dataclass(frozen=True)
class Service:
    client: FlaskClient
    error_schema: Draft202012Validator


@pytest.fixture(scope="module")
def small_limits() -> Service:
    """The app with limits small enough that generated bodies reach every one of them."""
    app = create_app({"MAX_CONTENT_LENGTH": "2048", "MAX_BATCH_ROWS": "4", "MAX_JSON_DEPTH": "5"})
    client = app.test_client()
    components = client.get("/openapi.json").get_json()["components"]
    error = {"$ref": "#/components/schemas/Error", "components": components}
    return Service(client, Draft202012Validator(error))


CODES = {400: "invalid_json", 413: "payload_too_large", 422: "invalid_input"}
# A body within the size limit that holds more rows than the row limit.
ROWS_CODE = "too_many_rows"


BODIES = st.one_of(
    PAYLOADS.map(to_json).map(str.encode),
    # Wrapped in more levels than the small depth limit allows, or only just not.
    st.builds(
        lambda value, levels: ("[" * levels + to_json(value) + "]" * levels).encode(),
        PAYLOADS,
        st.integers(1, 6),
    ),
    damaged_json(),
)


@settings(FUZZ, max_examples=200)
@given(body=BODIES)
def test_any_body_gets_200_or_a_documented_error(small_limits: Service, body: bytes) -> None:
    response = small_limits.client.post("/predict", data=body, content_type="application/json")
    event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code in (200, 400, 413, 422)
    assert response.mimetype == "application/json"
    answer = response.get_json()
    if response.status_code == 200:
        assert set(answer) <= {"prediction", "predictions", "probabilities", "model_version"}
        assert ("prediction" in answer) != ("predictions" in answer)
        return
    small_limits.error_schema.validate(answer)
    if response.status_code == 413 and len(body) <= 2048:
        assert answer["error"]["code"] == ROWS_CODE
    else:
        assert answer["error"]["code"] == CODES[response.status_code]
    if response.status_code == 422:
        assert answer["error"]["details"]


@pytest.mark.parametrize(
    "literal",
    [
        "1e400", "-1E+309", "1.7976931348623159e308",  # a three-digit exponent
        "1" + "0" * 250 + "e99",  # a two-digit exponent behind 251 digits
        "9" * 309 + ".5",  # no exponent at all
        "1" + "0" * 5000,  # an integer too long for int()
    ],
)  # fmt: skip
def test_every_literal_beyond_float64_is_kept_as_written(literal: str) -> None:
    # The C scanner alone reads bodies that cannot hold such a literal; these must not
    # slip through it as inf or a ValueError.
    assert parse_json(f'{{"features": [1, {literal}]}}'.encode()) == {
        "features": [1, NonFiniteNumber(literal)]
    }


def test_numbers_that_fit_float64_are_read_exactly_by_either_path() -> None:
    values = [0.1, -2.5e-300, 1.7976931348623157e308, 12345678901234567890, 5e-324]
    plain = json.dumps(values).encode()
    with_a_look_alike = json.dumps({"v": values, "s": "e+000 " + "0" * 200}).encode()
    assert parse_json(plain) == values
    assert parse_json(with_a_look_alike)["v"] == values
