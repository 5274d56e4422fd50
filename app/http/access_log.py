"""One JSON line per request that is also its CloudWatch metrics.

The line is written to stdout by its own handler and never reaches the root
logger: Lambda's runtime gives the root logger a handler that prefixes each
message with level, time and request id, and CloudWatch extracts embedded
metrics only from a log event that is one JSON object and nothing else. It is
still a `logging` record, so LOG_LEVEL above INFO silences the line and with it
the metrics.

What a line may hold is fixed here: the fields below and the metric members
app.http.emf adds. Never the body, the query string, a header (the caller's
X-Request-Id aside, and only as a plain token: app.http.request_ids) or a key.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from flask import Flask, Response, g, request

from app.http.components import install, part_of
from app.http.emf import EmbeddedMetrics
from app.http.request_ids import REQUEST_ID_HEADER, request_id
from app.http.starts import COLD_START, RESTORE, Starts
from app.http.warm_up import is_warm_up

log = logging.getLogger("app.access")

# The app's own time for the request, in milliseconds, as browsers read it: app;dur=1.234
SERVER_TIMING_HEADER = "Server-Timing"
# Compact, and built once: json.dumps with options builds an encoder per call.
_to_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class AccessLog:
    """What an app's lines are made with: its metrics, and the protocol a path belongs to
    (native, mlflow, v2: a short, fixed list)."""

    metrics: EmbeddedMetrics
    protocol_of: Callable[[str], str]


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes each message as one line to whatever sys.stdout is at that moment.

    Looked up per record, as logging's own last-resort handler does with stderr,
    so a runner or test that redirects stdout receives the lines.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stdout


def init_access_log(
    app: Flask, metrics: EmbeddedMetrics, protocol_of: Callable[[str], str]
) -> None:
    install(app, AccessLog(metrics, protocol_of))
    install(app, Starts())
    if not any(isinstance(handler, _StdoutHandler) for handler in log.handlers):
        log.addHandler(_StdoutHandler())
        log.propagate = False
    app.before_request(_start)
    app.after_request(_finish)


def note_model(version: str) -> None:
    """The model that serves this request."""
    g.model_version = version


def note_rows(count: int) -> None:
    """Rows predicted for this request."""
    g.rows = count


def note_error(code: str) -> None:
    """The error code this request is answered with."""
    g.error_code = code


def _start() -> None:
    g.started = time.perf_counter()
    request_id()


def _finish(response: Response) -> Response:
    rid = request_id()
    response.headers[REQUEST_ID_HEADER] = rid
    # The one measure of the request's time: the log line's latency, and the header's.
    latency_ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 3)
    response.headers[SERVER_TIMING_HEADER] = f"app;dur={latency_ms}"
    if is_warm_up(request):  # the app's own, at start-up: no line, and not the cold start
        return response
    access_log = part_of(AccessLog)
    start = part_of(Starts).take_start()
    if log.isEnabledFor(logging.INFO):
        status = response.status_code
        line = {
            "request_id": rid,
            "method": request.method,
            "path": request.path,
            "protocol": access_log.protocol_of(request.path),
            "status": status,
            "latency_ms": latency_ms,
            "model_version": g.get("model_version"),
            # 0, not null, when nothing was predicted: the metric needs a number.
            "rows": g.get("rows", 0),
            "cold_start": start == COLD_START,
            "restore": start == RESTORE,
            "error_code": _error_code(status),
        }
        access_log.metrics.add_to(line)
        log.info(_to_json(line))
    return response


def _error_code(status: int) -> str | None:
    if status < 400:
        return None
    # Every error answer names its code (app.core.errors); the fallback keeps the
    # metric's dimension a string should an answer ever bypass it.
    return g.get("error_code") or f"http_{status}"
