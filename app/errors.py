"""One error type for clients and one JSON shape for every error.

Werkzeug's own HTTP errors (404, 405, 413, ...) and unexpected exceptions are
turned into the same `{"error": {"code", "message", "details"?}}` body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.request_log import note_error, request_id

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "The server hit an unexpected error. It has been logged."

# Werkzeug's errors by status, under the codes this API documents.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@dataclass(frozen=True)
class Detail:
    """One problem with the input: where it is and why it is wrong."""

    loc: str
    msg: str


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: list[Detail] = field(default_factory=list)


def error_response(
    status: int, code: str, message: str, details: list[Detail] | None = None
) -> Response:
    note_error(code)
    error: dict[str, object] = {"code": code, "message": message}
    if details:
        error["details"] = [{"loc": d.loc, "msg": d.msg} for d in details]
    response = jsonify(error=error)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _on_api_error)
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(Exception, _on_unexpected)


def _on_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details)


def _on_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code = _HTTP_CODES.get(status, error.name.lower().replace(" ", "_"))
    response = error_response(status, code, _http_message(error, status))
    # Keep headers the status relies on, such as Allow on a 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _http_message(error: HTTPException, status: int) -> str:
    if status == 404:
        return f"No endpoint at {request.path}. The API is described at /openapi.json."
    if status == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
        return f"{request.method} is not allowed on {request.path}. Allowed: {allowed}."
    if status == 413:
        limit = request.max_content_length
        return f"The request body is larger than the limit of {limit} bytes."
    return error.description or error.name


def _on_unexpected(error: Exception) -> Response:
    # The traceback goes to the log only: exception text can leak internals.
    log.exception(
        "unhandled error on %s %s [request %s]", request.method, request.path, request_id()
    )
    return error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)
