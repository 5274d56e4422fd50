"""`make serve`'s server, a real process on the loopback: its answers carry the headers
the app sets in process, name the product but no version, and redirect no path."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from support.iris import SETOSA
from support.servers import LiveServer

from app.http.server_info import SERVER_NAME

PREDICT = {"features": SETOSA}


@pytest.fixture(scope="module")
def served(live_server: Callable[..., LiveServer]) -> tuple[str, int]:
    address = urlsplit(live_server().url)
    assert address.hostname is not None and address.port is not None
    return address.hostname, address.port


def raw(
    served: tuple[str, int], method: str, path: str, body: bytes | None = None, **headers: str
) -> http.client.HTTPResponse:
    """A request sent as written: the path is not normalised on the way, the Host is ours."""
    connection = http.client.HTTPConnection(*served, timeout=10)
    connection.putrequest(method, path, skip_host="Host" in headers)
    for name, value in headers.items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_the_server_header_names_the_product_and_no_version(served: tuple[str, int]) -> None:
    for method, path in (("GET", "/health"), ("GET", "/nowhere"), ("OPTIONS", "/predict")):
        answer = raw(served, method, path)
        assert answer.getheaders().count(("Server", SERVER_NAME)) == 1, path
        values = " ".join(value for _, value in answer.getheaders())
        assert "Werkzeug" not in values and "Python" not in values, values


def test_answers_from_the_server_carry_the_headers(served: tuple[str, int]) -> None:
    body = json.dumps(PREDICT).encode()
    answer = raw(served, "POST", "/predict", body, **{"Content-Type": "application/json"})
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["//predict", "/v2//health/live", "/predict/", "/v2/", "/try-it//x", "//"]
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_the_server_redirects_no_path(served: tuple[str, int], path: str, method: str) -> None:
    answer = raw(served, method, path, Host="evil.example")
    assert not 300 <= answer.status < 400, (answer.status, answer.headers["Location"])
    assert answer.headers["Location"] is None
