"""Checks rows of a request against the model's typed schema: every problem, at its place.

A row is an array of values in feature order or an object keyed by feature name. The
result is one column per feature, in schema order, holding exactly what the schema
allows: finite numbers (as float64 arrays), int64 integers, booleans, strings, and
None where a nullable feature is missing; date-times as a numpy datetime64 array in
their column's unit (NaT where missing), read by app.core.datetimes' time-zone rule. Columns
are checked whole first, with C-level set and numpy operations; only a column that fails
(or holds date-times, each parsed) is walked value by value, to say where and why. An
all-number schema takes a faster path still: msgspec checks the rows' shape and types in
C, and they become one float64 matrix directly.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

import msgspec
import numpy as np

from app.core.datetimes import NAT, DatetimeColumn
from app.core.decoding import NonFiniteNumber
from app.core.errors import ECHO_LIMIT, Detail, cut
from app.core.schema import INT64_MAX, INT64_MIN, Feature, Schema

# A bad batch can hold thousands of problems; the first ones are enough to act on.
MAX_DETAILS = 100
# Member names shown as they are in a detail's loc; any other name is quoted.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Categories listed in a message about an unknown one; the rest are in /openapi.json.
_SHOWN_CATEGORIES = 12
# Feature names listed in a message about a row's shape or an unknown name; a wide
# model's whole list would make each of a hundred problems as long as the schema.
_SHOWN_NAMES = 30


class Problems:
    """Problems found in a request: the first `limit` in reading order, whatever order
    found them, and whether there were more.

    Only those are kept, in bounded memory, however many a body holds. A loop that can
    find one problem per value, row or name asks `accepts` whether a problem at its next
    place could still be kept, and stops once none could.
    """

    def __init__(self, limit: int = MAX_DETAILS) -> None:
        self._limit = limit
        # The kept ones as a heap on the negated place: the last in reading order on top.
        self._kept: list[tuple[int, int, int, Detail]] = []
        self._found = 0
        self.more_than_kept = False

    def add(self, loc: str, msg: str, row: int = -1, position: int = -1) -> None:
        # Read by row, then place in the row; ties keep the order they were found in.
        entry = (-row, -position, -self._found, Detail(loc, msg))
        self._found += 1
        if len(self._kept) < self._limit:
            heapq.heappush(self._kept, entry)
            return
        self.more_than_kept = True
        if entry[:3] > self._kept[0][:3]:  # before the last kept one
            heapq.heapreplace(self._kept, entry)

    def accepts(self, row: int = -1, position: int = -1) -> bool:
        """Whether a problem found at this place now could still be reported.

        Until more problems are found than are kept, always: the answer must say whether
        there were more. Then only before the last kept one in reading order.
        """
        if not self.more_than_kept:
            return True
        last_row, last_position = -self._kept[0][0], -self._kept[0][1]
        return (row, position) < (last_row, last_position)

    def __bool__(self) -> bool:
        return self._found > 0

    def details(self) -> list[Detail]:
        return [detail for *_, detail in sorted(self._kept, reverse=True)]


@dataclass(frozen=True)
class Rows:
    """Validated input: `matrix` on the all-number fast path, else one column per feature."""

    count: int
    matrix: np.ndarray | None = None
    # A list of plain values; a float64 array for numbers, a datetime64 array for
    # date-times, and an int64 or bool array for integers or booleans with none missing.
    columns: tuple[Any, ...] = ()


class _Skip:
    """A value already reported (its row is malformed); never checked again."""


SKIPPED = _Skip()


def validate_rows(
    rows: Sequence[Any],
    row_loc: Callable[[int], str],
    schema: Schema,
    problems: Problems,
    value_loc: Callable[[int, int], str] | None = None,
) -> Rows:
    """Check `rows` against `schema`; problems go to `problems`, with each row's place.

    A value's place is its row's, then the feature's name (an object row) or its position
    (an array row); `value_loc(row, position)` says it instead, for a body whose arrays
    hold the features in another order.
    """
    if schema.all_numeric:
        matrix = _numeric_matrix(rows, len(schema.features))
        if matrix is not None:
            return Rows(count=len(rows), matrix=matrix)
    raw_columns, keyed = _columns(rows, row_loc, schema, problems)

    def place(index: int, position: int) -> str:
        if keyed(index):
            return member(row_loc(index), schema.names[position])
        if value_loc is not None:
            return value_loc(index, position)
        return f"{row_loc(index)}[{position}]"

    return validate_columns(raw_columns, len(rows), place, schema, problems)


def validate_columns(
    columns: Sequence[list[Any]],
    count: int,
    value_loc: Callable[[int, int], str],
    schema: Schema,
    problems: Problems,
) -> Rows:
    """Check one list of `count` values per feature, in schema order (a columnar body).

    SKIPPED stands for a value already reported; `value_loc(row, position)` is its place.
    """
    checked = tuple(
        _checked_column(values, feature, position, value_loc, problems)
        for position, (feature, values) in enumerate(zip(schema.features, columns, strict=True))
    )
    return Rows(count=count, columns=checked)


def _numeric_matrix(rows: Sequence[Any], width: int) -> np.ndarray | None:
    """Rows of finite numbers as a float64 matrix, or None for the general path to explain.

    msgspec checks in C that each row is an array of `width` numbers, booleans and
    strings refused, and hands them back as floats (an integer as float() reads it);
    numpy then reads them in one pass.
    """
    if not rows:
        return None  # the general path says what an empty batch lacks
    try:
        checked = msgspec.convert(rows, _rows_of(width), strict=True)
    except msgspec.ValidationError:  # not all numbers, a row of another width, ...
        return None
    values = chain.from_iterable(checked)
    flat = np.fromiter(values, dtype=np.float64, count=len(checked) * width)
    matrix = flat.reshape(len(checked), width)
    return matrix if np.isfinite(flat).all() else None


@lru_cache(maxsize=16)
def _rows_of(width: int) -> Any:
    """The type msgspec checks rows against: a list of `width`-tuples of floats."""
    return list[tuple[(float,) * width]]  # type: ignore[misc]


def _columns(
    rows: Sequence[Any], row_loc: Callable[[int], str], schema: Schema, problems: Problems
) -> tuple[list[list[Any]], Callable[[int], bool]]:
    """One list per feature, and whether row i was an object (for the places of its values)."""
    names, width = schema.names, len(schema.names)
    row_types = set(map(type, rows))
    # The two common shapes, turned into columns without a Python step per value.
    if row_types == {list} and set(map(len, rows)) == {width}:
        return [list(column) for column in zip(*rows, strict=True)], lambda index: False
    if row_types == {dict} and set(map(len, rows)) == {width}:
        # As many members as features: a row that has every feature has nothing else.
        try:
            if width == 1:
                return [[row[names[0]] for row in rows]], lambda index: True
            # itemgetter reads a row's values in C; zip turns the rows into columns.
            by_row = map(itemgetter(*names), rows)
            return [list(column) for column in zip(*by_row, strict=True)], lambda index: True
        except KeyError:
            pass  # an unknown member in place of a feature: each row is read below
    normalized = []
    for index, row in enumerate(rows):
        if not problems.accepts(index):
            break  # no later row's problem could be reported: its values are not needed
        normalized.append(_row_values(row, index, row_loc, schema, problems))
    if not normalized:
        return [[] for _ in names], lambda index: False
    return (
        [list(column) for column in zip(*normalized, strict=True)],
        lambda index: isinstance(rows[index], dict),
    )


def _row_values(
    row: Any, index: int, row_loc: Callable[[int], str], schema: Schema, problems: Problems
) -> list[Any]:
    names, loc = schema.names, row_loc(index)
    if isinstance(row, list):
        if len(row) == len(names):
            return row
        problems.add(loc, f"expected {len(names)} values ({listed(names)}), got {len(row)}", index)
    elif isinstance(row, dict):
        known = set(names)
        for name in row:
            if name not in known:
                problems.add(member(loc, name), f"unknown feature; expected {listed(names)}", index)
                if not problems.accepts(index):
                    break
        values = []
        for position, name in enumerate(names):
            if name in row:
                values.append(row[name])
            else:
                problems.add(member(loc, name), "missing feature", index, position)
                values.append(SKIPPED)
        return values
    elif schema.model_input == "text" and isinstance(row, str):
        return [row]  # a text model's row may be the text itself
    else:
        problems.add(
            loc,
            f"expected an array of {len(names)} values or an object keyed by feature name, "
            f"got {kind_of(row)}",
            index,
        )
    return [SKIPPED] * len(names)


def _checked_column(
    values: list[Any],
    feature: Feature,
    position: int,
    value_loc: Callable[[int, int], str],
    problems: Problems,
) -> Any:
    if feature.time is not None:
        return _datetime_column(values, feature, feature.time, position, value_loc, problems)
    column = _whole_column(values, feature)
    if column is not None:
        return column
    # Slow path: say what is wrong with each value that is.
    checked: list[Any] = []
    for index, value in enumerate(values):
        if value is SKIPPED:
            checked.append(None)
            continue
        why, plain = _check_value(value, feature)
        if why is not None:
            problems.add(value_loc(index, position), why, index, position)
            if not problems.accepts(index + 1, position):
                break  # the rest of the column could add no problem that is reported
        checked.append(plain)
    complete = _complete_array(checked, feature)
    return checked if complete is None else complete


def _datetime_column(
    values: list[Any],
    feature: Feature,
    time: DatetimeColumn,
    position: int,
    value_loc: Callable[[int, int], str],
    problems: Problems,
) -> np.ndarray:
    """ISO 8601 strings as instants of the feature's column; each refusal at its place."""
    counts = np.full(len(values), NAT, dtype=np.int64)
    for index, value in enumerate(values):
        if value is SKIPPED:
            continue
        why: str | None = None
        if value is None:
            if not feature.nullable:
                why = f"expected {_expected(feature)}, got null; this feature cannot be missing"
        elif type(value) is not str:
            why = f"expected {_expected(feature)}, got {kind_of(value)}"
        else:
            instant = time.instant(value)
            if isinstance(instant, str):
                why = f"{_shown(value)} is {instant}"
            else:
                counts[index] = instant
        if why is not None:
            problems.add(value_loc(index, position), why, index, position)
            if not problems.accepts(index + 1, position):
                break
    return counts.view(f"datetime64[{time.unit}]")


