"""A shadow model: a second model that answers the same validated rows as the live one,
after the live answer is built, so the two can be compared on real traffic. Its answers
never reach a client and its failures never change the live answer.

A shadow is accepted at load only if it takes every row the live model's schema accepts:
the same task and number of outputs; each of its features one of the live model's, of
the same type (a date-time in the same unit and zone); missing values allowed wherever
the live model allows them; and, where it restricts a feature to listed categories, at
least the categories the live model accepts. It may accept more, and may ignore some of
the live model's features (a retrained model that dropped one).

Per request the comparison gives fixed metric names per model (app.http.emf): requests,
errors, rows, agreeing rows (a classifier: the same labels; a regressor: every output
within the tolerance) and, for a regressor, the mean absolute difference, and the
shadow's own time. Disagreeing rows are named for capture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.metadata import ModelMetadata
from app.core.predictor import Outcome, Predictor
from app.core.schema import Feature, Schema
from app.core.validation import Rows

# (metric name, CloudWatch unit), in the order a line holds them.
Units = tuple[tuple[str, str], ...]
CLASSIFIER_METRICS: Units = (
    ("shadow_requests", "Count"),
    ("shadow_errors", "Count"),
    ("shadow_rows", "Count"),
    ("shadow_rows_agreeing", "Count"),
    ("shadow_latency_ms", "Milliseconds"),
)
REGRESSOR_METRICS: Units = (
    ("shadow_requests", "Count"),
    ("shadow_errors", "Count"),
    ("shadow_rows", "Count"),
    ("shadow_rows_within_tolerance", "Count"),
    ("shadow_mean_abs_difference", "None"),
    ("shadow_latency_ms", "Milliseconds"),
)
# A failed shadow has no rows to compare: the same names, but no difference.
FAILED_METRICS: Units = (
    ("shadow_requests", "Count"),
    ("shadow_errors", "Count"),
    ("shadow_rows", "Count"),
    ("shadow_latency_ms", "Milliseconds"),
)


class ShadowMismatch(ValueError):
    """The shadow would refuse rows the live model accepts; the message says which."""


def check_fits(live: ModelMetadata, shadow: ModelMetadata) -> None:
    """Raise ShadowMismatch unless the `shadow` model accepts every row `live` accepts."""
    if live.task != shadow.task:
        raise ShadowMismatch(f"the shadow is a {shadow.task} model, the live one a {live.task} one")
    live_outputs = len(live.outputs or ()) or 1
    shadow_outputs = len(shadow.outputs or ()) or 1
    if live_outputs != shadow_outputs:
        raise ShadowMismatch(
            f"the shadow predicts {shadow_outputs} output(s), the live model {live_outputs}"
        )
    problem = schema_misfit(live.schema, shadow.schema)
    if problem is not None:
        raise ShadowMismatch(problem)


def schema_misfit(live: Schema, shadow: Schema) -> str | None:
    """Why a row valid for `live` could be refused by `shadow`, or None."""
    by_name = {feature.name: feature for feature in live.features}
    for feature in shadow.features:
        theirs = by_name.get(feature.name)
        if theirs is None:
            return f"the shadow takes feature {feature.name!r}, which the live model's rows lack"
        problem = _feature_misfit(theirs, feature)
        if problem is not None:
            return f"feature {feature.name!r}: {problem}"
    return None


def _feature_misfit(live: Feature, shadow: Feature) -> str | None:
    if live.type != shadow.type:
        return f"the shadow takes a {shadow.type}, the live model a {live.type}"
    if live.time is not None and shadow.time is not None and live.time != shadow.time:
        return f"the shadow takes {shadow.dtype}, the live model {live.dtype}"
    if live.nullable and not shadow.nullable:
        return "the live model accepts a missing value, the shadow does not"
    if shadow.closed:
        if not live.closed:
            return (
                "the shadow accepts only its listed categories, the live model any value; "
                "describe the shadow so it accepts unknown values"
            )
        unknown = [value for value in live.categories or () if value not in shadow.known]
        if unknown:
            return f"the shadow refuses categories the live model accepts: {unknown[:5]!r}"
    return None


@dataclass(frozen=True)
class Comparison:
    """One request's shadow answer against the live one."""

    metrics: dict[str, float | int]
    units: Units
    model_version: str | None  # the shadow's, when it is loaded
    # Rows whose answers differ (beyond the tolerance), ascending, and the shadow's
    # predictions; None when the shadow failed.
    disagreeing: np.ndarray | None = None
    predictions: np.ndarray | None = None
    error: str | None = None


