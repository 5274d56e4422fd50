"""Drift: how the rows a model is asked about now differ from the rows it learned from.

    python -m model.drift MODEL.json CAPTURES [--html FILE] [--since 7d] [--model-version V]

MODEL.json is a model's metadata with reference statistics (app.core.reference, written
by `python -m model.describe ARTIFACT --reference FILE`). CAPTURES is what
model.captures reads (s3://bucket/prefix, a local file or folder of delivered objects)
or a .csv or .parquet file of the rows it writes (--output). Each feature, and the
model's predictions, get a population stability index over bins of the reference:

    PSI = sum over bins of (now - then) * ln(now / then)

where then and now are the bin's shares of the reference rows and of the captured rows,
each raised to at least EPSILON (1e-4): an empty bin is rare, not impossible, and its
logarithm finite. Under 0.1 is stable, 0.1 to 0.25 moderate, over 0.25 major drift.

Bins: a number's or integer's ten reference deciles (tied deciles merged, see
`numeric_bins`); a string's or boolean's recorded values and "other", the rest; the
predictions' classes and "other", or a regressor's deciles; and "missing" of its own
whenever either side has missing values. A feature hashed in the captures, a date-time
(its reference is its missing share alone) and a feature the captures do not hold get
no score, and say why. Rows of several models or versions are refused unless
--model-version picks one: one model's reference says nothing of another's inputs.

The report is a table, worst first, then the predictions then and now; with --html also
one self-contained page (inline CSS and SVG, no script) with a chart per feature.
"""

from __future__ import annotations

import argparse
import html
import itertools
import math
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import pandas as pd

from app.core.captured_rows import HASH_HEX_DIGITS
from app.core.metadata import MetadataError, ModelMetadata
from app.core.reference import (
    QUANTILE_COUNT,
    FeatureReference,
    PredictionReference,
    Shares,
    value_key,
)
from app.core.schema import Feature
from model.captures import (
    PREDICTION,
    S3_SCHEME,
    CaptureError,
    _feature_column,  # where the reader put a feature whose name another column has
    parse_since,
    read_captures,
)

# Shares below this count as this: a bin empty on one side adds a large but finite
# term, (now - then) * ln(now / then), instead of an infinite one.
EPSILON = 1e-4
# The usual reading of a PSI: under STABLE_BELOW stable, over MAJOR_ABOVE major drift.
STABLE_BELOW = 0.1
MAJOR_ABOVE = 0.25
# Labels of the bins beyond a feature's own values.
MISSING = "(missing)"
OTHER = "(other)"
ROWS_SUFFIXES = (".csv", ".parquet")
HTML_SUFFIXES = (".html", ".htm")
_HASH = re.compile(f"[0-9a-f]{{{HASH_HEX_DIGITS}}}")
_DECILES = QUANTILE_COUNT - 1

Level = Literal["stable", "moderate", "major"]


class DriftError(ValueError):
    """Drift that cannot be measured: the message says why."""


@dataclass(frozen=True)
class Bins:
    """Bin labels, and each bin's share of the reference rows and of the captured rows."""

    labels: tuple[str, ...]
    expected: tuple[float, ...]
    actual: tuple[float, ...]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature. Without a score, `reason` says why; `missing_now` is None and `n` 0
    when the captures do not hold the feature."""

    name: str
    type: str
    score: float | None
    n: int
    missing_then: float
    missing_now: float | None
    bins: Bins | None = None
    reason: str | None = None

    @property
    def label(self) -> Level | None:
        return None if self.score is None else label_of(self.score)


@dataclass(frozen=True)
class PredictionDrift:
    """The model's answers: `kind` "classes" or "deciles"; without a score, `reason`."""

    kind: str | None
    score: float | None
    n: int
    bins: Bins | None = None
    reason: str | None = None

    @property
    def label(self) -> Level | None:
        return None if self.score is None else label_of(self.score)


@dataclass(frozen=True)
class DriftReport:
    """Features worst first (highest PSI), those without a score last in schema order."""

    model_name: str
    model_version: str
    reference_rows: int
    rows: int
    features: tuple[FeatureDrift, ...]
    predictions: PredictionDrift
    notes: tuple[str, ...] = ()


def label_of(score: float) -> Level:
    if score < STABLE_BELOW:
        return "stable"
    return "moderate" if score <= MAJOR_ABOVE else "major"


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """The population stability index of two share vectors over the same bins."""
    then = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    now = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((now - then) * np.log(now / then)))


