"""Save a fitted estimator as an artifact plus the metadata the server verifies and serves.

Writing metadata is a proof, not a guess: the model is run on its example rows through
the same validation and conversion the server uses, its answers are compared with what
the estimator gives for the original rows, and the model itself is asked which features
may be missing and which categories it refuses. Metadata the server could not answer
with is never written.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np

from app.core.answers import predictions_json
from app.core.artifact import (
    FORMAT_OF_SUFFIX,
    ArtifactFormat,
    code_path_for,
    format_of,
    library_versions,
    metadata_path_for,
    sha256_of,
)
from app.core.artifact_loader import load_artifact, skops_is_safe
from app.core.metadata import CodeArchive, ModelMetadata, Output
from app.core.model_input import pandas_available
from app.core.predictor import ModelUnavailable, Predictor, RowsRefused, labels_of
from app.core.schema import Feature, Schema
from app.core.validation import Problems, validate_rows
from model.code_archive import CodeError, PackedCode, pack_code
from model.dependencies import DependencyError, needed_distributions
from model.inference import (
    Example,
    InferenceError,
    as_dataframe,
    as_float64_array,
    example_of,
    feature_names,
    infer_schema,
    is_text_model,
    json_example_hint,
    known_names,
    task_of,
)
from model.references import References, UnreadableArtifact, read_references

if TYPE_CHECKING:
    from model.reference_stats import ReferenceData

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


@dataclass(frozen=True)
class Needs:
    """What loading an artifact takes, read from its file before it is loaded."""

    format: ArtifactFormat
    references: References
    distributions: dict[str, str]
    code: PackedCode | None
    trusted: tuple[str, ...]


def save_model(
    estimator: Any,
    artifact_path: Path,
    description: Description,
    example: Any = None,
    code: Sequence[Path] = (),
    trust: Sequence[str] = (),
    *,
    reference: ReferenceData | None = None,
) -> dict[str, Any]:
    """Write the artifact in the format its extension names (.joblib, .pkl or .pickle,
    .skops), its code archive when `code` names modules, and its metadata beside it;
    return the metadata. Nothing is written unless all of it can be. `reference`: the
    rows it learned from (a DataFrame or row objects), summarised in the metadata."""
    artifact_format = _format_of(artifact_path)
    artifact_path.parent.mkdir(parents=True, exist_ok=True)
    with _staged(artifact_path) as staged:
        _dump(estimator, staged, artifact_format)
        needs = read_needs(staged, artifact_format, code, trust)
        metadata = _described(
            estimator,
            sha256_of(staged),
            artifact_path,
            needs,
            description,
            example,
            reference=reference,
        )
        _commit(artifact_path, metadata, needs)
        os.replace(staged, artifact_path)
    return metadata.to_document()


def write_metadata(
    artifact_path: Path,
    description: Description,
    example: Any = None,
    code: Sequence[Path] = (),
    trust: Sequence[str] = (),
    *,
    reference: ReferenceData | None = None,
) -> dict[str, Any]:
    """Describe an artifact already on disk, for the server to verify and serve it. Its
    references are read before it is loaded, so a missing module is named, not raised.
    `reference`: as save_model's, or a file read by model.reference_stats."""
    artifact_format = _format_of(artifact_path)
    needs = read_needs(artifact_path, artifact_format, code, trust)
    with _importable(needs.code, artifact_path):
        try:
            estimator = load_artifact(artifact_path, needs.format, needs.trusted, True)
        except ModelUnavailable as error:
            raise ExportError(str(error)) from None
        metadata = _described(
            estimator,
            sha256_of(artifact_path),
            artifact_path,
            needs,
            description,
            example,
            reference=reference,
        )
    _commit(artifact_path, metadata, needs)
    return metadata.to_document()


def read_needs(
    artifact_path: Path, artifact_format: ArtifactFormat, code: Sequence[Path], trust: Sequence[str]
) -> Needs:
    """The references, distributions, code archive and trusted types of an artifact."""
    try:
        references = read_references(artifact_path, artifact_format)
        packed = pack_code(code) if code else None
        trusted = _trusted(artifact_path, trust) if artifact_format == "skops" else ()
        distributions = needed_distributions(references.names, packed.modules if packed else ())
    except (UnreadableArtifact, CodeError, DependencyError) as error:
        raise ExportError(str(error)) from None
    if trust and artifact_format != "skops":
        raise ExportError("--trust names skops types; this artifact is not a skops file")
    if artifact_format == "skops":
        distributions = {**distributions, "skops": _skops_version()}
    return Needs(artifact_format, references, distributions, packed, trusted)


