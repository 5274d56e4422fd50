"""The native protocol's request read into rows.

/predict takes `features` (one row) or `instances` (a batch), with optional
`return_probabilities`; its own fields are checked here, its rows by the schema's
validator, and every problem in a body is reported with where it is and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.core.schema import Schema
from app.core.typed_rows import UNSET, Omitted, TypedBody, typed_body
from app.core.validation import Problems, Rows, kind_of, validate_rows
from app.http.serving import check_row_count, invalid
from app.protocols.request_shape import flag, json_object, unknown_members

ALLOWED_FIELDS = ("features", "instances", "return_probabilities")


@dataclass(frozen=True)
class InputSchema:
    """What a valid request looks like for the loaded model."""

    schema: Schema
    supports_probabilities: bool
    max_rows: int


@dataclass(frozen=True)
class PredictRequest:
    rows: Rows
    batch: bool
    return_probabilities: bool

    def row_loc(self, index: int) -> str:
        return f"instances[{index}]" if self.batch else "features"


def typed_predict_request(body: bytes, expected: InputSchema) -> PredictRequest | None:
    """A valid request of the usual shape read from its bytes in one pass (see
    app.core.typed_rows); None for parse_predict_request to read, and to refuse."""
    typed = _typed_body(expected.schema)
    body_read = None if typed is None else typed.read(body)
    if typed is None or body_read is None:
        return None
    features, instances = body_read.features, body_read.instances
    return_probabilities = body_read.return_probabilities is True
    if (features is UNSET) == (instances is UNSET):
        return None
    if return_probabilities and not expected.supports_probabilities:
        return None
    rows = [features] if instances is UNSET else instances
    if not 0 < len(rows) <= expected.max_rows:
        return None
    return PredictRequest(typed.rows_of.rows(rows), instances is not UNSET, return_probabilities)


@lru_cache(maxsize=8)
def _typed_body(schema: Schema) -> TypedBody | None:
    """The type of a body with the ALLOWED_FIELDS, each of the type it must have."""
    return typed_body(
        schema,
        "PredictBody",
        lambda rows_of: [
            ("features", rows_of.row | Omitted, UNSET),
            ("instances", list[rows_of.row] | Omitted, UNSET),  # type: ignore[name-defined]
            ("return_probabilities", bool | Omitted, UNSET),
        ],
    )


def parse_predict_request(payload: Any, expected: InputSchema) -> PredictRequest:
    """Validate a decoded body against the model's schema; 422 lists every problem."""
    problems = Problems()
    payload = json_object(payload)
    unknown_members(payload, None, ALLOWED_FIELDS, problems)

    return_probabilities = flag(payload, "return_probabilities", None, problems)
    if return_probabilities and not expected.supports_probabilities:
        problems.add("return_probabilities", "this model is not a classifier with predict_proba")

    rows: Sequence[Any] = []
    has_features, has_instances = "features" in payload, "instances" in payload
    if has_features == has_instances:
        problems.add(
            "body", "expected exactly one of 'features' (one row) or 'instances' (a batch of rows)"
        )
    elif has_features:
        rows = [payload["features"]]
    else:
        instances = payload["instances"]
        if not isinstance(instances, list):
            problems.add("instances", f"expected an array of rows, got {kind_of(instances)}")
        elif check_row_count(len(instances), expected.max_rows, "instances", problems):
            rows = instances

    parsed = PredictRequest(Rows(0), has_instances, return_probabilities)
    checked = validate_rows(rows, parsed.row_loc, expected.schema, problems) if rows else None
    if problems or checked is None:
        raise invalid(problems)
    return PredictRequest(checked, has_instances, return_probabilities)
