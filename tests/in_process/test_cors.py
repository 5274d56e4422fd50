"""CORS: none by default; listed origins get headers, others do not; preflights need no key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.iris import SETOSA

from app.core.errors import ConfigError
from app.service.settings import Settings

APP_ORIGIN = "https://app.example.com"
LOCAL_ORIGIN = "http://localhost:8080"
OTHER_ORIGIN = "https://evil.example.net"
KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-api-key,x-request-id",
}


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def listed(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(CORS_ALLOWED_ORIGINS=f"{APP_ORIGIN}, {LOCAL_ORIGIN}").test_client()


def test_off_by_default(client: FlaskClient) -> None:
    answers = [
        client.post("/predict", json={"features": SETOSA}, headers={"Origin": APP_ORIGIN}),
        client.get("/health", headers={"Origin": APP_ORIGIN}),
        client.options("/predict", headers={"Origin": APP_ORIGIN, **PREFLIGHT}),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert cors_headers(answer) == {}
        assert "Origin" not in answer.vary


@pytest.mark.parametrize("origin", [APP_ORIGIN, LOCAL_ORIGIN])
def test_listed_origin_may_read_answers(listed: FlaskClient, origin: str) -> None:
    response = listed.post("/predict", json={"features": SETOSA}, headers={"Origin": origin})
    assert response.status_code == 200
    assert cors_headers(response) == {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "X-Request-Id",
    }
    assert "Origin" in response.vary


def test_other_origins_get_no_cors_headers(listed: FlaskClient) -> None:
    for path in ("/health", "/model"):
        response = listed.get(path, headers={"Origin": OTHER_ORIGIN})
        assert response.status_code == 200
        assert cors_headers(response) == {}
        assert "Origin" in response.vary  # a cache must not hand this to a listed origin
    preflight = listed.options("/predict", headers={"Origin": OTHER_ORIGIN, **PREFLIGHT})
    assert cors_headers(preflight) == {}


def test_requests_without_an_origin_get_no_cors_headers(listed: FlaskClient) -> None:
    response = listed.get("/health")
    assert cors_headers(response) == {}
    assert "Origin" in response.vary


def test_only_the_exact_origin_matches(listed: FlaskClient) -> None:
    for near_miss in (
        "https://app.example.com:8443",
        "http://app.example.com",
        "https://app.example.com.evil.net",
        "https://sub.app.example.com",
        "null",
    ):
        response = listed.get("/health", headers={"Origin": near_miss})
        assert cors_headers(response) == {}, near_miss


def test_preflight_on_predict(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEYS=KEY, CORS_ALLOWED_ORIGINS=APP_ORIGIN).test_client()
    preflight = client.options("/predict", headers={"Origin": APP_ORIGIN, **PREFLIGHT})
    assert preflight.status_code == 200  # no key: browsers never send one on a preflight
    headers = cors_headers(preflight)
    assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert set(headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST"}
    allowed = {h.lower() for h in headers["Access-Control-Allow-Headers"].split(", ")}
    assert allowed == {"content-type", "x-api-key", "x-request-id"}
    assert headers["Access-Control-Max-Age"] == "3600"
    assert "Access-Control-Allow-Credentials" not in headers
    # The request that follows is checked, and its error is readable by the page.
    refused = client.post("/predict", json={"features": SETOSA}, headers={"Origin": APP_ORIGIN})
    assert refused.status_code == 401
    assert cors_headers(refused)["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed_request = client.post(
        "/predict", json={"features": SETOSA}, headers={"Origin": APP_ORIGIN, "x-api-key": KEY}
    )
    assert allowed_request.status_code == 200
    assert cors_headers(allowed_request)["Access-Control-Expose-Headers"] == "X-Request-Id"


def test_preflight_allows_no_other_method_or_header(listed: FlaskClient) -> None:
    preflight = listed.options(
        "/predict",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,x-custom",
        },
    )
    assert preflight.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    delete = listed.options(
        "/predict", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "DELETE"}
    )
    assert "Access-Control-Allow-Methods" not in delete.headers


def test_error_answers_carry_cors_headers(listed: FlaskClient) -> None:
    answers = [
        listed.post("/predict", json={"features": [1]}, headers={"Origin": APP_ORIGIN}),
        listed.get("/nowhere", headers={"Origin": APP_ORIGIN}),
        listed.post(
            "/predict", data="{", content_type="application/json", headers={"Origin": APP_ORIGIN}
        ),
    ]
    assert [a.status_code for a in answers] == [422, 404, 400]
    for answer in answers:
        assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_any_origin(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ALLOWED_ORIGINS="*", API_KEYS=KEY).test_client()
    response = client.get("/health", headers={"Origin": OTHER_ORIGIN})
    assert cors_headers(response) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "X-Request-Id",
    }
    preflight = client.options("/predict", headers={"Origin": OTHER_ORIGIN, **PREFLIGHT})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    # Any page may call, but the key is still required.
    refused = client.post("/predict", json={"features": SETOSA}, headers={"Origin": OTHER_ORIGIN})
    assert refused.status_code == 401


def test_origins_are_read_and_normalised() -> None:
    settings = Settings.from_environ(
        {"CORS_ALLOWED_ORIGINS": f" https://App.Example.com ,,{LOCAL_ORIGIN},{APP_ORIGIN}"}
    )
    assert settings.cors_allowed_origins == (APP_ORIGIN, LOCAL_ORIGIN)
    assert Settings.from_environ({"CORS_ALLOWED_ORIGINS": " * "}).cors_allowed_origins == ("*",)
    assert Settings.from_environ({"CORS_ALLOWED_ORIGINS": " "}).cors_allowed_origins == ()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (f"*,{APP_ORIGIN}", "'*' allows every origin; list no others beside it"),
        (f"{APP_ORIGIN}/", "write 'https://app.example.com', not 'https://app.example.com/'"),
        (f"{APP_ORIGIN}/app", "got 'https://app.example.com/app'"),
        ("app.example.com", "got 'app.example.com'"),
        ("ftp://app.example.com", "got 'ftp://app.example.com'"),
        ("null", "got 'null'"),
        ("https://*.example.com", "got 'https://*.example.com'"),
    ],
)
def test_bad_origins_stop_start_up(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS") as caught:
        Settings.from_environ({"CORS_ALLOWED_ORIGINS": value})
    assert fragment in str(caught.value)