def _format_of(artifact_path: Path) -> ArtifactFormat:
    found = format_of(artifact_path)
    if found is None:
        known = ", ".join(FORMAT_OF_SUFFIX)
        raise ExportError(
            f"{artifact_path.name}: no known artifact format; name the file with one of {known} "
            "(joblib.dump, pickle.dump or skops.io.dump)"
        )
    return found


def _skops_version() -> str:
    try:
        import skops
    except ImportError:
        raise ExportError("this artifact is a skops file: install skops 0.12 or newer") from None
    version = str(skops.__version__)
    if not skops_is_safe(version):
        raise ExportError(
            f"skops {version} is installed; use 0.12 or newer, whose loader enforces the "
            "trusted types (CVE-2025-54412)"
        )
    return version


def _trusted(artifact_path: Path, trust: Sequence[str]) -> tuple[str, ...]:
    """The types beyond skops' defaults that the file needs: all named by --trust."""
    _skops_version()
    from skops.io import get_untrusted_types

    try:
        needed = [str(name) for name in get_untrusted_types(file=artifact_path)]
    except Exception as error:  # a file skops cannot read
        raise ExportError(f"{artifact_path.name} is not a readable skops file: {error}") from None
    missing = [name for name in needed if name not in trust]
    if missing:
        flags = " ".join(f"--trust {name}" for name in missing)
        raise ExportError(
            f"{artifact_path.name} needs types that skops does not trust by default: "
            f"{', '.join(missing)}. Loading a type runs its code: if you trust them, pass {flags}"
        )
    return tuple(sorted(set(needed)))


