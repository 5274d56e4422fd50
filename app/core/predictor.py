"""Loads and verifies the model artifact, then predicts: validated rows in, numpy out.

A joblib or pickle artifact is a pickle, and unpickling runs code: the artifact is only
loaded after its SHA-256 matches the one its metadata records (and the user's code
archive its own), and after every module it references imports. Once loaded, the model
must answer its stored example rows through the same path requests take, with the
answers recorded when it was described, or it is not served: a model that loads but
cannot predict, or predicts otherwise, is unavailable, not healthy.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sklearn

from app.core.answers import first_difference, label_key, plain_values, predictions_json
from app.core.artifact import library_versions
from app.core.artifact_loader import (
    ModelUnavailable,
    import_references,
    load_artifact,
    use_code_archive,
    verify_sha256,
)
from app.core.input_health import health_check
from app.core.metadata import ModelMetadata
from app.core.model_input import PANDAS_MISSING, pandas_available, to_model_input
from app.core.pins import Pins, expected_code_sha256, expected_sha256
from app.core.schema import Schema
from app.core.validation import Problems, Rows, validate_rows

log = logging.getLogger(__name__)

# Why the model could not answer a row: a float overflow inside it; another non-finite
# value (an invalid operation such as log1p(-5), a division by zero, or NaN or an infinity
# in what it returned); or an exception for the row's values.
Refusal = Literal["overflow", "non_finite", "failure"]
NUMERIC_REFUSALS: dict[Refusal, str] = {
    "overflow": "numeric overflow",
    "non_finite": "a non-finite value (NaN or infinity)",
}


class _Overflow(FloatingPointError):
    """A float overflow inside the model."""


class _NonFinite(FloatingPointError):
    """An invalid float operation or a division by zero inside the model."""


# numpy's floating-point status bits, as its error callback receives them.
_OVERFLOW_BIT = 2


def _raise_float_error(kind: str, flag: int) -> None:
    # The status bits say which problem it was, without reading numpy's message.
    raise (_Overflow if flag & _OVERFLOW_BIT else _NonFinite)(kind)


# A non-finite value inside a model (1e308 scaled, log1p(-5)) must not turn into a silent
# NaN answer or a warning per request: it raises, and the rows are reported.
_STRICT_FLOATS = {"over": "call", "invalid": "call", "divide": "call"}


# What a model raises for values it cannot take (scikit-learn's ValueError for an unknown
# category or a NaN, a TypeError deeper down): the rows are refused with a 422. Anything
# else is a fault of the server or the model, answered 500 and logged whole.
_VALUE_FAILURES = (FloatingPointError, ValueError, TypeError)


__all__ = ["ModelUnavailable", "Outcome", "Predictor", "Refusal", "RowsRefused"]


class RowsRefused(Exception):
    """The model could not answer these rows: each row's index, and why (a failure's
    exception, the last one, is chained as the cause)."""

    def __init__(self, reasons: dict[int, Refusal]) -> None:
        self.reasons = dict(sorted(reasons.items()))
        self.rows = list(self.reasons)
        super().__init__(f"the model could not answer rows {self.rows}")

    def explained(self) -> str:
        """Why, in a phrase: the model's exception, or the numeric problems."""
        cause = self.__cause__
        if cause is not None:
            return f"{type(cause).__name__}: {cause}"
        return "; ".join(
            dict.fromkeys(
                NUMERIC_REFUSALS[reason] for reason in self.reasons.values() if reason != "failure"
            )
        )


@dataclass(frozen=True)
class Outcome:
    """What the model said, as numpy: predictions of shape (n,) or (n, outputs), and for a
    classifier asked for them, one probability matrix (n, classes) per output."""

    predictions: np.ndarray
    probabilities: list[np.ndarray] | None


