"""handler.handler serves every event shape that can reach it, traps included."""

from __future__ import annotations

import json
import logging

import pytest
import serverless_wsgi
from event_payloads import HTTP_SHAPES, LambdaAnswer, LambdaContext, event_for, load_event

import handler

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
    shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        ok = invoke(event_for(shape, "POST", "/predict", SETOSA_BODY))
        error = invoke(event_for(shape, "POST", "/predict", "{", content_type="application/json"))
    assert ok.headers["x-request-id"] == error.headers["x-request-id"] == CONTEXT.aws_request_id
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]
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
    slot = handler.app.extensions["model_slot"]
    assert slot.predictor is not None
    invoke(event_for("rest-api.json", "POST", "/predict", SETOSA_BODY))
    assert handler.app.extensions["model_slot"] is slot
