"""MLflow's input formats read into rows: a JSON body in one of its four formats, or CSV.

A JSON body holds exactly one of the input formats below, and optionally `params`; a
CSV body is a header row of feature names, then rows, each value read by its feature's
type in the schema. A missing value is NaN in JSON, as MLflow's client writes one, or
null, or an empty CSV field. Every row then goes through the schema's validator like a
/predict row, each problem placed in this body: `dataframe_split.data[2][1]`,
`dataframe_records[0].city`, `inputs.city[3]`, `csv[0].city`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from app.core.decoding import NonFiniteNumber
from app.core.schema import Feature, Schema
from app.core.typed_rows import UNSET, Omitted, RowType, TypedBody, typed_body
from app.core.validation import (
    SKIPPED,
    Problems,
    Rows,
    kind_of,
    listed,
    member,
    validate_columns,
    validate_rows,
)
from app.http.serving import check_row_count, invalid
from app.protocols.request_shape import json_object, optional_object, unknown_members

log = logging.getLogger(__name__)

DATAFRAME_SPLIT = "dataframe_split"
DATAFRAME_RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
INPUT_FORMATS = (DATAFRAME_SPLIT, DATAFRAME_RECORDS, INSTANCES, INPUTS)
PARAMS = "params"
CSV_TYPE = "text/csv"
_SPLIT_FIELDS = ("columns", "data", "index")
_UNKNOWN_SPLIT_FIELD = "unknown field; expected columns, data and index"


def nan_is_missing(literal: str) -> Any:
    """NaN is a missing value, as pandas holds one and MLflow reads it: MLflow's client
    writes a DataFrame's missing values as NaN (json.dumps), of numbers and strings
    alike. Infinity and -Infinity stay refused at their places."""
    return None if literal == "NaN" else NonFiniteNumber(literal)


def json_rows(payload: Any, schema: Schema, max_rows: int) -> tuple[Rows, Callable[[int], str]]:
    """The rows of a JSON body in one of INPUT_FORMATS, validated; 422 lists every problem."""
    problems = Problems()
    payload = json_object(payload)
    formats = [key for key in payload if key in INPUT_FORMATS]
    unknown_members(payload, None, _BODY_FIELDS, problems, f"unknown field; {_ONE_FORMAT}")
    if len(formats) != 1:
        problems.add("body", _ONE_FORMAT)
    params = optional_object(payload.get(PARAMS), PARAMS, problems)
    if params:
        # As MLflow does for a model whose signature declares no params: not used.
        log.info("ignored %d param(s): scikit-learn models take none", len(params))
    if problems:
        raise invalid(problems)

    key = formats[0]
    value = payload[key]
    rows: Rows | None = None
    row_loc: Callable[[int], str] = lambda index: f"{key}[{index}]"  # noqa: E731
    if key == DATAFRAME_SPLIT:
        rows, row_loc = _split_rows(value, schema, max_rows, problems)
    elif key == DATAFRAME_RECORDS:
        if isinstance(value, list) and check_row_count(len(value), max_rows, key, problems):
            expected = "an object keyed by feature name"
            records = _shaped(value, dict, len(schema.names), row_loc, expected, problems)
            rows = validate_rows(records, row_loc, schema, problems)
        elif not isinstance(value, list):
            problems.add(key, f"expected an array of objects, got {kind_of(value)}")
    elif isinstance(value, dict) and key == INPUTS:
        rows = _column_rows(value, schema, max_rows, problems)
    elif isinstance(value, list):
        if check_row_count(len(value), max_rows, key, problems):
            rows = validate_rows(value, row_loc, schema, problems)
    else:
        shapes = "an array of rows" + (" or an object of columns" if key == INPUTS else "")
        problems.add(key, f"expected {shapes}, got {kind_of(value)}")
    if problems or rows is None:
        raise invalid(problems)
    return rows, row_loc


def typed_json_rows(
    body: bytes, schema: Schema, max_rows: int
) -> tuple[Rows, Callable[[int], str]] | None:
    """The rows of a valid body in the usual shapes read from its bytes in one pass (see
    app.core.typed_rows): dataframe_split with the schema's columns in order,
    dataframe_records or instances, no params. None for json_rows to read, and refuse."""
    typed = _typed_body(schema)
    read = None if typed is None else typed.read(body)
    if typed is None or read is None:
        return None
    given = [(key, value) for key in _TYPED_FORMATS if (value := getattr(read, key)) is not UNSET]
    if len(given) != 1:
        return None
    key, rows = given[0]
    row_loc: Callable[[int], str] = lambda index: f"{key}[{index}]"  # noqa: E731
    if key == DATAFRAME_SPLIT:
        if rows.columns is not UNSET and tuple(rows.columns) != schema.names:
            return None  # in another order, or not the features: json_rows says which
        rows = rows.data
        row_loc = lambda index: f"{DATAFRAME_SPLIT}.data[{index}]"  # noqa: E731
    if not 0 < len(rows) <= max_rows:
        return None
    return typed.rows_of.rows(rows), row_loc


_TYPED_FORMATS = (DATAFRAME_SPLIT, DATAFRAME_RECORDS, INSTANCES)


@lru_cache(maxsize=8)
def _typed_body(schema: Schema) -> TypedBody | None:
    """The type of a body in one of _TYPED_FORMATS, with each row of the schema's type."""

    def members(rows_of: RowType) -> list[tuple[str, Any, Any]]:
        split = msgspec.defstruct(
            "DataframeSplit",
            [("data", list[rows_of.array]), ("columns", list[str] | Omitted, UNSET)],  # type: ignore[name-defined]
            forbid_unknown_fields=True,
        )
        return [
            (DATAFRAME_SPLIT, split | Omitted, UNSET),
            (DATAFRAME_RECORDS, list[rows_of.named] | Omitted, UNSET),  # type: ignore[name-defined]
            (INSTANCES, list[rows_of.row] | Omitted, UNSET),  # type: ignore[name-defined]
        ]

    return typed_body(schema, "InvocationsBody", members)


