"""Turns a request body into a float64 matrix for the model, or a precise error.

Validation happens here, once: the predictor only ever sees clean arrays.
Every problem in a body is reported, each with where it is and why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Request

from app.config import DEFAULT_MAX_JSON_DEPTH
from app.errors import ApiError, Detail
from app.json_depth import nests_deeper_than

ALLOWED_FIELDS = ("features", "instances", "return_probabilities")
# A bad batch can hold thousands of problems; the first ones are enough to act on.
MAX_DETAILS = 100
# Member names shown as they are in a detail's loc; any other name is quoted.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MODEL_OVERFLOW = "the model cannot compute a finite result for these values (numeric overflow)"


@dataclass(frozen=True)
class InputSchema:
    """What a valid request looks like for the loaded model."""

    features: Sequence[str]
    supports_probabilities: bool
    max_rows: int


@dataclass(frozen=True)
class PredictRequest:
    rows: np.ndarray  # shape (n_rows, n_features), float64, all finite
    batch: bool
    return_probabilities: bool


@dataclass(frozen=True)
class NonFiniteNumber:
    """A number JSON cannot carry as a float64: NaN, Infinity, or out of range.

    Python's json module accepts these; they are kept as markers so the
    validator can report where they are instead of failing the whole body.
    """

    literal: str

    def describe(self) -> str:
        shown = self.literal if len(self.literal) <= 32 else self.literal[:29] + "..."
        if self.literal in ("NaN", "Infinity", "-Infinity"):
            return f"{shown} is not a JSON number; values must be finite"
        return f"{shown} is beyond the float64 range"


def read_json(request: Request, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """The request's JSON document: 415 if it is not JSON, 400 if it does not parse."""
    if request.mimetype != "application/json":
        received = request.mimetype or "no Content-Type"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Expected Content-Type application/json, got {received}.",
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(
            415, "unsupported_media_type", f"Expected a UTF-8 body, got charset {charset}."
        )
    return parse_json(request.get_data(cache=False), max_depth)


def parse_json(body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """The decoded body, or a 400 saying why there is none.

    Numbers keep to float64: literals beyond it, of any length, become NonFiniteNumber
    markers in time linear in their length. Nesting is bounded before parsing, since
    the parser recurses once per level.
    """
    if not body.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; expected a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, "invalid_json", f"The request body is not valid UTF-8 (byte {error.start})."
        ) from None
    if nests_deeper_than(body, max_depth):
        raise ApiError(
            400,
            "invalid_json",
            f"The request body nests too deep to parse: more than {max_depth} levels "
            "of arrays and objects.",
        )
    try:
        return json.loads(
            text,
            parse_constant=NonFiniteNumber,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            "invalid_json",
            f"The request body is not valid JSON: {error.msg} "
            f"at line {error.lineno}, column {error.colno}.",
        ) from None


def _parse_float(literal: str) -> float | NonFiniteNumber:
    value = float(literal)
    return value if math.isfinite(value) else NonFiniteNumber(literal)


def _parse_int(literal: str) -> int | NonFiniteNumber:
    # float() first: it reads a literal of any length in linear time, while int()
    # refuses literals over 4300 digits. Only literals of at most 309 digits are
    # finite (JSON allows no leading zeros), so int() only ever sees those.
    if math.isfinite(float(literal)):
        return int(literal)
    return NonFiniteNumber(literal)


def parse_predict_request(payload: Any, schema: InputSchema) -> PredictRequest:
    """Validate a decoded body against the model's schema; 422 lists every problem."""
    problems: list[Detail] = []
    if not isinstance(payload, dict):
        raise _invalid([Detail("body", f"expected a JSON object, got {_kind(payload)}")])

    for key in payload:
        if key not in ALLOWED_FIELDS:
            problems.append(
                Detail(_member(None, key), f"unknown field; allowed: {', '.join(ALLOWED_FIELDS)}")
            )

    return_probabilities = payload.get("return_probabilities", False)
    if not isinstance(return_probabilities, bool):
        problems.append(
            Detail(
                "return_probabilities", f"expected true or false, got {_kind(return_probabilities)}"
            )
        )
        return_probabilities = False
    elif return_probabilities and not schema.supports_probabilities:
        problems.append(
            Detail("return_probabilities", "this model is not a classifier with predict_proba")
        )

    rows: list[list[float]] = []
    has_features, has_instances = "features" in payload, "instances" in payload
    if has_features == has_instances:
        problems.append(
            Detail(
                "body",
                "expected exactly one of 'features' (one row) or 'instances' (a batch of rows)",
            )
        )
    elif has_features:
        _collect_row(payload["features"], "features", schema.features, rows, problems)
    else:
        _collect_batch(payload["instances"], schema, rows, problems)

    if problems:
        raise _invalid(problems)
    return PredictRequest(
        rows=np.array(rows, dtype=np.float64),
        batch=has_instances,
        return_probabilities=return_probabilities,
    )


