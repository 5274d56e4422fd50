"""The Open Inference Protocol V2 (KServe, MLServer, Triton), REST, with Triton's binary
tensor extension: what tritonclient and the kserve client send by default.

An infer request holds either one tensor of shape [rows, features] of a numeric
datatype, for a model whose features are all numbers, or one input per feature named
after it (columnar, as MLServer's pandas codec sends a DataFrame; a date-time feature as
BYTES of ISO 8601 text). Either becomes rows
for the schema's validator, each value placed in this body (`inputs[1].data[7]`, the
element's row-major index). Outputs are named as MLServer's scikit-learn runtime names
them: `predict` (the default) and `predict_proba`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, combinations, product
from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify, request

from app.core.answer_size import WORST_CHARACTER, Encoded
from app.core.answers import json_body, json_text, label_key, plain_values
from app.core.decoding import JSON_TYPE, NonFiniteNumber, parse_json
from app.core.errors import ApiError, cut
from app.core.predictor import Outcome, Predictor
from app.core.schema import Feature, Schema
from app.core.validation import (
    MAX_DETAILS,
    SKIPPED,
    Problems,
    Rows,
    kind_of,
    listed,
    validate_columns,
    validate_rows,
)
from app.http.body import media_type, read_body
from app.http.components import part_of
from app.http.request_log import note_error
from app.http.server_info import SERVER_NAME, SERVER_VERSION
from app.protocols.protocol import Protocol
from app.protocols.request_shape import flag, json_object, optional_object, unknown_members
from app.protocols.serving import (
    batch_limit,
    check_row_count,
    current_predictor,
    invalid,
    model_slot,
    predict,
)
from app.protocols.v2.tensors import (
    BINARY_HEADER,
    BINARY_TYPE,
    DATATYPES,
    DATETIME_CONTENT_TYPE,
    EXTENSION,
    FEATURE_DATATYPE,
    FEATURE_DATATYPES,
    FLOAT_TYPES,
    INTEGER_TYPES,
    NUMERIC_TYPES,
    TensorError,
    datatype_of,
    datatype_of_labels,
    from_binary,
    to_binary,
)
from app.service.settings import Settings

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"
PLATFORM = "scikit-learn"
# The one tensor of an all-number model, as the model's metadata names it; any name that
# is not a feature's is read the same way.
MATRIX_INPUT = "input-0"
_REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
_INPUT_FIELDS = ("name", "shape", "datatype", "parameters", "data")
_OUTPUT_FIELDS = ("name", "parameters")
# The model metadata's parameter that gives the most rows one request may hold.
MAX_BATCH_ROWS_PARAMETER = "max_batch_rows"
# The longest id a request may give: its answer echoes it.
MAX_ID_LENGTH = 256

blueprint = Blueprint("v2", __name__, url_prefix="/v2")


@blueprint.get("")
def server_metadata() -> Response:
    return jsonify(name=SERVER_NAME, version=SERVER_VERSION, extensions=[EXTENSION])


@blueprint.get("/health/live")
def live() -> Response:
    return jsonify(live=True)


@blueprint.get("/health/ready")
def ready() -> tuple[Response, int]:
    slot = model_slot()
    if slot.current() is None:
        note_error("model_unavailable")
        return jsonify(ready=False, error=f"The model is not available: {slot.reason}"), 503
    return jsonify(ready=True), 200


@blueprint.get("/models/<name>")
@blueprint.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> Response:
    predictor = _model(name, version)
    return jsonify(
        name=predictor.metadata.name,
        versions=[predictor.version],
        platform=PLATFORM,
        inputs=input_metadata(predictor.schema),
        outputs=output_metadata(predictor),
        parameters={MAX_BATCH_ROWS_PARAMETER: batch_limit(predictor)},
    )


@blueprint.get("/models/<name>/ready")
@blueprint.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    predictor = _model(name, version)
    return jsonify(name=predictor.metadata.name, ready=True)


@blueprint.post("/models/<name>/infer")
@blueprint.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    header, tensors = _split_body()
    payload = parse_json(header, part_of(Settings).max_json_depth)
    predictor = _model(name, version)
    parsed = parse_infer_request(
        payload,
        tensors,
        predictor,
        batch_limit(predictor),
        part_of(Settings).max_content_length,
    )
    outcome = predict(
        predictor,
        parsed.rows,
        parsed.row_loc,
        with_probabilities=any(output == PREDICT_PROBA for output, _ in parsed.outputs),
    )
    return _answer(predictor, parsed, outcome)


def _model(name: str, version: str | None) -> Predictor:
    predictor = current_predictor()
    served = predictor.metadata.name
    if name != served:
        raise ApiError("not_found", f"No model named {cut(name)!r}; this server serves {served!r}.")
    if version is not None and version != predictor.version:
        raise ApiError(
            "not_found",
            f"No version {cut(version)!r} of {served!r}; this server serves {predictor.version!r}.",
        )
    return predictor


def _split_body() -> tuple[bytes, bytes]:
    """The JSON header and the binary tensors after it (empty without the extension)."""
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
    id: str | None
    rows: Rows
    row_loc: Callable[[int], str]
    # (output name, whether it is sent as binary data), in the order asked for.
    outputs: list[tuple[str, bool]]


@dataclass
class _Input:
    index: int
    name: str
    datatype: str
    shape: list[int]
    values: Any  # a flat list of plain values, or a numpy array from binary data

    @property
    def loc(self) -> str:
        return f"inputs[{self.index}]"


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
        # The answer echoes it: its size counts against the rows' (app.core.answer_size).
        problems.add("id", f"expected at most {MAX_ID_LENGTH} characters, got {len(request_id)}")
    parameters = optional_object(payload.get("parameters"), "parameters", problems)
    binary_default = flag(parameters, "binary_data_output", "parameters", problems)
    outputs = _outputs(payload.get("outputs"), predictor, binary_default, problems)
    schema = predictor.schema
    inputs = _inputs(payload.get("inputs"), tensors, len(schema.names), max_body, problems)
    if problems or inputs is None:
        raise invalid(problems)

    if all(item.name in schema.names for item in inputs):
        rows, row_loc = _columnar(inputs, schema, max_rows, problems)
    else:
        rows, row_loc = _matrix(inputs, schema, max_rows, problems)
    if problems or rows is None:
        raise invalid(problems)
    return InferRequest(request_id, rows, row_loc, outputs)


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
) -> list[_Input] | None:
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
    inputs: list[_Input] = []
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
        inputs.append(_Input(index, name, datatype, shape, values))
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


def _matrix(
    inputs: list[_Input], schema: Schema, max_rows: int, problems: Problems
) -> tuple[Rows | None, Callable[[int], str]]:
    """One tensor [rows, features] for an all-number model."""
    width = len(schema.names)
    tensor = inputs[0]

    def row_loc(index: int) -> str:
        return f"{tensor.loc}.data[{index * width}:{(index + 1) * width}]"

    unknown = [item for item in inputs if item.name not in schema.names]
    if len(inputs) > 1:
        for item in unknown:
            problems.add(
                f"{item.loc}.name",
                "unknown input; expected one tensor [rows, features] or one input per "
                f"feature named after it: {listed(schema.names)}",
            )
        return None, row_loc
    if not schema.all_numeric:
        problems.add(
            f"{tensor.loc}.name",
            "this model takes one input per feature, named after it: " + listed(schema.names),
        )
        return None, row_loc
    if tensor.datatype not in NUMERIC_TYPES:
        problems.add(f"{tensor.loc}.datatype", "expected a numeric datatype (FP64, FP32, INT64)")
        return None, row_loc
    shape = tensor.shape
    if len(shape) != 2 or shape[1] != width:
        problems.add(f"{tensor.loc}.shape", f"expected [rows, {width}], got {shape}")
        return None, row_loc
    if not check_row_count(shape[0], max_rows, f"{tensor.loc}.shape", problems):
        return None, row_loc
    values = tensor.values
    numbers = {int} if tensor.datatype in INTEGER_TYPES else {int, float}
    if isinstance(values, np.ndarray) or set(map(type, values)) <= numbers:
        # The common case: numbers only, made a matrix in C; a non-finite one is explained
        # below, value by value. A binary float tensor's NaN is a missing value there.
        matrix = np.asarray(values, dtype=np.float64).reshape(shape)
        if np.isfinite(matrix).all():
            return Rows(count=shape[0], matrix=matrix), row_loc
        count = _rows_worth_explaining(matrix)
        values = values[: count * width]
        shape = [count, width]
        if isinstance(values, np.ndarray):
            values = _plain_floats(values)
    elif tensor.datatype in INTEGER_TYPES:
        values = _integers_only(values, tensor, width, 0, problems)
    rows = [values[index * width : (index + 1) * width] for index in range(shape[0])]
    checked = validate_rows(
        rows,
        row_loc,
        schema,
        problems,
        value_loc=lambda index, position: f"{tensor.loc}.data[{index * width + position}]",
    )
    return checked, row_loc


def _columnar(
    inputs: list[_Input], schema: Schema, max_rows: int, problems: Problems
) -> tuple[Rows | None, Callable[[int], str]]:
    """One input per feature, each of shape [rows] or [rows, 1]."""

    def row_loc(index: int) -> str:
        return f"inputs[*].data[{index}]"

    by_name = {item.name: item for item in inputs}
    for name in schema.names:
        if name not in by_name:
            problems.add("inputs", f"missing input {name}: one input per feature is expected")
    counts = set()
    for feature in schema.features:
        item = by_name.get(feature.name)
        if item is None:
            continue
        if len(item.shape) > 2 or (len(item.shape) == 2 and item.shape[1] != 1):
            problems.add(f"{item.loc}.shape", f"expected [rows] or [rows, 1], got {item.shape}")
        if item.datatype not in FEATURE_DATATYPES[feature.type]:
            problems.add(
                f"{item.loc}.datatype",
                f"{feature.name} is {'an' if feature.type == 'integer' else 'a'} "
                f"{feature.type} feature: expected "
                + ", ".join(sorted(FEATURE_DATATYPES[feature.type])),
            )
        counts.add(item.shape[0])
    if len(counts) > 1:
        problems.add("inputs", "expected one number of rows in every input")
    if problems or not check_row_count(counts.pop(), max_rows, "inputs[0].shape", problems):
        return None, row_loc
    ordered = [by_name[name] for name in schema.names]
    columns = []
    for position, item in enumerate(ordered):
        values = item.values
        if isinstance(values, np.ndarray):
            values = _plain_floats(values) if values.dtype.kind == "f" else values.tolist()
        elif item.datatype == "BYTES" and isinstance(values, list) and values:
            values = (
                _texts(values, item, position, problems) if isinstance(values[0], bytes) else values
            )
        if item.datatype in INTEGER_TYPES and not isinstance(item.values, np.ndarray):
            values = _integers_only(values, item, 1, position, problems)
        columns.append(values)
    checked = validate_columns(
        columns,
        ordered[0].shape[0],
        lambda index, position: f"{ordered[position].loc}.data[{index}]",
        schema,
        problems,
    )
    return checked, row_loc


def _missing_for_nan(values: list[Any]) -> list[Any]:
    """JSON data of a float datatype: NaN (tritonclient writes the literal for it) is a
    missing value, as it is in binary floats; infinities stay, to be refused."""
    return [None if value == _NAN else value for value in values]


_NAN = NonFiniteNumber("NaN")


def _rows_worth_explaining(matrix: np.ndarray) -> int:
    """The rows whose problems could be reported: each infinity is one, so none after the
    row that brings their count past MAX_DETAILS can be among the first listed."""
    refused = np.cumsum(np.isinf(matrix).sum(axis=1))
    past = int(np.searchsorted(refused, MAX_DETAILS, side="right"))
    return min(past + 1, int(matrix.shape[0]))


def _plain_floats(values: np.ndarray) -> list[Any]:
    """Binary floats as plain values: NaN is a missing value, infinities are refused."""
    return [
        None
        if value != value
        else NonFiniteNumber("Infinity" if value > 0 else "-Infinity")
        if math.isinf(value)
        else value
        for value in values.astype(np.float64).tolist()
    ]


def _texts(values: list[bytes], item: _Input, position: int, problems: Problems) -> list[Any]:
    """BYTES of the feature at `position` as text; each that is not UTF-8 is reported."""
    texts: list[Any] = []
    for index, value in enumerate(values):
        try:
            texts.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            problems.add(f"{item.loc}.data[{index}]", "expected UTF-8 text", index, position)
            if not problems.accepts(index + 1, position):
                break  # no later value's problem could be reported
            texts.append(SKIPPED)  # reported here: the schema's checks pass it over
    return texts


def _integers_only(
    values: Sequence[Any], item: _Input, width: int, first: int, problems: Problems
) -> list[Any]:
    """JSON data of an integer datatype: rows of `width` values, the first of each at
    position `first` in the model's row. A value of another kind is reported here,
    naming the datatype, and skipped by the schema's checks, so that it is reported
    once; null stays, a missing value as in any other datatype."""
    checked = list(values)
    for index, value in enumerate(values):
        # 4.0 is the integer 4, as JSON numbers and the schema's integer features have it.
        whole = type(value) is int or (type(value) is float and value.is_integer())
        if not whole and value is not None:
            row, position = divmod(index, width)
            problems.add(
                f"{item.loc}.data[{index}]",
                f"expected an integer for datatype {item.datatype}, got {kind_of(value)}",
                row,
                first + position,
            )
            checked[index] = SKIPPED
            if not problems.accepts(row, first + position + 1):
                break  # no later value's problem could be reported
    return checked


def _answer(predictor: Predictor, parsed: InferRequest, outcome: Outcome) -> Response:
    answer, header_length = _encoded(predictor, parsed.outputs, parsed.id, outcome)
    response = Response(answer.body, mimetype=answer.media_type)
    if header_length is not None:
        response.headers[BINARY_HEADER] = str(header_length)
    return response


def _encoded(
    predictor: Predictor,
    outputs: Sequence[tuple[str, bool]],
    request_id: str | None,
    outcome: Outcome,
) -> tuple[Encoded, int | None]:
    """The answer, and when it carries binary outputs, the length of its JSON header."""
    tensors: list[tuple[dict[str, Any], list[Any], bool]] = []
    for name, binary in outputs:
        if name == PREDICT:
            array = outcome.predictions
            flat = plain_values(array.reshape(-1))
            datatype = datatype_of(flat)
        else:
            assert outcome.probabilities is not None
            array = outcome.probabilities[0]
            flat = array.reshape(-1).tolist()
            datatype = "FP64"
        if datatype == "BYTES" and set(map(type, flat)) != {str}:
            flat = [label_key(value) for value in flat]
        tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        tensors.append((tensor, flat, binary))
    head: dict[str, Any] = {
        "model_name": predictor.metadata.name,
        "model_version": predictor.version,
    }
    if request_id is not None:
        head["id"] = request_id
    blobs = []
    for tensor, flat, binary in tensors:
        if binary:
            blob = to_binary(flat, tensor["datatype"])
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = flat
    head["outputs"] = [tensor for tensor, _, _ in tensors]
    if not blobs:
        return Encoded(json_body(head), JSON_TYPE), None
    header = json_text(head).encode("ascii")
    return Encoded(b"".join([header, *blobs]), BINARY_TYPE), len(header)


_WORST_ID = WORST_CHARACTER * MAX_ID_LENGTH


def _answers(predictor: Predictor, outcome: Outcome) -> list[Encoded]:
    """Every answer to a batch: each set of the outputs offered, each output in JSON or
    binary, with the longest id a request may give."""
    offered = available_outputs(predictor)
    answers = []
    for count in range(1, len(offered) + 1):
        for names in combinations(offered, count):
            for binary in product((False, True), repeat=count):
                outputs = list(zip(names, binary, strict=True))
                answers.append(_encoded(predictor, outputs, _WORST_ID, outcome)[0])
    return answers


def input_metadata(schema: Schema) -> list[dict[str, Any]]:
    """The inputs the model's metadata lists: the one tensor, or one per feature."""
    if schema.all_numeric:
        return [{"name": MATRIX_INPUT, "datatype": "FP64", "shape": [-1, len(schema.names)]}]
    return [_input_tensor(feature) for feature in schema.features]


