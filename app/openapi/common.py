"""What every protocol's part of the document shares: the model's typed values and rows,
its predictions, the health answers, and operations with their error answers.

An operation lists the error codes (app.core.errors.ERROR_CODES) it can answer; the status
and the body of each come from its protocol's own error shape, so the document says
what the protocol really sends, and a code cannot be documented that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.auth.open_routes import OPEN_ROUTES
from app.core.answers import label_key
from app.core.datetimes import DATETIME_PATTERN, FORMS
from app.core.errors import ERROR_CODES, ApiError, ErrorShape
from app.core.metadata import OUTLIER_LABELS, ModelMetadata, Output
from app.core.predictor import Predictor
from app.core.schema import INT64_MAX, INT64_MIN, Feature, Schema
from app.http.answer_size import LISTED

_REF = "#/components/schemas/"
API_KEY_SCHEME = "ApiKey"
JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def content(schema: dict[str, Any], media_type: str = JSON) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def answer(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": content(ref(schema))}


@dataclass(frozen=True)
class Model:
    """What the document is built for: the loaded model (None when it is not), the
    batch limit every protocol applies (app.http.serving.batch_limit), and what a document
    cut short to fit through Lambda describes rather than lists: the features named in
    `summarised`, which refuse unknown categories, by their type and a few examples of
    their categories; with `classes_summarised`, each list of more than LISTED classes
    by the labels' type. /model lists them all."""

    predictor: Predictor | None
    max_rows: int
    summarised: frozenset[str] = frozenset()
    classes_summarised: bool = False
    schema: Schema | None = field(init=False)

    def __post_init__(self) -> None:
        schema = self.predictor.schema if self.predictor is not None else None
        if schema is not None and self.summarised:
            features = tuple(
                replace(feature, accepts_unknown=True)
                if feature.name in self.summarised
                else feature
                for feature in schema.features
            )
            schema = Schema(features, schema.model_input)
        object.__setattr__(self, "schema", schema)

    @property
    def metadata(self) -> ModelMetadata | None:
        return self.predictor.metadata if self.predictor is not None else None

    @property
    def cut_short(self) -> bool:
        return bool(self.summarised) or self.classes_summarised

    def lists(self, classes: Sequence[Any]) -> bool:
        """Whether the document lists these classes, every one."""
        return not self.classes_summarised or len(classes) <= LISTED

    def shorter(self, count: int) -> Model | None:
        """The model for a shorter document: its `count` longest lists that are listed (of
        more than LISTED categories of a feature that refuses others, or of classes)
        described instead; None when every such list is described already."""
        if self.predictor is None:
            return None
        lists: dict[str | None, int] = {
            feature.name: _length(feature.categories or ())
            for feature in self.predictor.schema.features
            if feature.closed
            and len(feature.categories or ()) > LISTED
            and feature.name not in self.summarised
        }
        metadata = self.predictor.metadata
        classes = [metadata.classes, *(output.classes for output in metadata.outputs or ())]
        if not self.classes_summarised and any(len(labels) > LISTED for labels in classes):
            lists[None] = max(_length(labels) for labels in classes)
        if not lists:
            return None
        longest = sorted(lists, key=lambda name: lists[name], reverse=True)[:count]
        return replace(
            self,
            summarised=self.summarised | {name for name in longest if name is not None},
            classes_summarised=self.classes_summarised or None in longest,
        )


def _length(values: Sequence[Any]) -> int:
    """About the characters these values take in the document."""
    return sum(len(str(value)) + 3 for value in values)


# Why each code is answered; an operation may say it in its own words instead.
CAUSES = {
    "bad_request": "The request is malformed",
    "invalid_json": (
        "The body is empty, not UTF-8, not valid JSON, or nests arrays and objects deeper "
        "than MAX_JSON_DEPTH"
    ),
    "unauthorized": "The x-api-key header is missing or holds no valid key",
    "not_found": "No such endpoint",
    "method_not_allowed": "Method not allowed on this endpoint",
    "payload_too_large": "The body is larger than MAX_CONTENT_LENGTH",
    "too_many_rows": (
        "The batch holds more rows than the model answers at once (the request's `maxItems`: "
        "MAX_BATCH_ROWS, or fewer when the answer would not fit through Lambda), its place "
        "in `details`"
    ),
    "unsupported_media_type": "The Content-Type is not application/json",
    "invalid_input": (
        "Valid JSON that does not fit the model, each problem in `details`; also "
        "schema-valid numbers the model itself overflows on, named by row"
    ),
    "internal_error": "Unexpected server error; details are only in the log",
    "model_unavailable": "The model could not be loaded",
}


@dataclass(frozen=True)
class ErrorStyle:
    """How a protocol's errors look in the document: the protocol (its name tags its
    operations), the shape it answers errors in, the component of its error body, and
    the code that body carries for one of ours (None when it carries none)."""

    protocol: str
    shape: ErrorShape
    component: str
    label: Callable[[object], str | None]

    def status(self, code: str) -> int:
        return self.shape(ApiError(code, ""))[1]

    def code(self, code: str) -> str | None:
        return self.label(self.shape(ApiError(code, ""))[0])


