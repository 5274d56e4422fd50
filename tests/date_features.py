"""A user's own transformer for date-time columns, and the data it is fitted on.

It lives in a module of its own, as a user's would: a pipeline using it pickles it by
module name (`date_features.DateParts`), and the module ships with the model as its code
archive (`--code tests/date_features.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class DateParts(TransformerMixin, BaseEstimator):
    """Each date-time column as its hour and day of the week, read with `.dt`: what a
    model learns from a timestamp. Fails, as such code does, on a column of numbers."""

    def fit(self, X: Any, y: Any = None) -> DateParts:
        return self

    def transform(self, X: Any) -> np.ndarray:
        parts = []
        for name in X.columns:
            when = X[name].dt
            parts += [when.hour.to_numpy(float), when.day_of_week.to_numpy(float)]
        return np.column_stack(parts)


def visits(rows: int, dtype: str, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """A shop's visits: when (in `dtype`), and the amount spent; the target is the hour
    (in the column's own zone) plus ten per day of the week, so a linear model answers it
    exactly and every answer says which hour and day the model was handed."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    hours = pd.to_timedelta(rng.integers(0, 365 * 24, rows), unit="h")
    naive = pd.Series(start + hours)
    zone = pd.api.types.pandas_dtype(dtype)
    when = (
        naive.dt.tz_localize("UTC").astype(dtype)
        if isinstance(zone, pd.DatetimeTZDtype)
        else naive.astype(dtype)
    )
    frame = pd.DataFrame({"amount": rng.normal(40.0, 10.0, rows), "when": when})
    target = (frame["when"].dt.hour + 10 * frame["when"].dt.day_of_week).to_numpy(float)
    return frame, target


def hour_and_day(hour: int, day: int) -> float:
    """What the fitted model answers for a visit at this hour on this day of the week."""
    return float(hour + 10 * day)
