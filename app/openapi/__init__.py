"""The OpenAPI 3.1 document, built for the model being served: one document, each
protocol adding its paths (app/openapi/native.py, mlflow.py, v2.py) to the schemas they
share (app/openapi/common.py).

Feature names and types, row counts, class labels, the model's name and version come
from the loaded model, so the document a client reads is exact for the model behind it.
With API keys on, every operation needs one except the open routes (app.open_routes).
"""

from __future__ import annotations

from typing import Any

from app.predictor import Predictor
from app.request_log import API_KEY_HEADER


def build_openapi(
    predictor: Predictor | None, max_batch_rows: int, api_key_required: bool = False
) -> dict[str, Any]:
    # Imported here: the protocols this describes serve it, and so import this module.
    from app.openapi import common, mlflow, native, v2

    model = common.Model(predictor, max_batch_rows)
    parts = [native.part(model), mlflow.part(model), v2.part(model)]
    paths: dict[str, Any] = {}
    schemas = common.schemas(model)
    for part in parts:
        paths.update(part.render_paths(api_key_required))
        schemas.update(part.schemas)
    components: dict[str, Any] = {"schemas": schemas}
    if api_key_required:
        components["securitySchemes"] = {
            common.API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
        }
    return {
        "openapi": "3.1.0",
        "info": _info(predictor),
        "tags": [
            {"name": part.style.protocol.name, "description": part.description} for part in parts
        ],
        "paths": paths,
        "components": components,
    }


def _info(predictor: Predictor | None) -> dict[str, Any]:
    return {
        "title": "Model prediction API",
        "version": predictor.version if predictor else "unavailable",
        "description": (
            f"Serves {predictor.metadata.name} ({predictor.metadata.task})"
            if predictor
            else "The model is not loaded; schemas are generic"
        )
        + " over three protocols: its own (/predict), MLflow's scoring protocol "
        "(/invocations) and the Open Inference Protocol V2 (/v2).",
    }