_ALLOWED_TYPES: dict[str, frozenset[type]] = {
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "string": frozenset({str}),
}


def _whole_column(values: list[Any], feature: Feature) -> Any:
    """The checked column when every value passes, from whole-column checks; else None."""
    allowed = _ALLOWED_TYPES[feature.type] | ({type(None)} if feature.nullable else set())
    types = set(map(type, values))
    if not types <= allowed:
        return None
    column: Any = values
    if feature.type == "number":
        try:
            column = np.asarray(values, dtype=np.float64)  # None -> NaN, counted as missing
        except OverflowError:
            return None
        finite = np.isfinite(column)
        if not finite.all() and (
            type(None) not in types or (~finite & ~_missing_mask(values)).any()
        ):
            return None
    elif feature.type == "integer":
        if type(None) in types:
            present = [v for v in values if v is not None]
            if present and (min(present) < INT64_MIN or max(present) > INT64_MAX):
                return None
        else:
            try:  # the model's own input, checked in passing
                column = _complete_array(values, feature)
            except OverflowError:  # beyond int64
                return None
    elif feature.type == "boolean" and type(None) not in types:
        column = _complete_array(values, feature)
    if feature.closed and not (set(values) - {None}) <= feature.known:
        return None
    return column


_COMPLETE_DTYPES = {"integer": np.int64, "boolean": np.bool_}


