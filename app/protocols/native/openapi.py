"""The native protocol's part of the document: /predict, /health, /model, /openapi.json,
and the front door: the JSON index or the try-it page at /, and the page's assets."""

from __future__ import annotations

from typing import Any

from app.core.artifact import ARTIFACT_FORMATS
from app.core.metadata import METADATA_KEYS, TASKS
from app.core.schema import FEATURE_TYPES, MODEL_INPUTS
from app.front_door import ASSET_PREFIX, ASSET_TYPES
from app.openapi.common import (
    ERROR_DETAILS,
    MODEL_VERSION,
    ErrorStyle,
    Model,
    Operation,
    Part,
    answer,
    content,
    errors,
    health_responses,
    read_only,
    ref,
)
from app.protocols.native.routes import NATIVE


def _code(body: Any) -> str:
    code: str = body["error"]["code"]
    return code


STYLE = ErrorStyle(NATIVE.name, NATIVE.error_shape, "Error", _code)
_PREDICT_ERRORS = errors(
    "invalid_json",
    "method_not_allowed",
    "payload_too_large",
    "too_many_rows",
    "unsupported_media_type",
    "invalid_input",
    "internal_error",
    "model_unavailable",
)


def part(model: Model) -> Part:
    paths = {
        "/predict": {
            "post": Operation(
                "predict",
                "Predict one row or a batch of rows",
                request_body={"required": True, "content": content(ref("PredictRequest"))},
                responses={"200": answer("PredictResponse", "Predictions.")},
                errors=_PREDICT_ERRORS,
            )
        },
        "/health": read_only(
            "health",
            "Whether the model is loaded",
            health_responses("The model is loaded."),
        ),
        "/model": read_only(
            "model",
            "The model's metadata and the versions serving it",
            {"200": answer("ModelInfo", "Model metadata.")},
            "model_unavailable",
        ),
        "/openapi.json": read_only(
            "openapi",
            "This document",
            {
                "200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": content({"type": "object"}),
                }
            },
        ),
    }
    paths.update(_front_door())
    return Part(
        STYLE,
        "This API's own protocol: /predict, /health, /model and this document; at / the "
        "index of every endpoint, or in a browser the try-it page.",
        paths,
        _schemas(model),
    )


def _front_door() -> dict[str, dict[str, Operation]]:
    text = {"schema": {"type": "string"}}
    asset_types = {media_type.split(";")[0]: text for media_type in ASSET_TYPES.values()}
    return {
        "/": {
            "get": Operation(
                "index",
                "The index of this API's endpoints; in a browser, the try-it page",
                description=(
                    "A client that prefers text/html to application/json (a browser) gets "
                    "the try-it page, unless TRY_IT_PAGE turns it off; any other gets the "
                    "index: every operation of this document, at the URL the client "
                    "called, and whether it needs an API key."
                ),
                responses={
                    "200": {
                        "description": "The index, or the try-it page.",
                        "content": {
                            **content(ref("Index")),
                            "text/html": {"schema": {"type": "string"}},
                        },
                    }
                },
                errors=errors("method_not_allowed", "internal_error"),
            )
        },
        ASSET_PREFIX + "{asset}": {
            "get": Operation(
                "try_it_asset",
                "A file of the try-it page: its script, style sheet or icon",
                parameters=[
                    {
                        "name": "asset",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": list(ASSET_TYPES)},
                    }
                ],
                responses={"200": {"description": "The file.", "content": asset_types}},
                errors=errors(
                    "not_found",
                    "method_not_allowed",
                    "internal_error",
                    not_found="No such file, or the try-it page is off (TRY_IT_PAGE)",
                ),
            )
        },
    }


def _index_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "name": text,
            "version": text,
            "model": {
                "oneOf": [
                    {"type": "null", "description": "The model is not loaded."},
                    {
                        "type": "object",
                        "properties": {
                            "name": text,
                            "version": MODEL_VERSION,
                            "task": {"enum": list(TASKS)},
                        },
                        "required": ["name", "version", "task"],
                        "additionalProperties": False,
                    },
                ]
            },
            "openapi": text,
            "try_it": {"type": ["string", "null"], "description": "null: the page is off."},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "method": text,
                        "path": text,
                        "summary": text,
                        "api_key": {"type": "boolean"},
                    },
                    "required": ["method", "path", "summary", "api_key"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["name", "version", "model", "openapi", "try_it", "endpoints"],
        "additionalProperties": False,
    }


