"""API keys from Secrets Manager (moto stands in): read once at start-up, or no start-up."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from flask import Flask
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from support.iris import SETOSA

from app.auth.key_source import KeysUnavailable
from app.factory import create_app

SECRET = "prod/model-api/keys"
KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
OTHER_KEY = "bravo-0a9b8c7d6e5f4a3b2c1d"


@pytest.fixture
def secrets(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secret_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def build(secret_id: str = SECRET) -> Flask:
        return make_app(API_KEYS_SECRET=secret_id)

    return build


def status_with(app: Flask, key: str | None) -> int:
    headers = {"x-api-key": key} if key else {}
    response = app.test_client().post("/predict", json={"features": SETOSA}, headers=headers)
    return response.status_code


def refusal(secret_id: str = SECRET) -> str:
    with pytest.raises(KeysUnavailable) as caught:
        create_app({"API_KEYS_SECRET": secret_id})
    return str(caught.value)


@pytest.mark.parametrize(
    ("content", "keys"),
    [
        (KEY, [KEY]),
        (f"{KEY},{OTHER_KEY}", [KEY, OTHER_KEY]),
        (f" {KEY} ,\n{OTHER_KEY}, {KEY},", [KEY, OTHER_KEY]),
        (json.dumps({"api_keys": [KEY]}), [KEY]),
        (json.dumps({"api_keys": [KEY, OTHER_KEY, KEY]}), [KEY, OTHER_KEY]),
    ],
    ids=["one", "several", "blanks-and-duplicates", "json-one", "json-several"],
)
def test_keys_from_the_secret(
    secrets: Any, secret_app, caplog: pytest.LogCaptureFixture, content: str, keys: list[str]
) -> None:
    secrets.create_secret(Name=SECRET, SecretString=content)
    with caplog.at_level(logging.DEBUG):  # botocore logs response bodies at DEBUG
        served = secret_app()
    assert "DEBUG    botocore" in caplog.text  # the capture sees botocore's debug lines...
    assert all(key not in caplog.text for key in keys)  # ...but never the secret's value
    for key in keys:
        assert status_with(served, key) == 200
    assert status_with(served, None) == 401
    assert status_with(served, "wrong-5e4d3c2b1a0f9e8d7c6b") == 401
    assert served.test_client().get("/health").status_code == 200


def test_secret_by_arn(secrets: Any, secret_app) -> None:
    arn = secrets.create_secret(Name=SECRET, SecretString=KEY)["ARN"]
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:")
    assert status_with(secret_app(arn), KEY) == 200


def test_secret_is_read_once_at_start_up(secrets: Any, secret_app) -> None:
    secrets.create_secret(Name=SECRET, SecretString=KEY)
    served = secret_app()
    secrets.put_secret_value(SecretId=SECRET, SecretString=OTHER_KEY)
    assert status_with(served, KEY) == 200  # this instance keeps the keys it started with
    assert status_with(served, OTHER_KEY) == 401
    assert status_with(secret_app(), OTHER_KEY) == 200  # a new start reads the new value


def test_missing_secret_stops_start_up(secrets: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.CRITICAL, logger="app.auth.key_source"):
        message = refusal()
    assert message == (
        f"cannot read API_KEYS_SECRET {SECRET} (ResourceNotFoundException): "
        "no such secret in this account and region"
    )
    (record,) = caplog.records
    assert record.levelno == logging.CRITICAL
    assert record.getMessage() == f"refusing to start: {message}"


# moto enforces IAM after the first 3 calls: the set-up below, made as an admin.
@set_initial_no_auth_action_count(3)
def test_access_denied_stops_start_up(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=SECRET, SecretString=KEY
        )
        # A function whose role has no policy: it may not read the secret.
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="function")
        access = iam.create_access_key(UserName="function")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
        message = refusal()
    # AWS names the code AccessDeniedException; moto's denial carries only the status.
    code = re.search(rf"^cannot read API_KEYS_SECRET {SECRET} \((\w+)\)", message)
    assert code and code.group(1) in {"AccessDeniedException", "403"}
    assert "secretsmanager:GetSecretValue" in message
    assert KEY not in message


def test_binary_secret_stops_start_up(secrets: Any) -> None:
    secrets.create_secret(Name=SECRET, SecretBinary=KEY.encode())
    message = refusal()
    assert message == (
        f"API_KEYS_SECRET {SECRET} holds binary data; store the keys as text (SecretString)"
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"api_keys": ["' + KEY + '"', "starts with '{' but is not valid JSON"),
        (json.dumps({"keys": [KEY]}), "is JSON, but not an object of the form"),
        (json.dumps({"api_keys": f"{KEY},{OTHER_KEY}"}), "is JSON, but not an object of the form"),
        (json.dumps({"api_keys": [KEY, 7]}), "is JSON, but not an object of the form"),
        (json.dumps({"api_keys": []}), "holds no key"),
        (" , ", "holds no key"),
        (f"{KEY},{OTHER_KEY[:12]}", "key 2 is shorter than 20 characters"),
        (json.dumps({"api_keys": [f"{KEY} {OTHER_KEY}"]}), "key 1 holds a character other"),
    ],
)
def test_unusable_secret_stops_start_up_without_echoing_it(
    secrets: Any, caplog: pytest.LogCaptureFixture, content: str, fragment: str
) -> None:
    secrets.create_secret(Name=SECRET, SecretString=content)
    with caplog.at_level(logging.DEBUG):
        message = refusal()
    assert message.startswith(f"API_KEYS_SECRET {SECRET}")
    assert fragment in message
    for secret_value in (KEY, OTHER_KEY, OTHER_KEY[:12]):
        assert secret_value not in message
        assert secret_value not in caplog.text
