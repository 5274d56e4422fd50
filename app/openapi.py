"""The OpenAPI 3.1 document, built for the model being served.

Feature names, row length and class labels come from the loaded model, so the
document a client reads is exact for the model behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.metadata import METADATA_KEYS, OUTLIER_LABELS, TASKS, Output
from app.predictor import Predictor
from app.request_log import API_KEY_HEADER
from app.schema import FEATURE_TYPES, INT64_MAX, INT64_MIN, MODEL_INPUTS, Feature

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_ERRORS = {
    "400": (
        "The body is empty, not UTF-8, not valid JSON, or nests arrays and objects deeper "
        "than MAX_JSON_DEPTH (`invalid_json`)."
    ),
    "401": "The x-api-key header is missing or holds no valid key (`unauthorized`).",
    "404": "No such endpoint (`not_found`).",
    "405": "Method not allowed on this endpoint (`method_not_allowed`).",
    "413": "The body is larger than MAX_CONTENT_LENGTH (`payload_too_large`).",
    "415": "The Content-Type is not application/json (`unsupported_media_type`).",
    "422": (
        "Valid JSON that does not fit the model (`invalid_input`), each problem in `details`; "
        "also schema-valid numbers the model itself overflows on, named by row."
    ),
    "500": "Unexpected server error (`internal_error`); details are only in the log.",
    "503": "The model could not be loaded (`model_unavailable`).",
}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: _json("Error", _ERRORS[status]) for status in statuses}


# The operations that need a key when API keys are on; the others stay open.
_KEYED_OPERATIONS = (("/predict", "post"), ("/model", "get"))
_API_KEY_SCHEME = "ApiKey"


def build_openapi(
    predictor: Predictor | None, max_batch_rows: int, api_key_required: bool = False
) -> dict[str, Any]:
    document = _document(predictor, max_batch_rows)
    if api_key_required:
        _require_api_key(document)
    return document


def _require_api_key(document: dict[str, Any]) -> None:
    document["components"]["securitySchemes"] = {
        _API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    }
    for path, method in _KEYED_OPERATIONS:
        operation = document["paths"][path][method]
        operation["security"] = [{_API_KEY_SCHEME: []}]
        operation["responses"].update(_errors("401"))


def _document(predictor: Predictor | None, max_batch_rows: int) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Model prediction API",
            "version": predictor.version if predictor else "unavailable",
            "description": (
                f"Serves {predictor.metadata.name} ({predictor.metadata.task})."
                if predictor
                else "The model is not loaded; schemas are generic."
            ),
        },
        "paths": {
            "/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predict one row or a batch of rows",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("PredictRequest")}},
                    },
                    "responses": {
                        "200": _json("PredictResponse", "Predictions."),
                        **_errors("400", "405", "413", "415", "422", "500", "503"),
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the model is loaded",
                    "responses": {
                        "200": _json("Health", "The model is loaded."),
                        "503": _json("HealthUnavailable", "The model is not loaded, and why."),
                        **_errors("405", "500"),
                    },
                }
            },
            "/model": {
                "get": {
                    "operationId": "model",
                    "summary": "The model's metadata and the versions serving it",
                    "responses": {
                        "200": _json("ModelInfo", "Model metadata."),
                        **_errors("405", "500", "503"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors("405", "500"),
                    },
                }
            },
        },
        "components": {"schemas": _schemas(predictor, max_batch_rows)},
    }


_NUMBER_NOTE = (
    "A finite float64 value. Values so large that the model overflows on them are answered 422."
)
_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}


def feature_schema(feature: Feature) -> dict[str, Any]:
    """The JSON Schema of one feature's value."""
    schema: dict[str, Any]
    if feature.closed:
        categories = list(feature.categories or ())
        schema = {"enum": [*categories, None] if feature.nullable else categories}
    else:
        kind: Any = feature.type
        schema = {"type": [kind, "null"] if feature.nullable else kind}
        if feature.type == "number":
            schema["description"] = _NUMBER_NOTE
        elif feature.type == "integer":
            schema |= {"minimum": INT64_MIN, "maximum": INT64_MAX}
        if feature.categories is not None:
            schema["examples"] = list(feature.categories)[:10]
    schema["title"] = feature.name
    return schema


def _prediction_schema(task: str, classes: Sequence[Any]) -> dict[str, Any]:
    if task == "classification":
        return {"enum": list(classes)}
    if task == "clustering":
        return {"type": "integer", "minimum": 0, "description": "The cluster's index."}
    if task == "outlier_detection":
        return {"enum": list(OUTLIER_LABELS), "description": "1 for an inlier, -1 for an outlier."}
    return {"type": "number"}


def _probabilities_schema(classes: Sequence[Any]) -> dict[str, Any]:
    labels = [str(label) for label in classes]
    return {
        "type": "object",
        "properties": {label: _PROBABILITY for label in labels},
        "required": labels,
        "additionalProperties": False,
    }


def _by_output(outputs: Sequence[Output], each: Callable[[Output], dict[str, Any]]) -> Any:
    names = [output.name for output in outputs]
    return {
        "type": "object",
        "properties": {output.name: each(output) for output in outputs},
        "required": names,
        "additionalProperties": False,
    }


