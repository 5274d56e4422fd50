"""Real Lambda event payloads from tests/events/, retargeted to any request.

Each file is a complete event as API Gateway, a function URL or an ALB sends it for
POST /predict; `event_for` rewrites method, path and body the way that source would.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

from support.paths import TESTS

EVENTS = TESTS / "events"
HTTP_SHAPES = [
    "rest-api.json",
    "rest-api-single-value-headers.json",
    "rest-api-custom-domain.json",
    "http-api-default-stage.json",
    "http-api-named-stage.json",
    "function-url.json",
    "alb.json",
    "alb-multi-value-headers.json",
    "serverless-offline.json",
]
_RECORDED_PATH = "/predict"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def event_for(
    name: str,
    method: str,
    path: str,
    body: str | bytes | None = None,
    content_type: str | None = "application/json",
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`body` as bytes goes base64-encoded, as API Gateway sends a binary media type;
    `headers` are added to the recorded ones."""
    if isinstance(body, bytes) and not base64_body:
        raise ValueError("a bytes body travels base64-encoded in an event")
    event = copy.deepcopy(load_event(name))
    if "elb" in event.get("requestContext", {}):
        event["httpMethod"] = method
        event["path"] = path
    elif event.get("version") == "2.0":
        context = event["requestContext"]
        prefix = event["rawPath"][: -len(_RECORDED_PATH)]  # "/prod" on a named stage
        event["rawPath"] = context["http"]["path"] = prefix + path
        context["http"]["method"] = method
        if "pathParameters" in event:
            event["pathParameters"] = {"proxy": path.lstrip("/")}
    else:
        context = event["requestContext"]
        mapped = event["path"][: -len(_RECORDED_PATH)]  # a custom domain's base path
        seen = context["path"][: -len(_RECORDED_PATH)]  # the stage, or that base path
        event["httpMethod"] = context["httpMethod"] = method
        event["path"] = mapped + path
        context["path"] = seen + path
        if path == "/":
            event["resource"] = context["resourcePath"] = "/"
            event["pathParameters"] = None
        else:
            event["pathParameters"] = {"proxy": path.lstrip("/")}
    _set_content_type(event, content_type)
    for header, value in (headers or {}).items():
        _set_header(event, header, value)
    if body is not None and base64_body:
        raw = body if isinstance(body, bytes) else body.encode()
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
        event["isBase64Encoded"] = False
    return event


def _set_content_type(event: dict[str, Any], content_type: str | None) -> None:
    _set_header(event, "content-type", content_type)


def _set_header(event: dict[str, Any], name: str, value: str | None) -> None:
    """Replace (or with None remove) a header in each header map the event has."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if not headers:
            continue
        for present in [n for n in headers if n.lower() == name.lower()]:
            del headers[present]
        if value is not None:
            headers[name] = value if key == "headers" else [value]


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that the code reads."""

    aws_request_id: str = "8f8c6a8e-2a1d-4c1b-9f3e-5d2b7c9a0e11"
    function_name: str = "model-prediction-api-dev-api"
    memory_limit_in_mb: int = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass(frozen=True)
class LambdaAnswer:
    """A handler's return value, read the way API Gateway or an ALB reads it: `data` is
    the body the client receives, `base64_encoded` how the function sent it."""

    status: int
    headers: dict[str, str]
    data: bytes
    base64_encoded: bool

    @classmethod
    def of(cls, result: dict[str, Any]) -> LambdaAnswer:
        if "multiValueHeaders" in result:
            headers = {k.lower(): ", ".join(v) for k, v in result["multiValueHeaders"].items()}
        else:
            headers = {k.lower(): v for k, v in result.get("headers", {}).items()}
        body = result.get("body", "")
        encoded = bool(result.get("isBase64Encoded"))
        data = base64.b64decode(body, validate=True) if encoded else body.encode()
        return cls(result["statusCode"], headers, data, encoded)

    @property
    def body(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.data)
