"""The request's id: Lambda's, the caller's when it is safe to echo, or a fresh one.

On Lambda the id is the invocation's `aws_request_id`, so a client's X-Request-Id finds
the same lines in CloudWatch; elsewhere the caller's X-Request-Id is kept if it is a
short plain token and no API key (neither the request's own nor one the app accepts),
or a fresh one made. The access log writes it, and every answer carries it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from app.http.components import install, part_of

REQUEST_ID_HEADER = "X-Request-Id"
# Echo a caller's id only if it cannot forge log lines or headers: a short plain token,
# as long as a UUID or a trace id and then some.
MAX_REQUEST_ID_LENGTH = 64
_SAFE_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_LENGTH}}}")


@dataclass(frozen=True)
class NotAKey:
    """What a caller's id must not be: the request's own key (sent in `header`, which
    API Gateway may be checking with the app's keys off), or a key the app accepts now
    (`accepts`, in constant time: keys can be replaced at run time)."""

    header: str
    accepts: Callable[[Flask, str], bool]


def init_request_ids(
    app: Flask, key_header: str, accepts_key: Callable[[Flask, str], bool]
) -> None:
    install(app, NotAKey(key_header, accepts_key))


def request_id() -> str:
    state = g._get_current_object()  # one lookup of the proxy, not three
    rid: str | None = state.get("request_id")  # g holds Any; this function alone sets it
    if rid is None:
        rid = state.request_id = _derive_request_id()
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
    rule = part_of(NotAKey)
    # The caller sent both: comparing them plainly tells it nothing it does not know.
    if value == request.headers.get(rule.header, "").strip():
        return True
    return rule.accepts(current_app, value)
