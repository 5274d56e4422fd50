"""Decodes a body's bytes: strict JSON or CSV, with every refusal a clear 400.

Numbers keep to float64: literals beyond it, of any length, become NonFiniteNumber
markers, so the validator can say where they are instead of failing the whole body.
Nesting is bounded before parsing, since the parser recurses once per level.

msgspec's decoder reads a body first: three to four times as fast as the standard
library's, and it refuses what the strict rules refuse (NaN and Infinity literals, a
float beyond float64). Whatever it refuses, and any body that may hold an integer
beyond float64 (which it would read exactly), is read again by the standard library
with hooks on every literal: it gives the same values, and the exact error or marker.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import msgspec

from app.core.errors import ApiError
from app.core.json_depth import (
    BYTES_PER_CONTAINER,
    DEFAULT_MAX_JSON_DEPTH,
    nests_deeper_than,
    opening_brackets,
    too_many_containers,
)

JSON_TYPE = "application/json"
UTF8_CHARSETS = ("utf-8", "utf8")
# A number literal can only be beyond float64 with an exponent of three digits or with
# 200 digits in a row (10**200 with an exponent of at most 99 is the least that can
# overflow), and only that long a literal is too long for int() (4300 digits). A body
# with neither is parsed by the C scanner alone; one with either (or a string that
# looks so), by hooks that see every literal. The look is two C passes: digits become
# "0", e and E "e", signs "+", everything else a space.
_SHAPE = bytes(
    ord("0")
    if chr(c).isdigit() and c < 128
    else ord("e")
    if c in b"eE"
    else ord("+")
    if c in b"+-"
    else ord(" ")
    for c in range(256)
)
_BEYOND_FLOAT64_SHAPES = (b"e000", b"e+000", b"0" * 200)
# An integer literal of 309 digits or more is beyond float64 (1.8e308 has 309): msgspec
# reads it as an exact int, where the strict rules make it a NonFiniteNumber.
_LONG_INTEGER = b"0" * 309
_FAST = msgspec.json.Decoder()


@dataclass(frozen=True)
class NonFiniteNumber:
    """A number JSON cannot carry as a float64: NaN, Infinity, or out of range.

    Python's json module accepts these; they are kept as markers in the decoded body.
    """

    literal: str

    def describe(self) -> str:
        shown = self.literal if len(self.literal) <= 32 else self.literal[:29] + "..."
        if self.literal in ("NaN", "Infinity", "-Infinity"):
            return f"{shown} is not a JSON number; values must be finite"
        return f"{shown} is beyond the float64 range"


def parse_csv(body: bytes, keep: int) -> tuple[list[str], list[list[str]], int]:
    """A CSV body's header, its first `keep` rows of text, and how many rows it has;
    400 if unreadable.

    Rows past `keep` are read only to be counted, one at a time: a batch that long is
    refused by its count, so it costs no memory. Blank lines are skipped, as pandas
    does; a header row is required.
    """
    text = _utf8(body, "CSV")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    count = 0
    try:
        rows.extend(islice(filter(None, reader), keep + 1))
        count = len(rows) - 1 + sum(1 for row in reader if row)
    except csv.Error as error:
        raise ApiError(
            "bad_request", f"The request body is not valid CSV at line {reader.line_num}: {error}."
        ) from None
    if not rows:
        raise ApiError("bad_request", "The request body is empty; expected a CSV header row.")
    return rows[0], rows[1:], count


def _utf8(body: bytes, kind: str) -> str:
    code = "invalid_json" if kind == "JSON" else "bad_request"
    if not body.strip():
        raise ApiError(code, f"The request body is empty; expected {_EXPECTED[kind]}.")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(code, f"The request body is not valid UTF-8 (byte {error.start}).") from None


_EXPECTED = {"JSON": "a JSON object", "CSV": "a CSV header row"}


def parse_json(
    body: bytes,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
    parse_constant: Callable[[str], Any] = NonFiniteNumber,
) -> Any:
    """The decoded body, or a 400 saying why there is none.

    Literals beyond float64 become NonFiniteNumber in time linear in their length; so do
    NaN, Infinity and -Infinity, unless `parse_constant` reads them otherwise.
    """
    text = _utf8(body, "JSON")
    opening = opening_brackets(body)
    if nests_deeper_than(body, max_depth, opening):
        raise ApiError(
            "invalid_json",
            f"The request body nests too deep to parse: more than {max_depth} levels "
            "of arrays and objects.",
        )
    containers = too_many_containers(body, opening)
    if containers is not None:
        raise ApiError(
            "invalid_json",
            f"The request body holds {containers:,} arrays and objects in {len(body):,} "
            f"bytes: more than one per {BYTES_PER_CONTAINER} bytes, which no request needs.",
        )
    shape = body.translate(_SHAPE)
    if _LONG_INTEGER not in shape:  # see msgspec_reads_exactly
        try:
            return _FAST.decode(body)
        except msgspec.DecodeError:
            pass  # the standard library below says why, or reads what msgspec refused
    try:
        if not _maybe_beyond_float64(shape):
            return json.loads(text, parse_constant=parse_constant)
        return json.loads(
            text,
            parse_constant=parse_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as error:
        raise ApiError(
            "invalid_json",
            f"The request body is not valid JSON: {error.msg} "
            f"at line {error.lineno}, column {error.colno}.",
        ) from None


def msgspec_reads_exactly(body: bytes) -> bool:
    """Whether msgspec reads every number in the body as the standard library does.

    Not a body with a run of 309 digits or more: an integer that long is beyond float64
    (msgspec would read it exactly), and a float with hundreds of thousands of digits
    can come back as 0.0 where it is 0.1 or beyond float64.
    """
    if len(body) < len(_LONG_INTEGER):
        return True
    if len(body) >= _LARGE_BODY and not _may_hold_a_long_digit_run(body):
        return True
    return _LONG_INTEGER not in body.translate(_SHAPE)


# From this size numpy rules a long run of digits out in a third of translate's time
# (40 against 95 µs for 150 KB); below it, translate is as quick.
_LARGE_BODY = 32 * 1024
# Half the run length, rounded up: a run of 309 digits fills one aligned block this long.
_DIGIT_BLOCK = (len(_LONG_INTEGER) + 1) // 2


def _may_hold_a_long_digit_run(body: bytes) -> bool:
    """False only if no aligned block of _DIGIT_BLOCK bytes is all digits, and so no run
    of 309 digits is anywhere in the body: one such run, wherever it starts, covers a
    whole block (a run reaching into the shorter tail covers the block before it)."""
    import numpy as np  # a model is loaded, so numpy already is

    raw = np.frombuffer(body, dtype=np.uint8)
    whole = len(raw) // _DIGIT_BLOCK * _DIGIT_BLOCK
    digits = (raw[:whole] - ord("0")) <= 9  # below "0" wraps around to above 9
    return bool(digits.reshape(-1, _DIGIT_BLOCK).all(axis=1).any())


def _maybe_beyond_float64(shape: bytes) -> bool:
    return any(pattern in shape for pattern in _BEYOND_FLOAT64_SHAPES)


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
