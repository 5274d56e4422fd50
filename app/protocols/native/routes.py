"""The native protocol: /predict, /health and /model.

/predict takes `features` (one row) or `instances` (a batch), with optional
`return_probabilities`, read into rows by app.protocols.native.decoding, and answers the
predictions (and probabilities when asked for) with the model's version.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.core.answers import answer_body, json_body, predictions_json, probabilities_json
from app.core.decoding import JSON_TYPE, parse_json
from app.core.errors import ApiError
from app.core.predictor import Outcome, Predictor
from app.http.access_log import note_error, note_model
from app.http.answer_size import LISTED, Encoded, fits
from app.http.body import read_json_body
from app.http.components import part_of
from app.http.serving import (
    batch_limit,
    current_predictor,
    model_slot,
    predict,
    read_by_loaded_model,
)
from app.http.shadow import ShadowRuns
from app.protocols.native.decoding import (
    InputSchema,
    parse_predict_request,
    typed_predict_request,
)
from app.protocols.protocol import Protocol
from app.service.settings import Settings

blueprint = Blueprint("native", __name__)


@blueprint.post("/predict")
def predict_route() -> Response:
    body = read_json_body(request)
    typed = read_by_loaded_model(lambda loaded: typed_predict_request(body, _expected(loaded)))
    if typed is not None:
        predictor, parsed = typed
    else:
        payload = parse_json(body, part_of(Settings).max_json_depth)
        predictor = current_predictor()
        parsed = parse_predict_request(payload, _expected(predictor))
    outcome = predict(predictor, parsed.rows, parsed.row_loc, parsed.return_probabilities)
    answer = predict_answer(predictor, outcome, parsed.batch)
    return Response(answer_body(answer), mimetype=JSON_TYPE)


def _expected(predictor: Predictor) -> InputSchema:
    return InputSchema(
        schema=predictor.schema,
        supports_probabilities=predictor.supports_probabilities,
        max_rows=batch_limit(predictor),
    )


def predict_answer(predictor: Predictor, outcome: Outcome, batch: bool) -> dict[str, Any]:
    """The answer's body: the predictions (of a batch, or of its one row), then the
    probabilities when asked for, and the model's version."""
    outputs = predictor.metadata.outputs
    predictions = predictions_json(outcome.predictions, outputs)
    body: dict[str, Any] = {"predictions": predictions} if batch else {"prediction": predictions[0]}
    if outcome.probabilities is not None:
        probabilities = probabilities_json(
            outcome.probabilities, predictor.probability_keys, outputs
        )
        body["probabilities"] = probabilities if batch else probabilities[0]
    body["model_version"] = predictor.version
    return body


def _batch_answers(predictor: Predictor, outcome: Outcome) -> list[Encoded]:
    """A batch's answers, with the probabilities the outcome holds and without them."""
    return [
        Encoded(json_body(predict_answer(predictor, answered, batch=True)), JSON_TYPE)
        for answered in (outcome, Outcome(outcome.predictions, None))
    ]


@blueprint.get("/health")
def health() -> tuple[Response, int]:
    """200 once the model is loaded; the liveness and readiness check of this protocol,
    and MLflow's and SageMaker's /health too."""
    slot = model_slot()
    predictor = slot.current()
    if predictor is None:
        note_error("model_unavailable")
        return jsonify(status="unavailable", reason=slot.reason), 503
    note_model(predictor.version)
    return jsonify(status="ok", model_version=predictor.version), 200


@blueprint.get("/model")
def model() -> Response:
    predictor = current_predictor()
    document = _model_document(predictor, batch_limit(predictor))
    shadow = part_of(ShadowRuns).slot
    if shadow is not None:  # only with a shadow: without one, the document is as it was
        document = {**document, "shadow": shadow.describe()}
    return jsonify(document)


@lru_cache(maxsize=8)
def _model_document(predictor: Predictor, max_rows: int) -> dict[str, Any]:
    """The model's metadata, the versions serving it and its row limit; if that would
    not fit through Lambda, each list of more than LISTED categories cut to its first
    LISTED, with `categories_total` saying how many there are."""
    document = {**predictor.describe(), "max_batch_rows": max_rows}
    if fits(document):
        return document
    features = [
        {**feature, "categories": feature["categories"][:LISTED], "categories_total": count}
        if (count := len(feature.get("categories") or ())) > LISTED
        else feature
        for feature in document["features"]
    ]
    return {**document, "features": features}


def _error_shape(error: ApiError) -> tuple[object, int]:
    body: dict[str, object] = {"code": error.code, "message": error.bounded_message}
    if error.details:
        body["details"] = error.details_json()
    return {"error": body}, error.status


# Everything no other protocol owns is native: "/" covers every path.
NATIVE = Protocol(
    "native", blueprint, ("",), _error_shape, _batch_answers, ("native.predict_route",)
)
