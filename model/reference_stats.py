"""Reference statistics (app.core.reference) of the rows a model learned from.

The rows, a DataFrame, row objects or a --reference file (CSV, Parquet, JSON, JSON
Lines), are checked against the model's schema and handed to it as the server checks
and hands a request's rows; a row the schema refuses is an error naming it. Each
statistic is a whole-column pandas or numpy operation, so a million rows take seconds.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.core.metadata import ModelMetadata
from app.core.predictor import Predictor, RowsRefused
from app.core.reference import (
    MAX_KEY_LENGTH,
    MAX_VALUES,
    QUANTILE_COUNT,
    FeatureReference,
    PredictionReference,
    Reference,
    Shares,
    value_key,
)
from app.core.schema import Feature, Schema
from app.core.validation import Problems, Rows, member, validate_columns

SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")
# Rows handed to the model at once: its input for a million rows of strings, built as
# the server builds it, would take gigabytes.
CHUNK_ROWS = 100_000
# Shares and quantiles are rounded: the metadata stays small, and describing the same
# rows again writes the same text.
SIGNIFICANT_DIGITS = 6
# Rows named in an error; a model that fails on all of them fails on the first ones.
_SHOWN_ROWS = 10
_LEVELS = np.arange(QUANTILE_COUNT) / (QUANTILE_COUNT - 1)  # 0.3, not 0.30000000000000004
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
# How a CSV file writes a missing number: what pandas writes (an empty field) and what
# other tools do. Only for numbers and booleans: any of them may be a string's value.
_MISSING_TEXTS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "<NA>"})
_BOOLEANS = {"true": True, "false": False}


class ReferenceDataError(ValueError):
    """Reference data that cannot be summarised: the message names the file, column or
    row. save_model, write_metadata and describe raise it as their ExportError (this
    module cannot import model.export, which imports it)."""


@dataclass(frozen=True)
class ReferenceFile:
    """Rows read from a --reference file; its name goes into every error about them.
    A CSV file's columns stay the text it holds (`text`) until the model's schema, known
    only once it is described, gives each its type."""

    path: Path
    data: pd.DataFrame | list[Any]
    text: bool = False


# What reference_statistics takes.
ReferenceData = pd.DataFrame | Sequence[dict[str, Any]] | ReferenceFile


def read_reference_file(path: Path) -> ReferenceFile:
    """A .csv, .parquet, .json (an array of row objects) or .jsonl (one row object per
    line) file, or ReferenceDataError naming it and saying what is wrong with it."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ReferenceDataError(
            f"{path}: a reference file is .csv, .parquet, .json (an array of row objects) "
            f"or .jsonl (one row object per line), not {suffix or 'a file without an extension'}"
        )
    try:
        if path.stat().st_size == 0:
            raise ReferenceDataError(f"{path}: the reference file is empty")
        read = _read_csv(path) if suffix == ".csv" else _read_other(path, suffix)
    except OSError as error:
        raise ReferenceDataError(
            f"{path}: cannot read the reference file: {error.strerror or error}"
        ) from None
    if not len(read.data):
        raise ReferenceDataError(f"{path}: the reference file holds no rows")
    return read


def _read_csv(path: Path) -> ReferenceFile:
    try:
        # Every field as the text it is: left to guess, pandas would make a string column
        # of digits numbers, read "NA" or "None" (a category's value) as missing, and turn
        # an integer column with a gap into floats. The schema says each column's type.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeError) as error:
        raise ReferenceDataError(f"{path}: not a readable CSV file: {error}") from None
    return ReferenceFile(path, frame, text=True)


def _read_other(path: Path, suffix: str) -> ReferenceFile:
    if suffix == ".parquet":
        try:
            return ReferenceFile(path, pd.read_parquet(path))
        except (ValueError, TypeError, ImportError) as error:  # pyarrow's ArrowInvalid too
            raise ReferenceDataError(f"{path}: not a readable Parquet file: {error}") from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeError as error:
        raise ReferenceDataError(f"{path}: not UTF-8 text: {error}") from None
    rows = _json_lines(path, text) if suffix == ".jsonl" else _json_array(path, text)
    return ReferenceFile(path, rows)


