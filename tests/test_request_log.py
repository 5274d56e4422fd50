"""Every answer carries a request id, and one log line per request names it."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import SETOSA
from flask.testing import FlaskClient


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]


def test_each_answer_has_a_fresh_request_id(client: FlaskClient) -> None:
    ids = {client.get("/health").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("post", "/predict", 415), ("get", "/nowhere", 404), ("put", "/health", 405)],
)
def test_errors_carry_the_request_id_too(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.headers["X-Request-Id"]


def test_a_safe_incoming_id_is_kept_an_unsafe_one_replaced(client: FlaskClient) -> None:
    kept = client.get("/health", headers={"X-Request-Id": "trace-42.a:b"})
    assert kept.headers["X-Request-Id"] == "trace-42.a:b"
    replaced = client.get("/health", headers={"X-Request-Id": 'x" injected=1 ' + "y" * 200})
    assert replaced.headers["X-Request-Id"] != "x"
    assert len(replaced.headers["X-Request-Id"]) == 32


def test_one_json_log_line_per_request(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        ok = client.post("/predict", json={"features": SETOSA})
        bad = client.post("/predict", json={"features": [1]})
    lines = access_lines(caplog)
    assert [line["status"] for line in lines] == [200, 422]
    assert [line["request_id"] for line in lines] == [
        ok.headers["X-Request-Id"],
        bad.headers["X-Request-Id"],
    ]
    assert all(line["method"] == "POST" and line["path"] == "/predict" for line in lines)
    assert all(line["latency_ms"] >= 0 for line in lines)
    assert "5.1" not in caplog.text  # the body is never logged


def test_log_level_setting_silences_the_access_log(
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(LOG_LEVEL="warning").test_client()
    client.get("/health")
    assert access_lines(caplog) == []
