"""Save a fitted estimator as an artifact plus the metadata the server verifies and serves.

Writing metadata is a proof, not a guess: the model is run on its example rows through
the same validation and conversion the server uses, its answers are compared with what
the estimator gives for the original rows, and the model itself is asked which features
may be missing and which categories it refuses. Metadata the server could not answer
with is never written.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from app.artifact import library_versions, metadata_path_for, sha256_of
from app.metadata import ModelMetadata, Output
from app.predictor import ModelUnavailable, Predictor, RowsRefused, labels_of
from app.schema import Feature, Schema
from app.validation import Problems, validate_rows
from model.inference import (
    Example,
    InferenceError,
    as_float64_array,
    example_of,
    feature_names,
    infer_schema,
    is_text_model,
    known_names,
    task_of,
)

# A value no encoder was fitted on, to ask the model whether it refuses unknown categories.
_UNSEEN = "\x00unseen category\x00"
_UNSEEN_NUMBER = -987654321.125


class ExportError(ValueError):
    """The estimator or its description cannot make a servable model."""


@dataclass(frozen=True)
class Description:
    """What a person says about a model; the rest of the metadata is read off it."""

    name: str
    version: str
    features: Sequence[str] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # Names of the targets of a multi-output model, in order.
    outputs: Sequence[str] | None = None


def save_model(
    estimator: Any, artifact_path: Path, description: Description, example: Any = None
) -> dict[str, Any]:
    """Write the artifact and its metadata (`.json` beside it); return the metadata."""
    metadata = build_metadata(estimator, description, example, sha256="0" * 64)
    artifact_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, artifact_path)
    return _write(replace(metadata, sha256=sha256_of(artifact_path)), artifact_path)


def write_metadata(
    estimator: Any, artifact_path: Path, description: Description, example: Any = None
) -> dict[str, Any]:
    """Describe an artifact already on disk, for the server to verify and serve it."""
    metadata = build_metadata(estimator, description, example, sha256=sha256_of(artifact_path))
    return _write(metadata, artifact_path)


def _write(metadata: ModelMetadata, artifact_path: Path) -> dict[str, Any]:
    metadata.write(metadata_path_for(artifact_path))
    return metadata.to_document()


def build_metadata(
    estimator: Any, description: Description, example: Any, sha256: str
) -> ModelMetadata:
    """The proven metadata for an estimator, or ExportError saying why there is none."""
    try:
        task = task_of(estimator)
        text = is_text_model(estimator)
        given = list(description.features) if description.features else None
        rows = (
            None if example is None else example_of(example, given or known_names(estimator, text))
        )
        names = feature_names(estimator, given, rows, text)
        schema = infer_schema(estimator, names, rows, text)
    except InferenceError as error:
        raise ExportError(str(error)) from None
    if not hasattr(estimator, "predict"):
        raise ExportError(f"{type(estimator).__name__} has no predict method")
    draft = ModelMetadata(
        name=description.name,
        version=description.version,
        sha256=sha256,
        task=task,
        schema=schema,
        classes=(),
        example=rows.records if rows else (schema.placeholder_row(),),
        created_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        trained_with=library_versions(),
        metrics=dict(description.metrics),
    )
    try:
        draft = _with_targets(estimator, draft, description.outputs)
        draft = _fastest_input(estimator, draft, rows)
        draft = replace(draft, schema=_asked_schema(estimator, draft))
        _prove(estimator, draft, rows)
    except ExportError as error:
        if rows is not None:
            raise
        # The types were guessed from the estimator alone: say how to state them.
        raise ExportError(
            f"{error}; the estimator alone does not tell every feature's type: pass "
            "--example with real rows (or example= in Python) so their types are known"
        ) from None
    return draft


def _with_targets(
    estimator: Any, metadata: ModelMetadata, names: Sequence[str] | None
) -> ModelMetadata:
    """Classes, or one output per target of a multi-output model."""
    labels = labels_of(estimator) if metadata.task == "classification" else []
    if len(labels) == 1:
        return replace(metadata, classes=tuple(labels[0]))
    if len(labels) > 1:
        count = len(labels)
    else:
        shape = np.shape(_answers(estimator, metadata))
        count = shape[1] if len(shape) == 2 and shape[1] > 1 else 1
        if count == 1:
            if names and len(names) > 1:
                raise ExportError(f"--outputs names {len(names)} targets; the model has one")
            return metadata
    if names and len(names) != count:
        raise ExportError(f"the model has {count} outputs, --outputs names {len(names)}")
    chosen = list(names) if names else [f"output_{i}" for i in range(count)]
    if len(set(chosen)) != len(chosen):
        raise ExportError(f"output names must be distinct, got {chosen}")
    outputs = tuple(
        Output(name, tuple(labels[i]) if labels else ()) for i, name in enumerate(chosen)
    )
    return replace(metadata, outputs=outputs)


def _answers(estimator: Any, metadata: ModelMetadata) -> Any:
    try:
        return Predictor(estimator, metadata).run(_rows(metadata, metadata.example)).predictions
    except (RowsRefused, ModelUnavailable) as error:
        raise ExportError(_failure("its example rows", error)) from None


def _fastest_input(estimator: Any, metadata: ModelMetadata, rows: Example | None) -> ModelMetadata:
    """A DataFrame-fitted model of numbers only is served float64 arrays (no pandas) when
    that gives the same answers as the DataFrame."""
    numeric = as_float64_array(metadata.schema)
    if metadata.schema.model_input != "dataframe" or numeric is None:
        return metadata
    candidate = replace(metadata, schema=numeric)
    try:
        with_arrays = _answers(estimator, candidate)
        with_frame = _answers(estimator, metadata)
    except ExportError:
        return metadata
    return candidate if _same(with_arrays, with_frame) else metadata


def _asked_schema(estimator: Any, metadata: ModelMetadata) -> Schema:
    """Ask the model, feature by feature, whether it takes a missing value, and whether it
    refuses a category it never saw."""
    features = list(metadata.schema.features)
    base = dict(metadata.example[0])
    for index, feature in enumerate(features):
        if not feature.nullable:
            trial = replace(feature, nullable=True)
            if _answers_row(estimator, metadata, index, trial, {**base, feature.name: None}):
                features[index] = trial
        feature = features[index]
        if feature.type in ("string", "integer", "number") and (
            feature.type == "string" or feature.categories is not None
        ):
            unseen = _UNSEEN if feature.type == "string" else _unseen_number(feature)
            open_feature = replace(feature, accepts_unknown=True)
            accepted = _answers_row(
                estimator, metadata, index, open_feature, {**base, feature.name: unseen}
            )
            if accepted:
                features[index] = open_feature
            elif feature.categories is None:
                raise ExportError(
                    f"feature {feature.name}: the model fails on a string it has not seen, and "
                    "no fitted encoder lists the values it knows; fit an encoder with "
                    "handle_unknown='ignore', or pass --example rows whose dtype is category"
                )
            else:
                features[index] = replace(feature, accepts_unknown=False)
    return Schema(tuple(features), metadata.schema.model_input)


def _unseen_number(feature: Feature) -> Any:
    return int(_UNSEEN_NUMBER) if feature.type == "integer" else _UNSEEN_NUMBER


def _answers_row(
    estimator: Any, metadata: ModelMetadata, index: int, feature: Feature, row: dict[str, Any]
) -> bool:
    features = list(metadata.schema.features)
    features[index] = feature
    trial = replace(metadata, schema=Schema(tuple(features), metadata.schema.model_input))
    predictor = Predictor(estimator, trial)
    try:
        predictor.run(_rows(trial, [row]), with_probabilities=predictor.supports_probabilities)
    except (RowsRefused, ModelUnavailable, ExportError):
        return False
    return True


def _rows(metadata: ModelMetadata, rows: Sequence[dict[str, Any]]) -> Any:
    problems = Problems()
    checked = validate_rows(rows, lambda i: f"example[{i}]", metadata.schema, problems)
    if problems:
        first = problems.details()[0]
        raise ExportError(f"example row {first.loc}: {first.msg}")
    return checked


def _prove(estimator: Any, metadata: ModelMetadata, rows: Example | None) -> None:
    """The server's own load-time check, plus: its answers are the estimator's own."""
    predictor = Predictor(estimator, metadata)
    try:
        predictor.prove()
    except ModelUnavailable as error:
        raise ExportError(str(error)) from None
    if rows is None or isinstance(rows.original, list):
        return  # rows from JSON: no other form of them to compare with
    served = predictor.run(_rows(metadata, metadata.example)).predictions
    direct = estimator.predict(rows.original[: len(metadata.example)])
    if not _same(served, direct):
        raise ExportError(
            "the server's conversion of the example rows gives other predictions than the "
            "estimator gives for the same rows; the model needs input the schema cannot state"
        )


def _same(first: Any, second: Any) -> bool:
    first, second = np.asarray(first), np.asarray(second).reshape(np.shape(first))
    if first.dtype.kind in "fc" and second.dtype.kind in "fc":
        return bool(np.allclose(first, second, rtol=1e-9, atol=1e-12))
    return bool((first.astype(object) == second.astype(object)).all())


def _failure(what: str, error: Exception) -> str:
    if isinstance(error, RowsRefused):
        cause = error.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause else "numeric overflow"
        return f"the model fails on {what} {error.rows}: {detail}"
    return f"the model fails on {what}: {error}"


def training_main(train: Callable[[Path], Path], doc: str, default_out: Path) -> None:
    """The command line of a training script: `--out DIR`, then where the pair went."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out, help="output folder")
    artifact = train(parser.parse_args().out)
    print(f"wrote {artifact} and {metadata_path_for(artifact)}")
