"""The OpenAPI 3.1 document, built for the model being served: one document, each
protocol adding its paths (its own part: app/protocols/<protocol>/openapi.py) to the
schemas they share (app/openapi/common.py).

Feature names and types, row counts, class labels, the model's name and version come
from the loaded model, so the document a client reads is exact for the model behind it.
With API keys on, every operation needs one except the open routes (app.auth.open_routes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from app.auth.keys import API_KEY_HEADER
from app.core.predictor import Predictor
from app.http.answer_size import fits
from app.openapi.common import API_KEY_SCHEME, Model, Part
from app.openapi.common import schemas as shared_schemas

log = logging.getLogger(__name__)

# A protocol's part of the document, for one model.
PartOf = Callable[[Model], Part]


def build_openapi(
    parts: Sequence[PartOf],
    predictor: Predictor | None,
    max_batch_rows: int,
    api_key_required: bool = False,
) -> dict[str, Any]:
    """The document; cut short (app.openapi.common.Model) if it would not fit through
    Lambda whole, rather than not served at all."""
    model: Model | None = Model(predictor, max_batch_rows)
    document: dict[str, Any] = {}
    described = 1
    while model is not None:
        document = _document(parts, model, api_key_required)
        if fits(document):
            return document
        # The longest lists of categories or classes described instead, 1, then 2 more,
        # then 4 more...: a document loses little more than it must, in a few rounds.
        model = model.shorter(described)
        described *= 2
    log.warning("the API document does not fit through Lambda, even cut short")
    return document


def _document(parts_of: Sequence[PartOf], model: Model, api_key_required: bool) -> dict[str, Any]:
    predictor = model.predictor
    parts = [part_of(model) for part_of in parts_of]
    paths: dict[str, Any] = {}
    schemas = shared_schemas(model)
    for part in parts:
        paths.update(part.render_paths(api_key_required))
        schemas.update(part.schemas)
    components: dict[str, Any] = {"schemas": schemas}
    if api_key_required:
        components["securitySchemes"] = {
            API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
        }
    return {
        "openapi": "3.1.0",
        "info": _info(predictor, model.cut_short),
        "tags": [{"name": part.style.protocol, "description": part.description} for part in parts],
        "paths": paths,
        "components": components,
    }


def _info(predictor: Predictor | None, cut_short: bool) -> dict[str, Any]:
    description = (
        (
            f"Serves {predictor.metadata.name} ({predictor.metadata.task})"
            if predictor
            else "The model is not loaded; schemas are generic"
        )
        + " over three protocols: its own (/predict), MLflow's scoring protocol "
        "(/invocations) and the Open Inference Protocol V2 (/v2)."
    )
    if cut_short:
        description += (
            " This document is cut short to fit through Lambda: its longest lists of "
            "categories or classes are described by their type and a few examples, and "
            "listed in /model."
        )
    return {
        "title": "Model prediction API",
        "version": predictor.version if predictor else "unavailable",
        "description": description,
    }
