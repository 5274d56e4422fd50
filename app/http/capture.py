"""Sampled capture: what the model was asked and what it answered, one JSON record per
sampled prediction request, written to stdout beside the request's log line.

Off by default (CAPTURE_SAMPLE_RATE 0): then no hook is installed, and a prediction pays
one lookup of whether it is captured. Whether a request is captured is drawn when it
arrives at a prediction route, so refused requests are sampled at the same rate as
answered ones; a refused request's record holds its status and error code and none of
its values. An answered one's holds its validated rows keyed by feature name, masked as
configured (app.core.captured_rows), and the predictions of those rows (with the
probabilities, when they were asked for); when a shadow model answered too, the rows on
which it disagreed, with both answers (or why it failed).
A record holds at most CAPTURE_MAX_ROWS rows and MAX_RECORD_BYTES bytes; the rows left
out are counted in it.

Nothing here calls AWS: on Lambda the record is a line in the function's log stream,
where a subscription filter can select it by its "record" member.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Flask, Response, g, request

from app.core.answers import json_text, predictions_json, probabilities_json
from app.core.captured_rows import RECORD_KIND, Masking, MaskingError, row_records
from app.core.predictor import Outcome, Predictor
from app.core.schema import Schema
from app.core.shadow import Comparison, take
from app.core.validation import Rows
from app.http.access_log import write_line
from app.http.body import unproxied
from app.http.components import install, part_of
from app.http.warm_up import is_warm_up
from app.service.model_slot import ModelSlot

log = logging.getLogger(__name__)

# CloudWatch Logs takes events of up to 256 KiB; a record stays well within.
MAX_RECORD_BYTES = 200_000


@dataclass(frozen=True)
class Capture:
    rate: float
    masking: Masking
    max_rows: int
    prediction_endpoints: frozenset[str]
    protocol_of: Callable[[str], str]
    draw: Callable[[], float]  # uniform in [0, 1): random.random, seeded in tests


@dataclass(frozen=True)
class _Prediction:
    predictor: Predictor
    rows: Rows
    outcome: Outcome


def init_capture(
    app: Flask,
    rate: float,
    masking: Masking,
    max_rows: int,
    prediction_endpoints: frozenset[str],
    protocol_of: Callable[[str], str],
    draw: Callable[[], float] = random.random,
) -> None:
    """Capture a share `rate` of prediction requests. Call before the request log is
    set up: hooks after a request run in reverse, and the record takes the latency
    the request line measured."""
    if rate <= 0:
        return
    install(app, Capture(rate, masking, max_rows, prediction_endpoints, protocol_of, draw))
    app.before_request(_sample)
    app.after_request(_write_record)


def _sample() -> None:
    capture = part_of(Capture)
    # POST only: a CORS preflight shares its route's endpoint and predicts nothing.
    if (
        request.method == "POST"
        and request.endpoint in capture.prediction_endpoints
        and capture.draw() < capture.rate
    ):
        g.captured = True


def note_prediction(predictor: Predictor, rows: Rows, outcome: Outcome) -> None:
    """What a captured request's model was handed and answered; nothing otherwise."""
    if g.get("captured"):
        g.capture_prediction = _Prediction(predictor, rows, outcome)


