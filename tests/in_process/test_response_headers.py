"""Every answer says how it may be read and kept, and no answer names the server's
versions: in process and through Lambda events. From `make serve`'s real server:
live_server/test_response_headers_live.py."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from support.event_payloads import LambdaAnswer, LambdaContext, event_for
from support.iris import SETOSA
from support.v2_tensors import IRIS, infer_path
from werkzeug.test import TestResponse

import handler
from app.front_door import ASSET_TYPES

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PREDICT = {"features": SETOSA}
V2_INFER = infer_path(IRIS)
V2_BODY = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": SETOSA}]}


def answers(client: FlaskClient) -> dict[str, TestResponse]:
    """One answer of each kind: every protocol, the documents, errors of every status."""
    return {
        "predict": client.post("/predict", json=PREDICT),
        "predict 422": client.post("/predict", json={"features": [1]}),
        "predict 400": client.post("/predict", data="{", content_type="application/json"),
        "predict 415": client.post("/predict", data="x", content_type="text/plain"),
        "predict 413": client.post(
            "/predict", data=b" " * (2 << 20), content_type="application/json"
        ),
        "model": client.get("/model"),
        "openapi": client.get("/openapi.json"),
        "health": client.get("/health"),
        "index": client.get("/"),
        "invocations": client.post("/invocations", json={"instances": [SETOSA]}),
        "ping": client.get("/ping"),
        "version": client.get("/version"),
        "v2 infer": client.post(V2_INFER, json=V2_BODY),
        "v2 metadata": client.get(f"/v2/models/{IRIS}"),
        "v2 ready": client.get("/v2/health/ready"),
        "404": client.get("/nowhere"),
        "405": client.delete("/health"),
        "options": client.options("/predict"),
        "head": client.head("/model"),
    }


def test_every_answer_is_nosniff_and_not_stored(client: FlaskClient) -> None:
    every = answers(client)
    statuses = {name: answer.status_code for name, answer in every.items()}
    assert {statuses[name] for name in ("404", "405")} == {404, 405}
    assert [statuses[f"predict {status}"] for status in (422, 400, 415, 413)] == [
        422, 400, 415, 413,
    ]  # fmt: skip
    for name, answer in every.items():
        assert answer.headers["X-Content-Type-Options"] == "nosniff", name
        assert answer.headers["Cache-Control"] == "no-store", name
        assert "Server" not in answer.headers, name


def test_errors_without_a_model_or_a_key_are_not_stored_either(make_app) -> None:
    keyed = make_app(API_KEYS="alpha-7f3c9e1d2b4a6f8e0c1d").test_client()
    unavailable = make_app(MODEL_PATH="/nowhere/model.joblib").test_client()
    for answer in (
        keyed.post("/predict", json=PREDICT),
        keyed.options("/nowhere"),
        unavailable.get("/health"),
        unavailable.post("/predict", json=PREDICT),
    ):
        assert answer.status_code in (401, 503)
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_try_it_page_and_its_files_revalidate_instead(client: FlaskClient) -> None:
    """The same for every caller and model: kept, but checked (304 by ETag) on each load."""
    files = [client.get("/", headers={"Accept": BROWSER})]
    files += [client.get(f"/try-it/{name}") for name in ASSET_TYPES]
    for answer in files:
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        again = client.get(
            urlsplit(answer.request.url).path,
            headers={"Accept": BROWSER, "If-None-Match": answer.headers["ETag"]},
        )
        assert again.status_code == 304
        assert again.headers["Cache-Control"] == "no-cache"
    # The JSON index at the same path depends on the model: not stored.
    assert client.get("/").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("shape", ["rest-api.json", "http-api-default-stage.json"])
def test_through_api_gateway_events_too(shape: str) -> None:
    for method, path, body in (
        ("POST", "/predict", json.dumps(PREDICT)),
        ("GET", "/model", None),
        ("GET", "/openapi.json", None),
        ("GET", "/nowhere", None),
    ):
        event = event_for(shape, method, path, body, None if body is None else "application/json")
        answer = LambdaAnswer.of(handler.handler(event, LambdaContext()))
        assert answer.headers["cache-control"] == "no-store", path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert "server" not in answer.headers, path
