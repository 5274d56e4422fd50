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

from collections import Counter
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
# Below this many labels, counting them in Python is quicker than numpy's setting up;
# likewise for the rows up to this many.
FEW_LABELS = 32
FEW_ROWS = 16
# The request-level counts, as the metrics document names them.
COUNTS = ("rows_out_of_range", "rows_unseen_category", "missing_values")


@dataclass(frozen=True)
class Health:
    """One request's counts: `metrics` by metric name, `features` by kind, then feature;
    `units`, each metric's name and CloudWatch unit, the same for every request."""

    metrics: dict[str, int]
    features: dict[str, dict[str, int]]
    units: tuple[tuple[str, str], ...]


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
        # All features ranged (an all-number model): the matrix as it is, no copy.
        self.all_ranged = self.ranged == list(range(len(schema.features)))
        self.bounds = [(position, f.low, f.high) for position, f in ranged]
        self.low = np.array([f.low for _, f in ranged], dtype=np.float64)
        self.high = np.array([f.high for _, f in ranged], dtype=np.float64)
        # Only a feature whose every training value is recorded can show an unseen one;
        # a boolean that took both values in training never can.
        self.known = {
            position: frozenset(f.shares.values)
            for position, feature in enumerate(schema.features)
            if (f := reference.features[feature.name]).shares is not None
            and f.shares.complete
            and not (feature.type == "boolean" and len(f.shares.values) == 2)
        }
        self.booleans = frozenset(
            position
            for position, feature in enumerate(schema.features)
            if feature.type == "boolean"
        )
        predictions = reference.predictions
        self.class_metric: dict[str, str] = {}
        self.deciles: np.ndarray | None = None
        self.sorted_classes: np.ndarray | None = None
        self.class_metrics: list[str] = []
        if predictions is not None and predictions.shares is not None:
            # The classes most often predicted in training first, then the model's others.
            keys = list(dict.fromkeys([*predictions.shares.values, *map(value_key, classes)]))
            for index, key in enumerate(keys[:MAX_NAMED_CLASSES]):
                named = 0 < len(key) <= MAX_LABEL_CHARS and not key.isspace()
                self.class_metric[key] = f"predicted.{key}" if named else f"predicted.class_{index}"
            self.sorted_classes, self.class_metrics = self._class_codes(classes)
            other = (OTHER_CLASSES,) if len(keys) > MAX_NAMED_CLASSES else ()
            self.metric_names = (*COUNTS, *self.class_metric.values(), *other)
        elif predictions is not None and predictions.quantiles is not None:
            # The nine inner deciles split answers into ten bins.
            self.deciles = np.array(predictions.quantiles[1:-1], dtype=np.float64)
            self.metric_names = (*COUNTS, *(f"predicted.decile_{d}" for d in range(1, 11)))
        else:
            self.metric_names = COUNTS
        self.units = tuple((name, "Count") for name in self.metric_names)

    def measure(self, rows: Rows, predictions: np.ndarray) -> Health:
        if rows.count <= FEW_ROWS:
            out_of_range, outside, unseen, unseen_by_feature, missing = self._count_few(rows)
        else:
            out_of_range, outside = self._out_of_range(rows)
            unseen, unseen_by_feature = self._unseen(rows)
            missing = self._missing(rows)
        metrics = {
            "rows_out_of_range": out_of_range,
            "rows_unseen_category": unseen,
            "missing_values": sum(missing.values()),
            **self._predicted(predictions),
        }
        features = {}
        if outside:
            features["out_of_range"] = outside
        if unseen_by_feature:
            features["unseen"] = unseen_by_feature
        if missing:
            features["missing"] = missing
        return Health(metrics, features, self.units)

    def _count_few(
        self, rows: Rows
    ) -> tuple[int, dict[str, int], int, dict[str, int], dict[str, int]]:
        """The same counts in plain Python, value by value: for a few rows, quicker than
        numpy's setting up of each array operation."""
        if rows.matrix is not None:
            columns: list[list[Any]] = rows.matrix.T.tolist()
        else:
            columns = [c.tolist() if isinstance(c, np.ndarray) else c for c in rows.columns]
        flagged_range: set[int] = set()
        outside = {}
        for position, low, high in self.bounds:
            hits = [
                i
                for i, v in enumerate(columns[position])
                if v is not None and (v < low or v > high)
            ]
            if hits:
                flagged_range.update(hits)
                outside[self.names[position]] = len(hits)
        flagged_new: set[int] = set()
        unseen = {}
        if rows.matrix is None:
            for position, known in self.known.items():
                boolean = position in self.booleans
                hits = [
                    i
                    for i, v in enumerate(columns[position])
                    if v is not None and (value_key(v) if boolean else v) not in known
                ]
                if hits:
                    flagged_new.update(hits)
                    unseen[self.names[position]] = len(hits)
        missing = {}
        for position, column in enumerate(columns):
            # None, or NaN (the one value unequal to itself); a missing date-time is None.
            count = sum(1 for v in column if v is None or v != v)
            if count:
                missing[self.names[position]] = count
        return len(flagged_range), outside, len(flagged_new), unseen, missing

    def _numbers(self, rows: Rows) -> np.ndarray:
        """The ranged features as a float matrix (n, ranged), NaN where missing."""
        if rows.matrix is not None:
            return rows.matrix if self.all_ranged else rows.matrix[:, self.ranged]
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
        if not outside.any():  # the usual case, told without reducing row by row
            return 0, {}
        flagged = int(np.count_nonzero(outside.any(axis=1)))
        per_feature = outside.sum(axis=0).tolist()
        return flagged, {self.names[self.ranged[i]]: n for i, n in enumerate(per_feature) if n}

    def _unseen(self, rows: Rows) -> tuple[int, dict[str, int]]:
        if not self.known or rows.count == 0 or rows.matrix is not None:
            return 0, {}
        flagged: np.ndarray | None = None
        by_name = {}
        for position, known in self.known.items():
            # Strings and booleans never take the all-number matrix: always a column.
            column = rows.columns[position]
            values = column.tolist() if isinstance(column, np.ndarray) else column
            keys = map(value_key, values) if position in self.booleans else values
            # The distinct values first, in C: most requests hold none training lacked.
            new = set(keys) - known
            new.discard(None)  # missing, counted as such
            if not new:
                continue
            if position in self.booleans:
                new = {v for v in (True, False) if value_key(v) in new}
            hits = np.fromiter((v in new for v in values), dtype=bool, count=rows.count)
            by_name[self.names[position]] = int(np.count_nonzero(hits))
            flagged = hits if flagged is None else flagged | hits
        return (0 if flagged is None else int(np.count_nonzero(flagged))), by_name

    def _missing(self, rows: Rows) -> dict[str, int]:
        if rows.matrix is not None:
            nan = np.isnan(rows.matrix)
            if not nan.any():
                return {}
            per_feature = nan.sum(axis=0).tolist()
            return {self.names[p]: n for p, n in enumerate(per_feature) if n}
        missing = {}
        for position, column in enumerate(rows.columns):
            if isinstance(column, np.ndarray):
                # Integer and boolean arrays hold no missing value; see Rows.
                kind = column.dtype.kind
                if kind == "f":
                    count = int(np.count_nonzero(np.isnan(column)))
                elif kind == "M":
                    count = int(np.count_nonzero(np.isnat(column)))
                else:
                    continue
            else:
                count = column.count(None)
            if count:
                missing[self.names[position]] = count
        return missing

    def _predicted(self, predictions: np.ndarray) -> dict[str, int]:
        if self.deciles is not None:
            values = np.asarray(predictions, dtype=np.float64).ravel()
            bins = np.bincount(np.searchsorted(self.deciles, values, side="right"), minlength=10)
            return {f"predicted.decile_{d + 1}": n for d, n in enumerate(bins.tolist())}
        if not self.class_metric:
            return {}
        counts = dict.fromkeys(self.metric_names[len(COUNTS) :], 0)
        labels = np.asarray(predictions).ravel()
        # Object labels (strings a pipeline returns as objects) would be converted one by
        # one for the search: counting them as Python values is three times quicker.
        if (
            self.sorted_classes is not None
            and labels.size >= FEW_LABELS
            and labels.dtype.kind != "O"
        ):
            # Each label's position among the sorted classes, counted in C: a few µs for
            # a thousand labels, where counting them in Python takes tens.
            codes = np.searchsorted(self.sorted_classes, labels)
            known = len(self.sorted_classes)
            if not codes.size or (
                codes.max() < known and np.array_equal(self.sorted_classes[codes], labels)
            ):
                tallies = np.bincount(codes, minlength=known).tolist()
                for metric, tally in zip(self.class_metrics, tallies, strict=True):
                    counts[metric] += tally
                return counts
        for label, tally in Counter(labels.tolist()).items():
            # A label beyond the named ones is one of the model's classes past the first
            # MAX_NAMED_CLASSES, so "other" exists.
            counts[self.class_metric.get(value_key(label), OTHER_CLASSES)] += tally
        return counts

    def _class_codes(self, classes: tuple[Any, ...]) -> tuple[np.ndarray | None, list[str]]:
        """The model's classes sorted, as numpy searches them, and each one's metric;
        None where they cannot be sorted together (mixed kinds)."""
        try:
            ordered = np.array(sorted(classes))
        except TypeError:
            return None, []
        if not len(ordered) or ordered.dtype.kind not in "iubU":
            return None, []
        metrics = [self.class_metric.get(value_key(c), OTHER_CLASSES) for c in ordered.tolist()]
        return ordered, metrics


def health_check(
    reference: Reference | None, schema: Schema, classes: tuple[Any, ...] = ()
) -> HealthCheck | None:
    """`classes`: a classifier's with one target, so that each has its count."""
    return None if reference is None else HealthCheck(reference, schema, classes)
