"""The front door at GET /: content negotiation, the JSON index, the page's headers and
assets, TRY_IT_PAGE=0, keys on, and the page through the Lambda handler under a stage."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.access_log import access_lines
from support.event_payloads import LambdaAnswer, LambdaContext, event_for

import handler
from app.core.errors import ConfigError
from app.front_door import ASSET_TYPES, CONTENT_SECURITY_POLICY, inline_script_hashes
from app.service.settings import Settings

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
KEY = "front-door-key-7c6b5a4d3e2f"
PAGE_FILES = ("page.html", "page.js", "page.css", "icon.svg")


def page(client: FlaskClient, path: str = "/", **headers: str) -> Any:
    return client.get(path, headers={"Accept": BROWSER, **headers})


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("application/json;q=0.5, text/html", True),
        (None, False),
        ("*/*", False),
        ("application/json", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html, application/json", False),  # a tie goes to JSON
        ("image/png", False),
    ],
)
def test_a_browser_gets_the_page_anything_else_the_index(
    client: FlaskClient, accept: str | None, html: bool
) -> None:
    response = client.get("/", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.mimetype == ("text/html" if html else "application/json")
    assert "Accept" in response.headers["Vary"]


def test_the_index_lists_every_operation_of_the_document(client: FlaskClient) -> None:
    index = client.get("/").get_json()
    document = client.get("/openapi.json").get_json()
    operations = [
        (method.upper(), path, operation["summary"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert [(e["method"], e["path"], e["summary"]) for e in index["endpoints"]] == operations
    assert {"POST /predict", "GET /", "GET /try-it/{asset}", "POST /invocations"} <= {
        f"{e['method']} {e['path']}" for e in index["endpoints"]
    }
    assert not any(e["api_key"] for e in index["endpoints"])  # keys are off
    assert index["model"] == {
        "name": "iris-logistic-regression",
        "version": "1.0.0",
        "task": "classification",
    }
    assert (index["openapi"], index["try_it"]) == ("/openapi.json", "/")
    assert index["name"] == "model-prediction-api"


def test_the_index_says_which_operations_need_a_key(make_app: Callable[..., Flask]) -> None:
    keyed = make_app(API_KEYS=KEY).test_client()
    index = keyed.get("/").get_json()
    needing = {f"{e['method']} {e['path']}" for e in index["endpoints"] if e["api_key"]}
    assert "POST /predict" in needing and "GET /model" in needing
    assert not {"GET /", "GET /try-it/{asset}", "GET /health", "GET /openapi.json"} & needing


def test_the_index_without_a_model(make_app: Callable[..., Flask], tmp_path: Any) -> None:
    client = make_app(MODEL_PATH=str(tmp_path / "absent.joblib")).test_client()
    index = client.get("/").get_json()
    assert index["model"] is None and index["endpoints"]
    assert page(client).mimetype == "text/html"  # the page then says why, from /model


def test_the_page_and_its_assets_carry_a_strict_policy(client: FlaskClient) -> None:
    policy = dict(
        directive.strip().split(" ", 1) for directive in CONTENT_SECURITY_POLICY.split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"].split()[0] == "'self'"
    assert all(s.startswith("'sha256-") for s in policy["script-src"].split()[1:])
    for directive in ("style-src", "img-src", "connect-src", "base-uri"):
        assert policy[directive] == "'self'", directive
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY
    for response in [page(client)] + [client.get(f"/try-it/{name}") for name in ASSET_TYPES]:
        assert response.status_code == 200
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Request-Id"]


class _Markup(HTMLParser):
    """What the page's markup holds that a CSP or an accessibility check cares about."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_scripts.append(data)


def test_the_markup_has_one_hashed_inline_script_and_nothing_else_inline(
    client: FlaskClient,
) -> None:
    text = page(client).get_data(as_text=True)
    markup = _Markup()
    markup.feed(text)
    (script,) = markup.inline_scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert inline_script_hashes(text) == [f"'sha256-{digest}'"]
    assert f"'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    for tag, attributes in markup.tags:
        assert "style" not in attributes, tag
        assert not [name for name in attributes if name.startswith("on")], tag
        for name in ("href", "src", "action"):
            value = attributes.get(name) or ""
            assert "//" not in value and ":" not in value, (tag, value)  # relative only
    # Every control has a label.
    labelled = {a.get("for") for tag, a in markup.tags if tag == "label"}
    controls = [a for tag, a in markup.tags if tag in ("input", "select", "textarea")]
    assert controls and all(a.get("id") in labelled for a in controls)
    assert ("html", {"lang": "en"}) in markup.tags


def test_the_page_script_and_styles_call_nothing_elsewhere(client: FlaskClient) -> None:
    for name in ASSET_TYPES:
        text = client.get(f"/try-it/{name}").get_data(as_text=True)
        # No absolute URL, no protocol-relative one: nothing but this origin.
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name
    styles = client.get("/try-it/page.css").get_data(as_text=True)
    assert "url(" not in styles and "@import" not in styles
    script = client.get("/try-it/page.js").get_data(as_text=True)
    assert "localStorage" not in script and "sessionStorage" not in script
    assert "document.cookie" not in script and "innerHTML" not in script


