"""The native protocol's request read into rows.

/predict takes `features` (one row) or `instances` (a batch), with optional
`return_probabilities`; its own fields are checked here, its rows by the schema's
validator, and every problem in a body is reported with where it is and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.schema import Schema
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