class Predictor:
    """A verified estimator and what it expects; receives rows checked against its schema."""

    def __init__(self, estimator: Any, metadata: ModelMetadata) -> None:
        self.estimator = estimator
        self.metadata = metadata
        self.schema: Schema = metadata.schema
        self.features = metadata.features
        self.version = metadata.version
        self.is_classifier = metadata.task == "classification"
        self.supports_probabilities = self.is_classifier and hasattr(estimator, "predict_proba")
        # Probability columns follow the estimator's classes_, keyed as JSON strings.
        self.probability_keys = [[label_key(c) for c in output] for output in labels_of(estimator)]
        # Given only finite values the model's own finiteness scan is skipped; a model
        # that takes missing values keeps it, so NaN never passes where it is not allowed.
        self._assume_finite = not any(feature.nullable for feature in self.schema.features)
        # Counts per request against the training rows' statistics, when describe kept them.
        single_target_classes = metadata.classes if metadata.outputs is None else ()
        self.health = health_check(metadata.reference, self.schema, single_target_classes)
        if hasattr(estimator, "feature_names_in_") and metadata.schema.model_input != "dataframe":
            # Fitted on a DataFrame, served arrays in the same column order (checked at
            # load): scikit-learn's warning about it would otherwise come per request.
            warnings.filterwarnings(
                "ignore", message="X does not have valid feature names", category=UserWarning
            )

    @classmethod
    def load(
        cls,
        artifact_path: Path,
        metadata: ModelMetadata,
        pins: Pins | None = None,
        allow_version_mismatch: bool = False,
        code_archive: Path | None = None,
    ) -> Predictor:
        """Verify the artifact and its code archive against the metadata (and the pins, if
        any), check what it references imports, load it, and prove it on its example."""
        pins = pins or Pins()
        verify_sha256(
            artifact_path,
            expected_sha256(metadata, pins),
            what="model artifact",
            vouched_by=pins.artifact_vouched_by(),
            missing=ModelUnavailable(
                f"model artifact not found: {artifact_path.name}", str(artifact_path)
            ),
            advice=" (after retraining, describe the new artifact again: python -m model.describe)",
        )
        _check_versions(metadata, allow_version_mismatch)
        if metadata.schema.model_input == "dataframe" and not pandas_available():
            raise ModelUnavailable(PANDAS_MISSING)
        expected_code = expected_code_sha256(metadata, pins)
        if metadata.code is not None and expected_code is not None:
            archive = code_archive or artifact_path.parent / metadata.code.file
            use_code_archive(archive, expected_code, pins.code_vouched_by())
        import_references(metadata)
        estimator = load_artifact(
            artifact_path, metadata.format, metadata.trusted, allow_version_mismatch
        )
        _check_estimator(estimator, metadata)
        predictor = cls(estimator, metadata)
        predictor.prove()
        log.info(
            "loaded model %s %s (%s, %d features, %s) from %s",
            metadata.name,
            metadata.version,
            metadata.task,
            len(metadata.features),
            metadata.schema.model_input,
            artifact_path,
        )
        return predictor

    def prove(self) -> None:
        """Answer the example rows (or one row built from the schema) as a request would."""
        example = list(self.metadata.example) or [self.schema.placeholder_row()]
        problems = Problems()
        rows = validate_rows(example, lambda index: f"example[{index}]", self.schema, problems)
        if problems:
            first = problems.details()[0]
            raise ModelUnavailable(
                f"the metadata's example rows do not fit its own schema: {first.loc}: {first.msg}"
            )
        try:
            outcome = self.run(rows, with_probabilities=self.supports_probabilities)
        except RowsRefused as refused:
            raise ModelUnavailable(
                f"the model fails on its own example rows {refused.rows} "
                f"({refused.explained()}); "
                "describe it again with rows it can answer"
            ) from None
        outputs = self.metadata.outputs
        expected = (rows.count,) if outputs is None else (rows.count, len(outputs))
        if outcome.predictions.shape != expected:
            raise ModelUnavailable(
                f"the model answers its example rows with shape {outcome.predictions.shape}, "
                f"but its metadata describes {expected} ({len(outputs or ()) or 1} output(s))"
            )
        recorded = self.metadata.example_predictions
        if recorded is not None and self.metadata.example:
            answered = predictions_json(outcome.predictions, outputs)
            row = first_difference(answered, list(recorded))
            if row is not None:
                raise ModelUnavailable(
                    f"the model answers example row {row} with {answered[row]!r}, but it "
                    f"answered {recorded[row]!r} when it was described; the libraries that "
                    "load it here differ from the ones that described it"
                )

    def describe(self) -> dict[str, Any]:
        frame = self.schema.model_input == "dataframe"
        return {**self.metadata.to_document(), "serving_with": library_versions(frame)}

    def run(self, rows: Rows, with_probabilities: bool = False) -> Outcome:
        """Predict for validated rows; RowsRefused names the rows the model cannot answer."""
        model_input = to_model_input(rows, self.schema)
        predictions = self._compute(self.estimator.predict, model_input, rows.count)
        if predictions.ndim == 2 and predictions.shape[1] == 1 and not self.metadata.outputs:
            predictions = predictions[:, 0]  # one target, returned as a column
        probabilities = None
        if with_probabilities:
            probabilities = self._each(self.estimator.predict_proba, model_input, rows.count)
        return Outcome(predictions, probabilities)

    def _each(self, method: Callable[[Any], Any], model_input: Any, count: int) -> list[np.ndarray]:
        # A multi-output classifier gives one matrix per output, as a list.
        output = self._call(method, model_input, count)
        matrices = output if isinstance(output, list) else [output]
        return [_finite(np.asarray(matrix), count) for matrix in matrices]

    def _compute(self, method: Callable[[Any], Any], model_input: Any, count: int) -> np.ndarray:
        return _finite(np.asarray(self._call(method, model_input, count)), count)

    def _call(self, method: Callable[[Any], Any], model_input: Any, count: int) -> Any:
        """Run a model method; on failure, find the rows to blame one by one."""
        with (
            sklearn.config_context(assume_finite=self._assume_finite),
            np.errstate(call=_raise_float_error, **_STRICT_FLOATS),  # type: ignore[arg-type]
        ):
            try:
                return method(model_input)
            except _VALUE_FAILURES:
                return _row_by_row(method, model_input, count)


