"""API keys: with keys set every route needs one but the open routes; it fails closed."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.iris import SETOSA
from support.paths import ROOT

import app.auth.api_keys
from app.auth.api_keys import ApiKeys, replace_api_keys
from app.auth.keys import API_KEY_HEADER
from app.auth.open_routes import OPEN_ROUTES, openapi_path
from app.core.errors import ConfigError
from app.factory import create_app
from app.service.settings import Settings

KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
OTHER_KEY = "bravo-0a9b8c7d6e5f4a3b2c1d"
WRONG_KEY = "wrong-5e4d3c2b1a0f9e8d7c6b"


@pytest.fixture
def keyed(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(API_KEYS=f"{KEY},{OTHER_KEY}").test_client()


def predict(client: FlaskClient, **headers: str):
    return client.post("/predict", json={"features": SETOSA}, headers=headers)


def test_off_by_default(client: FlaskClient) -> None:
    assert predict(client).status_code == 200
    assert client.get("/model").status_code == 200
    assert predict(client, **{"x-api-key": WRONG_KEY}).status_code == 200


def test_every_configured_key_opens_the_protected_routes(keyed: FlaskClient) -> None:
    for key in (KEY, OTHER_KEY):
        response = predict(keyed, **{"x-api-key": key})
        assert response.status_code == 200
        assert response.get_json()["prediction"] == "setosa"
        assert keyed.get("/model", headers={"x-api-key": key}).status_code == 200


def test_header_name_is_case_insensitive(keyed: FlaskClient) -> None:
    assert predict(keyed, **{"X-API-Key": KEY}).status_code == 200


MISSING = "An API key is required: send it in the x-api-key header."
INVALID = "The x-api-key header does not hold a valid API key."


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, MISSING),
        ({"x-api-key": ""}, MISSING),
        ({"x-api-key": "  "}, MISSING),
        ({"Authorization": f"Bearer {KEY}"}, MISSING),
        ({"x-api-key": WRONG_KEY}, INVALID),
        ({"x-api-key": KEY[:-1]}, INVALID),
        ({"x-api-key": KEY + "x"}, INVALID),
        ({"x-api-key": KEY.upper()}, INVALID),
        ({"x-api-key": f"{KEY},{OTHER_KEY}"}, INVALID),
    ],
)
def test_missing_or_wrong_key_is_401(keyed: FlaskClient, headers: dict, message: str) -> None:
    for response in (predict(keyed, **headers), keyed.get("/model", headers=headers)):
        assert response.status_code == 401
        assert response.get_json() == {"error": {"code": "unauthorized", "message": message}}
        assert response.headers["X-Request-Id"]
        body = response.get_data(as_text=True)
        assert KEY not in body and WRONG_KEY not in body


def test_head_on_model_is_protected_too(keyed: FlaskClient) -> None:
    assert keyed.head("/model").status_code == 401
    assert keyed.head("/model", headers={"x-api-key": KEY}).status_code == 200


def test_health_and_document_stay_open(keyed: FlaskClient) -> None:
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/openapi.json").status_code == 200


def test_the_key_is_checked_before_the_body_is_read(keyed: FlaskClient) -> None:
    broken = keyed.post("/predict", data="{", content_type="application/json")
    assert broken.status_code == 401
    oversized = keyed.post("/predict", data=" " * (2 << 20), content_type="application/json")
    assert oversized.status_code == 401
    keyed_broken = keyed.post(
        "/predict", data="{", content_type="application/json", headers={"x-api-key": KEY}
    )
    assert keyed_broken.status_code == 400


def test_unknown_paths_and_methods_need_a_key_before_they_are_told(keyed: FlaskClient) -> None:
    # Fail closed: without a key nothing, not even which routes exist, is answered.
    assert keyed.get("/nowhere").status_code == 401
    assert keyed.get("/predict").status_code == 401
    assert keyed.get("/v2/nowhere").status_code == 401
    with_key = {"x-api-key": KEY}
    assert keyed.get("/nowhere", headers=with_key).status_code == 404
    assert keyed.get("/predict", headers=with_key).status_code == 405
    assert keyed.get("/v2/nowhere", headers=with_key).get_json()["error"]


def test_every_route_but_the_open_ones_needs_a_key(keyed: FlaskClient) -> None:
    """Walks the app's own route table, so a route added later is covered unasked."""
    app = keyed.application
    open_paths = {path for _, path in OPEN_ROUTES}
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = openapi_path(rule.rule).replace("{name}", "iris-logistic-regression")
        path = path.replace("{version}", "1.0.0")
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            response = keyed.open(path, method=method)
            if ("GET" if method == "HEAD" else method, openapi_path(rule.rule)) in OPEN_ROUTES:
                assert response.status_code != 401, (method, rule.rule)
            else:
                assert response.status_code == 401, (method, rule.rule)
                if method != "HEAD":
                    assert API_KEY_HEADER in response.get_data(as_text=True)
            checked += 1
    assert checked > 2 * len(open_paths)


def test_preflight_needs_no_key(keyed: FlaskClient) -> None:
    assert keyed.options("/predict").status_code == 200
    assert keyed.options("/model").status_code == 200


@pytest.mark.parametrize("path", ["/nowhere", "/v2/nowhere", "/predict/", "/invocations/x"])
def test_options_on_a_path_that_is_no_route_needs_a_key(keyed: FlaskClient, path: str) -> None:
    # Else OPTIONS would list the routes: 200 on a route, 404 elsewhere, without a key.
    refused = keyed.options(path)
    assert refused.status_code == 401
    assert API_KEY_HEADER in refused.get_data(as_text=True)
    assert keyed.options(path, headers={"x-api-key": KEY}).status_code == 404
    assert keyed.options("/predict").status_code == 200


