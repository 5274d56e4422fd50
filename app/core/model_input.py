"""Validated rows -> what the model's predict() takes, as its schema says.

- float64_array: a 2-D float64 matrix (NaN where a nullable feature is missing);
- object_array: a 2-D object array of the plain values, for a model fitted on a numpy
  array of mixed columns;
- dataframe: a pandas DataFrame with the training columns and dtypes, so by-name column
  selection, category dtypes, booleans and date-times (their unit and time zone) work as
  in training;
- text: a 1-D array of strings, for a pipeline whose first step is a text vectorizer.

A missing value reaches the model as NaN (NaT in a datetime column), the marker
scikit-learn's imputers, encoders and NaN-aware estimators look for. pandas is imported
only for a DataFrame model.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import Any

import numpy as np

from app.core.datetimes import DatetimeColumn
from app.core.schema import DEFAULT_DTYPES, Feature, Schema
from app.core.validation import Rows

PANDAS_MISSING = (
    "this model is handed a pandas DataFrame, but pandas is not installed here: install "
    'requirements-pandas.txt locally, or package with --param="pandas=true" (the default '
    "'auto' includes it when the bundled model's metadata says model_input: dataframe)"
)


def pandas_available() -> bool:
    return importlib.util.find_spec("pandas") is not None


def to_model_input(rows: Rows, schema: Schema) -> Any:
    if rows.matrix is not None:
        return rows.matrix
    kind = schema.model_input
    if kind == "float64_array":
        return _float_matrix(rows)
    if kind == "object_array":
        return _object_matrix(rows)
    if kind == "text":
        return _object_vector(rows.columns[0])
    return _data_frame(rows, schema)


def _float_column(column: Any) -> np.ndarray:
    if isinstance(column, np.ndarray):
        return column
    return np.asarray([np.nan if value is None else value for value in column], dtype=np.float64)


def _float_matrix(rows: Rows) -> np.ndarray:
    matrix = np.empty((rows.count, len(rows.columns)), dtype=np.float64)
    for position, column in enumerate(rows.columns):
        matrix[:, position] = _float_column(column)
    return matrix


def _object_vector(column: Any) -> np.ndarray:
    vector = np.empty(len(column), dtype=object)
    vector[:] = [np.nan if value is None else value for value in column]
    return vector


def _object_matrix(rows: Rows) -> np.ndarray:
    matrix = np.empty((rows.count, len(rows.columns)), dtype=object)
    for position, column in enumerate(rows.columns):
        values = column.tolist() if isinstance(column, np.ndarray) else column
        matrix[:, position] = [np.nan if value is None else value for value in values]
    return matrix


def _data_frame(rows: Rows, schema: Schema) -> Any:
    import pandas as pd

    data = {
        feature.name: _series_values(column, feature, pd)
        for feature, column in zip(schema.features, rows.columns, strict=True)
    }
    return pd.DataFrame(data, index=pd.RangeIndex(rows.count), copy=False)


def _series_values(column: Any, feature: Feature, pd: Any) -> Any:
    """One column, in the dtype it had in training."""
    if feature.time is not None:
        return _datetime_values(column, feature.time, pd)
    dtype = feature.dtype or DEFAULT_DTYPES[feature.type]
    if dtype == "category":
        # Codes, not values: a value the categories lack becomes missing (-1), which is
        # what a category column holds for it, without pandas' deprecation warning.
        index = {category: code for code, category in enumerate(feature.categories or ())}
        codes = np.fromiter(
            (index.get(value, -1) for value in column), dtype=np.int64, count=len(column)
        )
        return pd.Categorical.from_codes(codes, categories=list(feature.categories or ()))
    missing = _has_missing(column)
    target = _pandas_dtype(dtype)
    if feature.type == "string" and not missing and isinstance(target, pd.StringDtype):
        # Validated strings, none missing: wrapped as they are (pandas checks each is a
        # string in one C pass), not converted one by one.
        return pd.arrays.StringArray(np.array(column, dtype=object), dtype=target)
    if feature.type == "number" or (feature.type == "integer" and missing):
        values = _float_column(column)
    elif feature.type == "integer":
        values = np.asarray(column, dtype=np.int64)
    elif feature.type == "boolean" and not missing:
        values = np.asarray(column, dtype=bool)
    else:
        values = _object_vector(column)
    if isinstance(target, np.dtype):
        # NaN keeps an integer or boolean column float64 or object, as pandas would.
        if target == values.dtype or (missing and target.kind in "iub"):
            return values
        return values.astype(target)
    return pd.array(values, dtype=target)


def _datetime_values(column: np.ndarray, time: DatetimeColumn, pd: Any) -> Any:
    """Validated instants (datetime64 in the column's unit): as they are for a naive
    column; for a zone-aware one, UTC instants shown in the column's zone."""
    if time.zone is None:
        return column
    zone = _pandas_dtype(time.dtype).tz
    return pd.DatetimeIndex(column).tz_localize("UTC").tz_convert(zone).array


@lru_cache(maxsize=64)
def _pandas_dtype(name: str) -> Any:
    """pandas' dtype of that name: looked up once, since each lookup costs some 20 µs,
    more than building a small column."""
    import pandas as pd

    dtype = pd.api.types.pandas_dtype(name)
    if isinstance(dtype, pd.StringDtype) and dtype.storage != "python":
        # pandas stores strings in pyarrow wherever it is installed (a developer's
        # machine); the Lambda bundle has none. The same storage everywhere, so a model
        # answers locally as it does there, and pyarrow's refusal of a lone surrogate
        # never reaches one.
        return pd.StringDtype(storage="python", na_value=dtype.na_value)
    return dtype


def _has_missing(column: Any) -> bool:
    if isinstance(column, np.ndarray):
        # Only a float column marks a missing value, as NaN; int and bool ones have none.
        return column.dtype.kind == "f" and bool(np.isnan(column).any())
    return None in column
