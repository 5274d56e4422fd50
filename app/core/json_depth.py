"""How deeply a JSON text nests arrays and objects, and how many it holds, measured
without parsing it.

The parser recurses once per level, so the depth is bounded before it runs; and each
array or object it builds costs about 100 bytes of memory (a list or dict, its slots,
the collector's header), whatever the few bytes of text that made it, so their number
is bounded too. The scan
makes a few passes over the bytes in C (bytes.replace, bytes.translate) and then over
what is left, the quotes and brackets, with numpy: linear time, no recursion and no
Python loop per byte, so a 1 MiB body costs a few milliseconds whatever its shape.
"""

from __future__ import annotations

import numpy as np

# The default bound on nesting (MAX_JSON_DEPTH): deeper than any request needs.
DEFAULT_MAX_JSON_DEPTH = 32

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(_STRUCTURE)))
_QUOTE = ord('"')
_QUOTE_BYTE = b'"'
# Levels peeled before the running sum takes over: requests nest three or four deep.
PEELS = 6
# Objects read as arrays where only the depth matters.
_SQUARE = bytes.maketrans(b"{}", b"[]")
# +1 for a bracket that opens a level, -1 for one that closes it, 0 for a quote.
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
# A row of one value, `[1],`, is four bytes: no request needs its arrays and objects any
# denser than that. At one per 4 bytes, what the parser builds stays within about 25
# times the text; `[[[1]]]` repeated would take 35 times, and a deeper nest 44.
BYTES_PER_CONTAINER = 4
# ...beyond a few, so that a small body (`{}`, `{"a": {}}`) is read and answered as such.
CONTAINER_ALLOWANCE = 64


def nesting_depth(text: bytes) -> int:
    """The deepest nesting of arrays and objects: 0 for a scalar, 1 for `[]`, 2 for `[{}]`.

    Brackets inside strings do not count. For text that is not valid JSON the answer
    is only an estimate, which is enough: the parser rejects such text anyway.
    """
    return structure(text)[0]


def structure(text: bytes) -> tuple[int, int]:
    """The deepest nesting of arrays and objects, and how many arrays and objects there
    are, brackets inside strings not counted (estimates for text that is not JSON)."""
    return _structure_of(_marks(text))


def opening_brackets(text: bytes) -> int:
    """How many `[` and `{` the text holds, in strings too: a bound on both its depth
    and its number of arrays and objects, which most bodies are well within."""
    return text.count(b"[") + text.count(b"{")


def too_many_containers(text: bytes, opening: int | None = None) -> int | None:
    """How many arrays and objects the text holds, if more than a request may: one per
    BYTES_PER_CONTAINER bytes, beyond the first CONTAINER_ALLOWANCE; else None.
    `opening` is opening_brackets(text), when the caller has it."""
    allowed = len(text) // BYTES_PER_CONTAINER + CONTAINER_ALLOWANCE
    # Never more than its count of opening brackets: most bodies need no scan.
    if (opening_brackets(text) if opening is None else opening) <= allowed:
        return None
    containers = structure(text)[1]
    return containers if containers > allowed else None


def nests_deeper_than(text: bytes, limit: int, opening: int | None = None) -> bool:
    """Whether the text nests arrays and objects more than `limit` levels deep.
    `opening` is opening_brackets(text), when the caller has it."""
    # Never deeper than its count of opening brackets: a small body needs no scan.
    if (opening_brackets(text) if opening is None else opening) <= limit:
        return False
    marks = _marks(text)
    if _QUOTE_BYTE not in marks:
        depth = _peeled_depth(marks)
        if depth is not None:
            return depth > limit
    return _structure_of(marks)[0] > limit


def _marks(text: bytes) -> bytes:
    """The text's quotes and brackets alone, without the quotes of strings that hold no
    bracket."""
    if b"\\" in text:
        # Escapes only occur in strings. Dropping escaped backslashes first (pairs, left
        # to right) leaves a backslash before a quote only where it escapes that quote.
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Bytes of multi-byte UTF-8 characters are all >= 0x80: none is taken for these.
    # A string with no bracket in it leaves its two quotes side by side: dropping such
    # pairs keeps every other quote's parity, so what is inside a string stays inside.
    return text.translate(None, _NOT_STRUCTURE).replace(b'""', b"")


def _structure_of(marks: bytes) -> tuple[int, int]:
    structure = np.frombuffer(marks, dtype=np.uint8)
    if not structure.size:
        return 0, 0
    steps = _STEP[structure]
    quotes = structure == _QUOTE
    # Running sums no larger than the text is long: 32 bits halve the scan's memory.
    counter = np.int32 if structure.size < 2**31 else np.int64
    if quotes.any():
        # After an odd number of quotes is inside a string.
        steps[np.cumsum(quotes, dtype=counter) % 2 == 1] = 0
    depth = max(int(np.cumsum(steps, dtype=counter).max()), 0)
    return depth, int(np.count_nonzero(steps == 1))


def _peeled_depth(marks: bytes) -> int | None:
    """The depth of brackets alone, found by dropping the innermost pairs one level at a
    time (`[[][]]` -> `[]` -> nothing): a few passes in C over a short text, for the
    shallow bodies requests are. None when that does not empty them within PEELS passes
    (deeper, or brackets that do not pair up), for the running sum to measure."""
    marks = marks.translate(_SQUARE)
    for level in range(PEELS + 1):
        if not marks:
            return level
        peeled = marks.replace(b"[]", b"")
        if len(peeled) == len(marks):
            return None
        marks = peeled
    return None
