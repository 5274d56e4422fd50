"""V2 infer bodies and answers on the wire, written and read here without the app's code.

Triton's binary tensor extension: a JSON header of `Inference-Header-Content-Length`
bytes, then each binary tensor in order, little-endian and row-major; a BYTES element
is a 4-byte little-endian length and its bytes. The rows come from the example
models' own data: iris rows by hand, churn rows from its seeded generator.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.examples.churn import customers

BINARY_HEADER = "Inference-Header-Content-Length"
OCTET_STREAM = "application/octet-stream"
IRIS = "iris-logistic-regression"
CHURN = "customer-churn"
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
CHURN_CLASSES = ["no", "yes"]
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# The churn model's features and the datatype each travels as.
CHURN_DATATYPES = {
    "tenure_months": "INT64",
    "monthly_charges": "FP64",
    "contract": "BYTES",
    "payment_method": "BYTES",
    "has_partner": "BOOL",
    "support_calls": "FP64",
}
_NUMPY = {
    "BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}  # fmt: skip
_LENGTH = struct.Struct("<I")


def infer_path(model: str, version: str | None = None) -> str:
    versioned = f"/versions/{version}" if version else ""
    return f"/v2/models/{model}{versioned}/infer"


def churn_rows(count: int = 5, seed: int = 11) -> list[dict[str, Any]]:
    """Rows of the churn model's generator as plain JSON values, a missing count of
    support calls (the nullable number) among them."""
    frame, _ = customers(rows=count, seed=seed)
    frame.loc[1, "support_calls"] = np.nan
    rows = []
    for record in frame.to_dict(orient="records"):
        rows.append(
            {
                "tenure_months": int(record["tenure_months"]),
                "monthly_charges": float(record["monthly_charges"]),
                "contract": str(record["contract"]),
                "payment_method": str(record["payment_method"]),
                "has_partner": bool(record["has_partner"]),
                "support_calls": None
                if math.isnan(record["support_calls"])
                else float(record["support_calls"]),
            }
        )
    return rows


def column(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    return [row[name] for row in rows]


def json_input(name: str, datatype: str, shape: list[int], data: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def churn_json_inputs(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One JSON input per feature, shape [rows]; a missing number is null."""
    return [
        json_input(name, datatype, [len(rows)], column(rows, name))
        for name, datatype in CHURN_DATATYPES.items()
    ]


def encode(values: Sequence[Any], datatype: str) -> bytes:
    """Flat values as the binary form of `datatype` (None as NaN in a float one)."""
    if datatype == "BYTES":
        parts = []
        for value in values:
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts += [_LENGTH.pack(len(raw)), raw]
        return b"".join(parts)
    floats = datatype.startswith("FP")
    prepared = [math.nan if value is None and floats else value for value in values]
    return np.asarray(prepared, dtype=_NUMPY[datatype]).tobytes()


@dataclass(frozen=True)
class BinaryInput:
    """A binary input: its tensor in the header and the bytes that follow it."""

    tensor: dict[str, Any]
    blob: bytes


def binary_input(
    name: str, datatype: str, shape: list[int], values: Sequence[Any] | bytes
) -> BinaryInput:
    """`values` encoded, or taken as they are when bytes (for a malformed tensor)."""
    blob = values if isinstance(values, bytes) else encode(values, datatype)
    tensor = {
        "name": name,
        "shape": shape,
        "datatype": datatype,
        "parameters": {"binary_data_size": len(blob)},
    }
    return BinaryInput(tensor, blob)


def binary_body(
    request: Mapping[str, Any], inputs: Sequence[dict[str, Any] | BinaryInput], tail: bytes = b""
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a request with these inputs, JSON or binary, in order;
    `tail` is appended after the tensors."""
    tensors = [item.tensor if isinstance(item, BinaryInput) else item for item in inputs]
    header = json.dumps({**request, "inputs": tensors}).encode()
    blobs = [item.blob for item in inputs if isinstance(item, BinaryInput)]
    return header + b"".join(blobs) + tail, {BINARY_HEADER: str(len(header))}


def decode(blob: bytes, datatype: str) -> list[Any]:
    """A binary tensor as flat plain values; BYTES as text."""
    if datatype != "BYTES":
        return np.frombuffer(blob, dtype=_NUMPY[datatype]).tolist()
    values, offset = [], 0
    while offset < len(blob):
        (length,) = _LENGTH.unpack_from(blob, offset)
        offset += _LENGTH.size
        values.append(blob[offset : offset + length].decode("utf-8"))
        offset += length
    return values


def read_answer(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """An infer answer, JSON or binary, as JSON with every output's `data` filled in
    (and each binary one still carrying its `parameters.binary_data_size`)."""
    length = {k.lower(): v for k, v in headers.items()}.get(BINARY_HEADER.lower())
    if length is None:
        answer: dict[str, Any] = json.loads(body)
        return answer
    head: dict[str, Any] = json.loads(body[: int(length)])
    offset = int(length)
    for output in head["outputs"]:
        size = output.get("parameters", {}).get("binary_data_size")
        if size is not None:
            output["data"] = decode(body[offset : offset + size], output["datatype"])
            offset += size
    assert offset == len(body), f"{len(body) - offset} bytes after the outputs"
    return head


def rows_of(flat: Sequence[Any], width: int) -> list[list[Any]]:
    return [list(flat[i : i + width]) for i in range(0, len(flat), width)]


def expected_outputs(native: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """What V2 answers for the rows of a /predict batch answer (with probabilities):
    predict, and predict_proba in the model's class order, row-major."""
    predictions = native["predictions"]
    outputs: dict[str, Any] = {"predict": predictions}
    if "probabilities" in native:
        outputs["predict_proba"] = [p[label] for p in native["probabilities"] for label in classes]
    return outputs


def outputs_by_name(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {output["name"]: output["data"] for output in answer["outputs"]}
