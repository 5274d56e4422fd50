"""Input health: per request, how much of what the model was asked lies outside what it
learned from (app.core.reference), and what it answered, in a few counts.

Counts for the request's metrics, whose names are fixed per model so that CloudWatch
keeps a bounded set of series: rows with a number outside its training range, rows with
a value of a string or boolean feature that training never showed (only for a feature
whose training values are all recorded), missing values, and the predictions per class
(the classes most often predicted in training by name, up to ten, the rest as one) or per
training decile of a regressor's answers. The counts per feature, which would make a
series per feature, go into the capture record instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.reference import Reference, value_key
from app.core.schema import Schema
from app.core.validation import Rows

# Classes counted by name; more would be more series than an alarm needs.
MAX_NAMED_CLASSES = 10
# A class label longer than this is counted by its position among the classes instead.
MAX_LABEL_CHARS = 100
OTHER_CLASSES = "predicted.other"
# The request-level counts, as the metrics document names them.
COUNTS = ("rows_out_of_range", "rows_unseen_category", "missing_values")


@dataclass(frozen=True)
class Health:
    """One request's counts: `metrics` by metric name, `features` by kind, then feature."""

    metrics: dict[str, int]
    features: dict[str, dict[str, int]]


class HealthCheck:
    """What one model's reference allows, laid out once for counting each request."""

    def __init__(self, reference: Reference, schema: Schema, classes: tuple[Any, ...] = ()) -> None:
        self.names = schema.names
        ranged = [
            (position, f)
            for position, feature in enumerate(schema.features)
            if (f := reference.features[feature.name]).quantiles is not None
        ]
        self.ranged = [position for position, _ in ranged]
        self.low = np.array([f.low for _, f in ranged], dtype=np.float64)
        self.high = np.array([f.high for _, f in ranged], dtype=np.float64)
        # Only a feature whose every training value is recorded can show an unseen one.
        self.known = {
            position: frozenset(f.shares.values)
            for position, feature in enumerate(schema.features)
            if (f := reference.features[feature.name]).shares is not None and f.shares.complete
        }
        predictions = reference.predictions
        self.class_metric: dict[str, str] = {}
        self.deciles: np.ndarray | None = None
        self.counts_other = False
        if predictions is not None and predictions.shares is not None:
            # The classes most often predicted in training first, then the model's others.
            keys = list(dict.fromkeys([*predictions.shares.values, *map(value_key, classes)]))
            for index, key in enumerate(keys[:MAX_NAMED_CLASSES]):
                named = 0 < len(key) <= MAX_LABEL_CHARS and not key.isspace()
                self.class_metric[key] = f"predicted.{key}" if named else f"predicted.class_{index}"
            self.counts_other = len(keys) > MAX_NAMED_CLASSES
            other = (OTHER_CLASSES,) if self.counts_other else ()
            self.metric_names = (*COUNTS, *self.class_metric.values(), *other)
        elif predictions is not None and predictions.quantiles is not None:
            # The nine inner deciles split answers into ten bins.
            self.deciles = np.array(predictions.quantiles[1:-1], dtype=np.float64)
            self.metric_names = (*COUNTS, *(f"predicted.decile_{d}" for d in range(1, 11)))
        else:
            self.metric_names = COUNTS

    def measure(self, rows: Rows, predictions: np.ndarray) -> Health:
        out_of_range, outside = self._out_of_range(rows)
        unseen, unseen_by_feature = self._unseen(rows)
        missing = self._missing(rows)
        metrics = {
            "rows_out_of_range": out_of_range,
            "rows_unseen_category": unseen,
            "missing_values": sum(missing.values()),
            **self._predicted(predictions),
        }
        features = {
            kind: counts
            for kind, counts in (
                ("out_of_range", outside),
                ("unseen", unseen_by_feature),
                ("missing", missing),
            )
            if counts
        }
        return Health(metrics, features)

    def _numbers(self, rows: Rows) -> np.ndarray:
        """The ranged features as a float matrix (n, ranged), NaN where missing."""
        if rows.matrix is not None:
            return rows.matrix[:, self.ranged]
        matrix = np.empty((rows.count, len(self.ranged)), dtype=np.float64)
        for index, position in enumerate(self.ranged):
            column = rows.columns[position]
            if isinstance(column, np.ndarray):
                matrix[:, index] = column
            else:
                matrix[:, index] = [np.nan if v is None else v for v in column]
        return matrix

    def _out_of_range(self, rows: Rows) -> tuple[int, dict[str, int]]:
        if not self.ranged or rows.count == 0:
            return 0, {}
        values = self._numbers(rows)
        # NaN compares false both ways: a missing value is counted as missing alone.
        outside = (values < self.low) | (values > self.high)
        per_feature = outside.sum(axis=0)
        by_name = {
            self.names[self.ranged[i]]: int(n) for i, n in enumerate(per_feature.tolist()) if n
        }
        return int(outside.any(axis=1).sum()), by_name

    def _unseen(self, rows: Rows) -> tuple[int, dict[str, int]]:
        if not self.known or rows.count == 0 or rows.matrix is not None:
            return 0, {}
        flagged = np.zeros(rows.count, dtype=bool)
        by_name = {}
        for position, known in self.known.items():
            # Strings and booleans never take the all-number matrix: always a column.
            column = rows.columns[position]
            values = column.tolist() if isinstance(column, np.ndarray) else column
            new = np.fromiter(
                (v is not None and value_key(v) not in known for v in values),
                dtype=bool,
                count=rows.count,
            )
            if count := int(new.sum()):
                flagged |= new
                by_name[self.names[position]] = count
        return int(flagged.sum()), by_name

    def _missing(self, rows: Rows) -> dict[str, int]:
        if rows.matrix is not None:
            per_feature = np.isnan(rows.matrix).sum(axis=0).tolist()
            return {self.names[p]: int(n) for p, n in enumerate(per_feature) if n}
        missing = {}
        for position, column in enumerate(rows.columns):
            if isinstance(column, np.ndarray):
                # Integer and boolean arrays hold no missing value; see Rows.
                kind = column.dtype.kind
                count = int(
                    np.isnan(column).sum()
                    if kind == "f"
                    else np.isnat(column).sum()
                    if kind == "M"
                    else 0
                )
            else:
                count = sum(1 for v in column if v is None)
            if count:
                missing[self.names[position]] = count
        return missing

    def _predicted(self, predictions: np.ndarray) -> dict[str, int]:
        if self.deciles is not None:
            values = np.asarray(predictions, dtype=np.float64).ravel()
            bins = np.bincount(np.searchsorted(self.deciles, values, side="right"), minlength=10)
            return {f"predicted.decile_{d + 1}": int(n) for d, n in enumerate(bins.tolist())}
        if not self.class_metric:
            return {}
        counts = dict.fromkeys(self.metric_names[len(COUNTS) :], 0)
        labels, tallies = np.unique(np.asarray(predictions).ravel(), return_counts=True)
        for label, tally in zip(labels.tolist(), tallies.tolist(), strict=True):
            # A label beyond the named ones is one of the model's classes past the first
            # MAX_NAMED_CLASSES, so "other" exists.
            counts[self.class_metric.get(value_key(label), OTHER_CLASSES)] += int(tally)
        return counts


def health_check(
    reference: Reference | None, schema: Schema, classes: tuple[Any, ...] = ()
) -> HealthCheck | None:
    """`classes`: a classifier's with one target, so that each has its count."""
    return None if reference is None else HealthCheck(reference, schema, classes)
