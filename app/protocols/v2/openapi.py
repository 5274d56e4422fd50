"""The Open Inference Protocol V2's part of the document: server and model metadata,
liveness and readiness, and inference, in its JSON form.

Triton's binary tensor extension carries the same request with the tensors' bytes after
the JSON header; the operation's description says how, and answers with binary outputs
are their own content type.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.answers import label_key
from app.core.decoding import JSON_TYPE
from app.core.metadata import ModelMetadata
from app.core.predictor import Predictor
from app.core.schema import Feature, Schema
from app.http.server_info import SERVER_NAME, SERVER_VERSION
from app.openapi.common import (
    ERROR_DETAILS,
    PROBABILITY,
    ErrorStyle,
    Model,
    Operation,
    Part,
    answer,
    content,
    errors,
    feature_schema,
    labels_schema,
    predictions_of,
    read_only,
    ref,
    untitled_schema,
)
from app.protocols.v2.decoding import MAX_ID_LENGTH, PREDICT, PREDICT_PROBA, available_outputs
from app.protocols.v2.encoding import (
    MATRIX_INPUT,
    MAX_BATCH_ROWS_PARAMETER,
    PLATFORM,
    input_metadata,
    output_metadata,
)
from app.protocols.v2.routes import V2
from app.protocols.v2.tensors import (
    BINARY_HEADER,
    BINARY_TYPE,
    DATATYPES,
    DATETIME_CONTENT_TYPE,
    EXTENSION,
    FEATURE_DATATYPES,
    INTEGER_TYPES,
)

STYLE = ErrorStyle(V2.name, V2.error_shape, "V2Error", lambda body: None)
_OUTPUT_SCHEMAS = {PREDICT: "V2PredictOutput", PREDICT_PROBA: "V2PredictProbaOutput"}

_MODEL_ERRORS = errors(
    "method_not_allowed",
    "internal_error",
    "model_unavailable",
    not_found="No model of this name, or no such version of it, is served",
)
_INFER_ERRORS = errors(
    "invalid_json",
    "method_not_allowed",
    "payload_too_large",
    "too_many_rows",
    "internal_error",
    "model_unavailable",
    bad_request=(
        f"With the binary extension, the {BINARY_HEADER} header is not a byte count within the body"
    ),
    invalid_input=(
        "The request does not fit the model, each problem in `details` at its place "
        "(`inputs[1].data[7]`); also schema-valid numbers the model itself overflows on, "
        "named by row"
    ),
    not_found="No model of this name, or no such version of it, is served",
    unsupported_media_type=(
        f"The Content-Type is not {JSON_TYPE} (or {BINARY_TYPE} with the binary extension)"
    ),
)
_INFER = (
    "The JSON form is the request body below. For a model whose features are all numbers, "
    "`inputs` may hold one tensor of shape [rows, features] (named "
    f"`{MATRIX_INPUT}` in the model's metadata; any name that is not a feature's reads the "
    "same); for any model, one input per feature, named after it, of shape [rows] or "
    "[rows, 1], in any order. `data` is flat, in row-major order, or nested one array per "
    "row, and holds exactly as many values as `shape` counts; every input has the same "
    "number of rows. Integer datatypes take integers (and null, a missing value) only; "
    "a date-time feature takes BYTES of ISO 8601 text.\n\n"
    "Outputs are named as MLServer's scikit-learn runtime names them: "
    + " and ".join(f"`{name}`" for name in _OUTPUT_SCHEMAS)
    + f" (the default is `{PREDICT}`).\n\n"
    f"Triton's binary tensor extension (`{EXTENSION}`, tritonclient's default): the body is "
    f"the JSON header, {BINARY_HEADER} bytes long, followed by the tensors' bytes in input "
    "order, each input giving its length in `parameters.binary_data_size` instead of `data`: "
    "little-endian, row-major, and for BYTES each element as a 4-byte little-endian length "
    f"then its bytes. Its Content-Type is {BINARY_TYPE} or {JSON_TYPE}, or none, as "
    "tritonclient sends it. An output asked for with `parameters.binary_data: true` (or every "
    "output, with the request's `parameters.binary_data_output: true`) is answered the same "
    f"way: a {BINARY_TYPE} answer whose {BINARY_HEADER} header gives the JSON header's "
    "length, each binary output giving its length in `parameters.binary_data_size`."
)


def part(model: Model) -> Part:
    name, version = _path_parameters(model)
    paths = _server_paths()
    # Each model operation at the model's path, and again at its version's.
    for prefix, parameters, suffix in (
        ("/v2/models/{name}", [name], ""),
        ("/v2/models/{name}/versions/{version}", [name, version], "_version"),
    ):
        paths[prefix] = {"get": _model_metadata(suffix, parameters)}
        paths[f"{prefix}/ready"] = {"get": _model_ready(suffix, parameters)}
        paths[f"{prefix}/infer"] = {"post": _infer(suffix, parameters)}
    return Part(
        STYLE,
        "The Open Inference Protocol V2 (KServe, MLServer, Triton), over REST, with Triton's "
        "binary tensor extension.",
        paths,
        _schemas(model),
    )


def _server_paths() -> dict[str, dict[str, Operation]]:
    """The server's own operations: its metadata, whether it is live, whether it is ready."""
    return {
        "/v2": read_only(
            "v2_server_metadata",
            "The server's name, version and protocol extensions",
            {"200": answer("V2ServerMetadata", "Server metadata.")},
        ),
        "/v2/health/live": read_only(
            "v2_live",
            "Whether the server is live",
            {"200": answer("V2Live", "The server is live.")},
        ),
        "/v2/health/ready": read_only(
            "v2_ready",
            "Whether the server is ready: its model is loaded",
            {
                "200": answer("V2Ready", "The model is loaded."),
                "503": answer("V2NotReady", "The model is not loaded, and why."),
            },
        ),
    }


