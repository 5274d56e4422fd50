"""Every answer carries a request id, and one JSON log line per request names it.

Under `flask run`: live_server/test_request_log_live.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.access_log import access_lines, parse_lines
from support.event_payloads import LambdaContext, event_for, load_event
from support.iris import SETOSA, VIRGINICA

import handler
from app.auth.api_keys import replace_api_keys
from app.http.request_ids import MAX_REQUEST_ID_LENGTH
from app.http.starts import note_restore, note_warm_up

LINE_FIELDS = [
    "request_id", "method", "path", "protocol", "status", "latency_ms",
    "model_version", "rows", "cold_start", "restore", "error_code",
]  # fmt: skip


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


@pytest.mark.parametrize(
    "incoming",
    ["a" * (MAX_REQUEST_ID_LENGTH + 1), "trace\n", "", "tr ace", "trace=1", "tr\u00e6ce"],
)
def test_an_id_longer_than_a_short_token_or_not_plain_is_replaced(
    client: FlaskClient, incoming: str
) -> None:
    assert (
        client.get("/health", headers={"X-Request-Id": "a" * MAX_REQUEST_ID_LENGTH}).headers[
            "X-Request-Id"
        ]
        == "a" * MAX_REQUEST_ID_LENGTH
    )
    replaced = client.get("/health", environ_overrides={"HTTP_X_REQUEST_ID": incoming})
    assert replaced.headers["X-Request-Id"] != incoming
    assert len(replaced.headers["X-Request-Id"]) == 32


KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
OTHER_KEY = "bravo-0a9b8c7d6e5f4a3b2c1d"


def test_a_key_the_app_accepts_is_never_a_request_id(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    """Sent as the id, with another key, no key, or the same key: never echoed or logged."""
    client = make_app(API_KEYS=f"{KEY},{OTHER_KEY}").test_client()
    capsys.readouterr()
    answers = [
        client.post("/predict", json={"features": SETOSA}, headers=headers)
        for headers in (
            {"X-Request-Id": KEY, "x-api-key": OTHER_KEY},
            {"X-Request-Id": KEY},
            {"X-Request-Id": OTHER_KEY, "x-api-key": OTHER_KEY},
            {"X-Request-Id": KEY, "x-api-key": "wrong-5e4d3c2b1a0f9e8d7c6b"},
        )
    ]
    output = capsys.readouterr().out
    assert [answer.status_code for answer in answers] == [200, 401, 200, 401]
    for answer in answers:
        assert answer.headers["X-Request-Id"] not in (KEY, OTHER_KEY)
        assert KEY not in answer.get_data(as_text=True)
    assert len(output.splitlines()) == 4
    assert KEY not in output and OTHER_KEY not in output
    # Keys replaced at run time: the new one is refused as an id, the old one kept again.
    replace_api_keys(client.application, [OTHER_KEY])
    assert client.get("/health", headers={"X-Request-Id": KEY}).headers["X-Request-Id"] == KEY
    replaced = client.get("/health", headers={"X-Request-Id": OTHER_KEY})
    assert replaced.headers["X-Request-Id"] != OTHER_KEY


def test_one_json_log_line_per_request(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Values no latency or id can contain: the body is never logged.
    body_values = [5.123456, 3.654321, 1.4, 0.2]
    with caplog.at_level(logging.INFO, logger="app.access"):
        ok = client.post("/predict", json={"features": body_values})
        bad = client.post("/predict", json={"features": [9.876543]})
    output = capsys.readouterr().out
    lines = parse_lines(output)
    assert [line["status"] for line in lines] == [200, 422]
    assert [line["request_id"] for line in lines] == [
        ok.headers["X-Request-Id"],
        bad.headers["X-Request-Id"],
    ]
    assert all(line["method"] == "POST" and line["path"] == "/predict" for line in lines)
    assert all(line["latency_ms"] >= 0 for line in lines)
    assert not [v for v in ("5.123456", "3.654321", "9.876543") if v in output + caplog.text]


def test_the_line_is_written_to_stdout_once_and_never_to_the_root_logger(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lambda's runtime prefixes what reaches the root logger, which CloudWatch
    # could no longer read as a metric document; the line goes around it.
    seen_by_root: list[logging.LogRecord] = []
    root_handler = logging.Handler()
    root_handler.emit = seen_by_root.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(root_handler)
    try:
        capsys.readouterr()
        client.post("/predict", json={"features": SETOSA})
        client.get("/nowhere")
    finally:
        logging.getLogger().removeHandler(root_handler)
    lines = access_lines(capsys)
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/predict", 200),
        ("/nowhere", 404),
    ]
    assert [r for r in seen_by_root if r.name == "app.access"] == []


def test_a_prediction_line(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        one = client.post("/predict", json={"features": SETOSA})
        batch = client.post("/predict", json={"instances": [SETOSA, VIRGINICA, SETOSA]})
    first, second = access_lines(capsys)
    assert list(first)[: len(LINE_FIELDS)] == LINE_FIELDS
    expected = {
        "request_id": one.headers["X-Request-Id"],
        "method": "POST",
        "path": "/predict",
        "status": 200,
        "model_version": "1.0.0",
        "rows": 1,
        "error_code": None,
    }
    assert {name: first[name] for name in expected} == expected
    assert (second["rows"], second["model_version"], second["error_code"]) == (3, "1.0.0", None)
    assert second["request_id"] == batch.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("call", "status", "error_code", "model_version"),
    [
        # The model judged the input: its version is on the line, no rows were predicted.
        (lambda c: c.post("/predict", json={"features": [1, 2]}), 422, "invalid_input", "1.0.0"),
        # Refused before any model was involved.
        (lambda c: c.post("/predict", data="features=1"), 415, "unsupported_media_type", None),
        (lambda c: c.post("/predict", data="{", content_type="application/json"),
         400, "invalid_json", None),
        (lambda c: c.get("/nowhere"), 404, "not_found", None),
        (lambda c: c.delete("/predict"), 405, "method_not_allowed", None),
        (lambda c: c.get("/health"), 200, None, "1.0.0"),
        (lambda c: c.get("/model"), 200, None, "1.0.0"),
        (lambda c: c.get("/openapi.json"), 200, None, "1.0.0"),
    ],
)  # fmt: skip
def test_error_codes_model_versions_and_rows(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    call: Callable[[FlaskClient], object],
    status: int,
    error_code: str | None,
    model_version: str | None,
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        call(client)
    (line,) = access_lines(capsys)
    assert (line["status"], line["error_code"]) == (status, error_code)
    assert (line["model_version"], line["rows"]) == (model_version, 0)


def test_without_a_model_no_version_and_a_503_code(
    make_app: Callable[..., Flask],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = make_app(MODEL_PATH=str(tmp_path / "missing.joblib")).test_client()
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.post("/predict", json={"features": SETOSA})
        client.get("/health")
    lines = access_lines(capsys)
    assert [(line["status"], line["error_code"]) for line in lines] == [
        (503, "model_unavailable"),
        (503, "model_unavailable"),
    ]
    assert all(line["model_version"] is None and line["rows"] == 0 for line in lines)


def test_an_unexpected_error_is_logged_as_internal_error(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.INFO, logger="app.access"):
        app.test_client().get("/boom")
    (line,) = access_lines(capsys)
    assert (line["status"], line["error_code"]) == (500, "internal_error")


def test_cold_start_only_on_the_first_request_of_an_app(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first_app, second_app = make_app().test_client(), make_app().test_client()
    with caplog.at_level(logging.INFO, logger="app.access"):
        for client in (first_app, first_app, first_app, second_app, second_app):
            client.get("/health")
    assert [line["cold_start"] for line in access_lines(capsys)] == [
        True, False, False, True, False,
    ]  # fmt: skip


def test_cold_start_once_when_the_first_requests_arrive_together(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app()
    barrier = threading.Barrier(8)

    def first_request() -> None:
        barrier.wait()
        app.test_client().get("/health")

    with caplog.at_level(logging.INFO, logger="app.access"):
        threads = [threading.Thread(target=first_request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(line["cold_start"] for line in access_lines(capsys)) == [False] * 7 + [True]


def test_a_warm_up_ping_takes_the_cold_start(
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The container's first invocation was the ping; the request after it runs warm.
    monkeypatch.setattr(handler, "app", make_app())
    assert handler.handler(load_event("scheduled.json"), LambdaContext()) == {}
    with caplog.at_level(logging.INFO, logger="app.access"):
        handler.handler(event_for("rest-api.json", "GET", "/health"), LambdaContext())
    (line,) = access_lines(capsys)
    assert line["cold_start"] is False


def test_without_a_ping_the_first_invocation_is_the_cold_start(
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(handler, "app", make_app())
    with caplog.at_level(logging.INFO, logger="app.access"):
        for _ in range(2):
            handler.handler(event_for("rest-api.json", "GET", "/health"), LambdaContext())
    assert [line["cold_start"] for line in access_lines(capsys)] == [True, False]


def test_note_warm_up_ends_the_cold_start(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app()
    note_warm_up(app)
    with caplog.at_level(logging.INFO, logger="app.access"):
        app.test_client().get("/health")
    assert [line["cold_start"] for line in access_lines(capsys)] == [False]


def test_the_first_request_after_a_restore_is_the_restore_not_a_cold_start(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app()
    note_restore(app)  # before any request: a snapshot's copy, restored
    with caplog.at_level(logging.INFO, logger="app.access"):
        app.test_client().get("/health")
        app.test_client().get("/health")
        note_restore(app)  # restored again (a later copy of the same snapshot)
        app.test_client().get("/health")
    assert [(line["cold_start"], line["restore"]) for line in access_lines(capsys)] == [
        (False, True), (False, False), (False, True),
    ]  # fmt: skip


def test_a_warm_up_ping_after_a_restore_takes_the_restore(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app()
    note_restore(app)
    note_warm_up(app)
    with caplog.at_level(logging.INFO, logger="app.access"):
        app.test_client().get("/health")
    assert [(line["cold_start"], line["restore"]) for line in access_lines(capsys)] == [
        (False, False)
    ]


def test_no_header_query_value_body_or_key_reaches_the_line(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = ["key-3f9a27c1", "bearer-77e0d4", "query-5b1c88", "cookie-c0ffee", "6.987654"]
    capsys.readouterr()
    client.post(
        "/predict?api_key=query-5b1c88&debug=1",
        json={"features": [6.987654, 3.0, 5.2, 2.3]},
        headers={
            "X-Api-Key": "key-3f9a27c1",
            "Authorization": "Bearer bearer-77e0d4",
            "Cookie": "session=cookie-c0ffee",
        },
    )
    # A caller that sends its key as its request id gets a fresh id instead.
    echoed = client.get(
        "/health", headers={"X-Api-Key": "key-3f9a27c1", "X-Request-Id": "key-3f9a27c1"}
    )
    output = capsys.readouterr().out
    assert len(output.splitlines()) == 2
    assert [secret for secret in secrets if secret in output] == []
    assert echoed.headers["X-Request-Id"] != "key-3f9a27c1"
    assert "api_key" not in output and "debug" not in output


def test_log_level_setting_silences_the_access_log(
    make_app, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(LOG_LEVEL="warning").test_client()
    capsys.readouterr()
    client.get("/health")
    assert access_lines(capsys) == []
    assert capsys.readouterr().out == ""


def test_a_path_with_del_or_beyond_ascii_is_logged_escaped(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/a%7Fb")
    client.get("/caf%C3%A9")
    output = capsys.readouterr().out
    assert output.isascii() and "\x7f" not in output
    assert "\\u007f" in output and "\\u00e9" in output
    assert [line["path"] for line in parse_lines(output)] == ["/a\x7fb", "/café"]


class _BrokenStdout:
    def write(self, text: str) -> int:
        raise BrokenPipeError("the reader went away")

    def flush(self) -> None:
        raise BrokenPipeError("the reader went away")


def test_a_broken_stdout_loses_the_line_not_the_answer(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdout", _BrokenStdout())
    answer = client.post("/predict", json={"features": SETOSA})
    assert answer.status_code == 200
    assert answer.get_json()["prediction"] == "setosa"
