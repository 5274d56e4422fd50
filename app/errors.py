"""One error type for every protocol, and the one list of error codes.

Each protocol renders an error in its own shape (native `{"error": {"code", "message",
"details"}}`, MLflow's `{"error_code", "message"}`, V2's `{"error"}`), chosen by the
path the request came to, but the codes, and so the metrics' `error_code` dimension,
come only from ERROR_CODES. Werkzeug's own HTTP errors (404, 405, 413, ...) and
unexpected exceptions become ApiErrors too, so they take the protocol's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from app.request_log import note_error, request_id

log = logging.getLogger(__name__)

# Every code an answer may carry, with the status the native protocol answers it with.
ERROR_CODES = {
    "bad_request": 400,
    "invalid_json": 400,
    "unauthorized": 401,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    # More rows than one answer can carry: MAX_BATCH_ROWS, or fewer for a model whose
    # answers are large (app.answer_size).
    "too_many_rows": 413,
    "unsupported_media_type": 415,
    "invalid_input": 422,
    "internal_error": 500,
    "model_unavailable": 503,
}
INTERNAL_ERROR_MESSAGE = "The server hit an unexpected error. It has been logged."
# Werkzeug's errors by status, under the codes above; any other status is a bad request.
_HTTP_CODES = {status: code for code, status in reversed(ERROR_CODES.items())}
# Werkzeug's 413 is the body's size, never the rows' count.
_HTTP_CODES[ERROR_CODES["payload_too_large"]] = "payload_too_large"

# What an answer quotes from the request (a value, a member's name, a path, a model name)
# is cut to this many characters: enough to recognise it, never the whole of a huge one.
ECHO_LIMIT = 40
# A path is quoted longer: the API's own paths run past 40 characters.
PATH_ECHO_LIMIT = 100
# Every text of an error answer is bounded too, whatever it holds: with at most
# MAX_DETAILS details (app.validation), an error answer always fits through Lambda.
MESSAGE_LIMIT = 1000
LOC_LIMIT = 200
MSG_LIMIT = 1000


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` as an answer quotes it: whole up to `limit` characters, else its start and
    an ellipsis, `limit` characters in all."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Detail:
    """One problem with the input: where it is and why it is wrong."""

    loc: str
    msg: str


@dataclass
class ApiError(Exception):
    code: str
    message: str
    details: list[Detail] = field(default_factory=list)
    # Headers the status relies on, such as Allow on a 405.
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}")

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code]

    @property
    def bounded_message(self) -> str:
        return cut(self.message, MESSAGE_LIMIT)

    @property
    def bounded_details(self) -> list[Detail]:
        """The details as every protocol's error body lists them: each text bounded."""
        return [Detail(cut(d.loc, LOC_LIMIT), cut(d.msg, MSG_LIMIT)) for d in self.details]

    def details_json(self) -> list[dict[str, str]]:
        return [{"loc": detail.loc, "msg": detail.msg} for detail in self.bounded_details]


# A protocol's error answer: the body and the status, from an ApiError.
ErrorShape = Callable[[ApiError], tuple[object, int]]
_SHAPE_EXTENSION = "error_shape"


def register_error_handlers(app: Flask, shape_for_path: Callable[[str], ErrorShape]) -> None:
    """Answer every error in the shape of the protocol that owns the request's path."""
    app.extensions[_SHAPE_EXTENSION] = shape_for_path
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(Exception, _on_unexpected)


def error_response(error: ApiError) -> Response:
    note_error(error.code)
    shape: ErrorShape = current_app.extensions[_SHAPE_EXTENSION](request.path)
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


def too_large_message(limit: int | None) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


def _on_unexpected(error: Exception) -> Response:
    # The traceback goes to the log only: exception text can leak internals.
    log.exception(
        "unhandled error on %s %s [request %s]", request.method, request.path, request_id()
    )
    return error_response(ApiError("internal_error", INTERNAL_ERROR_MESSAGE))
