"""Model outputs (numpy) -> the plain JSON values of an answer.

Numpy stays inside the predictor; this is the edge where its arrays become lists,
strings and numbers that any JSON encoder writes as they are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from app.core.metadata import Output


def predictions_json(predictions: np.ndarray, outputs: Sequence[Output] | None) -> list[Any]:
    """One value per row; for a multi-output model an object keyed by output name."""
    values = plain_values(predictions)
    if outputs is None:
        return values
    names = [output.name for output in outputs]
    return [dict(zip(names, row, strict=True)) for row in values]


def probabilities_json(
    matrices: Sequence[np.ndarray],
    keys: Sequence[Sequence[str]],
    outputs: Sequence[Output] | None,
) -> list[Any]:
    """Per row, class label -> probability; for a multi-output model, per output name."""
    per_output = [
        [dict(zip(labels, row, strict=True)) for row in matrix.tolist()]
        for matrix, labels in zip(matrices, keys, strict=True)
    ]
    if outputs is None:
        return per_output[0]
    names = [output.name for output in outputs]
    return [dict(zip(names, rows, strict=True)) for rows in zip(*per_output, strict=True)]


# How far a recorded float answer may move between machines (BLAS kernels differ in the
# order they sum), and no further.
_RELATIVE_TOLERANCE = 1e-6
_ABSOLUTE_TOLERANCE = 1e-9


def first_difference(answered: Sequence[Any], recorded: Sequence[Any]) -> int | None:
    """The first row whose answer differs from the recorded one, or None when all agree:
    equal values, or floats within a tolerance for the platform's arithmetic."""
    if len(answered) != len(recorded):
        return min(len(answered), len(recorded))
    for row, (first, second) in enumerate(zip(answered, recorded, strict=True)):
        if not _agree(first, second):
            return row
    return None


def _agree(first: Any, second: Any) -> bool:
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(_agree(first[k], second[k]) for k in first)
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(map(_agree, first, second))
    numbers = (int, float)
    if (
        isinstance(first, numbers)
        and isinstance(second, numbers)
        and not isinstance(first, bool)
        and not isinstance(second, bool)
    ):
        return math.isclose(first, second, rel_tol=_RELATIVE_TOLERANCE, abs_tol=_ABSOLUTE_TOLERANCE)
    return type(first) is type(second) and bool(first == second)


def json_text(value: Any) -> str:
    """Plain values as the app writes JSON: compact, ASCII only, in the fields' order."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def json_body(value: Any) -> bytes:
    """A JSON answer's body, as the app's JSON provider writes it (app.factory): the
    text and a final newline. Answers are measured by it (app.http.answer_size)."""
    return (json_text(value) + "\n").encode("ascii")


def answer_body(value: Any) -> bytes:
    """A model's answer as json_body writes it, byte for byte, several times faster:
    for plain values whose floats are finite, which the predictor guarantees of every
    answer (msgspec writes NaN and infinities as null).

    msgspec writes the same bytes as the standard library but for what it is checked
    for: a character beyond ASCII, or DEL (written as itself, not escaped), and a float
    below 1e-4 or from 1e16 on (in another notation: `0.00001`, `1e16`). An answer with
    any is written by json_body instead; so is one msgspec cannot write (a key that is
    not a string, a lone surrogate).
    """
    try:
        encoded = _encode(value)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return json_body(value)
    if encoded.isascii() and not _other_notation(encoded):
        return encoded + b"\n"
    return json_body(value)


_encode = msgspec.json.Encoder().encode
# Every digit read as 0: a few passes in C over the text, where a regular expression
# would take a step per byte.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _other_notation(encoded: bytes) -> bool:
    """Whether msgspec's text may differ from the standard library's: an exponent right
    after a digit (`1e16`, `1e-7`; Python writes `1e+16`, `1e-07`), four zeros after the
    point (`0.0000123`; Python: `1.23e-05`), or DEL, which Python escapes. A string
    holding the same characters only sends the answer the slower way."""
    return b"0.0000" in encoded or b"\x7f" in encoded or b"0e" in encoded.translate(_DIGITS_AS_ZERO)


def label_key(label: Any) -> str:
    """A class label as JSON text writes it, for where a label must be a string: the keys
    of `probabilities` (native, the OpenAPI document) and V2's BYTES predictions. A
    string is itself; a boolean is `false`/`true` (JSON's spelling, not Python's), a
    number its JSON literal."""
    return label if isinstance(label, str) else json.dumps(label)


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def plain_values(values: np.ndarray) -> list[Any]:
    """A numpy array as plain Python values, numpy scalars inside object arrays included."""
    # tolist() already gives plain values, except inside an object array.
    items: list[Any] = values.tolist()
    if values.dtype == object and not set(map(type, items)) <= _PLAIN_TYPES:
        return [_plain(item) for item in items]
    return items


def _plain(item: Any) -> Any:
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, list):
        return [_plain(value) for value in item]
    return item
