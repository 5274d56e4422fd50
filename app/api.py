"""The routes: /predict, /health, /model, /openapi.json."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app.answers import predictions_json, probabilities_json
from app.api_keys import api_keys_required
from app.body import read_json
from app.errors import ApiError
from app.model_slot import ModelSlot
from app.openapi import build_openapi
from app.predict_request import (
    MODEL_FAILED,
    MODEL_OVERFLOW,
    InputSchema,
    parse_predict_request,
    rows_refused,
)
from app.predictor import Predictor, RowsRefused
from app.request_log import note_error, note_model, note_rows

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)


def _slot() -> ModelSlot:
    slot: ModelSlot = current_app.extensions["model_slot"]
    return slot


def _predictor() -> Predictor:
    slot = _slot()
    predictor = slot.current()
    if predictor is None:
        raise ApiError(503, "model_unavailable", f"The model is not available: {slot.reason}")
    note_model(predictor.version)
    return predictor


@api.post("/predict")
def predict() -> Response:
    payload = read_json(request, current_app.config["MAX_JSON_DEPTH"])
    predictor = _predictor()
    expected = InputSchema(
        schema=predictor.schema,
        supports_probabilities=predictor.supports_probabilities,
        max_rows=current_app.config["MAX_BATCH_ROWS"],
    )
    parsed = parse_predict_request(payload, expected)

    try:
        outcome = predictor.run(parsed.rows, with_probabilities=parsed.return_probabilities)
    except RowsRefused as refused:
        if not refused.overflow:
            # The type only: the model's message may quote the request's values.
            log.warning(
                "the model refused %d valid row(s): %s",
                len(refused.rows),
                type(refused.__cause__).__name__,
            )
        why = MODEL_OVERFLOW if refused.overflow else MODEL_FAILED
        raise rows_refused(refused.rows, parsed.batch, why) from None

    outputs = predictor.metadata.outputs
    predictions = predictions_json(outcome.predictions, outputs)
    body: dict[str, Any] = (
        {"predictions": predictions} if parsed.batch else {"prediction": predictions[0]}
    )
    if outcome.probabilities is not None:
        probabilities = probabilities_json(
            outcome.probabilities, predictor.probability_keys, outputs
        )
        body["probabilities"] = probabilities if parsed.batch else probabilities[0]
    body["model_version"] = predictor.version
    note_rows(len(predictions))
    return jsonify(body)


@api.get("/health")
def health() -> tuple[Response, int]:
    slot = _slot()
    predictor = slot.current()
    if predictor is None:
        note_error("model_unavailable")
        return jsonify(status="unavailable", reason=slot.reason), 503
    note_model(predictor.version)
    return jsonify(status="ok", model_version=predictor.version), 200


@api.get("/model")
def model() -> Response:
    return jsonify(_predictor().describe())


@api.get("/openapi.json")
def openapi() -> Response:
    # The server URL is where this request came in: behind API Gateway that
    # includes the stage or base path, so generated clients call the right URL.
    server = {"url": request.script_root or "/"}
    predictor = _slot().current()
    if predictor is not None:
        note_model(predictor.version)  # the document describes this model's inputs
    document = _document(
        predictor, current_app.config["MAX_BATCH_ROWS"], api_keys_required(current_app)
    )
    return jsonify({**document, "servers": [server]})


@lru_cache(maxsize=8)
def _document(
    predictor: Predictor | None, max_batch_rows: int, api_key_required: bool
) -> dict[str, Any]:
    # Built once per model: a model that loads after a failed start gets its own.
    return build_openapi(predictor, max_batch_rows, api_key_required)
