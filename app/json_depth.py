"""How deeply a JSON text nests arrays and objects, measured without parsing it.

The parser recurses once per level, so the depth is bounded before it runs. The scan
makes a few passes over the bytes in C (bytes.replace, bytes.translate) and then over
what is left, the quotes and brackets, with numpy: linear time, no recursion and no
Python loop per byte, so a 1 MiB body costs a few milliseconds whatever its shape.
"""

from __future__ import annotations

import numpy as np

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(_STRUCTURE)))
_QUOTE = ord('"')
# +1 for a bracket that opens a level, -1 for one that closes it, 0 for a quote.
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def nesting_depth(text: bytes) -> int:
    """The deepest nesting of arrays and objects: 0 for a scalar, 1 for `[]`, 2 for `[{}]`.

    Brackets inside strings do not count. For text that is not valid JSON the answer
    is only an estimate, which is enough: the parser rejects such text anyway.
    """
    if b"\\" in text:
        # Escapes only occur in strings. Dropping escaped backslashes first (pairs, left
        # to right) leaves a backslash before a quote only where it escapes that quote.
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Bytes of multi-byte UTF-8 characters are all >= 0x80: none is taken for these.
    structure = np.frombuffer(text.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    if not structure.size:
        return 0
    steps = _STEP[structure]
    quotes = structure == _QUOTE
    if quotes.any():
        # After an odd number of quotes is inside a string.
        steps[np.cumsum(quotes, dtype=np.int64) % 2 == 1] = 0
    return max(int(np.cumsum(steps, dtype=np.int64).max()), 0)


def nests_deeper_than(text: bytes, limit: int) -> bool:
    """Whether the text nests arrays and objects more than `limit` levels deep."""
    # Never deeper than its count of opening brackets: a small body needs no scan.
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    return nesting_depth(text) > limit
