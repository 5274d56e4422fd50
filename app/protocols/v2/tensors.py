"""V2 tensors on the wire: the datatype table, and Triton's binary tensor extension.

With the extension (tritonclient's default), a body is a JSON header of
`Inference-Header-Content-Length` bytes followed by the raw tensors, in input order,
each as long as its `parameters.binary_data_size`: little-endian, row-major, and for
BYTES each element as a 4-byte little-endian length and then its bytes. Answers are
built the same way when an output asks for binary data.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

BINARY_HEADER = "Inference-Header-Content-Length"
BINARY_TYPE = "application/octet-stream"
EXTENSION = "binary_tensor_data"

# Wire datatype -> the numpy dtype of its binary form (BYTES has none: length-prefixed).
DATATYPES: dict[str, str | None] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": None,
}
INTEGER_TYPES = frozenset(name for name in DATATYPES if "INT" in name)
FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
NUMERIC_TYPES = INTEGER_TYPES | FLOAT_TYPES
# What a feature of each schema type may be sent as (columnar inputs).
FEATURE_DATATYPES = {
    "number": NUMERIC_TYPES,
    "integer": NUMERIC_TYPES,
    "boolean": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
    "datetime": frozenset({"BYTES"}),  # ISO 8601 text
}
# And the one it is described with in the model's metadata.
FEATURE_DATATYPE = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
}
# The content type MLServer's codecs name a BYTES tensor of ISO 8601 date-times with.
DATETIME_CONTENT_TYPE = "datetime"
_LENGTH = struct.Struct("<I")


class TensorError(ValueError):
    """Binary data that does not hold the tensor its header describes."""


def from_binary(data: bytes, datatype: str, count: int) -> Any:
    """`count` elements of `datatype`: a numpy array, or for BYTES a list of bytes."""
    dtype = DATATYPES[datatype]
    if dtype is not None:
        width = np.dtype(dtype).itemsize
        if len(data) != count * width:
            raise TensorError(
                f"expected {count * width} bytes for {count} {datatype} values, got {len(data)}"
            )
        return np.frombuffer(data, dtype=dtype)
    # One step per element, so kept to the least: a 1 MiB body holds 262,144 of them.
    items: list[bytes] = []
    unpack, end, offset = _LENGTH.unpack_from, len(data), 0
    try:
        while offset < end:
            start = offset + _LENGTH.size
            offset = start + unpack(data, offset)[0]
            items.append(data[start:offset])
    except struct.error:
        raise TensorError("a BYTES element's 4-byte length is cut short") from None
    if offset > end:
        raise TensorError("a BYTES element is shorter than its length says")
    if len(items) != count:
        raise TensorError(f"expected {count} BYTES elements, got {len(items)}")
    return items


def to_binary(values: Sequence[Any], datatype: str) -> bytes:
    """Plain values (flat, row-major) as the binary form of `datatype`."""
    dtype = DATATYPES[datatype]
    if dtype is not None:
        return np.asarray(values, dtype=dtype).tobytes()
    parts = []
    for value in values:
        encoded = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts += [_LENGTH.pack(len(encoded)), encoded]
    return b"".join(parts)


def datatype_of(values: Sequence[Any]) -> str:
    """The datatype that carries these plain values exactly (flat)."""
    kinds = set(map(type, values))
    if kinds == {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def datatype_of_labels(labels: Sequence[Any]) -> str:
    """The datatype of predictions drawn from these labels (a classifier's classes)."""
    return datatype_of(list(labels)) if labels else "BYTES"
