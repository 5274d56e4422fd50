"""Reads a request body: its content type and its bytes, within the size limit.

Every protocol reads its body here, at most one byte past MAX_CONTENT_LENGTH, so a body
over the limit is a 413 however it is framed, chunked or not. The bytes are decoded by
app.core.decoding.
"""

from __future__ import annotations

from flask import Request

from app.core.decoding import JSON_TYPE, UTF8_CHARSETS
from app.core.errors import ApiError, too_large_message

_READ_CHUNK = 64 * 1024
# Fetch Metadata values that only a browser's cross-site or CORS-mode request carries.
_BROWSER_SITES = frozenset({"cross-site", "same-site"})
_BROWSER_MODES = frozenset({"cors", "no-cors"})


def bounded_request(max_content_length: int) -> type[Request]:
    """Flask's request class with the body limit fixed on it, for one app. Werkzeug reads
    the limit for its own 413 and the stream's bound, and Flask would look it up in the
    app's config through its proxies each time, three times a request."""

    class BoundedRequest(Request):
        _max_content_length = max_content_length

    return BoundedRequest


def media_type(request: Request, accepted: tuple[str, ...], untyped: str | None = None) -> str:
    """The request's media type if it is one of `accepted`, in UTF-8; else a 415.

    A body with no Content-Type is read as `untyped` where a protocol's own clients send
    none (V2's: tritonclient), but never from a browser: a page may send an untyped body
    to any site without a CORS preflight, and the model would run for it.
    """
    if not request.mimetype and untyped is not None and not from_browser(request):
        return untyped
    if request.mimetype not in accepted:
        received = request.mimetype or "no Content-Type"
        raise ApiError(
            "unsupported_media_type",
            f"Expected Content-Type {' or '.join(accepted)}, got {received}.",
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in UTF8_CHARSETS:
        raise ApiError("unsupported_media_type", f"Expected a UTF-8 body, got charset {charset}.")
    return request.mimetype


def from_browser(request: Request) -> bool:
    """Whether a browser sent the request: it names its Origin (on every cross-origin
    request, and on any POST), or Fetch Metadata says it came from another site or in a
    CORS mode. Other clients send neither."""
    headers = request.headers
    return (
        "Origin" in headers
        or headers.get("Sec-Fetch-Site", "") in _BROWSER_SITES
        or headers.get("Sec-Fetch-Mode", "") in _BROWSER_MODES
    )


def read_body(request: Request) -> bytes:
    """The request's body; a 413 if it is longer than MAX_CONTENT_LENGTH.

    Werkzeug refuses a Content-Length over the limit before reading, but cuts a body sent
    without one (chunked) at the limit, silently: such a body is read here to one byte
    past the limit, straight from the server, which ends the stream itself.
    """
    limit = request.max_content_length
    if limit is None:
        return request.get_data(cache=False)
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError("payload_too_large", too_large_message(limit))
    terminated = length is None and "wsgi.input_terminated" in request.environ
    stream = request.input_stream if terminated else request.stream
    chunks: list[bytes] = []
    remaining = limit + 1
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    if remaining <= 0:
        raise ApiError("payload_too_large", too_large_message(limit))
    return b"".join(chunks)


def read_json_body(request: Request) -> bytes:
    """The bytes of a request that says it holds JSON; 415 if it says otherwise."""
    request = unproxied(request)
    media_type(request, (JSON_TYPE,))
    return read_body(request)


def unproxied(request: Request) -> Request:
    """The request itself, when handed Flask's `request`: a proxy that looks the request
    up again on every attribute read, a dozen times while a body is read."""
    current = getattr(request, "_get_current_object", None)
    return request if current is None else current()
