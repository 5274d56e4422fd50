"""MLflow's scoring protocol: /invocations, /ping and /version, as `mlflow models serve`
and SageMaker answer them (/health is the native one, which answers the same way).

/invocations takes a JSON body in one of MLflow's input formats or a CSV body, read into
rows by app.protocols.mlflow.decoding, and answers `{"predictions": [...]}`; errors
carry MLflow's error codes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from flask import request as flask_request

from app.core.answers import answer_body, json_body, predictions_json
from app.core.decoding import JSON_TYPE, parse_csv, parse_json
from app.core.errors import ApiError, cut
from app.core.predictor import Outcome, Predictor
from app.http.answer_size import Encoded
from app.http.body import media_type, read_body, unproxied
from app.http.components import part_of
from app.http.server_info import SERVER_VERSION
from app.http.serving import batch_limit, current_predictor, predict, read_by_loaded_model
from app.protocols.mlflow.decoding import (
    CSV_TYPE,
    csv_rows,
    json_rows,
    nan_is_missing,
    typed_json_rows,
)
from app.protocols.native.routes import health
from app.protocols.protocol import Protocol
from app.service.settings import Settings

# MLflow's error codes (its ErrorCode names) for ours; its statuses are ours, except
# that input which does not fit is a 400, as MLflow answers it.
_MLFLOW_CODES = {
    "bad_request": "BAD_REQUEST",
    "invalid_json": "BAD_REQUEST",
    "invalid_input": "BAD_REQUEST",
    "unsupported_media_type": "BAD_REQUEST",
    "method_not_allowed": "BAD_REQUEST",
    "unauthorized": "UNAUTHENTICATED",
    "not_found": "ENDPOINT_NOT_FOUND",
    "payload_too_large": "REQUEST_LIMIT_EXCEEDED",
    "too_many_rows": "REQUEST_LIMIT_EXCEEDED",
    "internal_error": "INTERNAL_ERROR",
    "model_unavailable": "TEMPORARILY_UNAVAILABLE",
}

blueprint = Blueprint("mlflow", __name__)


@blueprint.post("/invocations")
def invocations() -> Response:
    request = unproxied(flask_request)
    kind = media_type(request, (JSON_TYPE, CSV_TYPE))
    # As MLflow 2 and later: MLflow 1's format=pandas-split and the like are refused.
    others = sorted(set(request.mimetype_params) - {"charset"})
    if others:
        raise ApiError(
            "unsupported_media_type",
            f"Content-Type takes no parameter but charset=utf-8; got {cut(', '.join(others))}.",
        )
    body = read_body(request)
    if kind == CSV_TYPE:
        header, records, count = parse_csv(body, part_of(Settings).max_batch_rows)
        predictor = current_predictor()
        rows, row_loc = csv_rows(header, records, predictor.schema, batch_limit(predictor), count)
    else:
        typed = read_by_loaded_model(
            lambda loaded: typed_json_rows(body, loaded.schema, batch_limit(loaded))
        )
        if typed is not None:
            predictor, (rows, row_loc) = typed
        else:
            payload = parse_json(body, part_of(Settings).max_json_depth, nan_is_missing)
            predictor = current_predictor()
            rows, row_loc = json_rows(payload, predictor.schema, batch_limit(predictor))
    outcome = predict(predictor, rows, row_loc)
    return Response(answer_body(_predictions(predictor, outcome)), mimetype=JSON_TYPE)


def _predictions(predictor: Predictor, outcome: Outcome) -> dict[str, Any]:
    return {"predictions": predictions_json(outcome.predictions, predictor.metadata.outputs)}


def _answers(predictor: Predictor, outcome: Outcome) -> list[Encoded]:
    return [Encoded(json_body(_predictions(predictor, outcome)), JSON_TYPE)]


@blueprint.get("/ping")
def ping() -> tuple[Response, int]:
    return health()


@blueprint.get("/version")
def version() -> Response:
    # MLflow answers its own version as the bare body; this is the server's.
    return Response(SERVER_VERSION, mimetype="text/plain")


def _error_shape(error: ApiError) -> tuple[object, int]:
    body: dict[str, object] = {
        "error_code": _MLFLOW_CODES[error.code],
        "message": error.bounded_message,
    }
    if error.details:
        body["details"] = error.details_json()
    return body, 400 if error.code == "invalid_input" else error.status


MLFLOW = Protocol(
    "mlflow",
    blueprint,
    ("/invocations", "/ping", "/version"),
    _error_shape,
    _answers,
    ("mlflow.invocations",),
)