_BODY_FIELDS = (*INPUT_FORMATS, PARAMS)
_ONE_FORMAT = f"expected exactly one of {', '.join(INPUT_FORMATS)}, and optionally {PARAMS}"


def _split_rows(
    split: Any, schema: Schema, max_rows: int, problems: Problems
) -> tuple[Rows | None, Callable[[int], str]]:
    """`{"columns": [...], "data": [[...], ...]}`, as pandas' to_dict(orient="split")."""
    here = DATAFRAME_SPLIT

    def row_loc(index: int) -> str:
        return f"{here}.data[{index}]"

    if not isinstance(split, dict):
        problems.add(here, f"expected an object with columns and data, got {kind_of(split)}")
        return None, row_loc
    unknown_members(split, here, _SPLIT_FIELDS, problems, _UNKNOWN_SPLIT_FIELD)
    columns = split.get("columns", list(schema.names))
    order = _column_order(columns, f"{here}.columns", schema, problems)
    data = split.get("data")
    if not isinstance(data, list):
        problems.add(f"{here}.data", f"expected an array of rows, got {kind_of(data)}")
        return None, row_loc
    if order is None or not check_row_count(len(data), max_rows, f"{here}.data", problems):
        return None, row_loc
    width = len(order)
    rows = _shaped(data, list, width, row_loc, f"an array of {width} values", problems)
    if order == list(range(width)):
        return validate_rows(rows, row_loc, schema, problems), row_loc
    # The body's columns in another order: each row in schema order, places as sent.
    reordered = [[row[position] for position in order] for row in rows]
    return (
        validate_rows(
            reordered,
            row_loc,
            schema,
            problems,
            value_loc=lambda index, position: f"{row_loc(index)}[{order[position]}]",
        ),
        row_loc,
    )


def _column_rows(
    columns: dict[str, Any], schema: Schema, max_rows: int, problems: Problems
) -> Rows | None:
    """`{"inputs": {"city": [...], ...}}`: one array of values per feature."""
    unknown_members(
        columns, INPUTS, schema.names, problems, f"unknown feature; expected {_names(schema)}"
    )
    lengths = set()
    for name in schema.names:
        values = columns.get(name)
        if name not in columns:
            problems.add(member(INPUTS, name), "missing feature")
        elif not isinstance(values, list):
            problems.add(member(INPUTS, name), f"expected an array, got {kind_of(values)}")
        else:
            lengths.add(len(values))
    if len(lengths) > 1:
        problems.add(INPUTS, "expected arrays of one length, got lengths " + _lengths(lengths))
    if problems or not check_row_count(lengths.pop() if lengths else 0, max_rows, INPUTS, problems):
        return None
    ordered = [columns[name] for name in schema.names]
    return validate_columns(
        ordered,
        len(ordered[0]),
        lambda index, position: f"{member(INPUTS, schema.names[position])}[{index}]",
        schema,
        problems,
    )


