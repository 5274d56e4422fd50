"""A user's own feature code, as a team keeps it in its project: a transformer class
and a plain function, both referenced by name from the pickled pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class AddRatio(BaseEstimator, TransformerMixin):
    """Appends the ratio of two columns, guarded against a zero denominator."""

    def __init__(self, numerator: int = 0, denominator: int = 1) -> None:
        self.numerator = numerator
        self.denominator = denominator

    def fit(self, X: Any, y: Any = None) -> AddRatio:
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float64)
        ratio = values[:, self.numerator] / (1.0 + np.abs(values[:, self.denominator]))
        return np.column_stack([values, ratio])


def clipped(X: Any) -> np.ndarray:
    values = np.asarray(X, dtype=np.float64)
    if (np.abs(values) > 1e6).any():  # a sensor's error code, never a reading
        raise LookupError("a value beyond 1e6 is an error code, not a reading")
    return np.clip(values, -5.0, 5.0)


class SpendPerMonth(BaseEstimator, TransformerMixin):
    """A DataFrame transformer: it reads columns by name and records no feature names."""

    def fit(self, X: Any, y: Any = None) -> SpendPerMonth:
        return self

    def transform(self, X: Any) -> Any:
        X = X.copy()
        X["spend_per_month"] = X["spend"] / np.maximum(X["tenure"], 1)
        return X
