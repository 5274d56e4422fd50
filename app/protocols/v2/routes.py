"""The Open Inference Protocol V2 (KServe, MLServer, Triton), REST, with Triton's binary
tensor extension: what tritonclient and the kserve client send by default.

Its routes: server metadata, liveness and readiness, the model's metadata and readiness,
and inference. An infer request holds either one tensor of shape [rows, features] of a
numeric datatype, for a model whose features are all numbers, or one input per feature
named after it (columnar, as MLServer's pandas codec sends a DataFrame; a date-time
feature as BYTES of ISO 8601 text). Its body is read and made rows in
app.protocols.v2.decoding, each value placed in this body (`inputs[1].data[7]`); its
answer is written in app.protocols.v2.encoding.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.core.decoding import parse_json
from app.core.errors import ApiError, cut
from app.core.predictor import Predictor
from app.http.access_log import note_error
from app.http.components import part_of
from app.http.server_info import SERVER_NAME, SERVER_VERSION
from app.http.serving import (
    batch_limit,
    current_predictor,
    model_slot,
    predict,
    read_by_loaded_model,
)
from app.protocols.protocol import Protocol
from app.protocols.v2.decoding import (
    PREDICT_PROBA,
    parse_infer_request,
    split_body,
    typed_infer_request,
)
from app.protocols.v2.encoding import batch_answers, encoded_answer, model_metadata_document
from app.protocols.v2.tensors import BINARY_HEADER, EXTENSION
from app.service.settings import Settings

blueprint = Blueprint("v2", __name__, url_prefix="/v2")


@blueprint.get("")
def server_metadata() -> Response:
    return jsonify(name=SERVER_NAME, version=SERVER_VERSION, extensions=[EXTENSION])


@blueprint.get("/health/live")
def live() -> Response:
    return jsonify(live=True)


@blueprint.get("/health/ready")
def ready() -> tuple[Response, int]:
    slot = model_slot()
    if slot.current() is None:
        note_error("model_unavailable")
        return jsonify(ready=False, error=f"The model is not available: {slot.reason}"), 503
    return jsonify(ready=True), 200


@blueprint.get("/models/<name>")
@blueprint.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> Response:
    predictor = _model(name, version)
    return jsonify(model_metadata_document(predictor, batch_limit(predictor)))


@blueprint.get("/models/<name>/ready")
@blueprint.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    predictor = _model(name, version)
    return jsonify(name=predictor.metadata.name, ready=True)


@blueprint.post("/models/<name>/infer")
@blueprint.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    header, tensors = split_body(request)
    typed = read_by_loaded_model(
        lambda loaded: (
            typed_infer_request(header, tensors, loaded, batch_limit(loaded))
            if _serves(loaded, name, version)
            else None
        )
    )
    if typed is not None:
        predictor, parsed = typed
    else:
        payload = parse_json(header, part_of(Settings).max_json_depth)
        predictor = _model(name, version)
        parsed = parse_infer_request(
            payload,
            tensors,
            predictor,
            batch_limit(predictor),
            part_of(Settings).max_content_length,
        )
    outcome = predict(
        predictor,
        parsed.rows,
        parsed.row_loc,
        with_probabilities=any(output == PREDICT_PROBA for output, _ in parsed.outputs),
    )
    answer, header_length = encoded_answer(predictor, parsed.outputs, parsed.id, outcome)
    response = Response(answer.body, mimetype=answer.media_type)
    if header_length is not None:
        response.headers[BINARY_HEADER] = str(header_length)
    return response


def _serves(predictor: Predictor, name: str, version: str | None) -> bool:
    return name == predictor.metadata.name and version in (None, predictor.version)


def _model(name: str, version: str | None) -> Predictor:
    predictor = current_predictor()
    served = predictor.metadata.name
    if name != served:
        raise ApiError("not_found", f"No model named {cut(name)!r}; this server serves {served!r}.")
    if version is not None and version != predictor.version:
        raise ApiError(
            "not_found",
            f"No version {cut(version)!r} of {served!r}; this server serves {predictor.version!r}.",
        )
    return predictor


def _error_shape(error: ApiError) -> tuple[object, int]:
    message = error.bounded_message
    if error.details:
        message += " " + "; ".join(f"{d.loc}: {d.msg}" for d in error.bounded_details)
    body: dict[str, object] = {"error": message}
    if error.details:
        body["details"] = error.details_json()
    return body, 400 if error.code == "invalid_input" else error.status


V2 = Protocol("v2", blueprint, ("/v2",), _error_shape, batch_answers, ("v2.infer",))
