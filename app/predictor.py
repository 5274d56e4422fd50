"""Loads and verifies the model artifact, knows its input schema, predicts.

A joblib artifact is a pickle, and unpickling runs code: the artifact is only
unpickled after its SHA-256 matches the one its metadata records.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from app.artifact import SHA256_HEX, TASKS, library_versions, sha256_of

log = logging.getLogger(__name__)


# Overflow inside a model (e.g. 1e308 scaled) must not turn into a silent NaN
# answer or a warning per request: it raises, and the rows are reported.
_STRICT_FLOATS = {"over": "raise", "invalid": "raise", "divide": "raise"}


class ModelUnavailable(Exception):
    """The model cannot serve; the message says why, for /health and the logs."""


class NonFiniteResult(Exception):
    """The model could not compute a finite answer for these row indexes."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"non-finite result for rows {rows}")
        self.rows = rows


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    sha256: str
    task: str
    features: tuple[str, ...]
    classes: tuple[Any, ...]
    document: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> ModelMetadata:
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            raise ModelUnavailable(f"model metadata not found: {path}") from None
        except OSError as error:
            raise ModelUnavailable(f"model metadata unreadable: {path}: {error}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: bytes, source: str) -> ModelMetadata:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ModelUnavailable(f"model metadata unreadable: {source}: {error}") from None
        return cls.from_document(document, source=source)

    @classmethod
    def from_document(cls, document: Any, source: str) -> ModelMetadata:
        def bad(why: str) -> ModelUnavailable:
            return ModelUnavailable(f"model metadata invalid ({source}): {why}")

        if not isinstance(document, dict):
            raise bad("expected a JSON object")
        for key in ("name", "version", "sha256", "task"):
            if not isinstance(document.get(key), str):
                raise bad(f"'{key}' must be a string")
        if not SHA256_HEX.match(document["sha256"]):
            raise bad("'sha256' must be 64 lowercase hex digits")
        if document["task"] not in TASKS:
            raise bad(f"'task' must be one of {', '.join(TASKS)}")
        features = document.get("features")
        if (
            not isinstance(features, list)
            or not features
            or not all(isinstance(name, str) and name for name in features)
            or len(set(features)) != len(features)
        ):
            raise bad("'features' must be a non-empty list of distinct names")
        classes = document.get("classes", [])
        if not isinstance(classes, list):
            raise bad("'classes' must be a list")
        if not isinstance(document.get("trained_with"), dict):
            raise bad("'trained_with' must be an object of library versions")
        return cls(
            name=document["name"],
            version=document["version"],
            sha256=document["sha256"],
            task=document["task"],
            features=tuple(features),
            classes=tuple(classes),
            document=document,
        )


class Predictor:
    """A verified estimator and what it expects; receives clean float64 arrays."""

    def __init__(self, estimator: Any, metadata: ModelMetadata) -> None:
        self.estimator = estimator
        self.metadata = metadata
        self.features = metadata.features
        self.version = metadata.version
        self.is_classifier = metadata.task == "classification"
        self.supports_probabilities = self.is_classifier and hasattr(estimator, "predict_proba")
        if hasattr(estimator, "feature_names_in_"):
            # Fitted on a DataFrame, served arrays in the same column order (checked at
            # load): scikit-learn's warning about it would otherwise come per request.
            warnings.filterwarnings(
                "ignore", message="X does not have valid feature names", category=UserWarning
            )
        # Probability columns follow the estimator's classes_, keyed as JSON strings.
        classes = getattr(estimator, "classes_", ())
        self._probability_keys = [str(label) for label in np.asarray(classes).tolist()]

    @classmethod
    def load(
        cls,
        artifact_path: Path,
        metadata: ModelMetadata,
        pinned_sha256: str | None = None,
        allow_version_mismatch: bool = False,
    ) -> Predictor:
        """Verify the artifact against its metadata (and the pin, if any), then unpickle it."""
        expected = expected_sha256(metadata, pinned_sha256)
        try:
            actual = sha256_of(artifact_path)
        except FileNotFoundError:
            raise ModelUnavailable(f"model artifact not found: {artifact_path}") from None
        except OSError as error:
            raise ModelUnavailable(f"model artifact unreadable: {error}") from None
        if actual != expected:
            # Never unpickle bytes nobody vouched for.
            raise ModelUnavailable(
                f"model artifact {artifact_path.name} has sha256 {actual}, "
                f"but {_vouched_by(pinned_sha256)} records {expected}; refusing to load it"
            )
        _check_versions(metadata, allow_version_mismatch)
        try:
            estimator = joblib.load(artifact_path)
        except Exception as error:  # any failure inside the pickle means no model
            raise ModelUnavailable(f"model artifact could not be unpickled: {error!r}") from None
        _check_estimator(estimator, metadata)
        log.info(
            "loaded model %s %s (%s, %d features) from %s",
            metadata.name,
            metadata.version,
            metadata.task,
            len(metadata.features),
            artifact_path,
        )
        return cls(estimator, metadata)

    def describe(self) -> dict[str, Any]:
        return {**self.metadata.document, "serving_with": library_versions()}

    def predict(self, rows: np.ndarray) -> list[Any]:
        return _compute(self.estimator.predict, rows).tolist()

    def predict_probabilities(self, rows: np.ndarray) -> list[dict[str, float]]:
        matrix = _compute(self.estimator.predict_proba, rows)
        keys = self._probability_keys
        return [dict(zip(keys, row, strict=True)) for row in matrix.tolist()]


def _compute(method: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Run a model method on finite rows; raise NonFiniteResult naming bad rows."""
    # Inputs are validated finite already: skip scikit-learn's second scan.
    with sklearn.config_context(assume_finite=True), np.errstate(**_STRICT_FLOATS):
        try:
            output = np.asarray(method(rows))
        except FloatingPointError:
            output = _row_by_row(method, rows)
    if output.dtype.kind in "fc":
        finite = np.isfinite(output.reshape(len(rows), -1)).all(axis=1)
        if not finite.all():
            raise NonFiniteResult(np.flatnonzero(~finite).tolist())
    return output


def _row_by_row(method: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The slow path, taken only after a batch failed: blame rows, or answer without the batch.

    Near the float64 limit a batch can overflow where each of its rows alone does not (BLAS
    sums a matrix product in another order than a vector product): then each row's own
    answer is the batch's answer, as it would have been had the rows come one at a time.
    """
    outputs, failing = [], []
    for index in range(len(rows)):
        try:
            outputs.append(np.asarray(method(rows[index : index + 1])))
        except FloatingPointError:
            failing.append(index)
    if failing:
        raise NonFiniteResult(failing)
    return np.concatenate(outputs)


def expected_sha256(metadata: ModelMetadata, pinned: str | None) -> str:
    """The hash the artifact must have: MODEL_SHA256 when set, else the metadata's.

    A pin that disagrees with the metadata means the metadata describes another
    artifact (other features, other classes): that is refused too.
    """
    if pinned and pinned != metadata.sha256:
        raise ModelUnavailable(
            f"MODEL_SHA256 is {pinned}, but the model metadata describes an artifact "
            f"with sha256 {metadata.sha256}; refusing to load it"
        )
    return pinned or metadata.sha256


def _vouched_by(pinned: str | None) -> str:
    return "MODEL_SHA256" if pinned else "its metadata"


def _check_versions(metadata: ModelMetadata, allow_mismatch: bool) -> None:
    trained = metadata.document["trained_with"].get("scikit-learn")
    serving = sklearn.__version__
    if trained == serving:
        return
    message = (
        f"model was trained with scikit-learn {trained}, but this server runs {serving}; "
        "pickled estimators are only reliable on the version that trained them"
    )
    if not allow_mismatch:
        raise ModelUnavailable(message + " (set ALLOW_VERSION_MISMATCH=1 to load it anyway)")
    log.warning("%s; loading anyway because ALLOW_VERSION_MISMATCH is set", message)


def _check_estimator(estimator: Any, metadata: ModelMetadata) -> None:
    if not hasattr(estimator, "predict"):
        raise ModelUnavailable(f"artifact holds a {type(estimator).__name__}, not an estimator")
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and expected != len(metadata.features):
        raise ModelUnavailable(
            f"estimator expects {expected} features, metadata lists {len(metadata.features)}"
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and list(fitted_names) != list(metadata.features):
        raise ModelUnavailable(
            f"estimator was fitted on features {list(fitted_names)}, "
            f"metadata lists {list(metadata.features)}"
        )
    if metadata.task == "classification":
        classes = [str(label) for label in np.asarray(getattr(estimator, "classes_", [])).tolist()]
        if classes != [str(label) for label in metadata.classes]:
            raise ModelUnavailable(
                f"estimator classes {classes} differ from metadata classes {list(metadata.classes)}"
            )
