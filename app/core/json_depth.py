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
    if b"\\" in text:
        # Escapes only occur in strings. Dropping escaped backslashes first (pairs, left
        # to right) leaves a backslash before a quote only where it escapes that quote.
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Bytes of multi-byte UTF-8 characters are all >= 0x80: none is taken for these.
    structure = np.frombuffer(text.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
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


def too_many_containers(text: bytes) -> int | None:
    """How many arrays and objects the text holds, if more than a request may: one per
    BYTES_PER_CONTAINER bytes, beyond the first CONTAINER_ALLOWANCE; else None."""
    allowed = len(text) // BYTES_PER_CONTAINER + CONTAINER_ALLOWANCE
    # Never more than its count of opening brackets: most bodies need no scan.
    if text.count(b"[") + text.count(b"{") <= allowed:
        return None
    containers = structure(text)[1]
    return containers if containers > allowed else None


def nests_deeper_than(text: bytes, limit: int) -> bool:
    """Whether the text nests arrays and objects more than `limit` levels deep."""
    # Never deeper than its count of opening brackets: a small body needs no scan.
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    return nesting_depth(text) > limit
