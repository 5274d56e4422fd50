"""Reference statistics: what the rows a model learned from looked like, in a few numbers
per feature, and how the model answered them. One definition, written by describe
(--reference) into the metadata's "reference" member, read by the server to count per
request what training never showed (app.core.input_health) and by the drift report.

Per number or integer feature: its range and its deciles (11 quantiles, 0% to 100%);
per string or boolean feature: the shares of its most frequent values and the share of
the rest; per feature: the share of rows where it is missing. Predictions: the share of
each class (a classifier with one target) or the deciles (a regressor with one target).
Its size depends on the number of features, never on the number of rows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from app.core.schema import Schema

# Most frequent values kept per string or boolean feature, and classes per classifier;
# the rest are one share. A feature whose values all fit is complete: a value outside it
# is one training never showed.
MAX_VALUES = 50
QUANTILE_COUNT = 11  # 0%, 10%, ..., 100%
# A value longer than this is counted among the rest, never kept as a key: the size of
# the statistics depends on the number of features alone.
MAX_KEY_LENGTH = 200
# Shares are kept to six significant digits: together with the rest they sum to 1 within
# this much.
SHARE_SUM_TOLERANCE = 1e-3


class InvalidReference(ValueError):
    """Reference statistics that cannot be read; the message says why."""


def value_key(value: Any) -> str:
    """The text a value is counted under: a string as itself, a boolean as JSON has it;
    a numpy scalar as the plain value it holds."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Shares:
    """Shares of the most frequent values, most frequent first, and of all the others."""

    values: dict[str, float]
    other: float

    @property
    def complete(self) -> bool:
        return self.other == 0.0

    def to_document(self) -> dict[str, Any]:
        return {"values": dict(self.values), "other": self.other}


@dataclass(frozen=True)
class FeatureReference:
    """One feature: `missing` always; `low`, `high` and `quantiles` for numbers and
    integers; `shares` for strings and booleans; neither for date-times."""

    missing: float
    low: float | None = None
    high: float | None = None
    quantiles: tuple[float, ...] | None = None
    shares: Shares | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"missing": self.missing}
        if self.quantiles is not None:
            document["range"] = [self.low, self.high]
            document["quantiles"] = list(self.quantiles)
        if self.shares is not None:
            document.update(self.shares.to_document())
        return document


@dataclass(frozen=True)
class PredictionReference:
    """The model's answers on the reference rows: class shares or deciles."""

    shares: Shares | None = None
    quantiles: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if (self.shares is None) == (self.quantiles is None):
            raise InvalidReference("predictions are either class shares or deciles")

    def to_document(self) -> dict[str, Any]:
        if self.shares is not None:
            return {"classes": dict(self.shares.values), "other": self.shares.other}
        return {"quantiles": list(self.quantiles or ())}


@dataclass(frozen=True)
class Reference:
    rows: int
    features: dict[str, FeatureReference]
    predictions: PredictionReference | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": {name: f.to_document() for name, f in self.features.items()},
            "predictions": None if self.predictions is None else self.predictions.to_document(),
        }

    @classmethod
    def from_document(cls, document: Any, schema: Schema, classifier: bool) -> Reference:
        """Raises InvalidReference naming the member at fault. `classifier`: whether the
        predictions must be class shares (else deciles, when there are any)."""
        if not isinstance(document, dict):
            raise InvalidReference("'reference' must be null or an object")
        rows = document.get("rows")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise InvalidReference("'reference.rows' must be a positive integer")
        features = document.get("features")
        if not isinstance(features, dict) or list(features) != list(schema.names):
            raise InvalidReference(
                "'reference.features' must have one member per feature, in the schema's order"
            )
        parsed = {
            feature.name: _feature(features[feature.name], feature.type, feature.name)
            for feature in schema.features
        }
        predictions = document.get("predictions")
        return cls(
            rows, parsed, None if predictions is None else _predictions(predictions, classifier)
        )


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidReference(f"'{where}' must be a share from 0 to 1")
    return float(value)


def _quantiles(value: Any, where: str) -> tuple[float, ...]:
    if (
        not isinstance(value, list)
        or len(value) != QUANTILE_COUNT
        or not all(_finite(q) for q in value)
        or any(a > b for a, b in itertools.pairwise(value))
    ):
        raise InvalidReference(
            f"'{where}' must be {QUANTILE_COUNT} finite numbers in ascending order"
        )
    return tuple(float(q) for q in value)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _shares(document: dict[str, Any], key: str, where: str) -> Shares:
    values = document.get(key)
    if (
        not isinstance(values, dict)
        or len(values) > MAX_VALUES
        or not all(isinstance(k, str) and len(k) <= MAX_KEY_LENGTH for k in values)
    ):
        raise InvalidReference(
            f"'{where}.{key}' must be an object of at most {MAX_VALUES} values' shares, "
            f"each value at most {MAX_KEY_LENGTH} characters"
        )
    shares = {k: _share(v, f"{where}.{key}.{k}") for k, v in values.items()}
    other = _share(document.get("other"), f"{where}.other")
    total = sum(shares.values()) + other
    # All shares are 0 only for a feature missing in every row.
    if total and abs(total - 1) > SHARE_SUM_TOLERANCE:
        raise InvalidReference(f"'{where}.{key}' and 'other' must sum to 1, got {total:.6g}")
    return Shares(shares, other)


def _feature(document: Any, kind: str, name: str) -> FeatureReference:
    where = f"reference.features.{name}"
    if not isinstance(document, dict):
        raise InvalidReference(f"'{where}' must be an object")
    missing = _share(document.get("missing"), f"{where}.missing")
    if kind in ("number", "integer"):
        if "range" not in document:  # a feature missing in every reference row
            return FeatureReference(missing)
        low_high = document.get("range")
        if (
            not isinstance(low_high, list)
            or len(low_high) != 2
            or not all(_finite(x) for x in low_high)
            or low_high[0] > low_high[1]
        ):
            raise InvalidReference(f"'{where}.range' must be [lowest, highest]")
        quantiles = _quantiles(document.get("quantiles"), f"{where}.quantiles")
        return FeatureReference(missing, float(low_high[0]), float(low_high[1]), quantiles)
    if kind in ("string", "boolean"):
        return FeatureReference(missing, shares=_shares(document, "values", where))
    return FeatureReference(missing)


def _predictions(document: Any, classifier: bool) -> PredictionReference:
    where = "reference.predictions"
    if not isinstance(document, dict):
        raise InvalidReference(f"'{where}' must be null or an object")
    if classifier:
        if set(document) != {"classes", "other"}:
            raise InvalidReference(f"'{where}' of a classifier must hold 'classes' and 'other'")
        return PredictionReference(shares=_shares(document, "classes", where))
    if set(document) != {"quantiles"}:
        raise InvalidReference(f"'{where}' of a regressor must hold 'quantiles' alone")
    return PredictionReference(
        quantiles=_quantiles(document.get("quantiles"), f"{where}.quantiles")
    )
