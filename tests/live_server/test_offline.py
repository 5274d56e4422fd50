"""`make offline`: real HTTP through serverless-offline's emulated API Gateway, and
the function invoked through its Lambda API with boto3."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import tritonclient.http as triton
from support.event_payloads import event_for
from support.paths import CHURN_MODEL, TESTS
from support.servers import Offline
from support.triton_checks import (
    MODES,
    check_churn,
    check_churn_error,
    check_health_and_metadata,
    check_iris,
    client_for,
    native_over_http,
)
from support.v2_tensors import (
    CHURN,
    IRIS,
    IRIS_ROWS,
    OCTET_STREAM,
    binary_body,
    binary_input,
    infer_path,
    read_answer,
)

FUNCTION = "model-prediction-api-dev-api"
SETOSA = {"features": [5.1, 3.5, 1.4, 0.2]}


@pytest.fixture(scope="module")
def offline(offline_server: Callable[..., Offline]) -> Offline:
    return offline_server()


@pytest.fixture(scope="module")
def churn_offline(offline_server: Callable[..., Offline]) -> Offline:
    """The function serving the mixed-type example model instead."""
    return offline_server(f"modelUri={CHURN_MODEL}")


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
    events = TESTS / "events"
    assert invoke(offline, json.loads((events / "warmup-plugin.json").read_text())) == {}


# Triton's HTTP client through the emulated API Gateway: JSON and binary tensors both
# ways. Binary request bodies pass intact only because binaryMediaTypes is honoured
# offline too (.serverless_plugins/offline-binary-media-types.js).


@pytest.fixture
def iris_triton(offline: Offline) -> Iterator[triton.InferenceServerClient]:
    client = client_for(offline.http)
    yield client
    client.close()


@pytest.fixture
def churn_triton(churn_offline: Offline) -> Iterator[triton.InferenceServerClient]:
    client = client_for(churn_offline.http)
    yield client
    client.close()


def test_tritonclient_health_and_metadata(
    iris_triton: triton.InferenceServerClient, churn_triton: triton.InferenceServerClient
) -> None:
    check_health_and_metadata(iris_triton, IRIS)
    check_health_and_metadata(churn_triton, CHURN)


@pytest.mark.parametrize(("binary_in", "binary_out", "named_outputs"), MODES)
def test_tritonclient_infer_iris(
    offline: Offline,
    iris_triton: triton.InferenceServerClient,
    binary_in: bool,
    binary_out: bool,
    named_outputs: bool,
) -> None:
    check_iris(iris_triton, native_over_http(offline.http), binary_in, binary_out, named_outputs)


@pytest.mark.parametrize(("binary_in", "binary_out", "named_outputs"), MODES)
def test_tritonclient_infer_churn(
    churn_offline: Offline,
    churn_triton: triton.InferenceServerClient,
    binary_in: bool,
    binary_out: bool,
    named_outputs: bool,
) -> None:
    native = native_over_http(churn_offline.http)
    check_churn(churn_triton, native, binary_in, binary_out, named_outputs)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_sees_a_refused_value_at_its_place(
    churn_triton: triton.InferenceServerClient, binary: bool
) -> None:
    check_churn_error(churn_triton, binary)


def test_a_binary_body_that_is_not_utf8_arrives_intact(offline: Offline) -> None:
    """A binary tensor with no Content-Type, as tritonclient sends it, and a binary answer."""
    flat = [value for row in IRIS_ROWS for value in row]
    tensor = binary_input("input-0", "FP64", [len(IRIS_ROWS), 4], flat)
    with pytest.raises(UnicodeDecodeError):
        tensor.blob.decode("utf-8")  # what the emulator used to make of it
    body, headers = binary_body({"parameters": {"binary_data_output": True}}, [tensor])
    # http.client, not urllib: urllib adds a form Content-Type to every POST.
    url = urllib.parse.urlsplit(offline.http)
    connection = http.client.HTTPConnection(url.netloc, timeout=30)
    try:
        connection.request("POST", url.path + infer_path(IRIS), body=body, headers=headers)
        response = connection.getresponse()
        assert (response.status, response.getheader("Content-Type")) == (200, OCTET_STREAM)
        answer = read_answer(response.read(), dict(response.getheaders()))
    finally:
        connection.close()
    expected = native_over_http(offline.http)(IRIS_ROWS)["predictions"]
    assert answer["outputs"][0]["data"] == expected
