"""An infer request's inputs made rows for the schema's validator.

A model whose features are all numbers may take one tensor [rows, features]; any model
takes one input per feature, named after it, of shape [rows] or [rows, 1]. Either way
each value keeps its place in the body (`inputs[1].data[7]`, the element's row-major
index), and what only a tensor can get wrong (a datatype's values, text that is not
UTF-8) is reported here, once, before the schema's checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.decoding import NonFiniteNumber
from app.core.schema import Schema
from app.core.validation import (
    MAX_DETAILS,
    SKIPPED,
    Problems,
    Rows,
    kind_of,
    listed,
    validate_columns,
    validate_rows,
)
from app.http.serving import check_row_count
from app.protocols.v2.tensors import FEATURE_DATATYPES, INTEGER_TYPES, NUMERIC_TYPES


@dataclass
class InputTensor:
    """One input of the request, checked against its own shape and datatype."""

    index: int
    name: str
    datatype: str
    shape: list[int]
    values: Any  # a flat list of plain values, or a numpy array from binary data

    @property
    def loc(self) -> str:
        return f"inputs[{self.index}]"


def matrix_rows(
    inputs: list[InputTensor], schema: Schema, max_rows: int, problems: Problems
) -> tuple[Rows | None, Callable[[int], str]]:
    """One tensor [rows, features] for an all-number model."""
    width = len(schema.names)
    tensor = inputs[0]
    row_loc = tensor_row_loc(tensor.loc, width)

    unknown = [item for item in inputs if item.name not in schema.names]
    if len(inputs) > 1:
        for item in unknown:
            problems.add(
                f"{item.loc}.name",
                "unknown input; expected one tensor [rows, features] or one input per "
                f"feature named after it: {listed(schema.names)}",
            )
        return None, row_loc
    if not schema.all_numeric:
        problems.add(
            f"{tensor.loc}.name",
            "this model takes one input per feature, named after it: " + listed(schema.names),
        )
        return None, row_loc
    if tensor.datatype not in NUMERIC_TYPES:
        problems.add(f"{tensor.loc}.datatype", "expected a numeric datatype (FP64, FP32, INT64)")
        return None, row_loc
    shape = tensor.shape
    if len(shape) != 2 or shape[1] != width:
        problems.add(f"{tensor.loc}.shape", f"expected [rows, {width}], got {shape}")
        return None, row_loc
    if not check_row_count(shape[0], max_rows, f"{tensor.loc}.shape", problems):
        return None, row_loc
    values = tensor.values
    numbers = {int} if tensor.datatype in INTEGER_TYPES else {int, float}
    if isinstance(values, np.ndarray) or set(map(type, values)) <= numbers:
        # The common case: numbers only, made a matrix in C; a non-finite one is explained
        # below, value by value. A binary float tensor's NaN is a missing value there.
        matrix = np.asarray(values, dtype=np.float64).reshape(shape)
        if np.isfinite(matrix).all():
            return Rows(count=shape[0], matrix=matrix), row_loc
        count = _rows_worth_explaining(matrix)
        values = values[: count * width]
        shape = [count, width]
        if isinstance(values, np.ndarray):
            values = _plain_floats(values)
    elif tensor.datatype in INTEGER_TYPES:
        values = _integers_only(values, tensor, width, 0, problems)
    rows = [values[index * width : (index + 1) * width] for index in range(shape[0])]
    checked = validate_rows(
        rows,
        row_loc,
        schema,
        problems,
        value_loc=lambda index, position: f"{tensor.loc}.data[{index * width + position}]",
    )
    return checked, row_loc


def tensor_row_loc(loc: str, width: int) -> Callable[[int], str]:
    """Where row i of a tensor [rows, width] at `loc` is: the slice of its data."""
    return lambda index: f"{loc}.data[{index * width}:{(index + 1) * width}]"


def columnar_rows(
    inputs: list[InputTensor], schema: Schema, max_rows: int, problems: Problems
) -> tuple[Rows | None, Callable[[int], str]]:
    """One input per feature, each of shape [rows] or [rows, 1]."""

    def row_loc(index: int) -> str:
        return f"inputs[*].data[{index}]"

    by_name = {item.name: item for item in inputs}
    for name in schema.names:
        if name not in by_name:
            problems.add("inputs", f"missing input {name}: one input per feature is expected")
    counts = set()
    for feature in schema.features:
        item = by_name.get(feature.name)
        if item is None:
            continue
        if len(item.shape) > 2 or (len(item.shape) == 2 and item.shape[1] != 1):
            problems.add(f"{item.loc}.shape", f"expected [rows] or [rows, 1], got {item.shape}")
        if item.datatype not in FEATURE_DATATYPES[feature.type]:
            problems.add(
                f"{item.loc}.datatype",
                f"{feature.name} is {'an' if feature.type == 'integer' else 'a'} "
                f"{feature.type} feature: expected "
                + ", ".join(sorted(FEATURE_DATATYPES[feature.type])),
            )
        counts.add(item.shape[0])
    if len(counts) > 1:
        problems.add("inputs", "expected one number of rows in every input")
    if problems or not check_row_count(counts.pop(), max_rows, "inputs[0].shape", problems):
        return None, row_loc
    ordered = [by_name[name] for name in schema.names]
    columns = []
    for position, item in enumerate(ordered):
        values = item.values
        if isinstance(values, np.ndarray):
            values = _plain_floats(values) if values.dtype.kind == "f" else values.tolist()
        elif item.datatype == "BYTES" and isinstance(values, list) and values:
            values = (
                _texts(values, item, position, problems) if isinstance(values[0], bytes) else values
            )
        if item.datatype in INTEGER_TYPES and not isinstance(item.values, np.ndarray):
            values = _integers_only(values, item, 1, position, problems)
        columns.append(values)
    checked = validate_columns(
        columns,
        ordered[0].shape[0],
        lambda index, position: f"{ordered[position].loc}.data[{index}]",
        schema,
        problems,
    )
    return checked, row_loc


def _rows_worth_explaining(matrix: np.ndarray) -> int:
    """The rows whose problems could be reported: each infinity is one, so none after the
    row that brings their count past MAX_DETAILS can be among the first listed."""
    refused = np.cumsum(np.isinf(matrix).sum(axis=1))
    past = int(np.searchsorted(refused, MAX_DETAILS, side="right"))
    return min(past + 1, int(matrix.shape[0]))


def _plain_floats(values: np.ndarray) -> list[Any]:
    """Binary floats as plain values: NaN is a missing value, infinities are refused."""
    return [
        None
        if value != value
        else NonFiniteNumber("Infinity" if value > 0 else "-Infinity")
        if math.isinf(value)
        else value
        for value in values.astype(np.float64).tolist()
    ]


def _texts(values: list[bytes], item: InputTensor, position: int, problems: Problems) -> list[Any]:
    """BYTES of the feature at `position` as text; each that is not UTF-8 is reported."""
    texts: list[Any] = []
    for index, value in enumerate(values):
        try:
            texts.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            problems.add(f"{item.loc}.data[{index}]", "expected UTF-8 text", index, position)
            if not problems.accepts(index + 1, position):
                break  # no later value's problem could be reported
            texts.append(SKIPPED)  # reported here: the schema's checks pass it over
    return texts


def _integers_only(
    values: Sequence[Any], item: InputTensor, width: int, first: int, problems: Problems
) -> list[Any]:
    """JSON data of an integer datatype: rows of `width` values, the first of each at
    position `first` in the model's row. A value of another kind is reported here,
    naming the datatype, and skipped by the schema's checks, so that it is reported
    once; null stays, a missing value as in any other datatype."""
    checked = list(values)
    for index, value in enumerate(values):
        # 4.0 is the integer 4, as JSON numbers and the schema's integer features have it.
        whole = type(value) is int or (type(value) is float and value.is_integer())
        if not whole and value is not None:
            row, position = divmod(index, width)
            problems.add(
                f"{item.loc}.data[{index}]",
                f"expected an integer for datatype {item.datatype}, got {kind_of(value)}",
                row,
                first + position,
            )
            checked[index] = SKIPPED
            if not problems.accepts(row, first + position + 1):
                break  # no later value's problem could be reported
    return checked