@dataclass
class Operation:
    """One operation: what it answers on success, and the error codes it can answer."""

    operation_id: str
    summary: str
    responses: dict[str, Any]
    errors: Mapping[str, str | None]
    description: str | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    request_body: dict[str, Any] | None = None

    def render(self, style: ErrorStyle, keyed: bool) -> dict[str, Any]:
        errors = dict(self.errors)
        if keyed:
            errors["unauthorized"] = None
        operation: dict[str, Any] = {
            "operationId": self.operation_id,
            "tags": [style.protocol],
            "summary": self.summary,
        }
        if self.description is not None:
            operation["description"] = self.description
        if self.parameters:
            operation["parameters"] = self.parameters
        if self.request_body is not None:
            operation["requestBody"] = self.request_body
        operation["responses"] = {**self.responses, **error_responses(style, errors)}
        if keyed:
            operation["security"] = [{API_KEY_SCHEME: []}]
        return operation


def read_only(
    operation_id: str, summary: str, responses: dict[str, Any], *codes: str
) -> dict[str, Operation]:
    """A path's one GET operation: besides `codes`, it may answer 405 to any other method
    and 500, as every route may."""
    errors_ = errors("method_not_allowed", "internal_error", *codes)
    return {"get": Operation(operation_id, summary, responses=responses, errors=errors_)}


def errors(*codes: str, **causes: str) -> dict[str, str | None]:
    """Error codes, each with the default cause or one given by name."""
    listed: dict[str, str | None] = dict.fromkeys(codes)
    listed.update(causes)
    return listed


def error_responses(style: ErrorStyle, codes: Mapping[str, str | None]) -> dict[str, Any]:
    """One response per status the codes are answered with, in the protocol's shape."""
    by_status: dict[int, list[str]] = {}
    for code, cause in codes.items():
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        label = style.code(code)
        sentence = cause or CAUSES[code]
        by_status.setdefault(style.status(code), []).append(
            f"{sentence} (`{label}`)." if label else f"{sentence}."
        )
    return {
        str(status): answer(style.component, " ".join(by_status[status]))
        for status in sorted(by_status)
    }


@dataclass
class Part:
    """A protocol's part of the document: what it is, its paths and the schemas they use."""

    style: ErrorStyle
    description: str
    paths: dict[str, dict[str, Operation]]
    schemas: dict[str, Any]

    def render_paths(self, api_key_required: bool) -> dict[str, Any]:
        """Every operation needs a key when keys are on, unless it is an open route."""
        return {
            path: {
                method: operation.render(
                    self.style,
                    keyed=api_key_required and (method.upper(), path) not in OPEN_ROUTES,
                )
                for method, operation in item.items()
            }
            for path, item in self.paths.items()
        }


# The typed values of the model's features


_NUMBER_NOTE = (
    "A finite float64 value. Values so large that the model overflows on them are answered 422."
)
# RFC 3339's date-time (`format`) is one form; the pattern writes every form accepted.
_DATETIME_NOTE = (
    f"An ISO 8601 date or date-time ({FORMS}), up to nanoseconds, within the range and "
    "precision of the model's datetime64 column. "
)
PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
# Any plain JSON value a feature may take, when no model is loaded.
ANY_VALUE: dict[str, Any] = {"type": ["number", "integer", "boolean", "string", "null"]}


def feature_schema(feature: Feature) -> dict[str, Any]:
    """The JSON Schema of one feature's value."""
    schema: dict[str, Any]
    if feature.closed:
        categories = list(feature.categories or ())
        schema = {"enum": [*categories, None] if feature.nullable else categories}
    else:
        kind: Any = "string" if feature.type == "datetime" else feature.type
        schema = {"type": [kind, "null"] if feature.nullable else kind}
        if feature.type == "number":
            schema["description"] = _NUMBER_NOTE
        elif feature.type == "integer":
            schema |= {"minimum": INT64_MIN, "maximum": INT64_MAX}
        elif feature.time is not None:
            schema |= {
                "format": "date-time",
                "pattern": f"^{DATETIME_PATTERN}$",
                "description": _DATETIME_NOTE + feature.time.rule(),
            }
        if feature.categories is not None:
            schema["examples"] = list(feature.categories)[:10]
    schema["title"] = feature.name
    return schema


def untitled_schema(feature: Feature) -> dict[str, Any]:
    """The JSON Schema of one feature's values without its name: equal for features that
    take the same values."""
    return {key: value for key, value in feature_schema(feature).items() if key != "title"}


def row_array(schema: Schema) -> dict[str, Any]:
    names = list(schema.names)
    return {
        "type": "array",
        "description": "Values in feature order: " + ", ".join(names) + ".",
        "prefixItems": [feature_schema(feature) for feature in schema.features],
        "items": False,
        "minItems": len(names),
        "maxItems": len(names),
    }


def row_object(schema: Schema) -> dict[str, Any]:
    names = list(schema.names)
    return {
        "type": "object",
        "properties": {feature.name: feature_schema(feature) for feature in schema.features},
        "required": names,
        "additionalProperties": False,
    }


