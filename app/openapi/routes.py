"""Serves the OpenAPI document at /openapi.json, built once per loaded model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.auth.api_keys import api_keys_required
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
    server = {"url": request.script_root or "/"}
    return jsonify({**openapi_document(), "servers": [server]})


def openapi_document() -> dict[str, Any]:
    """The document for the model this request is served by (without `servers`)."""
    predictor = model_slot().current()
    if predictor is not None:
        note_model(predictor.version)  # the document describes this model's inputs
    max_rows = part_of(Settings).max_batch_rows if predictor is None else batch_limit(predictor)
    return _document(part_of(OpenApiParts), predictor, max_rows, api_keys_required(current_app))


@lru_cache(maxsize=8)
def _document(
    parts: OpenApiParts, predictor: Predictor | None, max_rows: int, api_key_required: bool
) -> dict[str, Any]:
    # Built once per model: a model that loads after a failed start gets its own.
    return build_openapi(parts.parts, predictor, max_rows, api_key_required)
