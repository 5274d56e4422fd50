"""What every protocol shares once its body is decoded: the model, the rows' checks, the
prediction, and the 422 that names the rows a model could not answer.

A protocol turns its body into rows (each with its place in that body), calls
`predict` and encodes the Outcome; validation and prediction are written only here
and in app.core.validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from flask import Flask

from app.core.errors import ApiError, Detail
from app.core.predictor import Outcome, Predictor, Refusal, RowsRefused
from app.core.validation import MAX_DETAILS, Problems, Rows
from app.http.access_log import note_input_health, note_model, note_rows
from app.http.answer_size import Answers, rows_that_fit
from app.http.capture import note_prediction
from app.http.components import install, part_of
from app.http.shadow import note_shadow_input
from app.service.model_slot import ModelSlot
from app.service.settings import Settings

log = logging.getLogger(__name__)


MODEL_OVERFLOW = "the model cannot compute a finite result for these values (numeric overflow)"
MODEL_NON_FINITE = "the model produced a non-finite value (NaN or infinity) for these values"
MODEL_FAILED = "the model could not predict for these values"
_REFUSALS: dict[Refusal, str] = {
    "overflow": MODEL_OVERFLOW,
    "non_finite": MODEL_NON_FINITE,
    "failure": MODEL_FAILED,
}


def model_slot() -> ModelSlot:
    return part_of(ModelSlot)


def current_predictor() -> Predictor:
    """The loaded model, or a 503 saying why there is none."""
    slot = model_slot()
    predictor = slot.current()
    if predictor is None:
        raise ApiError("model_unavailable", f"The model is not available: {slot.reason}")
    note_model(predictor.version)
    return predictor


def read_by_loaded_model[T](read: Callable[[Predictor], T | None]) -> tuple[Predictor, T] | None:
    """The loaded model and what `read` makes of the body with it; None when no model is
    loaded or `read` declines. A protocol's typed reading of a valid body (one pass, see
    app.core.typed_rows) goes first; None leaves the body to its general path, which
    refuses in its own order: a body that is not JSON before a missing model."""
    predictor = model_slot().current()
    if predictor is None:
        return None
    result = read(predictor)
    if result is None:
        return None
    note_model(predictor.version)
    return predictor, result


@dataclass(frozen=True)
class ProtocolAnswers:
    """Every protocol's answers to a batch, which every model's row limit is measured on."""

    answers: tuple[Answers, ...]


def register_answers(app: Flask, answers: Sequence[Answers]) -> None:
    """The protocols' answers, which every model's row limit is measured on."""
    install(app, ProtocolAnswers(tuple(answers)))


def batch_limit(predictor: Predictor) -> int:
    """The most rows one request may hold for this model: MAX_BATCH_ROWS, or fewer when
    the largest answer to that many would not fit through Lambda. At least one: a model
    whose every answer is that large still answers a row at a time."""
    answers = part_of(ProtocolAnswers).answers
    settings_limit = part_of(Settings).max_batch_rows
    return max(1, min(settings_limit, _rows_that_fit(predictor, answers)))


@lru_cache(maxsize=8)
def _rows_that_fit(predictor: Predictor, answers: tuple[Answers, ...]) -> int:
    # Once per loaded model; the warm-up request pays for it while the app is built.
    return rows_that_fit(predictor, answers)


def check_row_count(count: int, limit: int, loc: str, problems: Problems) -> bool:
    """Whether a batch of `count` rows may be validated: at least 1 (else a problem at
    `loc`). More than `limit` is refused at once, a 413 like a body over its size."""
    if count == 0:
        problems.add(loc, "expected at least 1 row, got none")
        return False
    if count > limit:
        # Checked before the rows: an oversized batch is not worth validating.
        most = f"{limit} row{'' if limit == 1 else 's'}"
        raise ApiError(
            "too_many_rows",
            f"The batch is larger than the limit of {most}.",
            [Detail(loc, f"expected at most {most}, got {count}")],
        )
    return True


def predict(
    predictor: Predictor,
    rows: Rows,
    row_loc: Callable[[int], str],
    with_probabilities: bool = False,
) -> Outcome:
    """Predict validated rows; rows the model itself refuses are a 422 naming them."""
    try:
        outcome = predictor.run(rows, with_probabilities=with_probabilities)
    except RowsRefused as refused:
        if refused.__cause__ is not None:
            # The type only: the model's message may quote the request's values.
            log.warning(
                "the model refused %d valid row(s): %s",
                list(refused.reasons.values()).count("failure"),
                type(refused.__cause__).__name__,
            )
        problems = Problems()
        for row, why in refused.reasons.items():
            problems.add(row_loc(row), _REFUSALS[why], row)
        raise invalid(problems) from None
    note_rows(rows.count)
    if predictor.health is not None:
        note_input_health(predictor.health.measure(rows, outcome.predictions))
    note_prediction(predictor, rows, outcome)
    note_shadow_input(rows, outcome)
    return outcome


def invalid(found: Problems | Sequence[Detail]) -> ApiError:
    """The input does not fit the model: the first MAX_DETAILS problems, in reading order."""
    if isinstance(found, Problems):
        problems = found
    else:
        problems = Problems()
        for detail in found:
            problems.add(detail.loc, detail.msg)
    details = problems.details()
    if problems.more_than_kept:
        message = (
            f"The input does not fit the model: more than {MAX_DETAILS} problems; "
            f"the first {MAX_DETAILS} are listed."
        )
    else:
        count = len(details)
        message = f"The input does not fit the model: {count} problem{'s' if count > 1 else ''}."
    return ApiError("invalid_input", message, details)