def _model_metadata(suffix: str, parameters: list[dict[str, Any]]) -> Operation:
    return Operation(
        f"v2_model{suffix}_metadata",
        "The model's metadata",
        parameters=parameters,
        responses={
            "200": answer("V2ModelMetadata", "The model's metadata: its inputs and outputs."),
        },
        errors=_MODEL_ERRORS,
    )


def _model_ready(suffix: str, parameters: list[dict[str, Any]]) -> Operation:
    return Operation(
        f"v2_model{suffix}_ready",
        "Whether the model is ready",
        parameters=parameters,
        responses={"200": answer("V2ModelReady", "The model is ready.")},
        errors=_MODEL_ERRORS,
    )


def _infer(suffix: str, parameters: list[dict[str, Any]]) -> Operation:
    return Operation(
        f"v2_model{suffix}_infer",
        "Predict a batch of rows, given as tensors",
        description=_INFER,
        parameters=parameters,
        request_body={"required": True, "content": content(ref("V2InferRequest"))},
        responses={
            "200": {
                "description": (
                    f"The outputs asked for. When any is asked for as binary data, a "
                    f"{BINARY_TYPE} answer: the JSON header ({JSON_TYPE}, {BINARY_HEADER} "
                    "bytes long), then each binary output's bytes."
                ),
                "headers": {
                    BINARY_HEADER: {
                        "description": f"The JSON header's length, in a {BINARY_TYPE} answer.",
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    }
                },
                "content": {
                    **content(ref("V2InferResponse")),
                    # Bytes: no schema, as OpenAPI 3.1 describes binary content.
                    BINARY_TYPE: {},
                },
            }
        },
        errors=_INFER_ERRORS,
    )


def _path_parameters(model: Model) -> tuple[dict[str, Any], dict[str, Any]]:
    name: dict[str, Any] = {"type": "string"}
    version: dict[str, Any] = {"type": "string"}
    if model.predictor is not None:
        name["enum"] = [model.predictor.metadata.name]
        version["enum"] = [model.predictor.version]
    return (
        {
            "name": "name",
            "in": "path",
            "required": True,
            "description": "The served model's name; any other is answered 404.",
            "schema": name,
        },
        {
            "name": "version",
            "in": "path",
            "required": True,
            "description": "The served model's version; any other is answered 404.",
            "schema": version,
        },
    )