def _dump(estimator: Any, path: Path, artifact_format: ArtifactFormat) -> None:
    if artifact_format == "joblib":
        joblib.dump(estimator, path)
    elif artifact_format == "pickle":
        with path.open("wb") as stream:
            pickle.dump(estimator, stream, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        _skops_version()
        import skops.io

        skops.io.dump(estimator, path)


def _described(
    estimator: Any,
    sha256: str,
    artifact_path: Path,
    needs: Needs,
    description: Description,
    example: Any,
    *,
    reference: ReferenceData | None = None,
) -> ModelMetadata:
    metadata = build_metadata(estimator, description, example, sha256=sha256)
    versions = needs.references.sklearn_versions
    trained_with = dict(metadata.trained_with)
    if versions:
        # The version that fitted the estimators, not the one describing them.
        trained_with["scikit-learn"] = versions[0]
    code = None
    if needs.code is not None:
        name = code_path_for(artifact_path).name
        code = CodeArchive(name, hashlib.sha256(needs.code.data).hexdigest(), needs.code.modules)
    described = replace(
        metadata,
        format=needs.format,
        trained_with=trained_with,
        references=needs.references.names,
        distributions=needs.distributions,
        code=code,
        trusted=needs.trusted,
    )
    if reference is None:
        return described
    # Imported here: only statistics need pandas, and a numeric model's describe does not.
    from model.reference_stats import ReferenceDataError, reference_statistics

    try:
        # The rows are checked against the final schema, the one the server will serve.
        statistics = reference_statistics(estimator, described, reference)
    except ReferenceDataError as error:
        raise ExportError(str(error)) from None
    return replace(described, reference=statistics)


def _commit(artifact_path: Path, metadata: ModelMetadata, needs: Needs) -> None:
    """The code archive (when there is one), then the metadata, each replaced whole."""
    if needs.code is not None and metadata.code is not None:
        archive = artifact_path.with_name(metadata.code.file)
        _write_atomically(archive, needs.code.data)
    document = json.dumps(metadata.to_document(), indent=2, allow_nan=False) + "\n"
    _write_atomically(metadata_path_for(artifact_path), document.encode())


def _write_atomically(path: Path, data: bytes) -> None:
    with _staged(path) as staged:
        staged.write_bytes(data)
        os.replace(staged, path)


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temporary file beside `path`, removed unless it was moved into place."""
    # Hidden, and with the same extension: a writer may pick its format from it.
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    staged = Path(name)
    try:
        yield staged
    finally:
        staged.unlink(missing_ok=True)


@contextmanager
def _importable(code: PackedCode | None, artifact_path: Path) -> Iterator[Path | None]:
    """The code archive, staged and first on sys.path while the artifact loads: what the
    model is proven with is what ships."""
    if code is None:
        yield None
        return
    with _staged(code_path_for(artifact_path)) as staged:
        staged.write_bytes(code.data)
        sys.path.insert(0, str(staged))
        importlib.invalidate_caches()
        try:
            yield staged
        finally:
            sys.path.remove(str(staged))


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
    except (LookupError, TypeError, ValueError, AttributeError) as error:
        # A user's estimator and example can be any objects: what reading them raised.
        raise ExportError(
            f"reading the estimator and its example failed: {type(error).__name__}: {error}"
        ) from None
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
        metrics=dict(description.metrics),
    )
    try:
        draft = _input_that_answers(estimator, draft)
        draft = _with_targets(estimator, draft, description.outputs)
        draft = _fastest_input(estimator, draft, rows)
        draft = replace(draft, schema=_asked_schema(estimator, draft))
        _prove(estimator, draft, rows)
        answered = _answers(estimator, draft)
        draft = replace(draft, example_predictions=tuple(predictions_json(answered, draft.outputs)))
    except ExportError as error:
        if rows is not None:
            raise ExportError(f"{error}{json_example_hint(rows, draft.schema)}") from None
        # The types were guessed from the estimator alone: say how to state them.
        raise ExportError(
            f"{error}; the estimator alone does not tell every feature's type: pass "
            "--example with real rows (or example= in Python) so their types are known"
        ) from None
    # pandas' version matters only to a model that is handed a DataFrame.
    frame = draft.schema.model_input == "dataframe"
    return replace(draft, trained_with=library_versions(with_pandas=frame))


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
    except ExportError:
        raise
    except Exception as error:  # the user's own code may raise anything
        raise ExportError(
            f"the model fails on its example rows: {type(error).__name__}: {error}"
        ) from None


def _input_that_answers(estimator: Any, metadata: ModelMetadata) -> ModelMetadata:
    """A pipeline whose first step is the user's own DataFrame transformer records no
    feature names, so it looks fitted on an array: when an array fails and a DataFrame
    with the example's columns answers (its ISO 8601 strings as date-times, or as text),
    the model is handed a DataFrame."""
    if metadata.schema.model_input not in ("float64_array", "object_array"):
        return metadata
    try:
        _answers(estimator, metadata)
        return metadata
    except ExportError as error:
        if not pandas_available():
            raise
        failure = error
    # Date-time strings as dates first, then every string column as text.
    schemas = [as_dataframe(metadata.schema, metadata.example), as_dataframe(metadata.schema)]
    for schema in dict.fromkeys(schemas):
        candidate = replace(metadata, schema=schema)
        try:
            _answers(estimator, candidate)
        except ExportError:
            continue
        return candidate
    raise failure


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
    except Exception:  # refused, or failing in the user's code: either way, not taken
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
    except Exception as error:  # the user's own code may raise anything on their rows
        raise ExportError(
            f"the model fails on its example rows: {type(error).__name__}: {error}"
        ) from None
    if rows is None or isinstance(rows.original, list):
        return  # rows from JSON: no other form of them to compare with
    served = _answers(estimator, metadata)
    try:
        direct = estimator.predict(rows.original[: len(metadata.example)])
    except Exception as error:  # the rows as given, not as the server hands them
        raise ExportError(
            f"the model fails on the example rows as given: {type(error).__name__}: {error}"
        ) from None
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
        return f"the model fails on {what} {error.rows}: {error.explained()}"
    return f"the model fails on {what}: {error}"


def training_main(train: Callable[[Path], Path], doc: str, default_out: Path) -> None:
    """The command line of a training script: `--out DIR`, then where the pair went."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out, help="output folder")
    artifact = train(parser.parse_args().out)
    print(f"wrote {artifact} and {metadata_path_for(artifact)}")
