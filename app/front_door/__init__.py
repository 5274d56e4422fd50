"""The front door at GET /: a try-it page for people, a JSON index for programs.

A browser (an Accept header that prefers text/html) gets one self-contained page that
reads /model and /openapi.json, builds a form typed from the model's schema and calls
/predict; its script, style sheet and icon are the only other files it loads, served
from this package under /try-it/. Everything else asking for / gets the JSON index: the
operations the OpenAPI document describes, which is built from the app's own routes.

The page makes no request to any other origin, and its Content-Security-Policy says
so to the browser: scripts and styles from this origin only (and the one inline
script, by its hash), calls back to this origin only, never framed. Every URL it uses
is relative to a <base> that inline script makes from the page's own path, so it works
at / as at an API Gateway stage's /prod or /prod/, and behind an emulator or proxy that
does not pass the stage on. TRY_IT_PAGE=0 turns the page and its assets off; the index
stays.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Request, Response, jsonify, request
from werkzeug.exceptions import NotFound

from app.http.components import install, part_of
from app.http.server_info import SERVER_NAME, SERVER_VERSION
from app.http.serving import model_slot

_HERE = Path(__file__).resolve().parent
ASSET_PREFIX = "/try-it/"
# The page's own files, by the name they are served under, with their media types.
ASSET_TYPES = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
HTML = "text/html; charset=utf-8"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(page: str) -> list[str]:
    """CSP sources for the page's inline scripts: 'sha256-<base64 of the digest>'."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(page)
    ]


_PAGE = (_HERE / "page.html").read_text(encoding="utf-8")
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        " ".join(["script-src 'self'", *inline_script_hashes(_PAGE)]),
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
# On the page and its assets alike (nosniff is on every answer: app.http.response_headers).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Revalidated on every load (an ETag makes that a 304), so a deploy shows at once.
CACHE_CONTROL = "no-cache"

blueprint = Blueprint("try_it", __name__)


@dataclass(frozen=True)
class _File:
    body: bytes
    media_type: str
    etag: str


@dataclass(frozen=True)
class TryIt:
    """The page and its files, read once; no page and no files when the page is off."""

    page: _File | None
    assets: dict[str, _File]
    # The API document the JSON index lists the operations of, handed in by the factory.
    document: Callable[[], dict[str, Any]]

    @classmethod
    def load(cls, enabled: bool, document: Callable[[], dict[str, Any]]) -> TryIt:
        if not enabled:
            return cls(None, {}, document)
        assets = {
            name: _file((_HERE / name).read_bytes(), media_type)
            for name, media_type in ASSET_TYPES.items()
        }
        return cls(_file(_PAGE.encode("utf-8"), HTML), assets, document)


def _file(body: bytes, media_type: str) -> _File:
    return _File(body, media_type, hashlib.sha256(body).hexdigest()[:32])


def init_front_door(app: Flask, enabled: bool, document: Callable[[], dict[str, Any]]) -> None:
    """The JSON index at /, and the try-it page and its assets when `enabled`; the index
    lists the operations of `document()`, the API document of the request's model."""
    install(app, TryIt.load(enabled, document))
    app.register_blueprint(blueprint)


def wants_html(incoming: Request) -> bool:
    """Whether the client prefers an HTML page to JSON: a browser navigating here."""
    accept = incoming.accept_mimetypes
    # Equal preference (*/*, or no Accept at all) goes to JSON, listed first.
    return accept.best_match(("application/json", "text/html")) == "text/html"


@blueprint.get("/")
def front() -> Response:
    try_it = part_of(TryIt)
    if try_it.page is not None and wants_html(request):
        response = _served(try_it.page)
    else:
        response = jsonify(index(request.script_root, try_it))
    # The answer depends on Accept: a cache must not hand the page to a program.
    response.vary.add("Accept")
    return response


@blueprint.get(ASSET_PREFIX + "<asset>")
def asset(asset: str) -> Response:
    found = part_of(TryIt).assets.get(asset)
    if found is None:
        raise NotFound()  # answered as every unknown path is
    return _served(found)


def _served(found: _File) -> Response:
    response = Response(found.body, content_type=found.media_type)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(found.etag)
    response.make_conditional(request)  # a 304 when the browser's copy is current
    return response


def index(script_root: str, try_it: TryIt) -> dict[str, Any]:
    """The JSON index: this server, its model, and every operation of the API document,
    each with whether it needs an API key. URLs are as the client called them."""
    root = script_root.rstrip("/")
    predictor = model_slot().current()
    model = (
        None
        if predictor is None
        else {
            "name": predictor.metadata.name,
            "version": predictor.version,
            "task": predictor.metadata.task,
        }
    )
    document = try_it.document()
    endpoints = [
        {
            "method": method.upper(),
            "path": root + path,
            "summary": operation["summary"],
            "api_key": "security" in operation,
        }
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    return {
        "name": SERVER_NAME,
        "version": SERVER_VERSION,
        "model": model,
        "openapi": root + "/openapi.json",
        "try_it": root + "/" if try_it.page is not None else None,
        "endpoints": endpoints,
    }
