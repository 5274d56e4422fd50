"""The /predict request: `features` (one row) or `instances` (a batch), checked whole.

The request's own fields are checked here; its rows go to the schema's validator.
Every problem in a body is reported, each with where it is and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import ApiError, Detail
from app.schema import Schema
from app.validation import MAX_DETAILS, Problems, Rows, kind_of, member, validate_rows

ALLOWED_FIELDS = ("features", "instances", "return_probabilities")
MODEL_OVERFLOW = "the model cannot compute a finite result for these values (numeric overflow)"
MODEL_FAILED = "the model could not predict for these values"


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


def parse_predict_request(payload: Any, expected: InputSchema) -> PredictRequest:
    """Validate a decoded body against the model's schema; 422 lists every problem."""
    problems = Problems()
    if not isinstance(payload, dict):
        raise invalid([Detail("body", f"expected a JSON object, got {kind_of(payload)}")])

    for key in payload:
        if key not in ALLOWED_FIELDS:
            problems.add(member(None, key), f"unknown field; allowed: {', '.join(ALLOWED_FIELDS)}")

    return_probabilities = payload.get("return_probabilities", False)
    if not isinstance(return_probabilities, bool):
        problems.add(
            "return_probabilities", f"expected true or false, got {kind_of(return_probabilities)}"
        )
        return_probabilities = False
    elif return_probabilities and not expected.supports_probabilities:
        problems.add("return_probabilities", "this model is not a classifier with predict_proba")

    rows: Sequence[Any] = []
    has_features, has_instances = "features" in payload, "instances" in payload
    if has_features == has_instances:
        problems.add(
            "body", "expected exactly one of 'features' (one row) or 'instances' (a batch of rows)"
        )
        checked = None
    elif has_features:
        rows = [payload["features"]]
        checked = validate_rows(rows, lambda index: "features", expected.schema, problems)
    else:
        instances = payload["instances"]
        if not isinstance(instances, list):
            problems.add("instances", f"expected an array of rows, got {kind_of(instances)}")
        elif not instances:
            problems.add("instances", "expected at least 1 row, got an empty array")
        elif len(instances) > expected.max_rows:
            # Checked before the rows: an oversized batch is not worth validating.
            problems.add(
                "instances", f"expected at most {expected.max_rows} rows, got {len(instances)}"
            )
        else:
            rows = instances
        checked = (
            validate_rows(rows, lambda index: f"instances[{index}]", expected.schema, problems)
            if rows
            else None
        )

    if problems or checked is None:
        raise invalid(problems.details())
    return PredictRequest(
        rows=checked, batch=has_instances, return_probabilities=return_probabilities
    )


def rows_refused(row_indexes: Sequence[int], batch: bool, why: str) -> ApiError:
    """422 for valid rows the model itself cannot answer: overflow, or a failure inside it."""
    locs = [f"instances[{index}]" for index in row_indexes] if batch else ["features"]
    return invalid([Detail(loc, why) for loc in locs])


def invalid(problems: list[Detail]) -> ApiError:
    count = len(problems)
    if count <= MAX_DETAILS:
        message = f"The input does not fit the model: {count} problem{'s' if count > 1 else ''}."
    else:
        message = (
            f"The input does not fit the model: {count} problems; "
            f"the first {MAX_DETAILS} are listed."
        )
    return ApiError(422, "invalid_input", message, problems[:MAX_DETAILS])