def _complete_array(values: list[Any], feature: Feature) -> np.ndarray | None:
    """An integer or boolean column with no value missing as the array the model is
    handed (int64, bool), whichever path checked it; None for any other column."""
    dtype = _COMPLETE_DTYPES.get(feature.type)
    if dtype is None or None in values:
        return None
    return np.asarray(values, dtype=dtype)


def _missing_mask(values: list[Any]) -> np.ndarray:
    return np.fromiter((value is None for value in values), dtype=bool, count=len(values))


def _check_value(value: Any, feature: Feature) -> tuple[str | None, Any]:
    """(why the value is refused, or None; the value as the column holds it)."""
    if value is None:
        if feature.nullable:
            return None, None
        return f"expected {_expected(feature)}, got null; this feature cannot be missing", None
    kind = type(value)
    if kind is NonFiniteNumber:
        if feature.type in ("number", "integer"):
            return value.describe(), None
        return f"expected {_expected(feature)}, got {kind_of(value)}", None
    if feature.type == "number":
        if kind is float:
            if not math.isfinite(value):
                literal = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
                return NonFiniteNumber(literal).describe(), None
        elif kind is int:
            try:
                value = float(value)
            except OverflowError:
                return f"an integer of {value.bit_length()} bits is beyond the float64 range", None
        else:
            return f"expected a number, got {kind_of(value)}", None
    elif feature.type == "integer":
        given = value
        if kind is float and math.isfinite(value) and value.is_integer():
            value = int(value)
        elif kind is not int:
            shown = _shown(value) if kind is float else kind_of(value)
            return f"expected an integer, got {shown}", None
        if not INT64_MIN <= value <= INT64_MAX:
            return f"{_shown(given)} is beyond the int64 range", None
    elif feature.type == "boolean":
        if kind is not bool:
            return f"expected true or false, got {kind_of(value)}", None
    elif kind is not str:
        return f"expected a string, got {kind_of(value)}", None
    if feature.closed and value not in feature.known:
        return _unknown_category(value, feature), None
    return None, value


def _unknown_category(value: Any, feature: Feature) -> str:
    categories = [_shown(c) for c in feature.categories or ()]
    return (
        f"unknown category {_shown(value)}; the model knows {listed(categories, _SHOWN_CATEGORIES)}"
    )


def listed(items: Sequence[str], most: int = _SHOWN_NAMES) -> str:
    """The first `most` items, comma-separated, and how many there are if that is not all."""
    shown = ", ".join(items[:most])
    if len(items) > most:
        shown += f", ... ({len(items)} in all, listed in /openapi.json)"
    return shown


def _expected(feature: Feature) -> str:
    return {
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
        "string": "a string",
        "datetime": "an ISO 8601 date-time string",
    }[feature.type]


def _shown(value: Any) -> str:
    return cut(json.dumps(value, ensure_ascii=False))


def member(parent: str | None, name: str) -> str:
    """Where an object member is: `features.petal_width`, or quoted when the name is not
    a plain identifier, so that an empty or dotted name is still one clear place:
    `features["petal width (cm)"]`, `""` for an empty top-level field. A long name is
    quoted cut short: `features["aaaaaaaa..."]`."""
    if len(name) <= ECHO_LIMIT and _PLAIN_NAME.fullmatch(name):
        return f"{parent}.{name}" if parent else name
    quoted = json.dumps(cut(name), ensure_ascii=False)
    return f"{parent}[{quoted}]" if parent else quoted


def kind_of(value: Any) -> str:
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
