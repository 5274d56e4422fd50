"""The event shapes serverless_wsgi mishandles, each repaired in one place.

API Gateway's REST events (payload 1.0), HTTP API and function URL events (payload
2.0) and ALB events each get their own function, with a comment per quirk: what the
event holds, and what serverless_wsgi would make of it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PATH_PARAMETER = re.compile(r"\{([^{}+]+)\+?\}")


def repaired(event: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of the event without the shapes serverless_wsgi crashes on."""
    event = dict(event)
    # No "headers" key (hand-written invokes, some test tools): KeyError.
    if event.get("headers") is None:
        event["headers"] = {}
    # serverless-offline sends the root resource with an empty path: Werkzeug would redirect.
    if event.get("path") == "":
        event["path"] = "/"
    if event.get("version") == "2.0":
        request_context = dict(event.get("requestContext") or {})
        # Payload 2.0 may carry "authorizer": null when no authorizer ran: AttributeError.
        if request_context.get("authorizer") is None:
            request_context.pop("authorizer", None)
        event["requestContext"] = request_context
    return event


def fix_paths(environ: dict[str, Any]) -> None:
    """PATH_INFO and SCRIPT_NAME as the app must see them, by the kind of event."""
    event = environ["serverless.event"]
    if event.get("requestContext", {}).get("elb"):
        _fix_alb(environ)
    elif event.get("version") == "2.0":
        _fix_payload_v2(environ, event)
    elif "resource" in event:
        _fix_payload_v1(environ, event)


def _fix_payload_v1(environ: dict[str, Any], event: dict[str, Any]) -> None:
    # REST API: "path" holds a custom domain's base path mapping ("/ml/predict"), and
    # requestContext.path the stage or mapping the client saw; "resource" filled with
    # pathParameters is the path inside the API, whatever domain or stage served it.
    inner = _fill(event.get("resource"), event.get("pathParameters"))
    if inner is None:
        return
    _split(environ, inner, mapped=event.get("path"), seen=event["requestContext"].get("path"))


def _fix_payload_v2(environ: dict[str, Any], event: dict[str, Any]) -> None:
    # HTTP API and function URLs: on a named stage the stage stays in rawPath and every
    # route would 404; on "$default" serverless_wsgi sets SCRIPT_NAME to "/$default".
    raw_path = event.get("rawPath") or "/"
    route = event.get("routeKey") or "$default"
    inner = None
    if route != "$default" and " " in route:
        inner = _fill(route.split(" ", 1)[1], event.get("pathParameters"))
    if inner is None:
        stage = event["requestContext"].get("stage") or "$default"
        prefix = f"/{stage}"
        if stage != "$default" and (raw_path == prefix or raw_path.startswith(prefix + "/")):
            inner = raw_path[len(prefix) :] or "/"
        else:
            inner = raw_path
    _split(environ, inner, mapped=raw_path, seen=raw_path)


def _fix_alb(environ: dict[str, Any]) -> None:
    # An ALB event names no client address; the ALB puts it first in X-Forwarded-For.
    if not environ.get("REMOTE_ADDR"):
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        environ["REMOTE_ADDR"] = forwarded.split(",")[0].strip()


def _fill(template: str | None, parameters: dict[str, str] | None) -> str | None:
    """ "/{proxy+}" with {"proxy": "predict"} -> "/predict"; None if a value is missing."""
    if not template:
        return None
    values = parameters or {}
    pieces = _pieces(template)
    # Literal text at even places, parameter names at odd ones.
    if any(name not in values for name in pieces[1::2]):
        return None
    filled = list(pieces)
    filled[1::2] = [values[name] for name in pieces[1::2]]
    return "".join(filled)


@lru_cache(maxsize=64)
def _pieces(template: str) -> tuple[str, ...]:
    # A deployment has a few resource templates, met on every request: split once each.
    return tuple(_PATH_PARAMETER.split(template))


def _split(environ: dict[str, Any], inner: str, mapped: str | None, seen: str | None) -> None:
    """PATH_INFO becomes the path inside the API, SCRIPT_NAME what the client saw before it.

    `mapped` is the event's path (what serverless_wsgi put into PATH_INFO), `seen` the
    path the client requested; each is `inner` behind some prefix.
    """
    mapped_prefix = _prefix(mapped, inner)
    seen_prefix = _prefix(seen, inner)
    path_info = environ["PATH_INFO"]
    if mapped_prefix and path_info.startswith(mapped_prefix):
        environ["PATH_INFO"] = path_info[len(mapped_prefix) :] or "/"
    if seen_prefix is not None:
        environ["SCRIPT_NAME"] = seen_prefix


def _prefix(path: str | None, inner: str) -> str | None:
    if path is None:
        return None
    if inner in ("", "/"):
        return path.rstrip("/")
    return path[: -len(inner)] if path.endswith(inner) else None
