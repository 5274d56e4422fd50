"""API keys: /predict and /model answer only a request with a valid `x-api-key` header.

Off unless keys are configured. /health and /openapi.json stay open, and so do CORS
preflights, which browsers send without the key. Keys are held only as SHA-256 digests
and compared in constant time; neither a key nor a digest is ever logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable

from flask import Flask, current_app, request

from app.errors import ApiError
from app.request_log import API_KEY_HEADER

log = logging.getLogger(__name__)

PROTECTED_ENDPOINTS = frozenset({"api.predict", "api.model"})
_EXTENSION = "api_keys"


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
        log.info("API keys off: /predict and /model are open")
        return
    app.extensions[_EXTENSION] = ApiKeys(keys)
    app.before_request(_check_api_key)
    log.info("API keys required on /predict and /model: %d configured", len(keys))


def api_keys_required(app: Flask) -> bool:
    return _EXTENSION in app.extensions


def _check_api_key() -> None:
    # A preflight carries no key by design; the real request that follows is checked.
    if request.method == "OPTIONS" or request.endpoint not in PROTECTED_ENDPOINTS:
        return
    presented = request.headers.get(API_KEY_HEADER, "").strip()
    if not presented:
        raise ApiError(
            401, "unauthorized", f"An API key is required: send it in the {API_KEY_HEADER} header."
        )
    if not current_app.extensions[_EXTENSION].accepts(presented):
        raise ApiError(
            401, "unauthorized", f"The {API_KEY_HEADER} header does not hold a valid API key."
        )