def test_the_page_is_a_few_tens_of_kilobytes(client: FlaskClient) -> None:
    total = len(page(client).data) + sum(
        len(client.get(f"/try-it/{name}").data) for name in ASSET_TYPES
    )
    assert total < 60_000


def test_assets_have_their_types_and_revalidate(client: FlaskClient) -> None:
    for name, media_type in ASSET_TYPES.items():
        response = client.get(f"/try-it/{name}")
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Cache-Control"] == "no-cache"
        again = client.get(f"/try-it/{name}", headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304
        assert client.head(f"/try-it/{name}").status_code == 200


def test_an_unknown_asset_is_the_usual_404(client: FlaskClient) -> None:
    response = client.get("/try-it/../config.py")
    assert response.status_code == 404
    response = client.get("/try-it/page.py")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_other_methods_on_the_front_door_are_405(client: FlaskClient) -> None:
    response = client.post("/", headers={"Accept": BROWSER})
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("off", ["0", "false", "no", "off", " OFF "])
def test_turned_off_everyone_gets_the_index_and_assets_404(
    make_app: Callable[..., Flask], off: str
) -> None:
    client = make_app(TRY_IT_PAGE=off).test_client()
    response = page(client)
    assert response.mimetype == "application/json"
    assert response.get_json()["try_it"] is None
    assert "Content-Security-Policy" not in response.headers
    for name in ASSET_TYPES:
        assert client.get(f"/try-it/{name}").status_code == 404


@pytest.mark.parametrize(("raw", "on"), [("", True), ("1", True), ("true", True), ("0", False)])
def test_the_setting(raw: str, on: bool) -> None:
    assert Settings.from_environ({"TRY_IT_PAGE": raw}).try_it_page is on
    assert Settings.from_environ({}).try_it_page is True


def test_a_bad_setting_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="TRY_IT_PAGE must be 1/true/yes/on or 0/false/no/off"):
        Settings.from_environ({"TRY_IT_PAGE": "maybe"})


def test_with_keys_on_the_page_loads_without_one_and_its_calls_need_it(
    make_app: Callable[..., Flask],
) -> None:
    keyed = make_app(API_KEYS=KEY).test_client()
    assert page(keyed).status_code == 200
    assert keyed.get("/").status_code == 200
    for name in ASSET_TYPES:
        assert keyed.get(f"/try-it/{name}").status_code == 200
    assert keyed.get("/openapi.json").status_code == 200
    assert keyed.get("/model").status_code == 401
    assert keyed.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}).status_code == 401
    assert keyed.get("/model", headers={"x-api-key": KEY}).status_code == 200


def test_server_timing_is_the_logged_latency(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    (line,) = access_lines(capsys)
    match = re.fullmatch(r"app;dur=([0-9.]+)", response.headers["Server-Timing"])
    assert match and float(match.group(1)) == line["latency_ms"]


# Through the Lambda handler, as API Gateway's REST API sends the page's requests.


def invoke(event: dict[str, Any]) -> LambdaAnswer:
    return LambdaAnswer.of(handler.handler(event, LambdaContext()))


def rest_event(seen: str, path: str, accept: str | None = BROWSER) -> dict[str, Any]:
    """A REST API event for `path` inside the API, the client having asked for `seen`."""
    event = event_for("rest-api.json", "GET", path, content_type=None)
    event["requestContext"]["path"] = seen
    if accept:
        event["headers"]["Accept"] = accept
        event["multiValueHeaders"]["Accept"] = [accept]
    return event


@pytest.mark.parametrize("seen", ["/prod/", "/prod"])
def test_the_handler_serves_the_page_under_a_stage(seen: str) -> None:
    answer = invoke(rest_event(seen, "/"))
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert not answer.base64_encoded
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The page's files are named relative to the base its script sets from the page's
    # path, /prod/ for both: the client then asks for /prod/try-it/page.js.
    assert "'try-it/page.js'" in answer.body
    for name, media_type in ASSET_TYPES.items():
        file = invoke(rest_event(f"/prod/try-it/{name}", f"/try-it/{name}", accept=None))
        assert file.status == 200, name
        assert file.headers["content-type"] == media_type
        assert not file.base64_encoded  # text, as API Gateway passes it on


def test_the_handler_answers_the_index_under_a_stage() -> None:
    answer = invoke(rest_event("/prod/", "/", accept="application/json"))
    index = answer.json()
    assert index["openapi"] == "/prod/openapi.json"
    assert index["try_it"] == "/prod/"
    assert {"method": "POST", "path": "/prod/predict"}.items() <= index["endpoints"][0].items()


def test_the_handler_serves_serverless_offlines_empty_root_path() -> None:
    # serverless-offline sends GET /dev (and /dev/) with an empty path and resource.
    event = rest_event("", "/")
    event["path"] = event["resource"] = ""
    answer = invoke(event)
    assert answer.status == 200, answer.headers.get("location")
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
