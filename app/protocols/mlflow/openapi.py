"""MLflow's scoring protocol's part of the document: /invocations, /ping and /version.

/invocations takes each of MLflow's JSON input formats, typed by the model's schema,
or a CSV body whose grammar is written out as a pattern: a header row of the feature
names, then one line per row, each field as the schema types it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.core.datetimes import DATETIME_PATTERN
from app.core.decoding import JSON_TYPE
from app.core.errors import ERROR_CODES, ApiError
from app.core.schema import Feature, Schema
from app.http.server_info import SERVER_VERSION
from app.openapi.common import (
    ERROR_DETAILS,
    ErrorStyle,
    Model,
    Operation,
    Part,
    answer,
    content,
    errors,
    feature_schema,
    health_responses,
    read_only,
    ref,
    untitled_schema,
)
from app.protocols.mlflow.decoding import (
    CSV_TYPE,
    DATAFRAME_RECORDS,
    DATAFRAME_SPLIT,
    INPUT_FORMATS,
    INPUTS,
    INSTANCES,
    PARAMS,
)
from app.protocols.mlflow.routes import MLFLOW


def _error_code(body: Any) -> str:
    code: str = body["error_code"]
    return code


STYLE = ErrorStyle(MLFLOW.name, MLFLOW.error_shape, "MlflowError", _error_code)
_FORMAT_SCHEMAS = dict(
    zip(
        INPUT_FORMATS,
        ("MlflowDataframeSplit", "MlflowDataframeRecords", "MlflowInstances", "MlflowInputs"),
        strict=True,
    )
)

_INVOCATIONS = (
    "The rows come in one of MLflow's input formats: a JSON object with exactly one of "
    + ", ".join(f"`{name}`" for name in INPUT_FORMATS)
    + f" (and optionally `{PARAMS}`), or a CSV body (`{CSV_TYPE}`). Every row is checked "
    "against the model's schema, and every problem is reported at its place in the body. "
    "Input that does not fit the model is answered 400, as MLflow answers it."
)


def part(model: Model) -> Part:
    paths = {
        "/invocations": {
            "post": Operation(
                "mlflow_invocations",
                "Predict a batch of rows, as MLflow's scoring server does",
                description=_INVOCATIONS,
                request_body={
                    "required": True,
                    "content": {
                        JSON_TYPE: {"schema": ref("MlflowRequest")},
                        CSV_TYPE: {"schema": ref("MlflowCsv")},
                    },
                },
                responses={"200": answer("MlflowPredictions", "One prediction per row.")},
                errors=errors(
                    "invalid_json",
                    "invalid_input",
                    "method_not_allowed",
                    "payload_too_large",
                    "too_many_rows",
                    "internal_error",
                    "model_unavailable",
                    bad_request="The CSV body is empty, not UTF-8, or not valid CSV",
                    unsupported_media_type=(
                        f"The Content-Type is neither {JSON_TYPE} nor {CSV_TYPE}"
                    ),
                ),
            )
        },
        "/ping": read_only(
            "mlflow_ping",
            "Whether the model is loaded, as MLflow's /ping and SageMaker's health check ask",
            health_responses("The model is loaded."),
        ),
        "/version": read_only(
            "mlflow_version",
            "The server's version",
            {
                "200": {
                    "description": "The server's version, as the whole body.",
                    "content": content({"const": SERVER_VERSION}, "text/plain"),
                }
            },
        ),
    }
    return Part(
        STYLE,
        "MLflow's scoring protocol, as `mlflow models serve` and SageMaker answer it.",
        paths,
        _schemas(model),
    )


def _schemas(model: Model) -> dict[str, Any]:
    rows = {"type": "array", "items": ref("Row"), "minItems": 1, "maxItems": model.max_rows}
    split, columns = (
        _generic_split_and_columns()
        if model.schema is None
        else (_split(model.schema, model.max_rows), _columns(model.schema, model.max_rows))
    )
    formats = {
        DATAFRAME_SPLIT: split,
        DATAFRAME_RECORDS: {
            "type": "array",
            "items": ref("RowObject"),
            "minItems": 1,
            "maxItems": model.max_rows,
        },
        INSTANCES: rows,
        INPUTS: {
            "oneOf": [rows, columns],
            "description": "An array of rows, or an object with one array of values per feature.",
        },
    }
    params = {
        "type": ["object", "null"],
        "description": "Accepted and not used: scikit-learn models take no parameters.",
    }
    schemas: dict[str, Any] = {
        _FORMAT_SCHEMAS[name]: {
            "type": "object",
            "properties": {name: value, PARAMS: params},
            "required": [name],
            "additionalProperties": False,
        }
        for name, value in formats.items()
    }
    codes = sorted({_error_code(MLFLOW.error_shape(ApiError(code, ""))[0]) for code in ERROR_CODES})
    return {
        "MlflowRequest": {"oneOf": [ref(name) for name in _FORMAT_SCHEMAS.values()]},
        **schemas,
        "MlflowCsv": _csv(model),
        "MlflowPredictions": {
            "type": "object",
            "properties": {
                "predictions": {
                    "type": "array",
                    "items": ref("Prediction"),
                    "minItems": 1,
                    "maxItems": model.max_rows,
                }
            },
            "required": ["predictions"],
            "additionalProperties": False,
        },
        "MlflowError": {
            "type": "object",
            "properties": {
                "error_code": {"enum": codes},
                "message": {"type": "string"},
                "details": ERROR_DETAILS,
            },
            "required": ["error_code", "message"],
            "additionalProperties": False,
        },
    }


def _generic_split_and_columns() -> tuple[dict[str, Any], dict[str, Any]]:
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}},
            "index": {},
        },
        "required": ["data"],
        "additionalProperties": False,
    }
    return split, {"type": "object", "additionalProperties": {"type": "array"}}


def _split(schema: Schema, max_rows: int) -> dict[str, Any]:
    """`{"columns": [...], "data": [[...], ...]}`, as pandas' to_dict(orient="split").

    When every feature takes the same values, `columns` may name them in any order. When
    they differ, each value's type would depend on the column it is under, one condition
    per place and feature, more than generators of JSON Schema take: the schema then
    writes the features' order, and the description says any order is accepted.
    """
    names = list(schema.names)
    width = len(names)
    values = [untitled_schema(feature) for feature in schema.features]
    uniform = all(value == values[0] for value in values)
    columns: dict[str, Any] = (
        {
            "type": "array",
            "items": {"enum": names},
            "minItems": width,
            "maxItems": width,
            "uniqueItems": True,
        }
        if uniform
        else {"const": names}
    )
    rows: dict[str, Any] = (
        {"type": "array", "items": values[0], "minItems": width, "maxItems": width}
        if uniform
        else ref("RowArray")
    )
    return {
        "type": "object",
        "description": (
            "`columns` names every feature once, in any order (the features' order when it is "
            "left out), and each row of `data` holds their values in that order. `index` is "
            "accepted and not used."
            + ("" if uniform else " This schema writes the features' order.")
        ),
        "properties": {
            "columns": columns,
            "data": {"type": "array", "items": rows, "minItems": 1, "maxItems": max_rows},
            "index": {},
        },
        "required": ["data"],
        "additionalProperties": False,
    }


def _columns(schema: Schema, max_rows: int) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One array of values per feature, all of one length: one value per row.",
        "properties": {
            feature.name: {
                "type": "array",
                "items": feature_schema(feature),
                "minItems": 1,
                "maxItems": max_rows,
            }
            for feature in schema.features
        },
        "required": list(schema.names),
        "additionalProperties": False,
    }


# The CSV grammar, as Python's csv module reads a body and the protocol types each field.
# A field is plain (not starting with a quote; no comma or line break) or quoted (quotes
# doubled inside); an empty one is a missing value.
_PLAIN = r'[^",\r\n][^,\r\n]*'
_QUOTED = r'"(?:[^"]|"")+"'
_EMPTY = '(?:"")?'
_LINE = r"\r?\n"
# Finite in float64 however they are written, and int64 integers.
_NUMBER = r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?(?:[eE][+-]?[0-9]{1,2})?"
_INTEGER = r"-?(?:0|[1-9][0-9]{0,17})"
_ECMA_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")


def _csv(model: Model) -> dict[str, Any]:
    schema = model.schema
    described = {
        "type": "string",
        "description": (
            "A header row naming every feature once, then one line per row. A field may be "
            'quoted ("a, b"); an empty field is a missing value; numbers are JSON number '
            "literals, integers whole numbers, booleans true or false in any case, date-times "
            "ISO 8601 text as in JSON. The "
            "pattern writes the header in the features' order; any order is accepted, each "
            "line's fields then following the header."
        ),
    }
    if schema is None:
        return described
    header = ",".join(_text(name) for name in schema.names)
    alone = len(schema.features) == 1
    row = ",".join(_field(feature, alone) for feature in schema.features)
    lines = f"(?:(?:{_LINE})+{row}){{1,{model.max_rows}}}"
    return {**described, "pattern": f"^(?:{_LINE})*{header}{lines}(?:{_LINE})*$"}


def _field(feature: Feature, alone: bool) -> str:
    if feature.closed:
        forms = [_category(value, feature) for value in feature.categories or ()]
        present = "|".join(form for form in forms if form)
    elif feature.type == "string":
        present = f"{_PLAIN}|{_QUOTED}"
    elif feature.type == "boolean":
        present = _either(_case_free("true") + "|" + _case_free("false"))
    elif feature.type == "datetime":
        present = _either(DATETIME_PATTERN)
    else:
        present = _either(_NUMBER if feature.type == "number" else _INTEGER)
    if not feature.nullable:
        return f"(?:{present})"
    # A line holding only an empty field is a blank line, which CSV skips: quote it.
    return f'(?:{present}|"")' if alone else f"(?:{present}|{_EMPTY})"


def _category(value: Any, feature: Feature) -> str:
    if feature.type == "string":
        # An empty field is a missing value, never this category.
        return _text(str(value)) if value else ""
    literal = json.dumps(value)
    return _either(_case_free(literal) if feature.type == "boolean" else _literal(literal))


def _text(text: str) -> str:
    """A field holding exactly this text: plain when it can be, or quoted."""
    quoted = '"' + _literal(text.replace('"', '""')) + '"'
    if text[0] == '"' or any(c in text for c in ",\r\n"):
        return quoted
    return f"(?:{_literal(text)}|{quoted})"


def _either(pattern: str) -> str:
    """A field plain or quoted: the quotes are not part of its text."""
    return f'(?:{pattern}|"(?:{pattern})")'


def _literal(text: str) -> str:
    return _ECMA_SPECIAL.sub(lambda match: "\\" + match.group(), text)


def _case_free(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)