def _input_tensor(feature: Feature) -> dict[str, Any]:
    tensor: dict[str, Any] = {
        "name": feature.name,
        "datatype": FEATURE_DATATYPE[feature.type],
        "shape": [-1],
    }
    if feature.type == "datetime":
        # BYTES alone reads as text: say which, as MLServer's datetime codec does.
        tensor["parameters"] = {"content_type": DATETIME_CONTENT_TYPE}
    return tensor


def output_metadata(predictor: Predictor) -> list[dict[str, Any]]:
    metadata = predictor.metadata
    if metadata.task == "regression":
        datatype = "FP64"
    elif metadata.task == "classification":
        classes = (
            metadata.classes
            if metadata.outputs is None
            else [label for output in metadata.outputs for label in output.classes]
        )
        datatype = datatype_of_labels(classes)
    else:
        datatype = "INT64"  # a cluster's index, or 1 and -1 for inliers and outliers
    shape = [-1] if metadata.outputs is None else [-1, len(metadata.outputs)]
    outputs = [{"name": PREDICT, "datatype": datatype, "shape": shape}]
    if PREDICT_PROBA in available_outputs(predictor):
        outputs.append(
            {"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(metadata.classes)]}
        )
    return outputs


def _error_shape(error: ApiError) -> tuple[object, int]:
    message = error.bounded_message
    if error.details:
        message += " " + "; ".join(f"{d.loc}: {d.msg}" for d in error.bounded_details)
    body: dict[str, object] = {"error": message}
    if error.details:
        body["details"] = error.details_json()
    return body, 400 if error.code == "invalid_input" else error.status


V2 = Protocol("v2", blueprint, ("/v2",), _error_shape, _answers)
