"""API keys: with keys configured, every route answers only a request with a valid
`x-api-key` header, except the open routes (app.auth.open_routes) and CORS preflights to a
route, which browsers send without the key. A path that matches no route needs a key
too, whatever the method. Keys are
held only as SHA-256 digests and compared in constant time; neither a key nor a digest
is ever logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable

from flask import Flask, request

from app.auth.keys import API_KEY_HEADER
from app.auth.open_routes import is_open
from app.core.errors import ApiError
from app.http.components import has_part, install, part_of
from app.http.warm_up import is_warm_up

log = logging.getLogger(__name__)


class ApiKeys:
    """The accepted keys, as digests: the check takes the same time whichever key matches."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(key) for key in keys)

    def accepts(self, presented: str) -> bool:
        # Fixed-length digests hide the keys' lengths; no early exit hides which one matched.
        candidate = _digest(presented)
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(digest, candidate)
        return matched


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def require_api_keys(app: Flask, keys: tuple[str, ...]) -> None:
    """Require one of `keys` on the protected routes; no keys, no check."""
    if not keys:
        log.info("API keys off: every route is open")
        return
    install(app, ApiKeys(keys))
    app.before_request(_check_api_key)
    log.info("API keys required on all but the open routes: %d configured", len(keys))


def replace_api_keys(app: Flask, keys: Iterable[str]) -> None:
    """From now on accept `keys` instead of the keys the app was built with.

    Unlike at build time, no keys here does not turn the check off: it refuses every
    key, so protected routes answer 401 to all. Only an app built with keys has a
    check whose keys can be replaced.
    """
    if not api_keys_required(app):
        raise ValueError("this app was built without API keys: it has none to replace")
    install(app, ApiKeys(keys))


def api_keys_required(app: Flask) -> bool:
    return has_part(ApiKeys, app)


def is_api_key(app: Flask, value: str) -> bool:
    """Whether `app` accepts `value` as a key now, in constant time; never with keys off."""
    return has_part(ApiKeys, app) and part_of(ApiKeys, app).accepts(value)


def _check_api_key() -> None:
    rule = request.url_rule.rule if request.url_rule is not None else None
    # A preflight carries no key by design; the real request that follows is checked. Only
    # to a route, though: answering OPTIONS on any path would tell which paths are routes.
    preflight = request.method == "OPTIONS" and rule is not None
    if preflight or is_open(request.method, rule) or is_warm_up(request):
        return
    presented = request.headers.get(API_KEY_HEADER, "").strip()
    if not presented:
        raise ApiError(
            "unauthorized", f"An API key is required: send it in the {API_KEY_HEADER} header."
        )
    if not part_of(ApiKeys).accepts(presented):
        raise ApiError(
            "unauthorized", f"The {API_KEY_HEADER} header does not hold a valid API key."
        )
