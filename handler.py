"""AWS Lambda entry point: API Gateway, function URL and ALB events in, the Flask app out.

The app, and so the model, is built at import: once per container, in Lambda's init
phase, never per request (with SnapStart, once per published version, and each
container starts from a snapshot of it: app.aws.snapstart). serverless_wsgi turns
events into WSGI requests; app.aws.events repairs the event shapes it mishandles, each
quirk in one place.
"""

# ruff: noqa: E402 -- the lazy imports go in before any other import
from __future__ import annotations

# First, before anything imports scikit-learn: what serving never uses loads on first use.
from app.aws import lazy_imports

lazy_imports.install()

import os
from collections.abc import Callable, Iterable
from typing import Any

import serverless_wsgi

from app.aws.events import fix_paths, repaired
from app.aws.snapstart import register_snapstart_hooks
from app.factory import create_app
from app.http.starts import note_warm_up
from app.service.settings import Settings

settings = Settings.from_environ(os.environ)
app = create_app(settings)
# Only where Lambda's runtime offers SnapStart's hooks; elsewhere a no-op.
register_snapstart_hooks(app, settings)

# Schedules and warmers only keep a container alive: answer without the app.
WARMUP_SOURCES = frozenset({"aws.events", "serverless-plugin-warmup"})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("source") in WARMUP_SOURCES:
        note_warm_up(app)  # this was the cold invocation, not the next request
        return {}
    # serverless_wsgi is untyped: its answer is the Lambda response, a JSON object.
    response: dict[str, Any] = serverless_wsgi.handle_request(_wsgi_app, repaired(event), context)
    return response


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The app (looked up per call), after fixing the paths serverless_wsgi derives."""
    fix_paths(environ)
    return app.wsgi_app(environ, start_response)