def _write_record(response: Response) -> Response:
    state = g._get_current_object()
    req = unproxied(request)
    if not state.get("captured") or is_warm_up(req):
        return response
    capture = part_of(Capture)
    prediction: _Prediction | None = state.get("capture_prediction")
    # The slot's model as it is: current() could start a load, here after the answer.
    predictor = part_of(ModelSlot).predictor if prediction is None else prediction.predictor
    status = response.status_code
    record: dict[str, Any] = {
        "record": RECORD_KIND,
        "request_id": state.get("request_id"),
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "protocol": capture.protocol_of(req.path),
        "model_name": None if predictor is None else predictor.metadata.name,
        "model_version": state.get("model_version"),
        "status": status,
        "error_code": state.get("error_code") if status >= 400 else None,
        "latency_ms": state.get("latency_ms"),
    }
    if prediction is None or status >= 400:
        write_line(json_text(record))  # refused: no values, whatever the body held
    elif (unfit := _masking_misfit(capture.masking, prediction.predictor.schema)) is not None:
        # A model loaded after start-up whose features the masking does not name: no
        # values rather than values unmasked.
        log.error("capture record written without its rows: %s", unfit)
        write_line(json_text(record))
    else:
        if (health := state.get("input_health")) is not None:
            # Per feature: the counts the metrics leave out, to keep their series few;
            # an excluded feature not even by name.
            counts = _unmasked_counts(health.features, capture.masking.exclude)
            if counts:
                record["input_health"] = counts
        comparison: Comparison | None = state.get("shadow_comparison")
        write_line(_with_rows(record, prediction, capture, comparison))
    return response


def _unmasked_counts(
    features: dict[str, dict[str, int]], excluded: frozenset[str]
) -> dict[str, dict[str, int]]:
    if not excluded:
        return features
    kept = {
        kind: {n: c for n, c in counts.items() if n not in excluded}
        for kind, counts in features.items()
    }
    return {kind: counts for kind, counts in kept.items() if counts}


@lru_cache(maxsize=8)
def _masking_misfit(masking: Masking, schema: Schema) -> str | None:
    try:
        masking.check(schema)
    except MaskingError as error:
        return str(error)
    return None


def _with_rows(
    record: dict[str, Any],
    prediction: _Prediction,
    capture: Capture,
    comparison: Comparison | None,
) -> str:
    """The record with as many rows as fit: at most max_rows, and MAX_RECORD_BYTES; as
    many of the rows the shadow disagreed on."""
    total = prediction.rows.count
    count = min(total, capture.max_rows)
    while True:
        part = _rows_part(prediction, capture.masking, count)
        if comparison is not None:
            part["shadow"] = _shadow_part(comparison, prediction, capture.masking, count)
        text = json_text({**record, **part})
        if len(text) <= MAX_RECORD_BYTES or count == 0:
            return text
        # Fewer rows, in proportion to the excess: a few tries at most.
        count = min(count - 1, count * MAX_RECORD_BYTES // len(text))


def _rows_part(prediction: _Prediction, masking: Masking, count: int) -> dict[str, Any]:
    predictor, rows, outcome = prediction.predictor, prediction.rows, prediction.outcome
    outputs = predictor.metadata.outputs
    part: dict[str, Any] = {
        "rows_total": rows.count,
        "rows_omitted": rows.count - count,
        "rows": row_records(rows, predictor.schema, masking, count),
        "predictions": predictions_json(outcome.predictions[:count], outputs),
    }
    if outcome.probabilities is not None:
        part["probabilities"] = probabilities_json(
            [matrix[:count] for matrix in outcome.probabilities],
            predictor.probability_keys,
            outputs,
        )
    return part


def _shadow_part(
    comparison: Comparison, prediction: _Prediction, masking: Masking, count: int
) -> dict[str, Any]:
    """The shadow's side: its failure, or the first `count` rows it disagreed on, each
    with its masked values and both answers."""
    if comparison.disagreeing is None or comparison.predictions is None:
        return {"model_version": comparison.model_version, "error": comparison.error}
    disagreeing = comparison.disagreeing
    kept = disagreeing[:count]
    predictor, rows = prediction.predictor, prediction.rows
    outputs = predictor.metadata.outputs
    values = row_records(take(rows, kept), predictor.schema, masking, len(kept))
    live = predictions_json(prediction.outcome.predictions[kept], outputs)
    shadow = predictions_json(comparison.predictions[kept], outputs)
    return {
        "model_version": comparison.model_version,
        "rows_disagreeing": len(disagreeing),
        "disagreeing": [
            {"row": row, "values": row_values, "live": ours, "shadow": theirs}
            for row, row_values, ours, theirs in zip(
                kept.tolist(), values, live, shadow, strict=True
            )
        ],
    }
