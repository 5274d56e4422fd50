"""Infers a model's typed schema from its example rows and from the fitted estimator.

Types come from the example (pandas dtypes for a DataFrame, value kinds for JSON rows
or a numpy array); names from the estimator's `feature_names_in_`, the example, or the
caller; categories from the fitted encoders' `categories_` and from category dtypes.
What the model is handed follows from how it was fitted. Whether a feature may be
missing, and whether a category the model never saw is refused, are not guessed here:
the describe step asks the model itself (model/export.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_clusterer, is_outlier_detector, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags

from app.answers import plain_values
from app.metadata import MAX_EXAMPLE_ROWS, Task
from app.schema import (
    DEFAULT_DTYPES,
    Feature,
    FeatureType,
    ModelInput,
    Schema,
    SchemaError,
    value_has_type,
)

TEXT_FEATURE = "text"
# Transformers that keep their input's columns in place: an encoder after one still
# sees the input's columns.
_COLUMN_KEEPING = frozenset({"SimpleImputer", "KNNImputer", "IterativeImputer"})


class InferenceError(ValueError):
    """The schema cannot be known or served; the message says what to pass or fix."""


@dataclass(frozen=True)
class Example:
    """Example rows as given, and as the plain JSON rows the metadata stores."""

    original: Any  # a DataFrame, a numpy array, or a list of row objects
    names: tuple[str, ...] | None  # the column names it carries, if any
    records: tuple[dict[str, Any], ...]


def task_of(estimator: Any) -> Task:
    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    if is_clusterer(estimator):
        return "clustering"
    if is_outlier_detector(estimator):
        return "outlier_detection"
    raise InferenceError(
        f"{type(estimator).__name__} is neither a classifier, a regressor, a clusterer nor an "
        "outlier detector; only those can be served"
    )


def is_text_model(estimator: Any) -> bool:
    """Whether the first step takes raw strings (a text vectorizer)."""
    first = estimator
    while isinstance(first, Pipeline):
        first = first.steps[0][1]
    tags = get_tags(first).input_tags
    return bool(tags.string and not tags.two_d_array)


def read_example_file(path: Path) -> list[dict[str, Any]]:
    """Rows as `df.to_json(orient="records")` writes them: an array of objects."""
    try:
        rows = json.loads(path.read_text())
    except ValueError as error:
        raise InferenceError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InferenceError(
            f"{path} must hold a non-empty array of rows, each an object keyed by feature name "
            '(what df.head(20).to_json(orient="records") writes)'
        )
    return rows


def _is_frame(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and hasattr(value, "columns")


def known_names(estimator: Any, text: bool) -> list[str] | None:
    """The names the estimator itself records, or a text model's one feature."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        return [str(name) for name in np.asarray(fitted).tolist()]
    return [TEXT_FEATURE] if text else None


def example_of(value: Any, names: Sequence[str] | None) -> Example:
    """Normalise the example the caller gave (DataFrame, array, rows or strings)."""
    if _is_frame(value):
        frame = value.head(MAX_EXAMPLE_ROWS)
        columns = tuple(str(column) for column in frame.columns)
        records = tuple(
            dict(zip(columns, row, strict=True))
            for row in zip(*(_plain_column(frame[c]) for c in frame.columns), strict=True)
        )
        return Example(value, columns, records)
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        columns = tuple(value[0])
        return Example(value, columns, tuple(value[:MAX_EXAMPLE_ROWS]))
    array = np.asarray(value)
    if array.ndim == 1 and array.dtype.kind in "OUS":  # one text per row
        array = array.astype(object).reshape(-1, 1)
    if array.ndim != 2 or not len(array):
        raise InferenceError("the example must be rows: a DataFrame, a 2-D array, or row objects")
    given = list(names) if names else [f"x{i}" for i in range(array.shape[1])]
    if len(given) != array.shape[1]:
        raise InferenceError(
            f"the example has {array.shape[1]} columns, {len(given)} feature names were given"
        )
    head = array[:MAX_EXAMPLE_ROWS]
    records = tuple(
        dict(zip(given, row, strict=True))
        for row in zip(*(_plain_array(head[:, i]) for i in range(head.shape[1])), strict=True)
    )
    return Example(value, None, records)


def _plain_column(series: Any) -> list[Any]:
    values = series.astype(object).tolist()
    return [_json_value(v) for v in values]


def _plain_array(column: np.ndarray) -> list[Any]:
    return [_json_value(v) for v in plain_values(column)]