def _schemas(model: Model) -> dict[str, Any]:
    return {
        **_server_schemas(),
        **_model_schemas(model),
        **_infer_schemas(model),
        "V2Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "string",
                    "description": "What went wrong; every problem in the input, at its place.",
                },
                "details": ERROR_DETAILS,
            },
            "required": ["error"],
            "additionalProperties": False,
        },
    }


def _server_schemas() -> dict[str, Any]:
    return {
        "V2ServerMetadata": _exactly(
            name={"const": SERVER_NAME},
            version={"const": SERVER_VERSION},
            extensions={"const": [EXTENSION]},
        ),
        "V2Live": _exactly(live={"const": True}),
        "V2Ready": _exactly(ready={"const": True}),
        "V2NotReady": _exactly(ready={"const": False}, error={"type": "string"}),
    }


def _model_schemas(model: Model) -> dict[str, Any]:
    """The model's metadata, its tensors' and whether it is ready."""
    tensor_metadata = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"enum": list(DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}},
            "parameters": {
                "type": "object",
                "description": (
                    f"`content_type: {DATETIME_CONTENT_TYPE}` marks a BYTES input of ISO 8601 "
                    "date-times, as MLServer's codecs name it."
                ),
                "properties": {"content_type": {"type": "string"}},
            },
        },
        "required": ["name", "datatype", "shape"],
        "additionalProperties": False,
    }
    return {
        "V2TensorMetadata": tensor_metadata,
        "V2ModelMetadata": _model_metadata_schema(model),
        "V2ModelReady": _exactly(
            name=_served_name(model.metadata),
            ready={"const": True},
        ),
    }


