"""An infer request's body read and checked, up to the rows it holds.

The body is a JSON header, and with Triton's binary tensor extension the tensors' bytes
after it (app.protocols.v2.tensors). The header's fields, the outputs it asks for and its
inputs are checked here, each against its own declared shape and size before any value
is read; the inputs are then made rows (app.protocols.v2.rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

import msgspec
import numpy as np
from flask import Request

from app.core.decoding import JSON_TYPE, NonFiniteNumber
from app.core.errors import ApiError
from app.core.predictor import Predictor
from app.core.typed_rows import UNSET, Omitted, decode_typed
from app.core.validation import Problems, Rows, kind_of
from app.http.body import media_type, read_body, unproxied
from app.http.serving import invalid
from app.protocols.request_shape import flag, json_object, optional_object, unknown_members
from app.protocols.v2.rows import InputTensor, columnar_rows, matrix_rows, tensor_row_loc
from app.protocols.v2.tensors import (
    BINARY_HEADER,
    BINARY_TYPE,
    DATATYPES,
    FLOAT_TYPES,
    TensorError,
    from_binary,
)

# The outputs a request may ask for, named as MLServer's scikit-learn runtime names them.
PREDICT = "predict"  # the default
PREDICT_PROBA = "predict_proba"
_REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
_INPUT_FIELDS = ("name", "shape", "datatype", "parameters", "data")
_OUTPUT_FIELDS = ("name", "parameters")
# The longest id a request may give: its answer echoes it.
MAX_ID_LENGTH = 256


def split_body(request: Request) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensors after it (empty without the extension)."""
    request = unproxied(request)
    length = request.headers.get(BINARY_HEADER)
    if length is None:
        if request.mimetype == BINARY_TYPE:
            raise ApiError(
                "unsupported_media_type",
                f"Expected Content-Type {JSON_TYPE}, or {BINARY_TYPE} with the "
                f"{BINARY_HEADER} header.",
            )
        # tritonclient sends no Content-Type: JSON is assumed, as Triton does.
        media_type(request, (JSON_TYPE,), untyped=JSON_TYPE)
        return read_body(request), b""
    media_type(request, (JSON_TYPE, BINARY_TYPE), untyped=BINARY_TYPE)
    body = read_body(request)
    # isdigit() alone takes digits int() refuses, such as a latin-1 "\xb2" (superscript 2);
    # and int() refuses more than 4,300 digits, leading zeros included: no more are read
    # than the body's own length has.
    digits = length.lstrip("0") or "0"
    if not (
        length.isascii()
        and length.isdigit()
        and len(digits) <= len(str(len(body)))
        and int(digits) <= len(body)
    ):
        raise ApiError(
            "bad_request",
            f"The {BINARY_HEADER} header must be a byte count of at most the body's "
            f"{len(body)} bytes.",
        )
    return body[: int(digits)], body[int(digits) :]


@dataclass(frozen=True)
class InferRequest:
    """A valid infer request: its id, its rows and where each is, the outputs asked for."""

    id: str | None
    rows: Rows
    row_loc: Callable[[int], str]
    # (output name, whether it is sent as binary data), in the order asked for.
    outputs: list[tuple[str, bool]]


def parse_infer_request(
    payload: Any, tensors: bytes, predictor: Predictor, max_rows: int, max_body: int
) -> InferRequest:
    """Validate an infer request against the model; 422 (400 on the wire) lists its
    problems. `max_body` is the most bytes a body may have: no tensor holds more values."""
    problems = Problems()
    payload = json_object(payload)
    unknown_members(payload, None, _REQUEST_FIELDS, problems)
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        problems.add("id", f"expected a string, got {kind_of(request_id)}")
    elif request_id is not None and len(request_id) > MAX_ID_LENGTH:
        # The answer echoes it: its size counts against the rows' (app.http.answer_size).
        problems.add("id", f"expected at most {MAX_ID_LENGTH} characters, got {len(request_id)}")
    parameters = optional_object(payload.get("parameters"), "parameters", problems)
    binary_default = flag(parameters, "binary_data_output", "parameters", problems)
    outputs = _outputs(payload.get("outputs"), predictor, binary_default, problems)
    schema = predictor.schema
    inputs = _inputs(payload.get("inputs"), tensors, len(schema.names), max_body, problems)
    if problems or inputs is None:
        raise invalid(problems)

    if all(item.name in schema.names for item in inputs):
        rows, row_loc = columnar_rows(inputs, schema, max_rows, problems)
    else:
        rows, row_loc = matrix_rows(inputs, schema, max_rows, problems)
    if problems or rows is None:
        raise invalid(problems)
    return InferRequest(request_id, rows, row_loc, outputs)


