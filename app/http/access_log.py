"""One JSON line per request that is also its CloudWatch metrics.

The line is written straight to stdout, in one write, and never reaches the root
logger: Lambda's runtime gives the root logger a handler that prefixes each
message with level, time and request id, and CloudWatch extracts embedded
metrics only from a log event that is one JSON object and nothing else. Its level
is the `app.access` logger's, so LOG_LEVEL above INFO silences the line and with it
the metrics; but no log record is made: a record, its handler's lock, formatting and
the caller lookup cost some 70 µs per request, ten times the line itself. The line is
flushed at once, since Lambda may freeze the process as soon as the answer is out.

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
from typing import TYPE_CHECKING

import msgspec
from flask import Flask, Response, g, request

from app.core.input_health import Health
from app.http.body import unproxied
from app.http.components import install, part_of
from app.http.emf import EmbeddedMetrics, MetricGroup
from app.http.request_ids import REQUEST_ID_HEADER, request_id
from app.http.starts import COLD_START, RESTORE, Starts
from app.http.warm_up import is_warm_up

if TYPE_CHECKING:
    from app.core.shadow import Comparison

log = logging.getLogger("app.access")

# The app's own time for the request, in milliseconds, as browsers read it: app;dur=1.234
SERVER_TIMING_HEADER = "Server-Timing"
# Compact JSON straight to bytes: the line's values are strings, numbers, booleans and
# null, which any encoder writes as JSON. A line with a character beyond ASCII or DEL
# (a path can hold either) is written escaped, as ASCII, whatever the stream's encoding.
_encode = msgspec.json.Encoder().encode
_encode_escaped = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class AccessLog:
    """What an app's lines are made with: its metrics, and the protocol a path belongs to
    (native, mlflow, v2: a short, fixed list)."""

    metrics: EmbeddedMetrics
    protocol_of: Callable[[str], str]


def init_access_log(
    app: Flask, metrics: EmbeddedMetrics, protocol_of: Callable[[str], str]
) -> None:
    install(app, AccessLog(metrics, protocol_of))
    install(app, Starts())
    app.before_request(_start)
    app.after_request(_finish)


def note_model(version: str) -> None:
    """The model that serves this request."""
    g.model_version = version


def note_rows(count: int) -> None:
    """Rows predicted for this request."""
    g.rows = count


def note_input_health(health: Health) -> None:
    """This request's input health counts (app.core.input_health)."""
    g.input_health = health


def note_error(code: str) -> None:
    """The error code this request is answered with."""
    g.error_code = code


def _start() -> None:
    g.started = time.perf_counter()
    request_id()


def _finish(response: Response) -> Response:
    # Flask's request and g are proxies that look their object up on every attribute
    # read: read them once each.
    req = unproxied(request)
    state = g._get_current_object()
    rid = request_id()
    # The one measure of the request's time: the log line's latency, and the header's.
    now = time.perf_counter()
    latency_ms = state.latency_ms = round((now - state.get("started", now)) * 1000, 3)
    # Appended, not set: no view writes these two, and `set` first scans every header.
    response.headers.add(REQUEST_ID_HEADER, rid)
    response.headers.add(SERVER_TIMING_HEADER, f"app;dur={latency_ms}")
    if is_warm_up(req):  # the app's own, at start-up: no line, and not the cold start
        return response
    access_log = part_of(AccessLog)
    start = part_of(Starts).take_start()
    if log.isEnabledFor(logging.INFO):
        status = response.status_code
        path = req.path
        line = {
            "request_id": rid,
            "method": req.method,
            "path": path,
            "protocol": access_log.protocol_of(path),
            "status": status,
            "latency_ms": latency_ms,
            "model_version": state.get("model_version"),
            # 0, not null, when nothing was predicted: the metric needs a number.
            "rows": state.get("rows", 0),
            "cold_start": start == COLD_START,
            "restore": start == RESTORE,
            "error_code": _error_code(status, state.get("error_code")),
        }
        groups: tuple[MetricGroup, ...] = ()
        health: Health | None = state.get("input_health")
        if health is not None:
            line.update(health.metrics)
            groups = (health.units,)
        shadow: Comparison | None = state.get("shadow_comparison")
        if shadow is not None:
            line.update(shadow.metrics)
            groups = (*groups, shadow.units)
        access_log.metrics.add_to(line, groups)
        encoded = _encode(line)
        plain = encoded.isascii() and b"\x7f" not in encoded
        write_line(encoded.decode() if plain else _encode_escaped(line))
    return response


def write_line(line: str) -> None:
    """One line to stdout, flushed at once; lost, never raised, if stdout is broken."""
    # Whatever sys.stdout is now: a runner or a test that redirects it receives the line.
    stdout = sys.stdout
    try:
        stdout.write(line + "\n")
        stdout.flush()
    except (OSError, ValueError):
        # A closed or broken stdout (a server piped into a reader that went away) loses
        # the line, never the answer.
        pass


def _error_code(status: int, noted: str | None) -> str | None:
    if status < 400:
        return None
    # Every error answer names its code (app.core.errors); the fallback keeps the
    # metric's dimension a string should an answer ever bypass it.
    return noted or f"http_{status}"