def _collect_batch(
    instances: Any, schema: InputSchema, rows: list[list[float]], problems: list[Detail]
) -> None:
    if not isinstance(instances, list):
        problems.append(Detail("instances", f"expected an array of rows, got {_kind(instances)}"))
    elif not instances:
        problems.append(Detail("instances", "expected at least 1 row, got an empty array"))
    elif len(instances) > schema.max_rows:
        # Checked before the rows: an oversized batch is not worth validating.
        problems.append(
            Detail("instances", f"expected at most {schema.max_rows} rows, got {len(instances)}")
        )
    else:
        for index, row in enumerate(instances):
            _collect_row(row, f"instances[{index}]", schema.features, rows, problems)


def _collect_row(
    row: Any,
    loc: str,
    features: Sequence[str],
    rows: list[list[float]],
    problems: list[Detail],
) -> None:
    if isinstance(row, list):
        if len(row) != len(features):
            problems.append(
                Detail(
                    loc,
                    f"expected {len(features)} values ({', '.join(features)}), got {len(row)}",
                )
            )
            return
        values = [_number(value, f"{loc}[{i}]", problems) for i, value in enumerate(row)]
    elif isinstance(row, dict):
        for name in row:
            if name not in features:
                problems.append(
                    Detail(_member(loc, name), f"unknown feature; expected {', '.join(features)}")
                )
        values = []
        for name in features:
            if name in row:
                values.append(_number(row[name], _member(loc, name), problems))
            else:
                problems.append(Detail(_member(loc, name), "missing feature"))
    else:
        problems.append(
            Detail(
                loc,
                f"expected an array of {len(features)} numbers or an object keyed by "
                f"feature name, got {_kind(row)}",
            )
        )
        return
    rows.append(values)


def _number(value: Any, loc: str, problems: list[Detail]) -> float:
    # Exact type checks: bool is a subclass of int, and must not pass as 0 or 1.
    # parse_json has already turned what float64 cannot hold into NonFiniteNumber; the
    # float and int checks keep that promise for values decoded any other way.
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
        literal = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        problems.append(Detail(loc, NonFiniteNumber(literal).describe()))
    elif kind is int:
        try:
            return float(value)
        except OverflowError:
            problems.append(
                Detail(loc, f"an integer of {value.bit_length()} bits is beyond the float64 range")
            )
    elif kind is NonFiniteNumber:
        problems.append(Detail(loc, value.describe()))
    else:
        problems.append(Detail(loc, f"expected a number, got {_kind(value)}"))
    return 0.0


def _member(parent: str | None, name: str) -> str:
    """Where an object member is: `features.petal_width`, or quoted when the name is not
    a plain identifier, so that an empty or dotted name is still one clear place:
    `features["petal width (cm)"]`, `""` for an empty top-level field."""
    if _PLAIN_NAME.fullmatch(name):
        return f"{parent}.{name}" if parent else name
    quoted = json.dumps(name, ensure_ascii=False)
    return f"{parent}[{quoted}]" if parent else quoted


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, NonFiniteNumber):
        return value.literal
    return "a number"


def out_of_model_range(row_indexes: Sequence[int], batch: bool) -> ApiError:
    """422 for rows that are valid numbers but overflow inside the model."""
    locs = [f"instances[{index}]" for index in row_indexes] if batch else ["features"]
    return _invalid([Detail(loc, MODEL_OVERFLOW) for loc in locs])


def _invalid(problems: list[Detail]) -> ApiError:
    count = len(problems)
    if count <= MAX_DETAILS:
        message = f"The input does not fit the model: {count} problem{'s' if count > 1 else ''}."
    else:
        message = (
            f"The input does not fit the model: {count} problems; "
            f"the first {MAX_DETAILS} are listed."
        )
    return ApiError(422, "invalid_input", message, problems[:MAX_DETAILS])