class _TypedOutput(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class _TypedTensor(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    shape: tuple[int, int]
    datatype: Literal["FP64"]
    data: list[float]


class _TypedInferBody(msgspec.Struct, forbid_unknown_fields=True):
    inputs: list[_TypedTensor]
    id: str | Omitted = UNSET
    outputs: list[_TypedOutput] | Omitted = UNSET


# The usual request of an all-number model: one flat FP64 tensor [rows, features] in
# JSON, the outputs named without parameters.
_TYPED_INFER_BODY = msgspec.json.Decoder(_TypedInferBody)


def typed_infer_request(
    header: bytes, tensors: bytes, predictor: Predictor, max_rows: int
) -> InferRequest | None:
    """A valid request of the usual shape read from its bytes in one pass (see
    app.core.typed_rows); None for parse_infer_request to read, and to refuse."""
    schema = predictor.schema
    if tensors or not schema.all_numeric:
        return None
    read = decode_typed(_TYPED_INFER_BODY, header)
    if read is None or len(read.inputs) != 1:
        return None
    tensor, width = read.inputs[0], len(schema.names)
    count = tensor.shape[0]
    if (
        tensor.name in schema.names  # one input per feature: columnar_rows reads it
        or tensor.shape[1] != width
        or not 0 < count <= max_rows
        or len(tensor.data) != count * width
    ):
        return None
    request_id = None if read.id is UNSET else read.id
    if request_id is not None and len(request_id) > MAX_ID_LENGTH:
        return None
    offered = available_outputs(predictor)
    if read.outputs is UNSET:
        outputs = [(PREDICT, False)]
    else:
        names = [output.name for output in read.outputs]
        if not names or len(set(names)) != len(names) or not set(names) <= set(offered):
            return None
        outputs = [(name, False) for name in names]
    # msgspec reads only finite float64s, as the general path's matrix holds them.
    matrix = np.array(tensor.data, dtype=np.float64).reshape(count, width)
    rows = Rows(count=count, matrix=matrix)
    return InferRequest(request_id, rows, tensor_row_loc("inputs[0]", width), outputs)


def _outputs(
    requested: Any, predictor: Predictor, binary_default: bool, problems: Problems
) -> list[tuple[str, bool]]:
    offered = available_outputs(predictor)
    if requested is None:
        return [(PREDICT, binary_default)]
    if not isinstance(requested, list) or not requested:
        problems.add("outputs", f"expected a non-empty array, got {kind_of(requested)}")
        return []
    if len(requested) > len(offered):
        # Each output at most once: more is one problem, whatever the outputs hold.
        problems.add(
            "outputs",
            f"expected at most {len(offered)} (this model offers {', '.join(offered)}), "
            f"got {len(requested)}",
        )
        return []
    chosen: list[tuple[str, bool]] = []
    for index, output in enumerate(requested):
        loc = f"outputs[{index}]"
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            problems.add(loc, "expected an object with a name")
            continue
        unknown_members(output, loc, _OUTPUT_FIELDS, problems)
        name = output["name"]
        if name not in offered:
            problems.add(f"{loc}.name", f"unknown output; this model offers {', '.join(offered)}")
        elif name in (seen for seen, _ in chosen):
            problems.add(f"{loc}.name", "the output is asked for twice")
        parameters = optional_object(output.get("parameters"), f"{loc}.parameters", problems)
        binary = binary_default
        if "binary_data" in parameters:
            binary = flag(parameters, "binary_data", f"{loc}.parameters", problems)
        chosen.append((name, binary))
    return chosen


def available_outputs(predictor: Predictor) -> list[str]:
    # One probability tensor needs one set of classes: single-output classifiers only.
    if predictor.supports_probabilities and predictor.metadata.outputs is None:
        return [PREDICT, PREDICT_PROBA]
    return [PREDICT]


def _inputs(
    value: Any, tensors: bytes, max_inputs: int, max_body: int, problems: Problems
) -> list[InputTensor] | None:
    """The tensors, each checked against its own declared shape and size; None if there
    is nothing to check them against the model with."""
    if not isinstance(value, list) or not value:
        problems.add("inputs", f"expected a non-empty array of tensors, got {kind_of(value)}")
        return None
    if len(value) > max_inputs:
        problems.add(
            "inputs",
            f"expected at most {max_inputs} (one tensor [rows, features], or one input per "
            f"feature), got {len(value)}",
        )
        return None
    inputs: list[InputTensor] = []
    offset = 0
    # After a tensor left unread, or a size beyond the body, the later offsets are unknown:
    # no count of unused bytes.
    lost_offset = False
    names: set[str] = set()
    for index, tensor in enumerate(value):
        if not problems.accepts():
            return None  # no later tensor's problem could be reported
        loc = f"inputs[{index}]"
        if not isinstance(tensor, dict):
            problems.add(loc, f"expected a tensor object, got {kind_of(tensor)}")
            lost_offset = True
            continue
        unknown_members(tensor, loc, _INPUT_FIELDS, problems)
        name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
        if not isinstance(name, str):
            problems.add(f"{loc}.name", f"expected a string, got {kind_of(name)}")
            lost_offset = True
            continue
        if name in names:
            problems.add(f"{loc}.name", "two inputs have this name")
        names.add(name)
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            problems.add(f"{loc}.datatype", f"expected one of {', '.join(DATATYPES)}")
            lost_offset = True
            continue
        shape = _shape(shape, max_body)
        if isinstance(shape, str):
            problems.add(f"{loc}.shape", shape)
            lost_offset = True
            continue
        count = math.prod(shape)
        parameters = optional_object(tensor.get("parameters"), f"{loc}.parameters", problems)
        size = parameters.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(tensors):
                problems.add(
                    f"{loc}.parameters.binary_data_size",
                    f"expected a byte count within the {len(tensors)} bytes after the header",
                )
                lost_offset = True
                continue
            if "data" in tensor:
                problems.add(f"{loc}.data", "expected no data beside binary_data_size")
            try:
                values = from_binary(tensors[offset : offset + size], datatype, count)
            except TensorError as error:
                problems.add(f"{loc}.parameters.binary_data_size", str(error))
                continue
            finally:
                offset += size
        else:
            values = _flat(tensor.get("data"))
            if values is None:
                problems.add(f"{loc}.data", "expected an array of values (nested or flat)")
                continue
            if len(values) != count:
                problems.add(
                    f"{loc}.data", f"expected {count} values for shape {shape}, got {len(values)}"
                )
                continue
            if datatype in FLOAT_TYPES and NonFiniteNumber in set(map(type, values)):
                values = _missing_for_nan(values)
        inputs.append(InputTensor(index, name, datatype, shape, values))
    if offset != len(tensors) and not lost_offset:
        problems.add("body", f"{len(tensors) - offset} bytes after the tensors are not used")
    return inputs


def _shape(shape: Any, max_body: int) -> list[int] | str:
    """A tensor's shape, or why it cannot be one this server takes, found before any
    product of its sizes: [rows, features], [rows] or [rows, 1], of no more values than
    a body of `max_body` bytes can hold (one byte each at the least)."""
    sizes = "expected an array of sizes (non-negative integers)"
    if not isinstance(shape, list) or not shape:
        return sizes
    if len(shape) > 2:
        return f"expected [rows, features], [rows] or [rows, 1], got {len(shape)} sizes"
    if not all(type(size) is int and size >= 0 for size in shape):
        return sizes
    if max(shape) > max_body or math.prod(shape) > max_body:
        return f"declares more values than a body of at most {max_body} bytes can hold"
    return shape


def _flat(data: Any) -> list[Any] | None:
    """Row-major values of a flat or nested array."""
    if not isinstance(data, list):
        return None
    kinds = set(map(type, data))
    while list in kinds:
        if kinds != {list}:
            return None
        data = list(chain.from_iterable(data))
        kinds = set(map(type, data))
    flat: list[Any] = data
    return flat


def _missing_for_nan(values: list[Any]) -> list[Any]:
    """JSON data of a float datatype: NaN (tritonclient writes the literal for it) is a
    missing value, as it is in binary floats; infinities stay, to be refused."""
    return [None if value == _NAN else value for value in values]


_NAN = NonFiniteNumber("NaN")
