"""Under `flask run` too, an API key sent as the request id is neither echoed nor logged."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from support.servers import LiveServer

KEY = "charlie-3e5d7c9b1a2f4e6d8c0b"
OTHER_KEY = "delta-9c8b7a6f5e4d3c2b1a0f"


def test_a_key_sent_as_the_id_is_not_echoed_under_flask_run(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(API_KEYS=KEY)
    request = urllib.request.Request(
        server.url + "/health", headers={"X-Request-Id": KEY, "x-api-key": OTHER_KEY}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        echoed = answer.headers["X-Request-Id"]
    assert echoed != KEY
    assert KEY not in server.log.read_text()
