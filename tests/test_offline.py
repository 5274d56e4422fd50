"""`make offline`: real HTTP through serverless-offline's emulated API Gateway, and
the function invoked through its Lambda API with boto3."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import ROOT
from event_payloads import event_for
from servers import answers, free_port, running, wait_until

STAGE = "dev"
FUNCTION = "model-prediction-api-dev-api"
SETOSA = {"features": [5.1, 3.5, 1.4, 0.2]}


@dataclass(frozen=True)
class Offline:
    http: str
    lambda_endpoint: str


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    http_port, lambda_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("offline") / "offline.log"
    command = [
        "make", "--no-print-directory", "offline",
        f"OFFLINE_PORT={http_port}", f"OFFLINE_LAMBDA_PORT={lambda_port}",
    ]  # fmt: skip
    with running(command, cwd=ROOT, log=log, env=dict(os.environ)):
        base = f"http://127.0.0.1:{http_port}/{STAGE}"
        wait_until(lambda: answers(base + "/health"), timeout=120, what="sls offline")
        yield Offline(base, f"http://127.0.0.1:{lambda_port}")


def call(
    offline: Offline, method: str, path: str, body: bytes | None = None, content_type: str = ""
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(offline.http + path, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(raw)


def post_json(offline: Offline, payload: Any) -> tuple[int, dict[str, str], Any]:
    return call(offline, "POST", "/predict", json.dumps(payload).encode(), "application/json")


def test_predict(offline: Offline) -> None:
    status, headers, body = post_json(offline, SETOSA)
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert headers["x-request-id"]
    assert body == {"prediction": "setosa", "model_version": "1.0.0"}


def test_batch_with_probabilities(offline: Offline) -> None:
    payload = {
        "instances": [SETOSA["features"], [6.7, 3.0, 5.2, 2.3]],
        "return_probabilities": True,
    }
    status, _, body = post_json(offline, payload)
    assert status == 200
    assert body["predictions"] == ["setosa", "virginica"]
    assert len(body["probabilities"]) == 2


def test_health(offline: Offline) -> None:
    assert call(offline, "GET", "/health")[::2] == (200, {"status": "ok", "model_version": "1.0.0"})


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "code"),
    [
        ("POST", "/predict", b'{"features": [1, "x"]}', "application/json", 422, "invalid_input"),
        ("POST", "/predict", b'{"features": ', "application/json", 400, "invalid_json"),
        ("POST", "/predict", b"features=1", "text/plain", 415, "unsupported_media_type"),
        ("GET", "/nowhere", None, "", 404, "not_found"),
        ("DELETE", "/health", None, "", 405, "method_not_allowed"),
    ],
)  # fmt: skip
def test_errors(
    offline: Offline,
    method: str,
    path: str,
    body: bytes | None,
    content_type: str,
    status: int,
    code: str,
) -> None:
    got_status, headers, answer = call(offline, method, path, body, content_type)
    assert (got_status, answer["error"]["code"]) == (status, code)
    assert headers["content-type"].startswith("application/json")


def lambda_client(offline: Offline) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=offline.lambda_endpoint,
        region_name="us-east-1",
        aws_access_key_id="offline",
        aws_secret_access_key="offline",
    )


def invoke(offline: Offline, event: dict[str, Any]) -> Any:
    response = lambda_client(offline).invoke(FunctionName=FUNCTION, Payload=json.dumps(event))
    assert response["StatusCode"] == 200
    return json.loads(response["Payload"].read())


def test_invoke_through_the_lambda_api(offline: Offline) -> None:
    result = invoke(offline, event_for("rest-api.json", "POST", "/predict", json.dumps(SETOSA)))
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"prediction": "setosa", "model_version": "1.0.0"}

    result = invoke(offline, event_for("http-api-named-stage.json", "GET", "/health"))
    assert result["statusCode"] == 200


def test_invoke_with_a_warmup_event(offline: Offline) -> None:
    events = Path(__file__).resolve().parent / "events"
    assert invoke(offline, json.loads((events / "warmup-plugin.json").read_text())) == {}
