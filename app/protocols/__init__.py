"""The protocols the app speaks, and which one owns a path.

The native protocol (/predict), MLflow's scoring protocol (/invocations) and the Open
Inference Protocol V2 (/v2/...) share the model, the schema's validation and the
prediction (app.http.serving); each decodes its own bodies, encodes its own answers and
shapes its own errors. A path no other protocol owns is the native protocol's.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask

from app.core.errors import ErrorShape
from app.http.errors import register_error_handlers
from app.http.serving import register_answers
from app.protocols.mlflow.openapi import part as mlflow_openapi
from app.protocols.mlflow.routes import MLFLOW
from app.protocols.native.openapi import part as native_openapi
from app.protocols.native.routes import NATIVE
from app.protocols.protocol import Protocol
from app.protocols.v2.openapi import part as v2_openapi
from app.protocols.v2.routes import V2

PROTOCOLS = (MLFLOW, V2, NATIVE)  # the catch-all native one last
PROTOCOL_NAMES = tuple(protocol.name for protocol in PROTOCOLS)
# The endpoints of every route that predicts.
PREDICTING = frozenset(endpoint for protocol in PROTOCOLS for endpoint in protocol.predicting)
# Each protocol's part of the OpenAPI document, in the order its tags are listed.
OPENAPI_PARTS = (native_openapi, mlflow_openapi, v2_openapi)


def protocol_for_path(path: str) -> Protocol:
    # Asked on every request (its log line, its errors): the paths served are few and
    # short, and are kept; a long one, made up by a client, is not.
    if len(path) > _KEPT_PATH_LENGTH:
        return _protocol_owning(path)
    return _kept_protocol_owning(path)


_KEPT_PATH_LENGTH = 256


def _protocol_owning(path: str) -> Protocol:
    for protocol in PROTOCOLS:
        if protocol.owns(path):
            return protocol
    return NATIVE


_kept_protocol_owning = lru_cache(maxsize=256)(_protocol_owning)


def init_protocols(app: Flask) -> None:
    for protocol in PROTOCOLS:
        app.register_blueprint(protocol.blueprint)
    register_error_handlers(app, _error_shape_for_path)
    register_answers(app, [protocol.answers for protocol in PROTOCOLS])


def _error_shape_for_path(path: str) -> ErrorShape:
    return protocol_for_path(path).error_shape
