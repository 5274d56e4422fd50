"""The fast JSON paths give exactly what the standard library gives.

Bodies are read by msgspec first and a model's answers written by it
(app.core.decoding, app.core.answers.answer_body: finite floats only), with the
standard library behind each for what msgspec reads or writes otherwise. Hypothesis
generates values and texts of every kind, the awkward ones weighted in (floats at both
ends of float64, integers past 64 bits and past float64, lone surrogates, escapes, text
beyond ASCII, invalid bytes), and each is compared with the standard library's result:
the same value of the same type, or the same error. Derandomized, with no example
database.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.core import decoding
from app.core.answers import answer_body
from app.core.decoding import parse_json
from app.core.errors import ApiError

settings.register_profile(
    "fast-json",
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST_JSON = settings.get_profile("fast-json")

FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-12, max_value=1e-3),  # where the notations differ
    st.floats(min_value=1e15, max_value=1e20),
    st.sampled_from([0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e-4,
                     9.999999999999999e-5, 1e16, 9999999999999998.0, 0.1, 1 / 3]),
)  # fmt: skip
INTEGERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**308, 10**309,
                     -(10**309), 10**400]),
)  # fmt: skip
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(TEXT, children, max_size=6)
    ),
    max_leaves=40,
)


def standard(body: bytes, max_depth: int = 32) -> Any:
    """parse_json with the fast reader left out: the standard library's path alone."""
    with mock.patch.object(decoding, "_LONG_INTEGER", b""):  # found in every body
        return parse_json(body, max_depth)


def outcome(read: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", _typed(read(body))
    except ApiError as error:
        return "error", (error.code, error.message)


def _typed(value: Any) -> Any:
    """The value with every leaf's type beside it, and a float's sign: 0 == 0.0 == -0.0
    and True == 1 in Python, but not in JSON's answers."""
    if isinstance(value, list):
        return ["list", [_typed(item) for item in value]]
    if isinstance(value, dict):
        return ["dict", [[key, _typed(item)] for key, item in value.items()]]
    if isinstance(value, float):
        return ["float", value, math.copysign(1.0, value)]
    return [type(value).__name__, value]


@FAST_JSON
@given(value=VALUES, ascii_only=st.booleans(), spaced=st.booleans())
@example(value={"instances": [[5.1, 3.5, 1.4, 0.2]] * 3}, ascii_only=True, spaced=False)
@example(value=[10**400, -(10**309), 10**308], ascii_only=True, spaced=False)
@example(value={"a": 1, "b": "\ud800"}, ascii_only=True, spaced=True)
def test_reading_a_json_text(value: Any, ascii_only: bool, spaced: bool) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(value, ensure_ascii=ascii_only, separators=separators)
    body = text.encode("utf-8", "surrogatepass")  # a raw lone surrogate is invalid UTF-8
    assert outcome(parse_json, body) == outcome(standard, body)


JSONISH = st.lists(
    st.sampled_from(
        ["[", "]", "{", "}", '"', ",", ":", " ", "\n", "\t", "\\", "\\u00e9", "\\ud83d", "\\ude00",
         "0", "1", "7", "-", "+", ".", "e", "E", "true", "false", "null", "NaN", "Infinity",
         "1e400", "1e-400", "9" * 25, "9" * 320, '"a"', '"é"', "\x01", "\x7f", "\u2028"]
    ),
    max_size=40,
).map("".join)  # fmt: skip


@FAST_JSON
@given(text=JSONISH, tail=st.binary(max_size=3))
@example(text='{"a": 1, "a": [2]}', tail=b"")
@example(text="[" * 40 + "]" * 40, tail=b"")
@example(text='{"k": "\\ud800"}', tail=b"")
@example(text="[1]", tail=b"\xff")
def test_reading_any_text(text: str, tail: bytes) -> None:
    body = text.encode("utf-8", "surrogatepass") + tail
    assert outcome(parse_json, body) == outcome(standard, body)


PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(TEXT, children, max_size=6)
    ),
    max_leaves=40,
)


@FAST_JSON
@given(value=PLAIN)
@example(value={"predictions": ["setosa"] * 3, "model_version": "1.0.0"})
@example(value={"probabilities": {"setosa": 2.5e-05, "virginica": 1e-07, "x": 1e16}})
@example(value={"label": "é", "code": "a\u2028b\x7f\x1f"})
@example(value=[2**64, -(2**63) - 1, 10**400])
def test_writing_an_answer(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=True, separators=(",", ":")) + "\n"
    assert answer_body(value) == expected.encode("ascii")


@pytest.mark.parametrize("key", [1, 2.5, True, None])
def test_an_answer_with_keys_that_are_not_strings(key: Any) -> None:
    # The standard library writes such keys as strings; msgspec refuses them.
    expected = json.dumps({key: 1}, separators=(",", ":")) + "\n"
    assert answer_body({key: 1}) == expected.encode("ascii")


def test_the_int_digit_limit_is_the_interpreter_s() -> None:
    # A literal longer than int() takes is read as a marker, by either path.
    assert sys.get_int_max_str_digits() == 4300
    body = b"[" + b"1" * 5000 + b"]"
    assert outcome(parse_json, body) == outcome(standard, body)


@pytest.mark.parametrize("limit", [3, 32])
def test_unpaired_brackets_deeper_than_the_peels_are_measured_as_before(limit: int) -> None:
    # Not JSON: the running sum decides, as it always did, and the parser says why.
    body = b"]" + b"[" * (limit + 1) + b"]" * (limit + 1)
    kind, (code, message) = outcome(lambda b: parse_json(b, limit), body)
    assert (kind, code) == ("error", "invalid_json")
    assert message.startswith("The request body is not valid JSON: Expecting value"), message
