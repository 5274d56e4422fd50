"""CORS for browser clients on the origins CORS_ALLOWED_ORIGINS lists; off when it is empty.

Off, no response carries a CORS header, and browsers keep other sites' pages from
reading answers. The API uses no cookies, so credentials are never allowed; the API key
is a header the page must send itself, which a preflight lets through.
"""

from __future__ import annotations

from flask import Flask, Response
from flask_cors import CORS

from app.http.request_ids import REQUEST_ID_HEADER
from app.service.settings import ANY_ORIGIN

ALLOWED_METHODS = ("GET", "POST")
# Browsers cap it lower (Chromium: 2 h); an hour spares most preflights.
PREFLIGHT_MAX_AGE_SECONDS = 3600


def init_cors(app: Flask, origins: tuple[str, ...], key_header: str) -> None:
    """CORS for `origins`, letting a page send its API key in `key_header`."""
    if not origins:
        return
    any_origin = origins == (ANY_ORIGIN,)
    CORS(
        app,
        resources={r"/*": {}},
        origins=ANY_ORIGIN if any_origin else list(origins),
        methods=list(ALLOWED_METHODS),
        allow_headers=["Content-Type", key_header, REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER],
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
        supports_credentials=False,
        send_wildcard=any_origin,
        # Only answers to a request with an Origin header get CORS headers.
        always_send=False,
        # flask-cors adds Vary only with two origins or more; see _vary_on_origin.
        vary_header=False,
    )
    if not any_origin:
        app.after_request(_vary_on_origin)


def _vary_on_origin(response: Response) -> Response:
    # With a listed origin the CORS headers depend on the request's Origin, even with
    # a single one (it gets them, others do not), so a cache must key on it.
    response.vary.add("Origin")
    return response