def _schemas(model: Model) -> dict[str, Any]:
    return_probabilities: dict[str, Any] = {
        "type": "boolean",
        "default": False,
        "description": "Add class probabilities (classifiers only; a regressor answers 422).",
    }
    if model.predictor is not None and not model.predictor.supports_probabilities:
        # Only false is accepted from a model without predict_proba: say so, not just in prose.
        return_probabilities = {
            "const": False,
            "default": False,
            "description": "This model gives no probabilities; true answers 422.",
        }
    return {
        "SingleRequest": {
            "type": "object",
            "properties": {"features": ref("Row"), "return_probabilities": return_probabilities},
            "required": ["features"],
            "additionalProperties": False,
        },
        "BatchRequest": {
            "type": "object",
            "properties": {
                "instances": {
                    "type": "array",
                    "items": ref("Row"),
                    "minItems": 1,
                    "maxItems": model.max_rows,
                },
                "return_probabilities": return_probabilities,
            },
            "required": ["instances"],
            "additionalProperties": False,
        },
        "PredictRequest": {"oneOf": [ref("SingleRequest"), ref("BatchRequest")]},
        "SingleResponse": {
            "type": "object",
            "properties": {
                "prediction": ref("Prediction"),
                "probabilities": ref("Probabilities"),
                "model_version": MODEL_VERSION,
            },
            "required": ["prediction", "model_version"],
            "additionalProperties": False,
        },
        "BatchResponse": {
            "type": "object",
            "properties": {
                "predictions": {"type": "array", "items": ref("Prediction"), "minItems": 1},
                "probabilities": {"type": "array", "items": ref("Probabilities")},
                "model_version": MODEL_VERSION,
            },
            "required": ["predictions", "model_version"],
            "additionalProperties": False,
        },
        "PredictResponse": {"oneOf": [ref("SingleResponse"), ref("BatchResponse")]},
        "ModelInfo": _model_info(model),
        "Index": _index_schema(),
        "FeatureInfo": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "type": {"enum": list(FEATURE_TYPES)},
                "nullable": {"type": "boolean"},
                "categories": {"type": "array", "minItems": 1},
                "categories_total": {
                    "type": "integer",
                    "minimum": 1,
                    "description": (
                        "How many categories the model knows, when `categories` lists only "
                        "the first of them for /model to fit through Lambda."
                    ),
                },
                "accepts_unknown": {"type": "boolean"},
                "dtype": {"type": "string"},
            },
            "required": ["name", "type", "nullable"],
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {
                            "type": "string",
                            "examples": ["invalid_input", "model_unavailable"],
                        },
                        "message": {"type": "string"},
                        "details": ERROR_DETAILS,
                    },
                    "required": ["code", "message"],
                    "additionalProperties": False,
                },
            },
            "required": ["error"],
            "additionalProperties": False,
        },
    }


def _model_info(model: Model) -> dict[str, Any]:
    versions = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": MODEL_VERSION,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created_at": {"type": "string"},
            "task": {"enum": list(TASKS)},
            "features": {"type": "array", "items": ref("FeatureInfo"), "minItems": 1},
            "model_input": {"enum": list(MODEL_INPUTS)},
            "classes": {"type": "array"},
            "outputs": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "array",
                        "minItems": 2,
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "classes": {"type": "array"},
                            },
                            "required": ["name", "classes"],
                        },
                    },
                ]
            },
            "example": {"type": "array", "items": ref("RowObject")}
            if model.predictor is not None
            else {"type": "array", "items": {"type": "object"}},
            "example_predictions": {"oneOf": [{"type": "null"}, {"type": "array"}]},
            "trained_with": versions,
            "serving_with": versions,
            "format": {"enum": list(ARTIFACT_FORMATS)},
            "references": {"type": "array", "items": {"type": "string"}},
            "distributions": versions,
            "code": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string"},
                            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "modules": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["file", "sha256", "modules"],
                    },
                ]
            },
            "trusted": {"type": "array", "items": {"type": "string"}},
            "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
            "reference": {
                "description": "Statistics of the rows the model learned from, when given "
                "at describe: per feature its missing share, range and deciles, or the "
                "shares of its most frequent values; and the model's answers on them.",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "rows": {"type": "integer", "minimum": 1},
                            "features": {"type": "object"},
                            "predictions": {"oneOf": [{"type": "null"}, {"type": "object"}]},
                        },
                        "required": ["rows", "features", "predictions"],
                    },
                ],
            },
            "shadow": {
                "description": "Present only when a shadow model is configured: the model "
                "that also answers a sampled share of predictions, never returned; loaded, "
                "or the reason it is not.",
                "type": "object",
                "properties": {
                    "loaded": {"type": "boolean"},
                    "reason": {"oneOf": [{"type": "null"}, {"type": "string"}]},
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "sample_rate": {"type": "number", "minimum": 0, "maximum": 1},
                    "tolerance": {"type": "number", "minimum": 0},
                },
                "required": ["loaded", "sample_rate"],
            },
            "max_batch_rows": {
                "const": model.max_rows,
                "description": "The most rows one request may hold.",
            }
            if model.predictor is not None
            else {"type": "integer", "minimum": 1},
        },
        "required": [*METADATA_KEYS, "serving_with", "max_batch_rows"],
    }
