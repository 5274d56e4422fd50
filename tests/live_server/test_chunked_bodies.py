"""A body sent without a Content-Length (chunked) is held to MAX_CONTENT_LENGTH too.

Werkzeug's server ends such a stream itself, and Werkzeug's own guard cuts it at the
limit without a word: a valid start padded past the limit would be parsed and answered.
Against `flask run`, a chunked body of exactly the limit is answered, and one byte more
is a 413 in each protocol's shape.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from support.iris import SETOSA
from support.servers import LiveServer
from support.v2_tensors import IRIS, infer_path

LIMIT = 4096
TOO_LARGE = f"The request body is larger than the limit of {LIMIT} bytes."
# Each protocol's one-row request, and its 413.
PROTOCOLS = {
    "native": (
        "/predict",
        {"features": SETOSA},
        {"error": {"code": "payload_too_large", "message": TOO_LARGE}},
    ),
    "mlflow": (
        "/invocations",
        {"inputs": [SETOSA]},
        {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": TOO_LARGE},
    ),
    "v2": (
        infer_path(IRIS),
        {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": SETOSA}]},
        {"error": TOO_LARGE},
    ),
}


@pytest.fixture(scope="module")
def server(live_server: Callable[..., LiveServer]) -> str:
    return live_server(MAX_CONTENT_LENGTH=str(LIMIT)).url


def post_chunked(base: str, path: str, body: bytes) -> tuple[int, Any]:
    """POST `body` with Transfer-Encoding: chunked, in chunks of 1,000 bytes."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        chunks = (body[start : start + 1000] for start in range(0, len(body), 1000))
        connection.request(
            "POST",
            path,
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def padded(request: dict[str, Any], size: int) -> bytes:
    """A valid request, then whitespace to `size` bytes: valid JSON if it were cut short."""
    body = json.dumps(request).encode()
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_chunked_body_at_the_limit_is_answered(server: str, protocol: str) -> None:
    path, request, _ = PROTOCOLS[protocol]
    status, answer = post_chunked(server, path, padded(request, LIMIT))
    assert status == 200, answer


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("size", [LIMIT + 1, 16 * LIMIT], ids=["one-byte-over", "far-over"])
def test_a_chunked_body_over_the_limit_is_a_413(server: str, protocol: str, size: int) -> None:
    path, request, refusal = PROTOCOLS[protocol]
    assert post_chunked(server, path, padded(request, size)) == (413, refusal)
