"""Infers a model's typed schema from its example rows and from the fitted estimator.

Types come from the example (pandas dtypes for a DataFrame, value kinds for JSON rows
or a numpy array, ISO 8601 strings for a DataFrame model's date-times); names from the
estimator's `feature_names_in_`, the example, or the caller, else scikit-learn's own
x0, x1, ...; categories from the fitted encoders' `categories_` and from category dtypes.
What the model is handed follows from how it was fitted. Whether a feature may be
missing, and whether a category the model never saw is refused, are not guessed here:
the describe step asks the model itself (model/export.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_clusterer, is_outlier_detector, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags

from app.core.answers import plain_values
from app.core.datetimes import Written, is_iso_datetime, read_iso
from app.core.metadata import MAX_EXAMPLE_ROWS, Task
from app.core.schema import (
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


def read_example_file(path: Path) -> list[dict[str, Any]] | list[list[Any]]:
    """Rows as `df.to_json(orient="records", date_format="iso")` writes them, an array of
    objects; or, for a model fitted on a plain array, an array of arrays in feature order."""
    try:
        rows = json.loads(path.read_text())
    except ValueError as error:
        raise InferenceError(f"{path} is not valid JSON: {error}") from None
    if (
        not isinstance(rows, list)
        or not rows
        or not (
            all(isinstance(row, dict) for row in rows) or all(isinstance(row, list) for row in rows)
        )
    ):
        raise InferenceError(
            f"{path} must hold a non-empty array of rows, each an object keyed by feature name "
            '(what df.head(20).to_json(orient="records", date_format="iso") writes), or each '
            "an array of values in feature order"
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
        if not len(value):
            raise InferenceError("the example DataFrame has no rows")
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
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        return _json_arrays(value, names)
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


def _json_arrays(rows: list[list[Any]], names: Sequence[str] | None) -> Example:
    """JSON rows as arrays in feature order: each value keeps its JSON kind (numpy would
    make every value a string of a row that holds one)."""
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise InferenceError(
            f"the example's rows hold different numbers of values ({sorted(widths)}); each "
            "row holds every feature, in order"
        )
    width = widths.pop()
    given = list(names) if names else [f"x{i}" for i in range(width)]
    if len(given) != width:
        raise InferenceError(
            f"the example's rows hold {width} values, {len(given)} feature names were given"
        )
    records = tuple(dict(zip(given, row, strict=True)) for row in rows[:MAX_EXAMPLE_ROWS])
    return Example(rows, None, records)


def _plain_column(series: Any) -> list[Any]:
    values = series.astype(object).tolist()
    return [_json_value(v) for v in values]


def _plain_array(column: np.ndarray) -> list[Any]:
    return [_json_value(v) for v in plain_values(column)]


def _json_value(value: Any) -> Any:
    """A value as JSON holds it: numpy scalars unwrapped, NaN and pandas' NA as null."""
    if isinstance(value, np.datetime64):
        # .item() would give an int for nanoseconds: numpy's own text keeps them.
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, datetime):  # a pandas Timestamp too: nanoseconds and zone kept
        return value.isoformat()
    if not isinstance(value, (bool, int, float, str)):
        raise InferenceError(
            f"example value {value!r} ({type(value).__name__}) has no JSON type; "
            "features must be numbers, integers, booleans, strings or date-times (a "
            "DataFrame column of dtype datetime64)"
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
    # Rows as arrays are keyed x0, x1, ... (scikit-learn's own names) unless names were given.
    from_rows = list(example.records[0]) if example and example.records else None
    names = list(given or fitted or from_example or ([TEXT_FEATURE] if text else from_rows or []))
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
    if pd.api.types.is_datetime64_any_dtype(dtype):
        # The column's unit and zone, exactly: the model is handed them again.
        return Feature(name, "datetime", has_missing, dtype=str(dtype))
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
            "numbers, booleans, strings or datetime64 before fitting"
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
    # The example's names are its columns' as text: a column labelled 0 is feature "0".
    columns = {str(column): column for column in frame.columns} if frame is not None else {}
    categories = encoded_categories(estimator, names)
    features = []
    for name in names:
        try:
            if frame is not None:
                feature = _frame_feature(frame[columns[name]], name)
            else:
                values = [row.get(name) for row in example.records] if example else []
                feature = _json_feature(values, name, fitted_on_frame, categories.get(name))
        except SchemaError as error:
            raise InferenceError(f"example column {name}: {error}") from None
        if name in categories and feature.categories is None:
            feature = _with_categories(feature, categories[name])
        features.append(feature)
    model_input: ModelInput
    numeric = all(f.type in ("number", "integer") and f.categories is None for f in features)
    # A datetime64 column reaches a model only in a DataFrame: a pipeline whose first step
    # is the user's own DataFrame transformer records no names, yet takes one.
    if fitted_on_frame or any(f.type == "datetime" for f in features):
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


def _json_feature(
    values: list[Any], name: str, fitted_on_frame: bool, known: list[Any] | None
) -> Feature:
    """A JSON example column's type, from its values' kinds (or its encoder's categories)."""
    kind = _type_of_values(values, f"example column {name}")
    nullable = any(value is None for value in values)
    if kind is None and known:
        kind = _type_of_values(known, f"the categories of {name}")
    present = [value for value in values if value is not None]
    # Date-times only for a DataFrame model (a datetime64 column), and never where an
    # encoder lists the strings as categories: then they are the category's text.
    if kind == "string" and fitted_on_frame and not known and all(map(is_iso_datetime, present)):
        return Feature(name, "datetime", nullable, dtype=_json_datetime_dtype(present, name))
    return Feature(name, kind or "number", nullable)


def _json_datetime_dtype(texts: list[str], name: str) -> str:
    """The dtype pandas reads these ISO 8601 strings as: microseconds unless a value is
    finer, and UTC where the values have offsets (JSON keeps an offset, never a zone)."""
    written = [read_iso(text) for text in texts]
    offsets = {isinstance(w, Written) and w.offset is not None for w in written}
    if len(offsets) > 1:
        raise InferenceError(
            f"example column {name} mixes date-times with and without an offset; a column "
            "is either zone-aware or naive"
        )
    unit = "ns" if any(w.wall % 1000 for w in written if isinstance(w, Written)) else "us"
    return f"datetime64[{unit}, UTC]" if offsets == {True} else f"datetime64[{unit}]"


def _all_iso(values: Iterable[Any]) -> bool:
    present = [value for value in values if value is not None]
    return bool(present) and all(map(is_iso_datetime, present))


# Integers that, as epoch timestamps, fall in 1973-2286: what to_json writes for a date.
_EPOCH_MILLISECONDS = (10**11, 10**13)
_EPOCH_SECONDS = (10**8, 10**10)


def json_example_hint(example: Example, schema: Schema) -> str:
    """For a JSON example the model failed on, what JSON may have lost: integer columns that
    look like dates written as epoch numbers (pandas' to_json default), and the fix; or
    strings read as date-times."""
    if not isinstance(example.original, list):
        return ""  # a DataFrame or an array keeps its dtypes
    suspects: dict[str, str] = {}
    for feature in schema.features:
        if feature.type != "integer":
            continue
        present = [abs(row[feature.name]) for row in example.records if row.get(feature.name)]
        for unit, (low, high) in (
            ("milliseconds", _EPOCH_MILLISECONDS),
            ("seconds", _EPOCH_SECONDS),
        ):
            if present and all(low <= value < high for value in present):
                suspects[feature.name] = unit
                break
    dated = [feature.name for feature in schema.features if feature.type == "datetime"]
    if dated and not suspects:
        # The other way round: strings read as dates, for a model that may want the text.
        return (
            f"; example column(s) {', '.join(dated)} were read as date-times (ISO 8601 "
            "strings): if the model takes them as text, describe it from the DataFrame "
            "(save_model(..., example=df) in Python), whose dtypes say so"
        )
    texts = [
        feature.name
        for feature in schema.features
        if feature.type == "string" and _all_iso(row.get(feature.name) for row in example.records)
    ]
    if texts and not suspects:
        # A model that records no column names is not known to take a DataFrame, so its
        # date-time strings stayed text.
        return (
            f"; example column(s) {', '.join(texts)} hold ISO 8601 date-times, read as text "
            "since the model records no column names: if they are dates, describe it from "
            "the DataFrame (save_model(..., example=df) in Python), whose dtypes say so"
        )
    if not suspects:
        return ""
    columns = ", ".join(suspects)
    units = " or ".join(dict.fromkeys(suspects.values()))
    subject = (
        f"example column {columns} holds"
        if len(suspects) == 1
        else (f"example columns {columns} hold")
    )
    return (
        f"; {subject} integers that look like dates written as epoch {units}, as "
        "df.to_json writes dates by default: if they are dates, write the example with "
        'df.to_json(..., orient="records", date_format="iso")'
    )


def as_float64_array(schema: Schema) -> Schema | None:
    """The same schema served as a float64 array, when every feature is numeric."""
    if not all(f.type in ("number", "integer") and f.categories is None for f in schema.features):
        return None
    return Schema(tuple(replace(f, dtype=None) for f in schema.features), "float64_array")


def as_dataframe(schema: Schema, records: Sequence[dict[str, Any]] | None = None) -> Schema:
    """The same schema handed as a DataFrame, each column in its type's default dtype; with
    the example's `records`, a string column of ISO 8601 date-times becomes a date-time."""
    features = []
    for feature in schema.features:
        values = [row.get(feature.name) for row in records or ()]
        if feature.type == "string" and feature.categories is None and _all_iso(values):
            present = [value for value in values if value is not None]
            dtype = _json_datetime_dtype(present, feature.name)
            feature = Feature(feature.name, "datetime", feature.nullable, dtype=dtype)
        features.append(replace(feature, dtype=feature.dtype or DEFAULT_DTYPES[feature.type]))
    return Schema(tuple(features), "dataframe")


def _with_categories(feature: Feature, categories: list[Any]) -> Feature:
    if not categories or feature.type == "datetime":
        return feature
    kinds_match = all(value_has_type(value, feature.type) for value in categories)
    if not kinds_match:
        return feature  # an encoder fitted on other values than the example's: trust the data
    return replace(feature, categories=tuple(categories))