def _schemas(predictor: Predictor | None, max_batch_rows: int) -> dict[str, Any]:
    prediction: dict[str, Any]
    probabilities: dict[str, Any]
    if predictor is None:
        value = {"type": ["number", "integer", "boolean", "string", "null"]}
        row_array: dict[str, Any] = {"type": "array", "items": value, "minItems": 1}
        row_object: dict[str, Any] = {"type": "object", "additionalProperties": value}
        prediction = {"type": ["string", "number", "integer", "boolean", "object"]}
        probabilities = {"type": "object", "additionalProperties": {}}
    else:
        metadata = predictor.metadata
        features = metadata.schema.features
        names = list(metadata.features)
        values = [feature_schema(feature) for feature in features]
        row_array = {
            "type": "array",
            "description": "Values in feature order: " + ", ".join(names) + ".",
            "prefixItems": values,
            "items": False,
            "minItems": len(names),
            "maxItems": len(names),
        }
        row_object = {
            "type": "object",
            "properties": dict(zip(names, values, strict=True)),
            "required": names,
            "additionalProperties": False,
        }
        if metadata.outputs is None:
            prediction = _prediction_schema(metadata.task, metadata.classes)
            probabilities = _probabilities_schema(metadata.classes)
        else:
            prediction = _by_output(
                metadata.outputs, lambda output: _prediction_schema(metadata.task, output.classes)
            )
            probabilities = _by_output(
                metadata.outputs, lambda output: _probabilities_schema(output.classes)
            )
    return_probabilities: dict[str, Any] = {
        "type": "boolean",
        "default": False,
        "description": "Add class probabilities (classifiers only; a regressor answers 422).",
    }
    if predictor is not None and not predictor.supports_probabilities:
        # Only false is accepted from a model without predict_proba: say so, not just in prose.
        return_probabilities = {
            "const": False,
            "default": False,
            "description": "This model gives no probabilities; true answers 422.",
        }
    row_shapes: list[dict[str, Any]] = [_ref("RowArray"), _ref("RowObject")]
    if predictor is not None and predictor.schema.model_input == "text":
        row_shapes.append({"type": "string", "description": "The text itself."})
    model_version = {"type": "string"}
    versions = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        "RowArray": row_array,
        "RowObject": row_object,
        "Row": {"oneOf": row_shapes},
        "SingleRequest": {
            "type": "object",
            "properties": {"features": _ref("Row"), "return_probabilities": return_probabilities},
            "required": ["features"],
            "additionalProperties": False,
        },
        "BatchRequest": {
            "type": "object",
            "properties": {
                "instances": {
                    "type": "array",
                    "items": _ref("Row"),
                    "minItems": 1,
                    "maxItems": max_batch_rows,
                },
                "return_probabilities": return_probabilities,
            },
            "required": ["instances"],
            "additionalProperties": False,
        },
        "PredictRequest": {"oneOf": [_ref("SingleRequest"), _ref("BatchRequest")]},
        "Prediction": prediction,
        "Probabilities": probabilities,
        "SingleResponse": {
            "type": "object",
            "properties": {
                "prediction": _ref("Prediction"),
                "probabilities": _ref("Probabilities"),
                "model_version": model_version,
            },
            "required": ["prediction", "model_version"],
            "additionalProperties": False,
        },
        "BatchResponse": {
            "type": "object",
            "properties": {
                "predictions": {"type": "array", "items": _ref("Prediction"), "minItems": 1},
                "probabilities": {"type": "array", "items": _ref("Probabilities")},
                "model_version": model_version,
            },
            "required": ["predictions", "model_version"],
            "additionalProperties": False,
        },
        "PredictResponse": {"oneOf": [_ref("SingleResponse"), _ref("BatchResponse")]},
        "Health": {
            "type": "object",
            "properties": {"status": {"const": "ok"}, "model_version": model_version},
            "required": ["status", "model_version"],
            "additionalProperties": False,
        },
        "HealthUnavailable": {
            "type": "object",
            "properties": {"status": {"const": "unavailable"}, "reason": {"type": "string"}},
            "required": ["status", "reason"],
            "additionalProperties": False,
        },
        "ModelInfo": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": model_version,
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "created_at": {"type": "string"},
                "task": {"enum": list(TASKS)},
                "features": {"type": "array", "items": _ref("FeatureInfo"), "minItems": 1},
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
                "example": {"type": "array", "items": _ref("RowObject")}
                if predictor is not None
                else {"type": "array", "items": {"type": "object"}},
                "trained_with": versions,
                "serving_with": versions,
                "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
            },
            "required": [*METADATA_KEYS, "serving_with"],
        },
        "FeatureInfo": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "type": {"enum": list(FEATURE_TYPES)},
                "nullable": {"type": "boolean"},
                "categories": {"type": "array", "minItems": 1},
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
                        "details": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "loc": {"type": "string"},
                                    "msg": {"type": "string"},
                                },
                                "required": ["loc", "msg"],
                                "additionalProperties": False,
                            },
                        },
                    },
                    "required": ["code", "message"],
                    "additionalProperties": False,
                },
            },
            "required": ["error"],
            "additionalProperties": False,
        },
    }
