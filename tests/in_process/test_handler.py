"""handler.handler serves every event shape that can reach it, traps included."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import serverless_wsgi
from support.access_log import access_lines
from support.event_payloads import HTTP_SHAPES, LambdaAnswer, LambdaContext, event_for, load_event
from support.v2_tensors import (
    BINARY_HEADER,
    IRIS,
    IRIS_CLASSES,
    IRIS_FEATURES,
    IRIS_ROWS,
    OCTET_STREAM,
    binary_body,
    binary_input,
    expected_outputs,
    infer_path,
    json_input,
    outputs_by_name,
    read_answer,
)
from werkzeug.test import TestResponse as Response

import handler
from app.factory import create_app
from app.http.components import part_of
from app.service.model_slot import ModelSlot
from app.service.settings import BUNDLED_MODEL

SETOSA_BODY = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]})
CONTEXT = LambdaContext()


def invoke(event: dict) -> LambdaAnswer:
    return LambdaAnswer.of(handler.handler(event, CONTEXT))


@pytest.mark.parametrize("shape", HTTP_SHAPES)
@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_predict(shape: str, base64_body: bool) -> None:
    answer = invoke(event_for(shape, "POST", "/predict", SETOSA_BODY, base64_body=base64_body))
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"prediction": "setosa", "model_version": "1.0.0"}


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_recorded_events_as_they_are(shape: str) -> None:
    answer = invoke(load_event(shape))
    assert answer.status == 200, answer.body
    assert answer.json()["prediction"] == "setosa"


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_health_and_errors(shape: str) -> None:
    health = invoke(event_for(shape, "GET", "/health", content_type=None))
    assert (health.status, health.json()) == (200, {"status": "ok", "model_version": "1.0.0"})

    bad = invoke(event_for(shape, "POST", "/predict", '{"features": [1, "two"]}'))
    assert bad.status == 422
    assert bad.json()["error"]["code"] == "invalid_input"
    assert bad.headers["content-type"] == "application/json"

    missing = invoke(event_for(shape, "GET", "/nowhere"))
    assert (missing.status, missing.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_request_id_is_the_invocation_id_on_every_answer(
    shape: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        ok = invoke(event_for(shape, "POST", "/predict", SETOSA_BODY))
        error = invoke(event_for(shape, "POST", "/predict", "{", content_type="application/json"))
    assert ok.headers["x-request-id"] == error.headers["x-request-id"] == CONTEXT.aws_request_id
    lines = access_lines(capsys)
    assert [(line["request_id"], line["status"]) for line in lines] == [
        (CONTEXT.aws_request_id, 200),
        (CONTEXT.aws_request_id, 400),
    ]


def server_url(event: dict) -> str:
    """The base URL the app believes it is served at, from its OpenAPI document."""
    answer = invoke(event)
    assert answer.status == 200, answer.body
    return answer.json()["servers"][0]["url"]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("rest-api.json", "/prod"),
        ("rest-api-custom-domain.json", "/ml"),
        # serverless-wsgi alone answers "/$default" here: URLs built from it break.
        ("http-api-default-stage.json", "/"),
        ("http-api-named-stage.json", "/prod"),
        ("function-url.json", "/"),
        ("alb.json", "/"),
    ],
)
def test_urls_built_from_the_request_match_what_the_client_called(
    shape: str, expected: str
) -> None:
    assert server_url(event_for(shape, "GET", "/openapi.json", content_type=None)) == expected


def test_named_http_api_stage_routes_despite_the_stage_in_raw_path() -> None:
    event = event_for("http-api-named-stage.json", "POST", "/predict", SETOSA_BODY)
    assert event["rawPath"] == "/prod/predict"
    assert invoke(event).status == 200
    # The same event without a proxy route: the stage is still stripped.
    event.pop("pathParameters")
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    assert invoke(event).status == 200


def test_custom_domain_base_path_is_not_part_of_the_route() -> None:
    event = event_for("rest-api-custom-domain.json", "GET", "/health", content_type=None)
    assert event["path"] == "/ml/health"
    assert invoke(event).json()["status"] == "ok"


def test_null_authorizer_on_payload_2() -> None:
    event = event_for("http-api-default-stage.json", "POST", "/predict", SETOSA_BODY)
    event["requestContext"]["authorizer"] = None
    with pytest.raises(AttributeError):  # the trap, in serverless_wsgi itself
        serverless_wsgi.handle_request(handler.app, event, CONTEXT)
    assert invoke(event).status == 200


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_event_without_headers(shape: str) -> None:
    event = event_for(shape, "GET", "/health")
    for key in ("headers", "multiValueHeaders"):
        event.pop(key, None)
    with pytest.raises(KeyError):  # the trap, in serverless_wsgi itself
        serverless_wsgi.handle_request(handler.app, event, CONTEXT)
    assert invoke(event).status == 200
    # With no Content-Type a POST is refused cleanly, not with a crash.
    event = event_for(shape, "POST", "/predict", SETOSA_BODY)
    for key in ("headers", "multiValueHeaders"):
        event.pop(key, None)
    answer = invoke(event)
    assert (answer.status, answer.json()["error"]["code"]) == (415, "unsupported_media_type")


def test_alb_client_address_comes_from_x_forwarded_for(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = handler.app.wsgi_app
    monkeypatch.setattr(
        handler.app,
        "wsgi_app",
        lambda env, start: seen.append(env["REMOTE_ADDR"]) or real(env, start),
    )
    invoke(event_for("alb.json", "GET", "/health"))
    invoke(event_for("alb-multi-value-headers.json", "GET", "/health"))
    assert seen == ["192.0.2.44", "192.0.2.44"]


@pytest.mark.parametrize("name", ["scheduled.json", "warmup-plugin.json"])
def test_warmup_events_return_at_once(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def untouchable(*args: object) -> None:
        raise AssertionError("a warm-up event reached the app")

    monkeypatch.setattr(serverless_wsgi, "handle_request", untouchable)
    monkeypatch.setattr(handler.app, "wsgi_app", untouchable)
    assert handler.handler(load_event(name), CONTEXT) == {}


def test_the_model_is_built_once_at_import() -> None:
    slot = part_of(ModelSlot, handler.app)
    assert slot.predictor is not None
    invoke(event_for("rest-api.json", "POST", "/predict", SETOSA_BODY))
    assert part_of(ModelSlot, handler.app) is slot


# Every protocol through every event shape: JSON answers go out as text, binary V2
# answers base64-encoded, and a body API Gateway base64-encodes (binaryMediaTypes */*
# makes it encode every one) is decoded first.

V2_INFER = infer_path(IRIS)
FLAT_ROWS = [value for row in IRIS_ROWS for value in row]
BOTH_OUTPUTS = [{"name": "predict"}, {"name": "predict_proba"}]
JSON_REQUESTS = {
    "native": ("/predict", {"instances": IRIS_ROWS, "return_probabilities": True}),
    "mlflow": ("/invocations", {"dataframe_split": {"columns": IRIS_FEATURES, "data": IRIS_ROWS}}),
    "v2-json": (
        V2_INFER,
        {
            "id": "handler",
            "inputs": [json_input("input-0", "FP64", [3, 4], FLAT_ROWS)],
            "outputs": BOTH_OUTPUTS,
        },
    ),
}
# tritonclient's binary request: no Content-Type, the header length, binary outputs.
BINARY_BODY, BINARY_HEADERS = binary_body(
    {"id": "handler", "parameters": {"binary_data_output": True}, "outputs": BOTH_OUTPUTS},
    [binary_input("input-0", "FP64", [3, 4], FLAT_ROWS)],
)


def app_answer(
    method: str, path: str, body: bytes | None, content_type: str | None, headers: dict
) -> Response:
    """What the app itself answers, with no event in between."""
    client = handler.app.test_client()
    return client.open(path, method=method, data=body, content_type=content_type, headers=headers)


@pytest.mark.parametrize("shape", HTTP_SHAPES)
@pytest.mark.parametrize("protocol", list(JSON_REQUESTS))
@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_each_protocol_answers_json_as_text(shape: str, protocol: str, base64_body: bool) -> None:
    path, payload = JSON_REQUESTS[protocol]
    body = json.dumps(payload)
    answer = invoke(event_for(shape, "POST", path, body, base64_body=base64_body))
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert not answer.base64_encoded
    direct = app_answer("POST", path, body.encode(), "application/json", {})
    assert answer.data == direct.get_data()
    expected = expected_outputs(answer_of_predict(), IRIS_CLASSES)
    if protocol == "native":
        assert expected_outputs(answer.json(), IRIS_CLASSES) == expected
    elif protocol == "mlflow":
        assert answer.json() == {"predictions": expected["predict"]}
    else:
        assert answer.json()["id"] == "handler"
        assert outputs_by_name(answer.json()) == expected


def answer_of_predict() -> dict:
    path, payload = JSON_REQUESTS["native"]
    response = app_answer("POST", path, json.dumps(payload).encode(), "application/json", {})
    return response.get_json()


@pytest.mark.parametrize("shape", HTTP_SHAPES)
@pytest.mark.parametrize("content_type", [None, OCTET_STREAM], ids=["none", "octet-stream"])
def test_v2_binary_goes_out_base64_encoded(shape: str, content_type: str | None) -> None:
    event = event_for(
        shape,
        "POST",
        V2_INFER,
        BINARY_BODY,
        content_type=content_type,
        base64_body=True,
        headers=BINARY_HEADERS,
    )
    assert event["isBase64Encoded"] is True
    result = handler.handler(event, CONTEXT)
    assert result["isBase64Encoded"] is True
    answer = LambdaAnswer.of(result)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == OCTET_STREAM
    direct = app_answer("POST", V2_INFER, BINARY_BODY, content_type, BINARY_HEADERS)
    assert direct.status_code == 200
    assert answer.data == direct.get_data()  # byte for byte
    assert answer.headers[BINARY_HEADER.lower()] == direct.headers[BINARY_HEADER]
    decoded = read_answer(answer.data, answer.headers)
    assert decoded["id"] == "handler"
    assert outputs_by_name(decoded) == expected_outputs(answer_of_predict(), IRIS_CLASSES)


@pytest.mark.parametrize(
    ("shape", "seen"),
    [
        ("rest-api.json", "/prod"),
        ("rest-api-custom-domain.json", "/ml"),
        ("http-api-named-stage.json", "/prod"),
    ],
)
def test_v2_binary_behind_a_stage_or_base_path(
    shape: str,
    seen: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = event_for(
        shape, "POST", V2_INFER, BINARY_BODY, None, base64_body=True, headers=BINARY_HEADERS
    )
    with caplog.at_level(logging.INFO, logger="app.access"):
        answer = invoke(event)
    assert (answer.status, answer.base64_encoded) == (200, True)
    (line,) = access_lines(capsys)
    assert (line["path"], line["protocol"], line["rows"]) == (V2_INFER, "v2", 3)
    # The prefix the client saw is the app's script root, not part of the route.
    document = invoke(event_for(shape, "GET", "/openapi.json", content_type=None)).json()
    assert document["servers"] == [{"url": seen}]


# A binary request with a byte too many after its tensor.
BAD_BINARY_BODY, BAD_BINARY_HEADERS = binary_body(
    {}, [binary_input("input-0", "FP64", [1, 4], [1.0] * 4)], tail=b"x"
)
TEXT_ROUTES = [
    ("GET", "/health", None, None, 200),
    ("GET", "/model", None, None, 200),
    ("GET", "/openapi.json", None, None, 200),
    ("GET", "/ping", None, None, 200),
    ("GET", "/v2", None, None, 200),
    ("GET", "/v2/health/live", None, None, 200),
    ("GET", "/v2/health/ready", None, None, 200),
    ("GET", f"/v2/models/{IRIS}", None, None, 200),
    ("GET", f"/v2/models/{IRIS}/versions/1.0.0/ready", None, None, 200),
    ("POST", "/predict", '{"features": [1, "two"]}', "application/json", 422),
    ("POST", "/predict", "features=1", "text/plain", 415),
    ("POST", "/invocations", '{"dataframe_split": {"data": 3}}', "application/json", 400),
    ("POST", "/invocations", "{", "application/json", 400),
    ("POST", V2_INFER, '{"inputs": []}', "application/json", 400),
    ("POST", V2_INFER, "{", None, 400),
    ("POST", V2_INFER, BAD_BINARY_BODY, None, 400),  # a binary request's error: JSON
    ("POST", "/v2/models/wine/infer", json.dumps(JSON_REQUESTS["v2-json"][1]), None, 404),
    ("GET", f"/v2/models/{IRIS}/versions/9/ready", None, None, 404),
    ("GET", "/nowhere", None, None, 404),
    ("GET", "/v2/nowhere", None, None, 404),
    ("DELETE", "/health", None, None, 405),
    ("PUT", V2_INFER, None, None, 405),
    ("GET", "/invocations", None, None, 405),
]  # fmt: skip


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_every_json_answer_goes_out_as_text(shape: str) -> None:
    for method, path, body, content_type, status in TEXT_ROUTES:
        extra = BAD_BINARY_HEADERS if isinstance(body, bytes) else {}
        # As API Gateway sends them with binaryMediaTypes */*: every body base64-encoded.
        event = event_for(shape, method, path, body, content_type, body is not None, extra)
        result = handler.handler(event, CONTEXT)
        answer = LambdaAnswer.of(result)
        where = f"{method} {path}"
        assert answer.status == status, (where, answer.body)
        assert result["isBase64Encoded"] is False, where
        assert answer.headers["content-type"] == "application/json", where
        assert answer.json(), where


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_mlflow_version_is_text_too(shape: str) -> None:
    result = handler.handler(event_for(shape, "GET", "/version", content_type=None), CONTEXT)
    assert result["isBase64Encoded"] is False
    assert LambdaAnswer.of(result).headers["content-type"].startswith("text/plain")


# The edges a prober tries, through API Gateway's REST and HTTP API events as through the
# test client: an event reaches the same app.
API_SHAPES = ["rest-api.json", "http-api-default-stage.json", "http-api-named-stage.json"]
KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"


@pytest.fixture
def keyed_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """handler.handler serving an app with API keys on."""
    monkeypatch.setattr(handler, "app", create_app({"API_KEYS": KEY}))


@pytest.mark.parametrize("shape", API_SHAPES)
def test_options_tells_no_routes_without_a_key(shape: str, keyed_handler: None) -> None:
    for path in ("/nowhere", "/v2/nowhere", "/predict/"):
        refused = invoke(event_for(shape, "OPTIONS", path, content_type=None))
        assert refused.status == 401, path
        assert "x-api-key" in refused.body, path
        keyed = event_for(shape, "OPTIONS", path, content_type=None, headers={"x-api-key": KEY})
        assert invoke(keyed).status == 404, path
    assert invoke(event_for(shape, "OPTIONS", "/predict", content_type=None)).status == 200


@pytest.mark.parametrize("shape", API_SHAPES)
def test_a_key_sent_as_the_request_id_is_not_echoed(
    shape: str, keyed_handler: None, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"x-api-key": KEY, "X-Request-Id": KEY}
    answer = invoke(event_for(shape, "POST", "/predict", SETOSA_BODY, headers=headers))
    assert answer.status == 200, answer.body
    assert answer.headers["x-request-id"] == CONTEXT.aws_request_id
    assert KEY not in capsys.readouterr().out


@pytest.mark.parametrize("shape", API_SHAPES)
def test_the_unavailable_reason_names_no_path(
    shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tmp_path / "prod-v7.joblib"
    shutil.copy(BUNDLED_MODEL, artifact)  # and no metadata beside it
    monkeypatch.setattr(handler, "app", create_app({"MODEL_PATH": str(artifact)}))
    for path, field in (("/health", "reason"), ("/ping", "reason"), ("/v2/health/ready", "error")):
        answer = invoke(event_for(shape, "GET", path, content_type=None))
        assert answer.status == 503, path
        assert "model metadata not found: prod-v7.json" in answer.json()[field], path
        assert str(tmp_path) not in answer.body, path
    answer = invoke(event_for(shape, "POST", "/predict", SETOSA_BODY))
    assert answer.json()["error"]["code"] == "model_unavailable"
    assert str(tmp_path) not in answer.body


@pytest.mark.parametrize("shape", API_SHAPES)
def test_no_path_is_answered_with_a_redirect(shape: str) -> None:
    for path in ("/v2//health/live", "/predict/", "/v2/", "/try-it//x", "/try-it//page.js"):
        for method in ("GET", "HEAD", "OPTIONS"):
            event = event_for(
                shape, method, path, content_type=None, headers={"Host": "evil.example"}
            )
            answer = invoke(event)
            assert answer.status == 404, (method, path, answer.status)
            assert "location" not in answer.headers, (method, path)
