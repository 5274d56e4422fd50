"""Serves the OpenAPI document at /openapi.json, built once per loaded model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from app.auth.api_keys import api_keys_required
from app.core.answers import json_body
from app.core.decoding import JSON_TYPE
from app.core.predictor import Predictor
from app.http.access_log import note_model
from app.http.components import install, part_of
from app.http.serving import batch_limit, model_slot
from app.openapi.document import PartOf, build_openapi
from app.service.settings import Settings

blueprint = Blueprint("openapi", __name__)


@dataclass(frozen=True)
class OpenApiParts:
    """Each protocol's part of the document, in the order its tags are listed."""

    parts: tuple[PartOf, ...]


def init_openapi(app: Flask, parts: Sequence[PartOf]) -> None:
    install(app, OpenApiParts(tuple(parts)))
    app.register_blueprint(blueprint)


@blueprint.get("/openapi.json")
def openapi() -> Response:
    # The server URL is where this request came in: behind API Gateway that
    # includes the stage or base path, so generated clients call the right URL.
    body = _encoded(*_document_for_request(), request.script_root or "/")
    return Response(body, mimetype=JSON_TYPE)


def openapi_document() -> dict[str, Any]:
    """The document for the model this request is served by (without `servers`)."""
    return _document(*_document_for_request())


def _document_for_request() -> tuple[OpenApiParts, Predictor | None, int, bool]:
    """What the document depends on: the parts, the model serving this request, its
    row limit and whether keys are required."""
    predictor = model_slot().current()
    if predictor is not None:
        note_model(predictor.version)  # the document describes this model's inputs
    max_rows = part_of(Settings).max_batch_rows if predictor is None else batch_limit(predictor)
    return part_of(OpenApiParts), predictor, max_rows, api_keys_required(current_app)


@lru_cache(maxsize=8)
def _document(
    parts: OpenApiParts, predictor: Predictor | None, max_rows: int, api_key_required: bool
) -> dict[str, Any]:
    # Built once per model: a model that loads after a failed start gets its own.
    return build_openapi(parts.parts, predictor, max_rows, api_key_required)


@lru_cache(maxsize=8)
def _encoded(
    parts: OpenApiParts,
    predictor: Predictor | None,
    max_rows: int,
    api_key_required: bool,
    server_url: str,
) -> bytes:
    # Written once per model and base path: a wide model's document is megabytes, and
    # writing it on every GET took as much time and memory again.
    document = _document(parts, predictor, max_rows, api_key_required)
    return json_body({**document, "servers": [{"url": server_url}]})