def _json_array(path: Path, text: str) -> list[Any]:
    try:
        rows = json.loads(text)
    except ValueError as error:
        raise ReferenceDataError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ReferenceDataError(
            f"{path}: a .json reference file holds an array of row objects keyed by feature "
            'name (what df.to_json(orient="records", date_format="iso") writes)'
        )
    return rows


def _json_lines(path: Path, text: str) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ReferenceDataError(f"{path}: line {number} is not valid JSON: {error}") from None
        if not isinstance(row, dict):
            raise ReferenceDataError(
                f"{path}: line {number} is not a row object keyed by feature name"
            )
        rows.append(row)
    return rows


def reference_statistics(estimator: Any, metadata: ModelMetadata, data: ReferenceData) -> Reference:
    """The reference statistics of `data` for a described (proven) model, or ReferenceDataError
    naming the column or row that does not fit its schema or that the model fails on."""
    schema = metadata.schema
    prefix = f"{data.path}: " if isinstance(data, ReferenceFile) else ""
    columns = _plain_columns(data, schema, prefix)
    count = len(columns[0])
    if not count:
        raise ReferenceDataError(f"{prefix}the reference data holds no rows")
    problems = Problems()
    rows = validate_columns(
        columns, count, lambda row, position: _place(row, schema.names[position]), schema, problems
    )
    if problems:
        first = problems.details()[0]
        raise ReferenceDataError(f"{prefix}reference row {first.loc}: {first.msg}")
    features = {
        feature.name: _feature_reference(column, feature, count)
        for feature, column in zip(schema.features, rows.columns, strict=True)
    }
    return Reference(count, features, _prediction_reference(estimator, metadata, rows, prefix))


def _place(row: int, name: str) -> str:
    return member(f"reference[{row}]", name)


# Reference data -> one list of plain JSON values per feature (None where missing), what
# the server's validation takes from a request's columns.


def _plain_columns(data: Any, schema: Schema, prefix: str) -> list[list[Any]]:
    if isinstance(data, ReferenceFile):
        if data.text:
            assert isinstance(data.data, pd.DataFrame)
            return [
                _typed_text(column, feature, prefix)
                for feature, column in _series(data.data, schema, prefix)
            ]
        data = data.data
    if isinstance(data, pd.DataFrame):
        return [_frame_column(column, feature) for feature, column in _series(data, schema, prefix)]
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return _row_columns(data, schema, prefix)
    raise ReferenceDataError(
        f"the reference data must be a pandas DataFrame or a list of row objects, not a "
        f"{type(data).__name__}"
    )


def _series(frame: pd.DataFrame, schema: Schema, prefix: str) -> list[tuple[Feature, pd.Series]]:
    """Each feature's column, by name; the other columns are not the model's."""
    names = [str(column) for column in frame.columns]
    missing = [name for name in schema.names if name not in names]
    if missing:
        raise ReferenceDataError(
            f"{prefix}the reference data has no column {', '.join(map(repr, missing))}; the "
            f"model's features are {', '.join(schema.names)}"
        )
    twice = sorted({name for name in schema.names if names.count(name) > 1})
    if twice:
        raise ReferenceDataError(f"{prefix}the reference data has two columns {twice[0]!r}")
    position = {name: index for index, name in enumerate(names)}
    return [(feature, frame.iloc[:, position[feature.name]]) for feature in schema.features]


def _frame_column(series: pd.Series, feature: Feature) -> list[Any]:
    missing = series.isna().to_numpy()
    kind = getattr(series.dtype, "kind", "O")
    if feature.type == "datetime" and kind == "M":
        values = _iso_texts(series)
    elif feature.type == "integer" and kind == "f":
        values = _whole_numbers(series.to_numpy(dtype=np.float64), missing)
    else:
        values = series.to_numpy(dtype=object, copy=True)
    values[missing] = None
    return _plain_values(values.tolist(), nan_is_none=False)


