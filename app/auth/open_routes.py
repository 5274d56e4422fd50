"""The routes that stay open when API keys are on: liveness and readiness, this API's
description, and the front door (the JSON index and the try-it page with its assets; the
calls the page makes need a key). Everything else needs a key, new routes included: the
list fails closed.

Defined once, in open_routes.json beside this file, so that the app's check, the
OpenAPI document's `security` and API Gateway's own key (the edge-api-key plugin)
all read the same list. Paths are OpenAPI templates (`/v2/models/{name}/ready`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_FILE = Path(__file__).with_name("open_routes.json")
OPEN_ROUTES: frozenset[tuple[str, str]] = frozenset(
    (route["method"], route["path"]) for route in json.loads(_FILE.read_text())["open_routes"]
)
# Flask's <name> placeholders, as OpenAPI writes them: {name}.
_FLASK_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(flask_rule: str) -> str:
    return _FLASK_PLACEHOLDER.sub(r"{\1}", flask_rule)


def is_open(method: str, flask_rule: str | None) -> bool:
    """Whether `method` on the route `flask_rule` needs no key (HEAD as GET); an
    unmatched path (None) is not open."""
    if flask_rule is None:
        return False
    method = "GET" if method == "HEAD" else method
    return (method, openapi_path(flask_rule)) in OPEN_ROUTES
