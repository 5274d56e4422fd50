"""The headers every answer carries, whatever route, status or protocol gave it.

- `X-Content-Type-Options: nosniff`: a browser reads an answer only as the type it
  declares, never a JSON error that echoes input as a script or a page.
- `Cache-Control: no-store`, unless the route set its own: predictions, the model's
  description, its OpenAPI document, health and errors depend on the input, the model
  loaded now and the caller's key, so no cache between a caller and the app may keep or
  hand them on. The try-it page and its files set `no-cache` themselves: the same for
  everyone, and revalidated (a 304 by ETag) on each load, so a deploy shows at once.

No `Server` header: the app sets none. On Lambda API Gateway sends its own; `make
serve` names the product alone (app/local_server.py).
"""

from __future__ import annotations

from flask import Flask, Response

NOSNIFF = "nosniff"
NO_STORE = "no-store"


def init_response_headers(app: Flask) -> None:
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    headers = response.headers
    # Appended: no view sets it, and setting first scans every header.
    headers.add("X-Content-Type-Options", NOSNIFF)
    if "Cache-Control" not in headers:
        headers.add("Cache-Control", NO_STORE)
    return response