def row_shapes(model: Model) -> list[dict[str, Any]]:
    """The shapes one row may take: an array in feature order, an object by name, and for a
    text model the text itself."""
    shapes: list[dict[str, Any]] = [ref("RowArray"), ref("RowObject")]
    if model.schema is not None and model.schema.model_input == "text":
        shapes.append({"type": "string", "description": "The text itself."})
    return shapes


# The model's answers


def prediction_schema(task: str, classes: Sequence[Any], listed: bool = True) -> dict[str, Any]:
    """One prediction; with `listed` false, a classifier's labels by their type alone."""
    if task == "classification":
        return {"enum": list(classes)} if listed else labels_schema(classes)
    if task == "clustering":
        return {"type": "integer", "minimum": 0, "description": "The cluster's index."}
    if task == "outlier_detection":
        return {"enum": list(OUTLIER_LABELS), "description": "1 for an inlier, -1 for an outlier."}
    return {"type": "number"}


def labels_schema(classes: Sequence[Any]) -> dict[str, Any]:
    """Class labels by their JSON type, a few as examples: a list too long to give whole."""
    types = sorted({_JSON_TYPES[type(label)] for label in classes})
    return {
        "type": types[0] if len(types) == 1 else types,
        "examples": list(classes[:_EXAMPLES]),
        "description": f"One of the model's {len(classes)} classes, listed in /model.",
    }


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_EXAMPLES = 10


def probabilities_schema(classes: Sequence[Any], listed: bool = True) -> dict[str, Any]:
    """Label -> probability; with `listed` false, the labels counted, not named."""
    if not listed:
        return {
            "type": "object",
            "description": f"One probability for each of the model's {len(classes)} classes.",
            "additionalProperties": PROBABILITY,
            "minProperties": len(classes),
            "maxProperties": len(classes),
        }
    labels = [label_key(label) for label in classes]
    return {
        "type": "object",
        "properties": {label: PROBABILITY for label in labels},
        "required": labels,
        "additionalProperties": False,
    }


def by_output(
    outputs: Sequence[Output], each: Callable[[Output], dict[str, Any]]
) -> dict[str, Any]:
    names = [output.name for output in outputs]
    return {
        "type": "object",
        "properties": {output.name: each(output) for output in outputs},
        "required": names,
        "additionalProperties": False,
    }


def predictions_of(model: Model, classes: Sequence[Any]) -> dict[str, Any]:
    """One prediction of an output with these classes, as the document lists them."""
    assert model.metadata is not None
    return prediction_schema(model.metadata.task, classes, model.lists(classes))


def _prediction(model: Model) -> dict[str, Any]:
    metadata = model.metadata
    if metadata is None:
        return {"type": ["string", "number", "integer", "boolean", "object"]}
    if metadata.outputs is None:
        return predictions_of(model, metadata.classes)
    return by_output(metadata.outputs, lambda output: predictions_of(model, output.classes))


def _probabilities(model: Model) -> dict[str, Any]:
    metadata = model.metadata
    if metadata is None:
        return {"type": "object", "additionalProperties": {}}

    def each(classes: Sequence[Any]) -> dict[str, Any]:
        return probabilities_schema(classes, model.lists(classes))

    if metadata.outputs is None:
        return each(metadata.classes)
    return by_output(metadata.outputs, lambda output: each(output.classes))


MODEL_VERSION = {"type": "string"}


def schemas(model: Model) -> dict[str, Any]:
    """The schemas more than one protocol uses."""
    row_array_schema: dict[str, Any]
    row_object_schema: dict[str, Any]
    if model.schema is None:
        row_array_schema = {"type": "array", "items": ANY_VALUE, "minItems": 1}
        row_object_schema = {"type": "object", "additionalProperties": ANY_VALUE}
    else:
        row_array_schema = row_array(model.schema)
        row_object_schema = row_object(model.schema)
    return {
        "RowArray": row_array_schema,
        "RowObject": row_object_schema,
        "Row": {"oneOf": row_shapes(model)},
        "Prediction": _prediction(model),
        "Probabilities": _probabilities(model),
        "Health": {
            "type": "object",
            "properties": {"status": {"const": "ok"}, "model_version": MODEL_VERSION},
            "required": ["status", "model_version"],
            "additionalProperties": False,
        },
        "HealthUnavailable": {
            "type": "object",
            "properties": {"status": {"const": "unavailable"}, "reason": {"type": "string"}},
            "required": ["status", "reason"],
            "additionalProperties": False,
        },
        "ErrorDetail": {
            "type": "object",
            "description": "One problem with the input: where it is in the body, and why.",
            "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}},
            "required": ["loc", "msg"],
            "additionalProperties": False,
        },
    }


ERROR_DETAILS = {"type": "array", "items": ref("ErrorDetail"), "minItems": 1}


def health_responses(ok: str) -> dict[str, Any]:
    return {
        "200": answer("Health", ok),
        "503": answer("HealthUnavailable", "The model is not loaded, and why."),
    }