def numeric_bins(quantiles: Sequence[float]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Bin edges, the reference's share of each bin, and the bins' labels, from its
    deciles: bins (-inf, e1], (e1, e2], ..., (ek, inf) on the distinct interior deciles.

    Distinct deciles each hold 10%. A value that is the decile at several levels (ties: a
    discrete or integer feature) holds a point mass the deciles only bound: if v is the
    decile at levels i..j, the share at or below v is at least j/10 and under (j+1)/10.
    The midpoint, (j + 0.5)/10, is taken (1 when v is the highest value), so the merged
    bin ending at v expects half a decile more than the decile levels it spans: support
    calls with deciles 0, 0, 0, 1, ... expect 25% at or below 0, where the true share is
    anywhere from 20% to 30%. An edge that is the decile at one level only is taken as
    a continuous feature's, exactly j/10.
    """
    levels = np.asarray(quantiles, dtype=np.float64)
    edges = np.unique(levels[1:-1])
    last = np.searchsorted(levels, edges, side="right") - 1  # j: the highest level of each
    tied = (last - np.searchsorted(levels, edges, side="left")) > 0
    below = np.minimum((last + 0.5 * tied) / _DECILES, 1.0)
    shares = np.diff(np.concatenate([[0.0], below, [1.0]]))
    texts = [_number(edge) for edge in edges]
    labels = (
        f"<= {texts[0]}",
        *(f"({low}, {high}]" for low, high in itertools.pairwise(texts)),
        f"> {texts[-1]}",
    )
    return edges, shares, labels


def drift_report(metadata: ModelMetadata, rows: pd.DataFrame) -> DriftReport:
    """Drift of the captured `rows` (model.captures' rows table, or any frame with a
    column per feature) from the metadata's reference, or DriftError: no reference, no
    rows, or rows of a model other than the metadata's or of several versions."""
    reference = metadata.reference
    if reference is None:
        raise DriftError(_no_reference(metadata.name))
    if rows.empty:
        raise DriftError("there are no captured rows to compare")
    notes = _model_notes(metadata, rows)
    columns = [_feature_column(name) for name in metadata.features]
    if PREDICTION not in rows and not any(column in rows for column in columns):
        raise DriftError(
            f"the rows hold none of the features of {metadata.name} "
            f"({', '.join(metadata.features)}), nor its predictions"
        )
    features = [
        _feature_drift(feature, reference.features[feature.name], rows)
        for feature in metadata.schema.features
    ]
    scored = sorted((f for f in features if f.score is not None), key=lambda f: -(f.score or 0))
    unscored = [f for f in features if f.score is None]
    return DriftReport(
        model_name=metadata.name,
        model_version=metadata.version,
        reference_rows=reference.rows,
        rows=len(rows),
        features=(*scored, *unscored),
        predictions=_prediction_drift(metadata, reference.predictions, rows),
        notes=notes,
    )


def models_in(rows: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(model name, model version, rows) of each model the rows are of, most rows first;
    empty when the rows do not say (no model_name column)."""
    if "model_name" not in rows or "model_version" not in rows or rows.empty:
        return []
    pairs = rows[["model_name", "model_version"]].astype(object).fillna("?")
    counts = pairs.value_counts(sort=True)
    return [
        (str(name), str(version), int(count))
        for (name, version), count in zip(counts.index.tolist(), counts.tolist(), strict=True)
    ]


def select_model(rows: pd.DataFrame, metadata: ModelMetadata, version: str | None) -> pd.DataFrame:
    """The rows of the metadata's model, of `version` when it is given; without it the
    rows must be of one version. DriftError lists what the rows hold otherwise: one
    model's reference says nothing about another's inputs."""
    found = models_in(rows)
    if not found:
        if version is not None:
            raise DriftError("the rows have no model_version column to choose a version by")
        return rows
    held = ", ".join(f"{name} {ver} ({count} rows)" for name, ver, count in found)
    if version is None:
        if len(found) > 1:
            raise DriftError(
                f"the captures hold rows of several models or versions: {held}; choose "
                f"one with --model-version (the metadata is {metadata.name} "
                f"{metadata.version})"
            )
        return rows
    chosen = (rows["model_name"] == metadata.name) & (rows["model_version"] == version)
    if not chosen.any():
        raise DriftError(
            f"the captures hold no rows of {metadata.name} version {version}; they hold {held}"
        )
    return rows[chosen.to_numpy(dtype=bool)]


def _no_reference(name: str) -> str:
    return (
        f"the metadata of {name} has no reference statistics to compare with: describe the "
        "model with --reference (python -m model.describe ARTIFACT --reference FILE)"
    )


def _model_notes(metadata: ModelMetadata, rows: pd.DataFrame) -> tuple[str, ...]:
    found = models_in(rows)
    if not found:
        return ()
    if len(found) > 1:
        held = ", ".join(f"{name} {version}" for name, version, _ in found)
        raise DriftError(f"the rows are of several models or versions: {held}; choose one")
    name, version, _ = found[0]
    if name != metadata.name:
        raise DriftError(
            f"the captured rows are of the model {name}, the metadata describes {metadata.name}"
        )
    if version != metadata.version:
        return (
            f"the captured rows are of version {version}, the reference of version "
            f"{metadata.version}",
        )
    return ()


# Features.


def _feature_drift(
    feature: Feature, reference: FeatureReference, rows: pd.DataFrame
) -> FeatureDrift:
    column = _feature_column(feature.name)
    absent = FeatureDrift(
        feature.name,
        feature.type,
        None,
        0,
        reference.missing,
        None,
        reason="not in the captures (excluded from capture, or captured by no row)",
    )
    if column not in rows:
        return absent
    series = rows[column]
    missing = series.isna().to_numpy(dtype=bool)
    if not feature.nullable:
        # The service refuses a row without a value for it: a gap is a row that did not
        # capture it (excluded in another deployment), not a missing value.
        series = series[~missing]
        missing = np.zeros(len(series), dtype=bool)
        if series.empty:
            return absent
    n = len(series)
    missing_count = int(missing.sum())
    present = series[~missing]

    def unscored(reason: str) -> FeatureDrift:
        return FeatureDrift(
            feature.name,
            feature.type,
            None,
            n,
            reference.missing,
            missing_count / n,
            reason=reason,
        )

    if feature.type == "datetime":
        return unscored("a date-time: its reference is its missing share alone")
    hashed = _hashed(present, feature.type, reference.shares)
    if hashed:
        some = "" if hashed == len(present) else f" in {hashed} of {len(present)} rows"
        return unscored(f"hashed in the captures{some}: its values cannot be compared")
    if feature.type in ("number", "integer"):
        numbers = pd.to_numeric(present, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        unread = np.isnan(numbers)
        if unread.any():
            example = present.iloc[int(np.flatnonzero(unread)[0])]
            return unscored(f"holds values that are not numbers, such as {example!r}")
        bins = _number_bins(reference.quantiles, reference.missing, numbers, missing_count, n)
    else:
        assert reference.shares is not None  # a string's or boolean's reference has them
        keys = _keys(present, lower=feature.type == "boolean")
        bins = _key_bins(reference.shares, reference.missing, keys, missing_count, n)
    return FeatureDrift(
        feature.name,
        feature.type,
        psi(bins.expected, bins.actual),
        n,
        reference.missing,
        missing_count / n,
        bins,
    )


def _hashed(present: pd.Series, kind: str, shares: Shares | None) -> int:
    """How many values are hashes (32 hex digits) the reference cannot hold: a number or
    boolean is never text, so any hash is one. A string feature is hashed only when all
    its values look so and none of the reference's do: its values may be hex anyway."""
    if present.empty or pd.api.types.is_numeric_dtype(present.dtype):
        return 0
    if isinstance(present.dtype, pd.StringDtype):
        count = int(present.str.fullmatch(_HASH.pattern).sum())
    else:
        # Mixed types (hashed in some deployments, not in others), or text pyarrow cannot
        # hold (a lone surrogate): value by value.
        count = sum(isinstance(value, str) and bool(_HASH.fullmatch(value)) for value in present)
    if kind != "string":
        return count
    known = () if shares is None else shares.values
    if count < len(present) or any(_HASH.fullmatch(key) for key in known):
        return 0
    return count


def _keys(present: pd.Series, lower: bool) -> pd.Series:
    """Each value as the reference counts it (app.core.reference.value_key), of dtype
    object (a str column could not hold a lone surrogate); a boolean's text as read from
    CSV ("True") in JSON's spelling."""
    if pd.api.types.is_bool_dtype(present.dtype):
        keys = np.where(present.to_numpy(dtype=bool), "true", "false").astype(object)
    elif isinstance(present.dtype, pd.StringDtype):
        keys = present.to_numpy(dtype=object)
    else:
        keys = np.fromiter(map(value_key, present.tolist()), dtype=object, count=len(present))
    counted = pd.Series(keys, dtype=object)
    return counted.str.lower() if lower else counted


def _number_bins(
    quantiles: tuple[float, ...] | None,
    missing_then: float,
    numbers: np.ndarray,
    missing_count: int,
    n: int,
) -> Bins:
    if quantiles is None:  # missing in every reference row: present or not is all there is
        return _with_missing(
            ("present",), np.ones(1), np.array([numbers.size]), missing_then, missing_count, n
        )
    edges, shares, labels = numeric_bins(quantiles)
    # Bin i is (edges[i-1], edges[i]]: the count of edges below the value.
    counts = np.bincount(np.searchsorted(edges, numbers, side="left"), minlength=len(labels))
    return _with_missing(labels, shares, counts, missing_then, missing_count, n)


def _key_bins(
    shares: Shares, missing_then: float, keys: pd.Series, missing_count: int, n: int
) -> Bins:
    counted = keys.value_counts().to_dict()
    labels = list(shares.values)  # at most MAX_VALUES
    counts = np.array([counted.get(label, 0) for label in labels], dtype=np.int64)
    expected = np.array(list(shares.values.values()), dtype=np.float64)
    others = len(keys) - int(counts.sum())
    if shares.other > 0 or others > 0:
        labels.append(OTHER)
        counts = np.append(counts, others)
        expected = np.append(expected, shares.other)
    return _with_missing(tuple(labels), expected, counts, missing_then, missing_count, n)


def _with_missing(
    labels: tuple[str, ...],
    shares: np.ndarray,
    counts: np.ndarray,
    missing_then: float,
    missing_count: int,
    n: int,
) -> Bins:
    """The bins of present values as shares of all rows, and a bin of the missing ones
    when either side has any."""
    expected = shares * (1.0 - missing_then)
    actual = counts / n
    if missing_then > 0 or missing_count > 0:
        labels = (*labels, MISSING)
        expected = np.append(expected, missing_then)
        actual = np.append(actual, missing_count / n)
    return Bins(labels, tuple(expected.tolist()), tuple(actual.tolist()))


# Predictions.


def _prediction_drift(
    metadata: ModelMetadata, reference: PredictionReference | None, rows: pd.DataFrame
) -> PredictionDrift:
    if reference is None:
        return PredictionDrift(
            None,
            None,
            0,
            reason="the reference records no distribution of predictions (a model of "
            "several outputs, a clustering or an outlier model)",
        )
    kind = "deciles" if reference.shares is None else "classes"
    if PREDICTION not in rows:
        return PredictionDrift(kind, None, 0, reason="the captures hold no predictions")
    answers = rows[PREDICTION]
    missing = answers.isna().to_numpy(dtype=bool)
    present, n, missing_count = answers[~missing], len(answers), int(missing.sum())
    if reference.shares is None:
        numbers = pd.to_numeric(present, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        if np.isnan(numbers).any():
            return PredictionDrift(kind, None, n, reason="predictions that are not numbers")
        bins = _number_bins(reference.quantiles, 0.0, numbers, missing_count, n)
    else:
        # A boolean class read back from CSV is "True"; the reference keys it "true".
        lower = bool(metadata.classes) and all(isinstance(c, bool) for c in metadata.classes)
        bins = _key_bins(reference.shares, 0.0, _keys(present, lower), missing_count, n)
    return PredictionDrift(kind, psi(bins.expected, bins.actual), n, bins)


# Reading the rows.


def read_rows(source: str, since: datetime | None = None, s3: Any | None = None) -> pd.DataFrame:
    """The captured rows in `source`: a .csv or .parquet file of model.captures' rows
    table, or anything read_captures reads; those at or after `since` when it is given.
    `s3` is the client to read S3 with. Raises CaptureError when the source cannot be
    read."""
    path = Path(source)
    if not source.startswith(S3_SCHEME) and path.suffix.lower() in ROWS_SUFFIXES:
        rows = _rows_file(path)
        if since is not None:
            if "time" not in rows:
                raise CaptureError(f"{source}: no time column to apply --since to")
            times = pd.to_datetime(rows["time"], utc=True, errors="coerce", format="ISO8601")
            rows = rows[(times >= pd.Timestamp(since)).to_numpy(dtype=bool)]
        return rows
    return read_captures(source, since, s3).rows


def _rows_file(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        # Every field as its text, an empty one missing: left to guess, pandas would
        # read a version "2.0" as a number and a category "NA" as missing. Each
        # feature's values are read by its type when compared.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise CaptureError(f"{path}: the file is empty") from None
    except (ValueError, TypeError, UnicodeError, ImportError) as error:
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "CSV"
        raise CaptureError(f"{path}: not a readable {kind} file: {error}") from None
    return frame.where(frame != "")


# The report as text.


def render_text(report: DriftReport) -> str:
    """The report as plain text: a table of the features, worst first, then the
    predictions then and now."""
    lines = [
        f"{_printable(report.model_name)} {_printable(report.model_version)}: {report.rows} "
        f"captured rows against {report.reference_rows} reference rows",
        f"PSI: under {STABLE_BELOW} stable, {STABLE_BELOW} to {MAJOR_ABOVE} moderate, "
        f"over {MAJOR_ABOVE} major drift",
        *(f"note: {_printable(note)}" for note in report.notes),
        "",
    ]
    table = [("feature", "type", "PSI", "drift", "missing then -> now", "rows", "note")]
    for feature in report.features:
        table.append(
            (
                _printable(feature.name),
                feature.type,
                _score(feature.score),
                feature.label or "-",
                f"{_percent(feature.missing_then)} -> {_percent(feature.missing_now)}",
                str(feature.n),
                feature.reason or "",
            )
        )
    lines += _columns(table, right={2, 5})
    lines.append("")
    lines += _prediction_text(report.predictions)
    return "\n".join(lines) + "\n"


def _prediction_text(drift: PredictionDrift) -> list[str]:
    if drift.score is None or drift.bins is None:
        return [f"predictions: not compared: {drift.reason}"]
    lines = [f"predictions ({drift.kind}): PSI {_score(drift.score)} {drift.label}, {drift.n} rows"]
    head = "class" if drift.kind == "classes" else "prediction"
    table = [(head, "then", "now")]
    for label, then, now in zip(
        drift.bins.labels, drift.bins.expected, drift.bins.actual, strict=True
    ):
        table.append((_printable(label), _percent(then), _percent(now)))
    return lines + _columns(table, right={1, 2})


def _columns(table: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.4f}"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def _number(value: float) -> str:
    return f"{value:.6g}"


def _printable(text: str) -> str:
    """Text as a terminal or a page can show it: a value with a control character or a
    lone surrogate (JSON may hold one; no UTF-8 text can) as its escapes."""
    if text.isprintable():
        return text
    return text.encode("ascii", "backslashreplace").decode("ascii")


# The report as a page.

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #1f2328; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 4px; }
p.lead, p.facts { color: #57606a; margin: 2px 0; }
p.note { background: #fff8c5; padding: 6px 10px; border-radius: 4px; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #d0d7de; }
td.num, th.num { text-align: right; }
.level { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; }
.stable { background: #dafbe1; color: #116329; }
.moderate { background: #fff1c2; color: #7d4e00; }
.major { background: #ffd8d3; color: #a40e26; }
.none { background: #eaeef2; color: #57606a; }
.chart { overflow-x: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
svg .then { fill: #8c9fb8; }
svg .now { fill: #d9480f; }
svg .axis { stroke: #8c959f; stroke-width: 1; }
svg .grid { stroke: #eaeef2; stroke-width: 1; }
"""
_BAR = 14  # px, one bar of a pair
_GROUP = 2 * _BAR + 12
_PLOT_HEIGHT = 150
_LEFT, _TOP = 46, 28
_MIN_WIDTH = 320  # the legend's
_LABEL_CHARS = 18


def render_html(report: DriftReport) -> str:
    """The report as one self-contained page: a summary table worst first, then a
    chart per feature of its bins then and now. Inline CSS and SVG; no script, nothing
    from anywhere else; every text escaped."""
    title = f"Drift: {report.model_name} {report.model_version}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_escape(title)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{_escape(title)}</h1>",
        f'<p class="lead">{report.rows} captured rows against {report.reference_rows} '
        f"reference rows. PSI: under {STABLE_BELOW} stable, {STABLE_BELOW} to "
        f"{MAJOR_ABOVE} moderate, over {MAJOR_ABOVE} major drift.</p>",
        *(f'<p class="note">{_escape(note)}</p>' for note in report.notes),
        _summary_html(report),
        _prediction_html(report.predictions),
        *(_feature_html(index, feature) for index, feature in enumerate(report.features)),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(report: DriftReport, path: Path) -> None:
    """The page written to a temporary file beside `path`, then renamed onto it: a
    failure part of the way leaves no half-written page."""
    page = render_html(report)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(page)
        # mkstemp's file is the owner's alone; the page is as any other file made here.
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _summary_html(report: DriftReport) -> str:
    rows = []
    for index, feature in enumerate(report.features):
        rows.append(
            "<tr>"
            f'<td><a href="#feature-{index}">{_escape(feature.name)}</a></td>'
            f"<td>{feature.type}</td>"
            f'<td class="num">{_score(feature.score)}</td>'
            f"<td>{_level_html(feature.label)}"
            f"{'' if feature.reason is None else ' ' + _escape(feature.reason)}</td>"
            f"<td>{_percent(feature.missing_then)} &rarr; {_percent(feature.missing_now)}</td>"
            f'<td class="num">{feature.n}</td>'
            "</tr>"
        )
    return (
        '<table id="summary"><thead><tr><th>Feature</th><th>Type</th>'
        '<th class="num">PSI</th><th>Drift</th><th>Missing then &rarr; now</th>'
        '<th class="num">Rows</th></tr></thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody></table>"
    )


def _level_html(label: str | None) -> str:
    return f'<span class="level {label or "none"}">{label or "not compared"}</span>'


def _prediction_html(drift: PredictionDrift) -> str:
    head = '<section id="predictions"><h2>Predictions</h2>'
    if drift.score is None or drift.bins is None:
        return f'{head}<p class="facts">Not compared: {_escape(drift.reason or "")}</p></section>'
    facts = (
        f'<p class="facts">{_level_html(drift.label)} PSI {_score(drift.score)} over the '
        f"{drift.kind}, {drift.n} rows</p>"
    )
    return head + facts + _chart(drift.bins, "Predictions") + "</section>"


def _feature_html(index: int, feature: FeatureDrift) -> str:
    facts = [_level_html(feature.label)]
    if feature.score is not None:
        facts.append(f"PSI {_score(feature.score)}")
    facts.append(
        f"{feature.type}, {feature.n} rows, missing {_percent(feature.missing_then)} "
        f"&rarr; {_percent(feature.missing_now)}"
    )
    if feature.reason is not None:
        facts.append(_escape(feature.reason))
    body = "" if feature.bins is None else _chart(feature.bins, feature.name)
    return (
        f'<section class="feature" id="feature-{index}"><h2>{_escape(feature.name)}</h2>'
        f'<p class="facts">{" &middot; ".join(facts)}</p>{body}</section>'
    )


def _chart(bins: Bins, name: str) -> str:
    """A grouped bar chart: per bin, its share then (the reference) and now."""
    count = len(bins.labels)
    width = max(_MIN_WIDTH, _LEFT + count * _GROUP + 16)
    shown = [_shortened(label) for label in bins.labels]
    # Room below for the longest label, slanted at 40 degrees: about 4 px a character.
    height = _TOP + _PLOT_HEIGHT + 24 + 4 * max(map(len, shown), default=0)
    top_share = max(max(bins.expected, default=0), max(bins.actual, default=0), 0.01)
    step = _nice_step(top_share)
    scale_top = step * math.ceil(top_share / step - 1e-9)
    base = _TOP + _PLOT_HEIGHT

    def y(share: float) -> float:
        return base - _PLOT_HEIGHT * min(share, scale_top) / scale_top

    parts = [
        f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_escape(name)}: share of rows per bin, reference and captured">',
        f'<rect class="key then" x="{_LEFT}" y="6" width="10" height="10"/>'
        f'<text x="{_LEFT + 14}" y="15">reference (then)</text>'
        f'<rect class="key now" x="{_LEFT + 130}" y="6" width="10" height="10"/>'
        f'<text x="{_LEFT + 144}" y="15">captured (now)</text>',
    ]
    ticks = round(scale_top / step)
    for tick in range(ticks + 1):
        share = tick * step
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{width - 8}" y1="{y(share):.1f}" '
            f'y2="{y(share):.1f}"/><text x="{_LEFT - 6}" y="{y(share) + 4:.1f}" '
            f'text-anchor="end">{share * 100:.4g}%</text>'
        )
    parts.append(f'<line class="axis" x1="{_LEFT}" x2="{width - 8}" y1="{base}" y2="{base}"/>')
    for position, (label, short, then, now) in enumerate(
        zip(bins.labels, shown, bins.expected, bins.actual, strict=True)
    ):
        left = _LEFT + position * _GROUP + 6
        tip = _escape(f"{label}: reference {_percent(then)}, captured {_percent(now)}")
        for offset, share, kind in ((0, then, "then"), (_BAR, now, "now")):
            top = y(share)
            parts.append(
                f'<rect class="bar {kind}" x="{left + offset}" y="{top:.1f}" width="{_BAR}" '
                f'height="{base - top:.1f}"><title>{tip}</title></rect>'
            )
        x, below = left + _BAR, base + 12
        parts.append(
            f'<text x="{x}" y="{below}" text-anchor="end" transform="rotate(-40 {x} {below})">'
            f"<title>{_escape(label)}</title>{html.escape(short)}</text>"
        )
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"


def _shortened(label: str) -> str:
    shown = _printable(label)
    if len(shown) > _LABEL_CHARS:
        return shown[: _LABEL_CHARS - 1] + "\u2026"
    return shown


def _nice_step(top: float) -> float:
    """A grid step of 1, 2, 2.5 or 5 times a power of ten: four or five lines to `top`."""
    raw = top / 4
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def _escape(text: str) -> str:
    return html.escape(_printable(text), quote=True)


# The command line.


def _since_argument(text: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _s3_client(source: str) -> Any | None:
    if not source.startswith(S3_SCHEME):
        return None
    # A tool dependency, never the server's: imported only to read S3.
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client("s3")
    except BotoCoreError as error:
        raise CaptureError(f"cannot reach S3: {error}") from error


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model.drift", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "metadata", type=Path, metavar="MODEL.json", help="the model's metadata, with a reference"
    )
    parser.add_argument(
        "source",
        metavar="CAPTURES",
        help="s3://bucket/prefix, a local file or folder of delivered objects, or a .csv "
        "or .parquet file of the rows `python -m model.captures` writes",
    )
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write the report as a page")
    parser.add_argument(
        "--since",
        type=_since_argument,
        metavar="WHEN",
        help="only rows from then on: 30m, 12h, 7d, 2w before now, or an ISO-8601 date or "
        "date-time (UTC unless it names its zone)",
    )
    parser.add_argument(
        "--model-version",
        metavar="V",
        help="only the rows of this version of the model (needed when the captures hold several)",
    )
    args = parser.parse_args(argv)
    if not args.metadata.is_file():
        parser.error(f"there is no file {str(args.metadata)!r}")
    if args.source.startswith(S3_SCHEME):
        if not args.source[len(S3_SCHEME) :].partition("/")[0]:
            parser.error(f"expected s3://bucket/prefix, got {args.source!r}")
    elif not Path(args.source).exists():
        parser.error(f"{args.source!r} is neither an s3:// URI nor an existing file or folder")
    if args.html is not None:
        if args.html.suffix.lower() not in HTML_SUFFIXES:
            parser.error(f"--html takes a .html file, got {str(args.html)!r}")
        if not args.html.parent.is_dir():
            parser.error(f"--html: there is no folder {str(args.html.parent)!r}")
        if args.html.is_dir():
            parser.error(f"--html: {str(args.html)!r} is a folder")

    try:
        metadata = ModelMetadata.read(args.metadata)
        if metadata.reference is None:
            raise DriftError(_no_reference(metadata.name))
        rows = read_rows(args.source, args.since, _s3_client(args.source))
        if rows.empty:
            since = "" if args.since is None else f" since {args.since.isoformat()}"
            raise DriftError(f"no captured rows in {args.source}{since}")
        report = drift_report(metadata, select_model(rows, metadata, args.model_version))
        if args.html is not None:
            write_html(report, args.html)
    except (DriftError, CaptureError, MetadataError) as error:
        _fail(str(error))
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}")
    sys.stdout.write(render_text(report))
    if args.html is not None:
        print(f"wrote {args.html}", file=sys.stderr)


if __name__ == "__main__":
    main()