def _exactly(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object of exactly these properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _served_name(metadata: ModelMetadata | None) -> dict[str, Any]:
    return {"type": "string"} if metadata is None else {"const": metadata.name}


def _model_metadata_schema(model: Model) -> dict[str, Any]:
    tensors: dict[str, Any] = {"type": "array", "items": ref("V2TensorMetadata")}
    if model.predictor is None:
        inputs, outputs = tensors, tensors
        versions: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    else:
        inputs = {**tensors, "const": input_metadata(model.predictor.schema)}
        outputs = {**tensors, "const": output_metadata(model.predictor)}
        versions = {"const": [model.predictor.version]}
    rows: dict[str, Any] = (
        {"type": "integer", "minimum": 1} if model.predictor is None else {"const": model.max_rows}
    )
    return _exactly(
        name=_served_name(model.metadata),
        versions=versions,
        platform={"const": PLATFORM},
        inputs=inputs,
        outputs=outputs,
        parameters={
            **_exactly(**{MAX_BATCH_ROWS_PARAMETER: rows}),
            "description": f"`{MAX_BATCH_ROWS_PARAMETER}`: the most rows one request may hold.",
        },
    )


# The infer request (its JSON form) and answer


def _infer_schemas(model: Model) -> dict[str, Any]:
    """The infer request (its JSON form) and its answer, each output's tensor its own."""
    predictor = model.predictor
    if predictor is None:
        return {
            "V2InferRequest": {"type": "object", "required": ["inputs"]},
            "V2InferResponse": {"type": "object", "required": ["outputs"]},
        }
    schema = model.schema
    assert schema is not None
    offered = available_outputs(predictor)
    return {
        "V2InferRequest": _infer_request(schema, offered, model.max_rows),
        "V2InferResponse": _infer_response(predictor, offered),
        **_output_tensors(model, predictor),
    }


def _infer_request(schema: Schema, offered: list[str], max_rows: int) -> dict[str, Any]:
    shapes = [_columnar(schema, max_rows)]
    if schema.all_numeric:
        shapes.insert(0, _matrix(schema, max_rows))
    return {
        "type": "object",
        "properties": {
            "id": {
                "type": ["string", "null"],
                "description": (
                    f"Echoed in the answer; at most {MAX_ID_LENGTH} characters, a longer "
                    "one is refused at `id`."
                ),
            },
            "parameters": {
                "type": ["object", "null"],
                "properties": {
                    "binary_data_output": {
                        "type": "boolean",
                        "description": "Answer every output as binary data.",
                    }
                },
            },
            "inputs": shapes[0] if len(shapes) == 1 else {"oneOf": shapes},
            "outputs": _requested_outputs(offered),
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }


def _requested_outputs(offered: list[str]) -> dict[str, Any]:
    """The outputs a request asks for: any of those offered, each at most once."""
    requested_output = {
        "type": "object",
        "properties": {
            "name": {"enum": offered},
            "parameters": {
                "type": ["object", "null"],
                "properties": {
                    "binary_data": {
                        "type": "boolean",
                        "description": "Answer this output as binary data.",
                    }
                },
            },
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    return {
        "type": ["array", "null"],
        "description": f"The outputs to answer, each once; `{PREDICT}` when left out.",
        "items": requested_output,
        "minItems": 1,
        "maxItems": len(offered),
        "allOf": [
            {
                "contains": {"properties": {"name": {"const": name}}},
                "minContains": 0,
                "maxContains": 1,
            }
            for name in offered
        ],
    }


def _infer_response(predictor: Predictor, offered: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "model_name": {"const": predictor.metadata.name},
            "model_version": {"const": predictor.version},
            "id": {"type": "string"},
            "outputs": {
                "type": "array",
                "items": {"oneOf": [ref(_OUTPUT_SCHEMAS[name]) for name in offered]},
                "minItems": 1,
                "maxItems": len(offered),
            },
        },
        "required": ["model_name", "model_version", "outputs"],
        "additionalProperties": False,
    }


def _output_tensors(model: Model, predictor: Predictor) -> dict[str, Any]:
    """Each output's tensor in the answer, as the model's metadata describes it."""
    schemas: dict[str, Any] = {}
    for tensor in output_metadata(predictor):
        name = tensor["name"]
        value = _predicted(model, tensor["datatype"]) if name == PREDICT else PROBABILITY
        schemas[_OUTPUT_SCHEMAS[name]] = _exactly(
            name={"const": name},
            shape=_shape(tensor["shape"], model.max_rows),
            datatype={"const": tensor["datatype"]},
            data={"type": "array", "items": value, "minItems": 1},
        )
    return schemas


_TENSOR_PARAMETERS = {
    "type": ["object", "null"],
    "properties": {
        "binary_data_size": {
            "type": "null",
            "description": (
                "The tensor's byte count in the binary extension's body (see the operation); "
                "the JSON form carries none."
            ),
        }
    },
}


def _rows(max_rows: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": max_rows}


def _shape(metadata_shape: list[int], max_rows: int) -> dict[str, Any]:
    """A shape as the metadata gives it (-1 for the rows): the rows first, then fixed sizes."""
    sizes = [_rows(max_rows) if size == -1 else {"const": size} for size in metadata_shape]
    return {
        "type": "array",
        "description": _SIZES,
        "prefixItems": sizes,
        "items": False,
        "minItems": len(sizes),
    }


_SIZES = "Sizes are written as integers: 4, not 4.0."


def _data(value: dict[str, Any], row: dict[str, Any], per_row: int, max_rows: int) -> Any:
    """Flat, in row-major order, or one array per row."""
    return {
        "anyOf": [
            {
                "type": "array",
                "items": value,
                "minItems": per_row,
                "maxItems": per_row * max_rows,
            },
            {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows},
        ]
    }


def _tensor(
    name: dict[str, Any], shape: dict[str, Any], datatypes: list[str], data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": name,
            "shape": shape,
            "datatype": {"enum": datatypes},
            "parameters": _TENSOR_PARAMETERS,
            "data": data,
        },
        "required": ["name", "shape", "datatype", "data"],
        "additionalProperties": False,
    }


def _datatypes(kind: str) -> list[str]:
    return [datatype for datatype in DATATYPES if datatype in FEATURE_DATATYPES[kind]]


# What an integer datatype's JSON data holds: integers, and null for a missing value.
_INTEGER_OR_MISSING = {"type": ["integer", "null"]}


def _integer_data(tensor: dict[str, Any], integers: dict[str, Any]) -> dict[str, Any]:
    """Integer datatypes carry integers (and null) only: the data's values narrowed."""
    return {
        **tensor,
        "if": {"properties": {"datatype": {"enum": sorted(INTEGER_TYPES)}}},
        "then": {"properties": {"data": integers}},
    }


def _matrix(schema: Schema, max_rows: int) -> dict[str, Any]:
    """One tensor [rows, features] of numbers, for a model whose features are all numbers."""
    width = len(schema.names)
    # Flat, each value's feature is its place modulo the width: null only if all may be null.
    nullable = all(feature.nullable for feature in schema.features)
    number: dict[str, Any] = {"type": ["number", "null"] if nullable else "number"}
    integer = {"type": ["integer", "null"] if nullable else "integer"}
    integer_row = {"allOf": [ref("RowArray"), {"items": _INTEGER_OR_MISSING}]}
    tensor = _tensor(
        {"type": "string", "not": {"enum": list(schema.names)}, "examples": [MATRIX_INPUT]},
        _shape([-1, width], max_rows),
        _datatypes("number"),
        _data(number, ref("RowArray"), width, max_rows),
    )
    tensor["description"] = f"One tensor [rows, {width}], the features in order."
    return {
        "type": "array",
        "items": _integer_data(tensor, _data(integer, integer_row, width, max_rows)),
        "minItems": 1,
        "maxItems": 1,
    }


def _columnar(schema: Schema, max_rows: int) -> dict[str, Any]:
    """One input per feature, named after it, in any order."""
    # Features of one type that take the same values share one tensor schema, named by
    # any of them: a wide model's document grows by a name per feature, not a schema.
    alike: dict[str, list[Feature]] = {}
    for feature in schema.features:
        key = json.dumps([feature.type, untitled_schema(feature)], sort_keys=True)
        alike.setdefault(key, []).append(feature)
    return {
        "type": "array",
        "description": "One input per feature, named after it, in any order.",
        "items": {"oneOf": [_column(features, max_rows) for features in alike.values()]},
        "minItems": len(schema.names),
        "maxItems": len(schema.names),
        # With as many inputs as features, each named once.
        "allOf": [{"contains": {"properties": {"name": {"const": name}}}} for name in schema.names],
    }


def _column(features: list[Feature], max_rows: int) -> dict[str, Any]:
    """The tensor of any of these features, which take the same values."""
    feature = features[0]
    names = [feature.name for feature in features]
    value = feature_schema(feature) if len(features) == 1 else untitled_schema(feature)
    tensor = _tensor(
        {"const": feature.name} if len(features) == 1 else {"enum": names},
        # [rows] or [rows, 1]
        {
            "type": "array",
            "description": _SIZES,
            "prefixItems": [_rows(max_rows), {"const": 1}],
            "items": False,
            "minItems": 1,
        },
        _datatypes(feature.type),
        _data(value, _single(value), 1, max_rows),
    )
    if feature.type not in ("number", "integer"):
        return tensor
    integer = {"allOf": [value, _INTEGER_OR_MISSING]}
    return _integer_data(tensor, _data(integer, _single(integer), 1, max_rows))


def _single(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": value, "minItems": 1, "maxItems": 1}


def _predicted(model: Model, datatype: str) -> dict[str, Any]:
    """One value of the `predict` output; BYTES carry labels as text."""
    metadata = model.metadata
    assert metadata is not None
    outputs = metadata.outputs
    if metadata.task == "classification" and datatype == "BYTES":
        labels = metadata.classes if outputs is None else [c for o in outputs for c in o.classes]
        keys = list(dict.fromkeys(label_key(label) for label in labels))
        return {"enum": keys} if model.lists(keys) else labels_schema(keys)
    if outputs is None:
        return predictions_of(model, metadata.classes)
    return {"anyOf": [predictions_of(model, output.classes) for output in outputs]}