def _json_value(value: Any) -> Any:
    """A value as JSON holds it: numpy scalars unwrapped, NaN and pandas' NA as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if not isinstance(value, (bool, int, float, str)):
        raise InferenceError(
            f"example value {value!r} ({type(value).__name__}) has no JSON type; "
            "features must be numbers, integers, booleans or strings"
        )
    return value


def feature_names(
    estimator: Any, given: Sequence[str] | None, example: Example | None, text: bool
) -> list[str]:
    fitted = getattr(estimator, "feature_names_in_", None)
    fitted = None if fitted is None else [str(name) for name in np.asarray(fitted).tolist()]
    if given and fitted and list(given) != fitted:
        raise InferenceError(f"--features {list(given)} differ from the estimator's own {fitted}")
    from_example = list(example.names) if example and example.names else None
    if fitted and from_example and set(from_example) != set(fitted):
        raise InferenceError(
            f"the example's columns {from_example} are not the estimator's features {fitted}"
        )
    names = list(given or fitted or from_example or ([TEXT_FEATURE] if text else []))
    if not names:
        count = getattr(estimator, "n_features_in_", None)
        how_many = f"its {count} names" if count else "their names"
        raise InferenceError(
            "the estimator records no feature names: pass --features with "
            f"{how_many} in column order, or --example with rows keyed by name"
        )
    if len(set(names)) != len(names):
        raise InferenceError(f"feature names must be distinct, got {names}")
    expected = getattr(estimator, "n_features_in_", None)
    if not text and expected is not None and expected != len(names):
        raise InferenceError(f"the estimator takes {expected} features, {len(names)} were named")
    return names


def encoded_categories(estimator: Any, names: Sequence[str]) -> dict[str, list[Any]]:
    """Feature name -> the categories a fitted encoder learned for it, missing markers out."""
    found: dict[str, list[Any]] = {}
    _walk(estimator, list(names), found)
    return found


def _walk(estimator: Any, names: list[str] | None, found: dict[str, list[Any]]) -> None:
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            if step is None or step == "passthrough":
                continue
            _walk(step, names, found)
            if type(step).__name__ not in _COLUMN_KEEPING:
                return  # later steps see transformed columns, not the input's
        return
    if isinstance(estimator, ColumnTransformer):
        indices = getattr(estimator, "_transformer_to_input_indices", {})
        for name, transformer, _ in estimator.transformers_:
            if isinstance(transformer, str) or name not in indices:
                continue  # "drop" or "passthrough"
            own = [names[i] for i in indices[name]] if names else None
            _walk(transformer, own, found)
        return
    categories = getattr(estimator, "categories_", None)
    if not isinstance(categories, list):
        return
    own_names = getattr(estimator, "feature_names_in_", None)
    columns = [str(n) for n in own_names] if own_names is not None else names
    if columns is None or len(columns) != len(categories):
        return
    for column, values in zip(columns, categories, strict=True):
        known = [v for v in (_json_or_none(item) for item in plain_values(np.asarray(values)))]
        found[column] = [v for v in known if v is not None]


def _json_or_none(value: Any) -> Any:
    try:
        return _json_value(value)
    except InferenceError:
        return None


def _type_of_values(values: Sequence[Any], where: str) -> FeatureType | None:
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return None
    if kinds == {bool}:
        return "boolean"
    if kinds == {str}:
        return "string"
    if kinds == {int}:
        return "integer"
    if kinds <= {int, float}:
        return "number"
    shown = ", ".join(sorted(k.__name__ for k in kinds))
    raise InferenceError(f"{where} mixes value kinds ({shown}); a feature has one type")


def _frame_feature(series: Any, name: str) -> Feature:
    """A DataFrame column's type and dtype."""
    import pandas as pd

    dtype = series.dtype
    has_missing = bool(series.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        categories = [_json_value(v) for v in dtype.categories.tolist()]
        of_categories = _type_of_values(categories, f"the categories of {name}") or "string"
        return Feature(name, of_categories, has_missing, tuple(categories), True, "category")
    kind: FeatureType | None
    if pd.api.types.is_bool_dtype(dtype):
        kind = "boolean"
    elif pd.api.types.is_integer_dtype(dtype):
        kind = "integer"
    elif pd.api.types.is_float_dtype(dtype):
        kind = "number"
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        kind = _type_of_values(_plain_column(series), f"example column {name}") or "string"
    else:
        raise InferenceError(
            f"example column {name} has dtype {dtype}, which JSON cannot carry; convert it to "
            "numbers, booleans or strings before fitting"
        )
    return Feature(name, kind, has_missing, dtype=str(dtype))


def infer_schema(
    estimator: Any, names: Sequence[str], example: Example | None, text: bool
) -> Schema:
    """The schema before the model is asked about missing values and unknown categories."""
    if text:
        if len(names) != 1:
            raise InferenceError(f"a text pipeline takes one feature, {len(names)} were named")
        return Schema((Feature(names[0], "string"),), "text")
    fitted_on_frame = getattr(estimator, "feature_names_in_", None) is not None
    frame = example.original if example is not None and _is_frame(example.original) else None
    categories = encoded_categories(estimator, names)
    features = []
    for name in names:
        if frame is not None:
            feature = _frame_feature(frame[name], name)
        else:
            values = [row.get(name) for row in example.records] if example else []
            kind = _type_of_values(values, f"example column {name}")
            nullable = any(value is None for value in values)
            known = categories.get(name)
            if kind is None and known:
                kind = _type_of_values(known, f"the categories of {name}")
            feature = Feature(name, kind or "number", nullable)
        if name in categories and feature.categories is None:
            feature = _with_categories(feature, categories[name])
        features.append(feature)
    model_input: ModelInput
    numeric = all(f.type in ("number", "integer") and f.categories is None for f in features)
    if fitted_on_frame:
        model_input = "dataframe"
        features = [f if f.dtype else replace(f, dtype=DEFAULT_DTYPES[f.type]) for f in features]
    elif numeric:
        model_input = "float64_array"
    else:
        model_input = "object_array"
    try:
        return Schema(tuple(features), model_input)
    except SchemaError as error:
        raise InferenceError(str(error)) from None


def as_float64_array(schema: Schema) -> Schema | None:
    """The same schema served as a float64 array, when every feature is numeric."""
    if not all(f.type in ("number", "integer") and f.categories is None for f in schema.features):
        return None
    return Schema(tuple(replace(f, dtype=None) for f in schema.features), "float64_array")


def as_dataframe(schema: Schema) -> Schema:
    """The same schema handed as a DataFrame, each column in its type's default dtype."""
    features = (replace(f, dtype=f.dtype or DEFAULT_DTYPES[f.type]) for f in schema.features)
    return Schema(tuple(features), "dataframe")


def _with_categories(feature: Feature, categories: list[Any]) -> Feature:
    if not categories:
        return feature
    kinds_match = all(value_has_type(value, feature.type) for value in categories)
    if not kinds_match:
        return feature  # an encoder fitted on other values than the example's: trust the data
    return replace(feature, categories=tuple(categories))
