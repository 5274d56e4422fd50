"""Request ids and one log line per request.

On Lambda the id is the invocation's `aws_request_id`, so a client's
X-Request-Id finds the same lines in CloudWatch; elsewhere a sane incoming
X-Request-Id is kept, or a fresh one made.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("app.access")

REQUEST_ID_HEADER = "X-Request-Id"
# Echo a caller's id only if it cannot forge log lines or headers.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    if "request_id" not in g:
        g.request_id = _derive_request_id()
    return g.request_id


def _derive_request_id() -> str:
    context = request.environ.get("serverless.context")
    lambda_id = getattr(context, "aws_request_id", None)
    if lambda_id:
        return str(lambda_id)
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex


def init_request_log(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.started = time.perf_counter()
    request_id()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    if log.isEnabledFor(logging.INFO):
        started = g.get("started", time.perf_counter())
        line = {
            "request_id": request_id(),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        log.info(json.dumps(line))
    return response