def csv_rows(
    header: list[str],
    records: list[list[str]],
    schema: Schema,
    max_rows: int,
    count: int | None = None,
) -> tuple[Rows, Callable[[int], str]]:
    """A CSV body's rows, each value read by its feature's type, then validated; `count`
    is how many the body has, when `records` are only the first of them.

    An empty field is a missing value (as pandas writes NaN and None); numbers are JSON
    number literals, integers whole numbers, booleans true or false in any case; strings
    and date-times are the field's text (the validator reads a date-time).
    """
    problems = Problems()

    def row_loc(index: int) -> str:
        return f"csv[{index}]"

    order = _column_order(header, "csv.header", schema, problems)
    count = len(records) if count is None else count
    if order is None or not check_row_count(count, max_rows, "csv", problems):
        raise invalid(problems)
    width = len(order)
    columns: list[list[Any]] = [[] for _ in schema.features]
    for index, record in enumerate(records):
        if not problems.accepts(index):
            break  # no later row's problem could be reported
        if len(record) != width:
            problems.add(
                row_loc(index),
                f"expected {width} values as in the header, got {len(record)}",
                index,
            )
            for column in columns:
                column.append(SKIPPED)
            continue
        for position, feature in enumerate(schema.features):
            value, why = _typed(record[order[position]], feature)
            if why is not None:
                problems.add(member(row_loc(index), feature.name), why, index, position)
            columns[position].append(value)
    rows = validate_columns(
        columns,
        len(records),
        lambda index, position: member(row_loc(index), schema.names[position]),
        schema,
        problems,
    )
    if problems:
        raise invalid(problems)
    return rows, row_loc


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_BOOLEANS = {"true": True, "false": False}


def _typed(text: str, feature: Feature) -> tuple[Any, str | None]:
    """A CSV field as the value its feature's type reads it as, or why it cannot be."""
    if text == "":
        return None, None
    kind = feature.type
    if kind in ("string", "datetime"):
        return text, None
    if kind == "boolean":
        value = _BOOLEANS.get(text.lower())
        return (SKIPPED, "expected true or false") if value is None else (value, None)
    if kind == "integer" and _INTEGER.fullmatch(text):
        # float() first, as app.core.decoding reads JSON: it reads any length in linear time,
        # while int() refuses over 4300 digits; at most 309 digits are finite.
        return (int(text) if math.isfinite(float(text)) else NonFiniteNumber(text)), None
    if _NUMBER.fullmatch(text):
        # Beyond float64 is marked, and the validator says so at its place.
        number = float(text)
        return (number if math.isfinite(number) else NonFiniteNumber(text)), None
    return SKIPPED, f"expected {'an integer' if kind == 'integer' else 'a number'}"


def _column_order(columns: Any, loc: str, schema: Schema, problems: Problems) -> list[int] | None:
    """For each feature, the position of its column in the body; None if they do not match."""
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        problems.add(loc, f"expected an array of feature names, got {kind_of(columns)}")
        return None
    if columns == list(schema.names):
        return list(range(len(columns)))
    known = set(schema.names)
    seen: set[str] = set()
    for position, name in enumerate(columns):
        if name not in known:
            problems.add(f"{loc}[{position}]", f"unknown feature; expected {_names(schema)}")
        elif name in seen:
            problems.add(f"{loc}[{position}]", "the feature is named twice")
        else:
            seen.add(name)
            continue
        if not problems.accepts():
            return None  # no later column's problem could be reported
    if len(seen) < len(known):
        for name in schema.names:
            if name not in seen:
                problems.add(loc, f"missing feature {name}")
        return None
    if len(columns) > len(seen):
        return None  # its problems are reported above
    return [columns.index(name) for name in schema.names]


def _shaped(
    rows: list[Any],
    kind: type,
    width: int,
    row_loc: Callable[[int], str],
    expected: str,
    problems: Problems,
) -> list[Any]:
    """The rows, each of the shape this format needs (arrays of `width` values, or
    objects); any other is reported, and skipped as `width` skipped values."""
    if set(map(type, rows)) == {kind} and (kind is not list or set(map(len, rows)) == {width}):
        return rows  # the common case, checked in C
    shaped = []
    for index, row in enumerate(rows):
        if type(row) is kind and (not isinstance(row, list) or len(row) == width):
            shaped.append(row)
            continue
        # A length is worth naming only where an array is expected: dataframe_split's rows.
        got = f"{len(row)} values" if kind is list and isinstance(row, list) else kind_of(row)
        problems.add(row_loc(index), f"expected {expected}, got {got}", index)
        if not problems.accepts(index + 1):
            break  # no later row's problem could be reported
        shaped.append([SKIPPED] * width)
    return shaped


def _names(schema: Schema) -> str:
    return listed(schema.names)


def _lengths(lengths: set[int]) -> str:
    return ", ".join(str(length) for length in sorted(lengths))