def test_the_keys_can_be_replaced_and_none_refuses_all(keyed: FlaskClient) -> None:
    replace_api_keys(keyed.application, [WRONG_KEY])
    assert predict(keyed, **{"x-api-key": WRONG_KEY}).status_code == 200
    assert predict(keyed, **{"x-api-key": KEY}).status_code == 401
    replace_api_keys(keyed.application, [])
    for key in (KEY, OTHER_KEY, WRONG_KEY):
        assert predict(keyed, **{"x-api-key": key}).status_code == 401
    assert predict(keyed).status_code == 401
    assert keyed.get("/health").status_code == 200


def test_an_app_without_keys_has_none_to_replace(client: FlaskClient) -> None:
    with pytest.raises(ValueError, match="built without API keys"):
        replace_api_keys(client.application, [KEY])
    assert predict(client).status_code == 200  # still open, as it was built


def test_blanks_and_duplicates_in_the_list(make_app: Callable[..., Flask]) -> None:
    settings = Settings.from_environ({"API_KEYS": f" {KEY} ,, {OTHER_KEY},{KEY}, "})
    assert settings.api_keys == (KEY, OTHER_KEY)
    client = make_app(API_KEYS=f" {KEY} ,, {OTHER_KEY},{KEY}, ").test_client()
    assert predict(client, **{"x-api-key": OTHER_KEY}).status_code == 200
    assert predict(client, **{"x-api-key": f" {KEY}"}).status_code == 200
    assert Settings.from_environ({"API_KEYS": "   "}).api_keys == ()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (" , ,", "API_KEYS holds no key"),
        (f"{KEY},short-key", "API_KEYS: key 2 is shorter than 20 characters"),
        (f"{KEY[:10]} {KEY[10:]}", "API_KEYS: key 1 holds a character other than visible ASCII"),
        (f"{KEY}é", "API_KEYS: key 1 holds a character other than visible ASCII"),
    ],
)
def test_unusable_keys_stop_start_up_without_echoing_them(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        create_app({"API_KEYS": value})
    for key in value.split(","):
        if key.strip():
            assert key.strip() not in str(caught.value)


def test_keys_and_secret_together_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        create_app({"API_KEYS": KEY, "API_KEYS_SECRET": "prod/api-keys"})
    message = str(caught.value)
    assert "API_KEYS and API_KEYS_SECRET are both set" in message
    assert KEY not in message


@pytest.mark.parametrize(
    "secret", ["name with spaces", "arn:aws:s3:::bucket/key", "arn:aws:secretsmanager:x"]
)
def test_secret_must_be_a_name_or_an_arn(secret: str) -> None:
    with pytest.raises(ConfigError, match="API_KEYS_SECRET must be a Secrets Manager secret"):
        Settings.from_environ({"API_KEYS_SECRET": secret})


def test_settings_never_show_the_keys() -> None:
    settings = Settings.from_environ({"API_KEYS": f"{KEY},{OTHER_KEY}"})
    assert KEY not in repr(settings) and KEY not in str(settings)


def test_every_key_is_compared_and_always_as_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit, and nothing of a key's length reaches the comparison."""
    compared: list[tuple[bytes, bytes]] = []
    real = app.auth.api_keys.hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app.auth.api_keys.hmac, "compare_digest", recording)
    keys = ApiKeys([KEY, OTHER_KEY, "charlie-" + "9" * 20])
    for presented, accepted in [(KEY, True), (OTHER_KEY, True), ("x", False), (WRONG_KEY, False)]:
        compared.clear()
        assert keys.accepts(presented) is accepted
        assert len(compared) == 3
        assert {len(a) for a, _ in compared} | {len(b) for _, b in compared} == {32}
        assert all(b == hashlib.sha256(presented.encode()).digest() for _, b in compared)


def test_keys_never_reach_a_log(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    client = make_app(
        API_KEYS=f"{KEY},{OTHER_KEY}",
        LOG_LEVEL="DEBUG",
        CORS_ALLOWED_ORIGINS="https://app.example.com",
    ).test_client()
    origin = {"Origin": "https://app.example.com"}
    statuses = [
        predict(client, **{"x-api-key": KEY}, **origin).status_code,
        predict(client, **{"x-api-key": WRONG_KEY}, **origin).status_code,
        client.get("/model", headers={"x-api-key": OTHER_KEY}).status_code,
        client.get("/model", headers={"x-api-key": WRONG_KEY}).status_code,
        client.options(
            "/predict",
            headers={**origin, "Access-Control-Request-Method": "POST", "x-api-key": WRONG_KEY},
        ).status_code,
        client.post(
            "/predict", data="{", content_type="application/json", headers={"x-api-key": KEY}
        ).status_code,
    ]
    assert statuses == [200, 401, 200, 401, 200, 400]
    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err
    # The capture did see the requests: as lines on stdout (not as log records).
    assert captured.out.count('"status":401') == 2
    for key in (KEY, OTHER_KEY, WRONG_KEY):
        assert key not in logged


def test_keys_from_the_environment_never_import_boto3() -> None:
    script = (
        "import sys; from app.factory import create_app; "
        f"create_app({{'API_KEYS': {KEY!r}}}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