def _finite(output: np.ndarray, count: int) -> np.ndarray:
    if output.dtype.kind in "fc":
        finite = np.isfinite(output.reshape(count, -1)).all(axis=1)
        if not finite.all():
            raise RowsRefused(dict.fromkeys(np.flatnonzero(~finite).tolist(), "non_finite"))
    return output


def _row_by_row(method: Callable[[Any], Any], model_input: Any, count: int) -> Any:
    """The slow path, taken only after a batch failed: blame rows, or answer without the batch.

    Near the float64 limit a batch can overflow where each of its rows alone does not (BLAS
    sums a matrix product in another order than a vector product): then each row's own
    answer is the batch's answer, as it would have been had the rows come one at a time.
    """
    outputs: list[Any] = []
    reasons: dict[int, Refusal] = {}
    last_failure: Exception | None = None
    for index in range(count):
        try:
            outputs.append(method(_row(model_input, index)))
        except _Overflow:
            reasons[index] = "overflow"
        except FloatingPointError:  # ours, or one the model raised under its own errstate
            reasons[index] = "non_finite"
        except _VALUE_FAILURES as error:  # the model's own refusal of this row's values
            reasons[index] = "failure"
            last_failure = error
    if reasons:
        raise RowsRefused(reasons) from last_failure
    if isinstance(outputs[0], list):  # one matrix per output, for each row
        return [np.concatenate(parts) for parts in zip(*outputs, strict=True)]
    return np.concatenate([np.asarray(output) for output in outputs])


def _row(model_input: Any, index: int) -> Any:
    if hasattr(model_input, "iloc"):
        return model_input.iloc[index : index + 1]
    return model_input[index : index + 1]


def _check_versions(metadata: ModelMetadata, allow_mismatch: bool) -> None:
    trained = metadata.trained_with.get("scikit-learn")
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


def labels_of(estimator: Any) -> list[list[Any]]:
    """The class labels of each output, as plain values: one list, or one per output."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return []
    if isinstance(classes, list):  # a multi-output classifier
        return [plain_values(np.asarray(labels)) for labels in classes]
    return [plain_values(np.asarray(classes))]


def _check_estimator(estimator: Any, metadata: ModelMetadata) -> None:
    if not hasattr(estimator, "predict"):
        raise ModelUnavailable(f"artifact holds a {type(estimator).__name__}, not an estimator")
    names = list(metadata.features)
    if metadata.schema.model_input != "text":
        expected = getattr(estimator, "n_features_in_", None)
        if expected is not None and expected != len(names):
            raise ModelUnavailable(
                f"estimator expects {expected} features, metadata lists {len(names)}"
            )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and list(fitted_names) != names:
        raise ModelUnavailable(
            f"estimator was fitted on features {list(fitted_names)}, metadata lists {names}"
        )
    if metadata.task != "classification":
        return
    labels = [[str(label) for label in output] for output in labels_of(estimator)]
    if metadata.outputs is None:
        described = [[str(label) for label in metadata.classes]]
    else:
        described = [[str(label) for label in output.classes] for output in metadata.outputs]
    if labels != described:
        shown = labels[0] if len(labels) == 1 else labels
        listed = described[0] if len(described) == 1 else described
        raise ModelUnavailable(f"estimator classes {shown} differ from metadata classes {listed}")
