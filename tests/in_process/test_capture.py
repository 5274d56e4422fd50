"""Capture: a sampled share of prediction requests written as records beside the
request lines, masked as configured, bounded, refused requests without their values."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from moto import mock_aws
from support.iris import IRIS_FEATURES, SETOSA

from app.auth.key_source import KeysUnavailable
from app.core.captured_rows import HASH_HEX_DIGITS, RECORD_KIND, Masking
from app.core.errors import ConfigError
from app.factory import create_app
from app.http.capture import MAX_RECORD_BYTES, Capture
from app.http.components import install, part_of
from app.service.model_slot import ModelSlot

CHURN = Path(__file__).parents[2] / "model" / "examples" / "churn.joblib"
HASH_KEY = "k" * 40
IRIS_NAME = "iris-logistic-regression"
CUSTOMER = {
    "tenure_months": 6,
    "monthly_charges": 59.16,
    "contract": "month-to-month",
    "payment_method": "zz-a-value-never-to-be-seen",
    "has_partner": False,
    "support_calls": None,
}


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [line for line in lines(capsys) if line.get("record") == RECORD_KIND]


def churn_app(make_app: Callable[..., Flask], **settings: str) -> Flask:
    return make_app(MODEL_URI=str(CHURN), CAPTURE_SAMPLE_RATE="1", **settings)


def test_off_by_default_nothing_is_installed_or_written(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app()
    capsys.readouterr()
    for _ in range(20):
        assert app.test_client().post("/predict", json={"features": SETOSA}).status_code == 200
    written = lines(capsys)
    assert len(written) == 20 and not any("record" in line for line in written)
    with pytest.raises(LookupError):
        part_of(Capture, app)


def test_at_rate_one_every_prediction_route_is_captured_and_nothing_else(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(CAPTURE_SAMPLE_RATE="1").test_client()
    capsys.readouterr()
    assert client.post("/predict", json={"instances": [SETOSA, SETOSA]}).status_code == 200
    split = {"dataframe_split": {"columns": IRIS_FEATURES, "data": [SETOSA]}}
    assert client.post("/invocations", json=split).status_code == 200
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": SETOSA}
    assert (
        client.post(f"/v2/models/{IRIS_NAME}/infer", json={"inputs": [tensor]}).status_code == 200
    )
    assert client.get("/health").status_code == 200
    written = lines(capsys)
    captured = [line for line in written if line.get("record") == RECORD_KIND]
    assert [record["protocol"] for record in captured] == ["native", "mlflow", "v2"]
    request_lines = [line for line in written if "record" not in line]
    assert len(request_lines) == 4
    first = captured[0]
    assert first["request_id"] == request_lines[0]["request_id"]
    assert first["latency_ms"] == request_lines[0]["latency_ms"]
    assert first["rows"] == [dict(zip(IRIS_FEATURES, SETOSA, strict=True))] * 2
    assert first["predictions"] == ["setosa", "setosa"]
    assert (first["rows_total"], first["rows_omitted"]) == (2, 0)
    assert (first["model_name"], first["model_version"]) == (IRIS_NAME, "1.0.0")
    assert first["status"] == 200 and first["error_code"] is None
    assert first["time"].endswith("Z")
    assert "probabilities" not in first
    assert "_aws" not in first  # a record is no metrics document


def test_probabilities_are_captured_when_they_were_asked_for(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(CAPTURE_SAMPLE_RATE="1").test_client()
    capsys.readouterr()
    answer = client.post("/predict", json={"features": SETOSA, "return_probabilities": True})
    [record] = records(capsys)
    assert record["probabilities"] == [answer.get_json()["probabilities"]]


def test_a_share_of_requests_is_drawn_from_the_generator(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    rate, count, seed = 0.3, 400, 7
    app = make_app(CAPTURE_SAMPLE_RATE=str(rate))
    install(app, dataclasses.replace(part_of(Capture, app), draw=random.Random(seed).random))
    client = app.test_client()
    capsys.readouterr()
    for _ in range(count):
        client.post("/predict", json={"features": SETOSA})
    replay = random.Random(seed)
    expected = sum(replay.random() < rate for _ in range(count))
    captured = len(records(capsys))
    assert captured == expected
    # And a binomial share: within four standard deviations of 120.
    assert abs(captured - rate * count) < 4 * (count * rate * (1 - rate)) ** 0.5


def test_a_refused_request_is_captured_without_its_values(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = churn_app(make_app).test_client()
    capsys.readouterr()
    bad = {**CUSTOMER, "contract": "zz-refused-value"}
    assert client.post("/predict", json={"instances": [CUSTOMER, bad]}).status_code == 422
    assert client.post("/predict", data="{", content_type="application/json").status_code == 400
    first, second = records(capsys)
    assert (first["status"], first["error_code"]) == (422, "invalid_input")
    assert (second["status"], second["error_code"]) == (400, "invalid_json")
    for record in (first, second):
        assert not {"rows", "predictions", "rows_total"} & set(record)
    assert "zz-" not in json.dumps([first, second])


def test_an_excluded_feature_appears_nowhere(
    make_app: Callable[..., Flask],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = churn_app(make_app, CAPTURE_EXCLUDE="payment_method").test_client()
    capsys.readouterr()
    assert client.post("/predict", json={"instances": [CUSTOMER] * 3}).status_code == 200
    out, err = capsys.readouterr()
    [record] = [json.loads(line) for line in out.splitlines() if RECORD_KIND in line]
    assert [set(row) for row in record["rows"]] == [set(CUSTOMER) - {"payment_method"}] * 3
    everything = out + err + caplog.text
    assert "payment_method" not in everything
    assert CUSTOMER["payment_method"] not in everything


def test_a_hashed_feature_is_a_stable_keyed_hash(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    def hashed_values(key: str) -> list[Any]:
        client = churn_app(
            make_app, CAPTURE_HASH="payment_method", CAPTURE_HASH_KEY=key
        ).test_client()
        other = {**CUSTOMER, "payment_method": "credit-card"}
        capsys.readouterr()
        client.post(
            "/predict",
            json={"instances": [CUSTOMER, other, CUSTOMER, {**CUSTOMER, "payment_method": None}]},
        )
        [record] = records(capsys)
        assert CUSTOMER["payment_method"] not in json.dumps(record)
        return [row["payment_method"] for row in record["rows"]]

    first, second, again, missing = hashed_values(HASH_KEY)
    assert first == again != second and missing is None
    expected = hmac.new(HASH_KEY.encode(), CUSTOMER["payment_method"].encode(), hashlib.sha256)
    assert first == expected.hexdigest()[:HASH_HEX_DIGITS]
    assert hashed_values("z" * 40)[0] != first  # another key, another hash


def test_a_record_is_bounded_by_rows_and_by_bytes(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = churn_app(make_app, CAPTURE_MAX_ROWS="10").test_client()
    capsys.readouterr()
    assert client.post("/predict", json={"instances": [CUSTOMER] * 200}).status_code == 200
    [record] = records(capsys)
    assert (record["rows_total"], record["rows_omitted"], len(record["rows"])) == (200, 190, 10)
    assert len(record["predictions"]) == 10
    long_value = {**CUSTOMER, "payment_method": "x" * 40_000}
    assert client.post("/predict", json={"instances": [long_value] * 8}).status_code == 200
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if RECORD_KIND in line]
    record = json.loads(line)
    assert len(line) <= MAX_RECORD_BYTES
    assert 0 < len(record["rows"]) < 8 and record["rows_omitted"] == 8 - len(record["rows"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"CAPTURE_SAMPLE_RATE": "1.5"}, "CAPTURE_SAMPLE_RATE must be a number from 0 to 1"),
        ({"CAPTURE_SAMPLE_RATE": "nan"}, "CAPTURE_SAMPLE_RATE must be a number from 0 to 1"),
        ({"CAPTURE_SAMPLE_RATE": "often"}, "CAPTURE_SAMPLE_RATE must be a number from 0 to 1"),
        ({"CAPTURE_HASH": "payment_method"}, "CAPTURE_HASH needs a key"),
        (
            {"CAPTURE_HASH": "payment_method", "CAPTURE_HASH_KEY": "short"},
            "at least 32 characters, got 5",
        ),
        ({"CAPTURE_HASH_KEY": HASH_KEY, "CAPTURE_HASH_KEY_SECRET": "x"}, "both set"),
        (
            {
                "CAPTURE_EXCLUDE": "contract",
                "CAPTURE_HASH": "contract",
                "CAPTURE_HASH_KEY": HASH_KEY,
            },
            "both name 'contract'",
        ),
        ({"CAPTURE_MAX_ROWS": "0"}, "CAPTURE_MAX_ROWS must be an integer from 1 to 1000"),
    ],
)
def test_bad_capture_settings_stop_start_up(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        create_app({"MODEL_URI": str(CHURN), **settings})
    assert HASH_KEY not in str(caught.value)


@pytest.mark.parametrize("setting", ["CAPTURE_EXCLUDE", "CAPTURE_HASH"])
def test_a_masked_name_the_model_lacks_stops_start_up(setting: str) -> None:
    settings = {
        "MODEL_URI": str(CHURN),
        "CAPTURE_SAMPLE_RATE": "1",
        setting: "payment_methd",
        "CAPTURE_HASH_KEY": HASH_KEY,
    }
    with pytest.raises(ConfigError, match=f"{setting} names 'payment_methd'") as caught:
        create_app(settings)
    assert "payment_method" not in str(caught.value)  # the features are not listed


@pytest.fixture
def secrets(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_the_hash_key_from_a_secret(
    secrets: Any,
    make_app: Callable[..., Flask],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "s3cr3t-" * 6
    secrets.create_secret(Name="capture/hash-key", SecretString=f" {key}\n")
    with caplog.at_level(logging.DEBUG):  # botocore logs response bodies at DEBUG
        app = churn_app(
            make_app, CAPTURE_HASH="payment_method", CAPTURE_HASH_KEY_SECRET="capture/hash-key"
        )
    assert key not in caplog.text
    capsys.readouterr()
    assert app.test_client().post("/predict", json={"features": CUSTOMER}).status_code == 200
    [record] = records(capsys)
    text = str(CUSTOMER["payment_method"]).encode()
    expected = hmac.new(key.encode(), text, hashlib.sha256).hexdigest()[:HASH_HEX_DIGITS]
    assert record["rows"][0]["payment_method"] == expected


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (None, "cannot read CAPTURE_HASH_KEY_SECRET capture/hash-key (ResourceNotFoundException)"),
        ("too-short", "holds 9 characters; the key must have at least 32"),
    ],
)
def test_a_hash_key_secret_that_cannot_serve_stops_start_up(
    secrets: Any, stored: str | None, message: str
) -> None:
    if stored is not None:
        secrets.create_secret(Name="capture/hash-key", SecretString=stored)
    settings = {
        "MODEL_URI": str(CHURN),
        "CAPTURE_SAMPLE_RATE": "1",
        "CAPTURE_HASH": "payment_method",
        "CAPTURE_HASH_KEY_SECRET": "capture/hash-key",
    }
    with pytest.raises(KeysUnavailable) as caught:
        create_app(settings)
    assert message in str(caught.value)
    assert stored is None or stored not in str(caught.value)


def test_hashes_are_of_each_value_s_own_text() -> None:
    masking = Masking(hashed=frozenset({"x"}), key=HASH_KEY.encode())

    def expected(text: str) -> str:
        digest = hmac.new(HASH_KEY.encode(), text.encode(), hashlib.sha256)
        return digest.hexdigest()[:HASH_HEX_DIGITS]

    assert masking.hash_of("Lisboa") == expected("Lisboa")
    assert masking.hash_of("1") == expected("1")
    assert masking.hash_of(1) == expected("1")
    assert masking.hash_of(1.0) == expected("1.0")
    assert masking.hash_of(True) == expected("true")
    assert masking.hash_of(None) is None
    # Equal in Python, not the same text: each its own hash, in whichever order.
    assert masking.hash_of(-0.0) == expected("-0.0")
    assert masking.hash_of(0.0) == expected("0.0")


def test_a_preflight_is_no_prediction(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(
        CAPTURE_SAMPLE_RATE="1", CORS_ALLOWED_ORIGINS="https://app.example.com"
    ).test_client()
    capsys.readouterr()
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    assert client.options("/predict", headers=preflight).status_code in (200, 204)
    assert records(capsys) == []


def test_a_refused_request_never_starts_a_model_load(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "alpha-7f3c9e1d2b4a6f8e0c1d"
    app = make_app(MODEL_URI=str(tmp_path / "absent.joblib"), CAPTURE_SAMPLE_RATE="1", API_KEYS=key)
    slot = part_of(ModelSlot, app)
    asked: list[str] = []
    slot.current = lambda: asked.append("current")  # type: ignore[method-assign]
    capsys.readouterr()
    assert app.test_client().post("/predict", json={"features": SETOSA}).status_code == 401
    [record] = records(capsys)
    assert (record["status"], record["error_code"], record["model_name"]) == (
        401,
        "unauthorized",
        None,
    )
    assert asked == []  # the record read the slot as it was