def _iso_texts(series: pd.Series) -> np.ndarray:
    """Date-times as the ISO 8601 text a request carries: an aware column's as UTC ("Z"),
    a naive one's as written; in the column's own unit, so no precision is lost."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        instants = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        texts = np.datetime_as_string(instants, timezone="UTC")
    else:
        texts = np.datetime_as_string(series.to_numpy())
    return np.asarray(texts, dtype=object)


def _whole_numbers(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """An integer column that holds floats (pandas' way with a gap in it) as ints, when
    every value is whole: the validator then checks it whole, not value by value. Any
    other is left as it is, for the validator to say which value is not an integer."""
    present = values[~missing]
    if not (
        np.isfinite(present).all()
        and (present == np.floor(present)).all()
        and (np.abs(present) < 2.0**63).all()
    ):
        return values.astype(object)
    return np.where(missing, 0, values).astype(np.int64).astype(object)


def _typed_text(texts: pd.Series, feature: Feature, prefix: str) -> list[Any]:
    """A CSV column as the values of the feature's type; a field that is not one is an
    error naming its row."""
    if feature.type in ("string", "datetime"):
        values = texts.to_numpy(dtype=object, copy=True)
        values[(texts == "").to_numpy()] = None
        return list(values.tolist())
    stripped = texts.str.strip()
    missing = stripped.isin(_MISSING_TEXTS).to_numpy()
    if feature.type == "boolean":
        read = stripped.str.lower().map(_BOOLEANS)
        expected = "true or false"
    else:
        read = pd.to_numeric(
            stripped.where(~missing), errors="coerce", dtype_backend="numpy_nullable"
        )
        expected = "a number" if feature.type == "number" else "an integer"
    unread = ~missing & read.isna().to_numpy()
    if unread.any():
        row = int(np.flatnonzero(unread)[0])
        raise ReferenceDataError(
            f"{prefix}reference row {_place(row, feature.name)}: expected {expected}, got "
            f"{texts.iloc[row]!r}"
        )
    values = read.to_numpy(dtype=object, copy=True)
    values[missing] = None
    return _plain_values(values.tolist(), nan_is_none=False)


def _row_columns(rows: Sequence[Any], schema: Schema, prefix: str) -> list[list[Any]]:
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ReferenceDataError(
                f"{prefix}reference[{index}] is not a row object keyed by feature name"
            )
    columns = []
    for name in schema.names:
        try:
            column = [row[name] for row in rows]
        except KeyError:
            absent = [index for index, row in enumerate(rows) if name not in row]
            if len(absent) == len(rows):
                raise ReferenceDataError(
                    f"{prefix}the reference rows have no member {name!r}; the model's "
                    f"features are {', '.join(schema.names)}"
                ) from None
            # As the server refuses a row without it.
            raise ReferenceDataError(
                f"{prefix}reference row {_place(absent[0], name)}: missing feature"
            ) from None
        columns.append(_plain_values(column, nan_is_none=True))
    return columns


def _plain_values(values: list[Any], nan_is_none: bool) -> list[Any]:
    """Values as JSON holds them: NaN, NaT and pandas' NA missing (None), numpy scalars
    unwrapped, date-times as ISO 8601 text. Anything else is left for the validator to
    refuse, at its place."""
    types = set(map(type, values))
    if types <= _PLAIN_TYPES:
        if nan_is_none and float in types:
            return [None if value != value else value for value in values]  # NaN != NaN
        return values
    return [_plain_value(value) for value in values]


def _plain_value(value: Any) -> Any:
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or pd.isna(value) is True:
        return None
    if isinstance(value, datetime | date):  # a pandas Timestamp too: nanoseconds kept
        return value.isoformat()
    return value


# Statistics of the validated columns.


def _feature_reference(column: Any, feature: Feature, count: int) -> FeatureReference:
    if feature.type == "datetime":
        return FeatureReference(_share(int(np.isnat(column).sum()), count))
    if feature.type in ("number", "integer"):
        # None is NaN in a float64 array; a missing integer is None in its list.
        numbers = np.asarray(column, dtype=np.float64)
        present = numbers[~np.isnan(numbers)]
        missing = _share(count - present.size, count)
        if not present.size:
            return FeatureReference(missing)
        return FeatureReference(
            missing, float(present.min()), float(present.max()), _quantiles(present)
        )
    # tolist(): a bool array's values as Python's, keyed "true", not numpy's "True".
    values = column.tolist() if isinstance(column, np.ndarray) else column
    series = pd.Series(values, dtype=object)
    counts = series.value_counts(dropna=True)
    present_count = int(counts.sum())
    labels = counts.index.tolist()
    # A string is its own key; a boolean's is JSON's spelling.
    keys = labels if feature.type == "string" else [value_key(label) for label in labels]
    shares = _shares(keys, counts.to_numpy(dtype=np.int64), present_count)
    return FeatureReference(_share(count - present_count, count), shares=shares)


def _shares(keys: list[str], counts: np.ndarray, total: int) -> Shares:
    """The MAX_VALUES most frequent keys, ties broken by the key's text, each with its
    share of `total`; `other` is exactly 0.0 when every counted value is kept."""
    if not total:
        return Shares({}, 0.0)
    named = np.asarray(keys, dtype=object)
    short = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)) <= MAX_KEY_LENGTH
    named, counts = named[short], counts[short]
    if len(counts) > MAX_VALUES:
        cutoff = int(np.partition(counts, -MAX_VALUES)[-MAX_VALUES])
        above = counts > cutoff
        ties = heapq.nsmallest(MAX_VALUES - int(above.sum()), named[counts == cutoff].tolist())
        ranked = sorted(
            zip(counts[above].tolist(), named[above].tolist(), strict=True),
            key=lambda pair: (-pair[0], pair[1]),
        )
        ranked += [(cutoff, key) for key in ties]
    else:
        ranked = sorted(
            zip(counts.tolist(), named.tolist(), strict=True), key=lambda pair: (-pair[0], pair[1])
        )
    kept = sum(number for number, _ in ranked)
    values = {key: _share(number, total) for number, key in ranked}
    return Shares(values, _share(total - kept, total))


def _share(part: int, total: int) -> float:
    return _rounded(part / total)


def _rounded(number: float) -> float:
    return float(f"{number:.{SIGNIFICANT_DIGITS}g}") + 0.0  # + 0.0: never -0.0


def _quantiles(values: np.ndarray) -> tuple[float, ...]:
    rounded = [_rounded(float(q)) for q in np.quantile(values, _LEVELS)]
    # Interpolation can put a quantile one ulp below the one before it, which the
    # metadata's reader refuses: never descending.
    return tuple(float(q) for q in np.maximum.accumulate(rounded))


# The model's answers on the reference rows.


def _prediction_reference(
    estimator: Any, metadata: ModelMetadata, rows: Rows, prefix: str
) -> PredictionReference | None:
    if metadata.outputs is not None or metadata.task not in ("classification", "regression"):
        return None  # several targets, clusters, outliers: no one distribution to keep
    predictions = _predictions(estimator, metadata, rows, prefix)
    if metadata.task == "regression":
        return PredictionReference(quantiles=_quantiles(predictions.astype(np.float64)))
    counted: dict[str, int] = dict.fromkeys(map(value_key, metadata.classes), 0)
    counts = pd.Series(predictions).value_counts()
    labels = _plain_values(counts.index.tolist(), nan_is_none=True)
    for label, number in zip(labels, counts.tolist(), strict=True):
        key = value_key(label)
        counted[key] = counted.get(key, 0) + int(number)
    keys = list(counted)
    shares = _shares(keys, np.asarray(list(counted.values()), dtype=np.int64), rows.count)
    return PredictionReference(shares=shares)


def _predictions(estimator: Any, metadata: ModelMetadata, rows: Rows, prefix: str) -> np.ndarray:
    predictor = Predictor(estimator, metadata)
    parts = []
    for start in range(0, rows.count, CHUNK_ROWS):
        chunk = Rows(
            count=min(CHUNK_ROWS, rows.count - start),
            columns=tuple(column[start : start + CHUNK_ROWS] for column in rows.columns),
        )
        try:
            parts.append(predictor.run(chunk).predictions)
        except RowsRefused as refused:
            failed = [start + row for row in refused.rows]
            shown = ", ".join(map(str, failed[:_SHOWN_ROWS]))
            more = f", ... ({len(failed)} in all)" if len(failed) > _SHOWN_ROWS else ""
            raise ReferenceDataError(
                f"{prefix}the model fails on reference rows {shown}{more}: {refused.explained()}"
            ) from None
        except Exception as error:  # the user's own code may raise anything
            raise ReferenceDataError(
                f"{prefix}the model fails on the reference rows: {type(error).__name__}: {error}"
            ) from None
    return np.concatenate(parts)
