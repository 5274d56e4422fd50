"""Every error answered in the shape of the protocol that owns the request's path.

Werkzeug's own HTTP errors (404, 405, 413, ...) and unexpected exceptions become
ApiErrors too (app.core.errors), so they take the protocol's shape and carry one of its
codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.core.errors import (
    ERROR_CODES,
    PATH_ECHO_LIMIT,
    ApiError,
    ErrorShape,
    cut,
    too_large_message,
)
from app.http.access_log import note_error
from app.http.components import install, part_of
from app.http.request_ids import request_id

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "The server hit an unexpected error. It has been logged."
# Werkzeug's errors by status, under the codes above; any other status is a bad request.
_HTTP_CODES = {status: code for code, status in reversed(ERROR_CODES.items())}
# Werkzeug's 413 is the body's size, never the rows' count.
_HTTP_CODES[ERROR_CODES["payload_too_large"]] = "payload_too_large"


@dataclass(frozen=True)
class ErrorShapes:
    """Which protocol's shape an error on a path takes."""

    for_path: Callable[[str], ErrorShape]


def register_error_handlers(app: Flask, shape_for_path: Callable[[str], ErrorShape]) -> None:
    """Answer every error in the shape of the protocol that owns the request's path."""
    install(app, ErrorShapes(shape_for_path))
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(Exception, _on_unexpected)


def error_response(error: ApiError) -> Response:
    note_error(error.code)
    shape = part_of(ErrorShapes).for_path(request.path)
    body, status = shape(error)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(error.headers)
    return response


def _on_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    code = _HTTP_CODES.get(status, "bad_request")
    return error_response(ApiError(code, _http_message(error, status), headers=headers))


def _http_message(error: HTTPException, status: int) -> str:
    path = cut(request.path, PATH_ECHO_LIMIT)
    if status == 404:
        return f"No endpoint at {path}. The API is described at /openapi.json."
    if status == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
        return f"{cut(request.method)} is not allowed on {path}. Allowed: {allowed}."
    if status == 413:
        return too_large_message(request.max_content_length)
    return error.description or error.name


def _on_unexpected(error: Exception) -> Response:
    # The traceback goes to the log only: exception text can leak internals.
    log.exception(
        "unhandled error on %s %s [request %s]", request.method, request.path, request_id()
    )
    return error_response(ApiError("internal_error", INTERNAL_ERROR_MESSAGE))
