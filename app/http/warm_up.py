"""The app's own first request: the model's stored example, answered once at start-up.

A process's first request pays for what is built lazily on first use: Werkzeug's
compiled routes, Flask's request machinery, the JSON provider, scikit-learn's and
numpy's first calls. Answering the example once while the app is built moves that cost
into start-up (Lambda's init phase, or a SnapStart snapshot), where it is paid once, so
that the first caller is answered as fast as the rest.

The warm-up request is marked in its WSGI environ, which no client can write (servers
and serverless_wsgi put only HTTP_* headers there): the request log leaves it out, so
the first real request is still the cold start, and the API key check lets it through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from werkzeug.test import EnvironBuilder

from app.http.components import part_of
from app.service.model_slot import ModelSlot

log = logging.getLogger(__name__)

ENVIRON_KEY = "model_api.warm_up"


def warm_up(app: Flask, row_limit: Callable[[Any], int]) -> None:
    """Answer the served model's example rows through the whole app, once: no more of
    them than `row_limit(predictor)` allows at once (its answers may be large). Handed
    in by the factory: serving logs requests, and the request log reads this module."""
    predictor = part_of(ModelSlot, app).predictor
    if predictor is None:  # no model: the first request retries the load and says why
        return
    rows = list(predictor.metadata.example) or [predictor.schema.placeholder_row()]
    with app.app_context():
        rows = rows[: row_limit(predictor)]
    body: dict[str, Any] = {"instances": rows}
    if predictor.supports_probabilities:
        body["return_probabilities"] = True
    builder = EnvironBuilder(path="/predict", method="POST", json=body)
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ[ENVIRON_KEY] = True
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], Any]:
        status.append(line)
        return lambda data: None

    answer = app.wsgi_app(environ, start_response)
    try:
        b"".join(answer)
    finally:
        getattr(answer, "close", lambda: None)()
    # Part of building the app, not its first request: routes and hooks may still be
    # added afterwards (Flask refuses setup once it has served).
    app._got_first_request = False
    if not status or not status[0].startswith("200"):
        # Not fatal: the model proved itself on the same rows; only the head start is lost.
        log.warning("warm-up request answered %s", status[0] if status else "nothing")


def is_warm_up(request: Request) -> bool:
    """Whether this request is the app's own warm-up, not a client's."""
    return request.environ.get(ENVIRON_KEY) is True
