"""Request ids, and one JSON line per request that is also its CloudWatch metrics.

On Lambda the id is the invocation's `aws_request_id`, so a client's
X-Request-Id finds the same lines in CloudWatch; elsewhere the caller's X-Request-Id is
kept if it is a short plain token and no API key (neither the request's own nor one the
app accepts), or a fresh one made.

The line is written to stdout by its own handler and never reaches the root
logger: Lambda's runtime gives the root logger a handler that prefixes each
message with level, time and request id, and CloudWatch extracts embedded
metrics only from a log event that is one JSON object and nothing else. It is
still a `logging` record, so LOG_LEVEL above INFO silences the line and with it
the metrics.

The first request after the process started is its cold start; with SnapStart, the
first after each restore from a snapshot is that restore instead (app.aws.snapstart says
when one happened). Each is marked on its line exactly once.

What a line may hold is fixed here: the fields below and the metric members
app.http.emf adds. Never the body, the query string, a header (the caller's
X-Request-Id aside, and only as a plain token) or a key.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import TextIO

from flask import Flask, Response, current_app, g, request

from app.auth.keys import API_KEY_HEADER
from app.http.components import install, part_of
from app.http.emf import EmbeddedMetrics
from app.http.warm_up import is_warm_up

log = logging.getLogger("app.access")

REQUEST_ID_HEADER = "X-Request-Id"
# The app's own time for the request, in milliseconds, as browsers read it: app;dur=1.234
SERVER_TIMING_HEADER = "Server-Timing"
# Echo a caller's id only if it cannot forge log lines or headers: a short plain token,
# as long as a UUID or a trace id and then some.
MAX_REQUEST_ID_LENGTH = 64
_SAFE_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_LENGTH}}}")
# Compact, and built once: json.dumps with options builds an encoder per call.
_to_json = json.JSONEncoder(separators=(",", ":")).encode


# What the first request after a start is the first of: the process's start, or its
# restore from a SnapStart snapshot. Each names the line's field that marks it.
COLD_START = "cold_start"
RESTORE = "restore"


class RequestLog:
    """An app's request log: its metrics, and whether the first request after the
    process started (or was restored) is still to come."""

    def __init__(
        self,
        metrics: EmbeddedMetrics,
        protocol_of: Callable[[str], str],
        is_api_key: Callable[[Flask, str], bool],
    ) -> None:
        self.metrics = metrics
        # The protocol a path belongs to (native, mlflow, v2): a short, fixed list.
        self.protocol_of = protocol_of
        # Whether a value is a key the app accepts now (keys can be replaced at run time),
        # in constant time: such a value is never a request id.
        self.is_api_key = is_api_key
        self._start: str | None = COLD_START
        self._lock = threading.Lock()

    def note_restore(self) -> None:
        """The process was just restored from a snapshot: its next request is the restore's."""
        with self._lock:
            self._start = RESTORE

    def take_start(self) -> str | None:
        """COLD_START or RESTORE, once each: for the first request (or Lambda invocation)
        after the process started or was restored; None for every other."""
        if self._start is None:
            return None
        with self._lock:  # threaded servers: two first requests, one start
            start, self._start = self._start, None
        return start


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


def init_request_log(
    app: Flask,
    metrics: EmbeddedMetrics,
    protocol_of: Callable[[str], str],
    is_api_key: Callable[[Flask, str], bool],
) -> None:
    install(app, RequestLog(metrics, protocol_of, is_api_key))
    if not any(isinstance(handler, _StdoutHandler) for handler in log.handlers):
        log.addHandler(_StdoutHandler())
        log.propagate = False
    app.before_request(_start)
    app.after_request(_finish)


def note_warm_up(app: Flask) -> None:
    """A warm-up ping was the container's first invocation since it started or was
    restored: later requests are warm."""
    part_of(RequestLog, app).take_start()


def note_restore(app: Flask) -> None:
    """The process was just restored from a SnapStart snapshot: the next request is the
    restore's first, not a warm one, and no cold start either."""
    part_of(RequestLog, app).note_restore()


def note_model(version: str) -> None:
    """The model that serves this request."""
    g.model_version = version


def note_rows(count: int) -> None:
    """Rows predicted for this request."""
    g.rows = count


def note_error(code: str) -> None:
    """The error code this request is answered with."""
    g.error_code = code


def request_id() -> str:
    if "request_id" not in g:
        g.request_id = _derive_request_id()
    rid: str = g.request_id  # g holds Any; this function alone sets it
    return rid


def _derive_request_id() -> str:
    context = request.environ.get("serverless.context")
    lambda_id = getattr(context, "aws_request_id", None)
    if lambda_id:
        return str(lambda_id)
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SAFE_ID.fullmatch(incoming) and not _is_a_key(incoming):
        return incoming
    return uuid.uuid4().hex


def _is_a_key(value: str) -> bool:
    """Whether `value` is this request's own key (which API Gateway may be checking, with
    the app's keys off) or one the app accepts (compared in constant time)."""
    # The caller sent both: comparing them plainly tells it nothing it does not know.
    if value == request.headers.get(API_KEY_HEADER, "").strip():
        return True
    request_log = part_of(RequestLog)
    return request_log.is_api_key(current_app, value)


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
    request_log = part_of(RequestLog)
    start = request_log.take_start()
    if log.isEnabledFor(logging.INFO):
        status = response.status_code
        line = {
            "request_id": rid,
            "method": request.method,
            "path": request.path,
            "protocol": request_log.protocol_of(request.path),
            "status": status,
            "latency_ms": latency_ms,
            "model_version": g.get("model_version"),
            # 0, not null, when nothing was predicted: the metric needs a number.
            "rows": g.get("rows", 0),
            "cold_start": start == COLD_START,
            "restore": start == RESTORE,
            "error_code": _error_code(status),
        }
        request_log.metrics.add_to(line)
        log.info(_to_json(line))
    return response


def _error_code(status: int) -> str | None:
    if status < 400:
        return None
    # Every error answer names its code (app.core.errors); the fallback keeps the
    # metric's dimension a string should an answer ever bypass it.
    return g.get("error_code") or f"http_{status}"