class Shadow:
    """A loaded shadow, laid out once against the live model's schema."""

    def __init__(self, live: Schema, predictor: Predictor, tolerance: float) -> None:
        self.predictor = predictor
        self.tolerance = tolerance
        self.is_classifier = predictor.is_classifier
        positions = {name: index for index, name in enumerate(live.names)}
        order = [positions[name] for name in predictor.schema.names]
        # None: the live rows as they are, the common case of the same features.
        self._order = None if order == list(range(len(live.names))) else order
        self._as_columns = not predictor.schema.all_numeric

    def rows_for(self, rows: Rows) -> Rows:
        """The live model's validated rows laid out as the shadow's schema orders them."""
        if rows.matrix is not None:
            matrix = rows.matrix if self._order is None else rows.matrix[:, self._order]
            if not self._as_columns:
                return Rows(rows.count, matrix=matrix)
            return Rows(rows.count, columns=tuple(matrix[:, i] for i in range(matrix.shape[1])))
        if self._order is None:
            return rows
        return Rows(rows.count, columns=tuple(rows.columns[i] for i in self._order))

    def compare(self, rows: Rows, live: Outcome) -> Comparison:
        """Run the shadow on `rows` and hold its answer to the live one; never raises for
        the shadow's sake: its failure is a Comparison with `error` set."""
        started = time.perf_counter()
        try:
            predictions = self.predictor.run(self.rows_for(rows)).predictions
            agrees, difference = self._agreement(live.predictions, predictions)
        except Exception as error:  # any fault of the shadow's; the live answer stands
            return self.failed(type(error).__name__, _ms_since(started), self.predictor.version)
        latency_ms = _ms_since(started)
        metrics: dict[str, float | int] = {
            "shadow_requests": 1,
            "shadow_errors": 0,
            "shadow_rows": rows.count,
        }
        if self.is_classifier:
            metrics["shadow_rows_agreeing"] = int(agrees.sum())
            units = CLASSIFIER_METRICS
        else:
            metrics["shadow_rows_within_tolerance"] = int(agrees.sum())
            metrics["shadow_mean_abs_difference"] = difference
            units = REGRESSOR_METRICS
        metrics["shadow_latency_ms"] = latency_ms
        disagreeing = np.flatnonzero(~agrees)
        return Comparison(metrics, units, self.predictor.version, disagreeing, predictions)

    def _agreement(self, live: np.ndarray, shadow: np.ndarray) -> tuple[np.ndarray, float]:
        """Per row, whether the answers agree; for a regressor, the mean absolute
        difference over every value too."""
        if live.shape != shadow.shape:
            raise ValueError(f"answers of shape {shadow.shape} for {live.shape}")
        if self.is_classifier:
            same = np.asarray(live == shadow, dtype=bool)
            return (same.all(axis=1) if same.ndim == 2 else same), 0.0
        gap = np.abs(live.astype(np.float64) - shadow.astype(np.float64))
        within = gap <= self.tolerance
        rows_within = within.all(axis=1) if within.ndim == 2 else within
        return rows_within, round(float(gap.mean()), 6)

    @staticmethod
    def failed(error: str, latency_ms: float, version: str | None = None) -> Comparison:
        """A request the shadow did not answer: `error` names why (an exception's type)."""
        metrics: dict[str, float | int] = {
            "shadow_requests": 1,
            "shadow_errors": 1,
            "shadow_rows": 0,
            "shadow_latency_ms": latency_ms,
        }
        return Comparison(metrics, FAILED_METRICS, version, error=error)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def take(rows: Rows, indices: np.ndarray) -> Rows:
    """The rows at `indices`, in that order."""
    if rows.matrix is not None:
        return Rows(len(indices), matrix=rows.matrix[indices])
    picked: list[Any] = []
    for column in rows.columns:
        if isinstance(column, np.ndarray):
            picked.append(column[indices])
        else:
            picked.append([column[i] for i in indices.tolist()])
    return Rows(len(indices), columns=tuple(picked))
