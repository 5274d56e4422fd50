"""model.captures: the capture records the app writes, delivered to (moto's) S3 the ways
Firehose delivers them, read back as the rows, answers and requests that were sent."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto.core import DEFAULT_ACCOUNT_ID, set_initial_no_auth_action_count
from moto.s3.models import s3_backends
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from support.commands import run_main
from support.iris import IRIS_FEATURES, SETOSA, VIRGINICA
from support.paths import ROOT
from support.s3 import BUCKET

from app.core.artifact import S3_SCHEME
from app.core.captured_rows import HASH_HEX_DIGITS, RECORD_KIND
from model import captures
from model.captures import (
    REQUEST_COLUMNS,
    ROW_COLUMNS,
    CaptureError,
    Captures,
    main,
    parse_since,
    read_captures,
    records_in,
)
from model.export import Description, save_model

CHURN = ROOT / "model" / "examples" / "churn.joblib"
IRIS_NAME = "iris-logistic-regression"
CHURN_FEATURES = [
    "tenure_months", "monthly_charges", "contract", "payment_method", "has_partner",
    "support_calls",
]  # fmt: skip
HASH_KEY = "k" * 40
CUSTOMER = {
    "tenure_months": 6,
    "monthly_charges": 59.16,
    "contract": "month-to-month",
    "payment_method": "electronic-check",
    "has_partner": False,
    "support_calls": None,
}
LOYAL = {
    "tenure_months": 30,
    "monthly_charges": 20.5,
    "contract": "two-year",
    "payment_method": "credit-card",
    "has_partner": True,
    "support_calls": 2.0,
}
STREAM = "model-prediction-api-captures"
PREFIX = "captures/"
URI = f"{S3_SCHEME}{BUCKET}/{PREFIX}"
RUNTIME_LINES = [
    "START RequestId: 8f5e0c3a Version: $LATEST",
    "END RequestId: 8f5e0c3a",
    "REPORT RequestId: 8f5e0c3a\tDuration: 2.10 ms\tBilled Duration: 3 ms",
]


@dataclass
class Sent:
    """A request, and what its capture record should hold."""

    request_id: str
    status: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    probabilities: list[dict[str, Any]] | None = None


@dataclass
class Traffic:
    lines: list[str]  # the app's stdout: request lines and capture records
    sent: list[Sent]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.lines) if r.get("record") == RECORD_KIND]


def post(client: FlaskClient, request_id: str, path: str, body: Any, status: int = 200) -> Any:
    response = client.post(path, json=body, headers={"X-Request-Id": request_id})
    assert response.status_code == status, response.get_data(as_text=True)
    time.sleep(0.002)  # each record its own millisecond: one order by time
    return response.get_json()


def keyed_hash(value: str) -> str:
    digest = hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256)
    return digest.hexdigest()[:HASH_HEX_DIGITS]


@pytest.fixture
def traffic(make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]) -> Traffic:
    """Requests of each protocol to the iris model, and of the churn model (strings,
    booleans, missing values) hashed, excluded, cut short and refused."""
    iris = make_app(CAPTURE_SAMPLE_RATE="1").test_client()
    churn = make_app(
        MODEL_URI=str(CHURN),
        CAPTURE_SAMPLE_RATE="1",
        CAPTURE_HASH="payment_method",
        CAPTURE_HASH_KEY=HASH_KEY,
    ).test_client()
    churn_excluding = make_app(
        MODEL_URI=str(CHURN),
        CAPTURE_SAMPLE_RATE="1",
        CAPTURE_EXCLUDE="has_partner",
        CAPTURE_MAX_ROWS="1",
    ).test_client()
    capsys.readouterr()
    sent = []

    flowers = [SETOSA, VIRGINICA]
    body = {"instances": flowers, "return_probabilities": True}
    answer = post(iris, "iris-native", "/predict", body)
    iris_rows = [dict(zip(IRIS_FEATURES, flower, strict=True)) for flower in flowers]
    sent.append(Sent("iris-native", 200, iris_rows, answer["predictions"], answer["probabilities"]))

    split = {"dataframe_split": {"columns": IRIS_FEATURES, "data": [VIRGINICA]}}
    answer = post(iris, "iris-mlflow", "/invocations", split)
    sent.append(Sent("iris-mlflow", 200, iris_rows[1:], answer["predictions"]))

    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": SETOSA}
    answer = post(iris, "iris-v2", f"/v2/models/{IRIS_NAME}/infer", {"inputs": [tensor]})
    sent.append(Sent("iris-v2", 200, iris_rows[:1], answer["outputs"][0]["data"]))

    customers = [CUSTOMER, LOYAL, {**CUSTOMER, "payment_method": None}]
    body = {"instances": customers, "return_probabilities": True}
    answer = post(churn, "churn-hashed", "/predict", body)
    hashed = [
        {**c, "payment_method": c["payment_method"] and keyed_hash(c["payment_method"])}
        for c in customers
    ]
    sent.append(Sent("churn-hashed", 200, hashed, answer["predictions"], answer["probabilities"]))

    refused = {"instances": [{**CUSTOMER, "tenure_months": "six"}]}
    post(churn, "churn-refused", "/predict", refused, status=422)
    sent.append(Sent("churn-refused", 422))

    answer = post(churn_excluding, "churn-excluding", "/predict", {"instances": [LOYAL, CUSTOMER]})
    kept = {name: value for name, value in LOYAL.items() if name != "has_partner"}
    sent.append(Sent("churn-excluding", 200, [kept], answer["predictions"][:1]))

    return Traffic(capsys.readouterr().out.splitlines(), sent)


# Delivery: what Firehose writes to S3, with and without its processing.


def envelope(lines: list[str], kind: str = "DATA_MESSAGE") -> bytes:
    """A CloudWatch Logs subscription's envelope of log lines, as the filter sends it."""
    stamp = int(time.time() * 1000)
    document = {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": "/aws/lambda/model-prediction-api-dev-api",
        "logStream": "2026/12/05/[$LATEST]0123456789abcdef",
        "subscriptionFilters": ["captures"],
        # Lambda's events end with the line's newline.
        "logEvents": [
            {"id": str(n), "timestamp": stamp, "message": f"{line}\n"}
            for n, line in enumerate(lines)
        ],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def envelopes(lines: list[str]) -> list[bytes]:
    """A control message, then the lines a few at a time among the runtime's own."""
    health = "CWL CONTROL MESSAGE: Checking health of destination Firehose."
    batches = [lines[start : start + 3] for start in range(0, len(lines), 3)]
    return [
        envelope([health], "CONTROL_MESSAGE"),
        *(envelope([RUNTIME_LINES[0], *batch, *RUNTIME_LINES[1:]]) for batch in batches),
    ]


def as_cloudwatch(lines: list[str]) -> bytes:
    """Firehose without processing: a gzip member per envelope, one after another."""
    return b"".join(gzip.compress(part) for part in envelopes(lines))


def as_messages(lines: list[str]) -> bytes:
    """Firehose decompressing, extracting the messages, a newline after each, gzipped."""
    return gzip.compress("".join(f"{line}\n" for line in lines).encode())


ENCODINGS: dict[str, Callable[[list[str]], bytes]] = {
    "cloudwatch": as_cloudwatch,
    # Decompressed without extraction: the envelopes' JSON one after another.
    "cloudwatch-plain": lambda lines: b"".join(envelopes(lines)),
    # Firehose's own GZIP on top of CloudWatch's.
    "cloudwatch-gzip-twice": lambda lines: gzip.compress(as_cloudwatch(lines)),
    "messages": as_messages,
    "messages-plain": lambda lines: "".join(f"{line}\n" for line in lines).encode(),
}


def firehose_key(minute: int, compressed: bool = False) -> str:
    """A key as Firehose names its objects; `.gz` when Firehose compressed it."""
    name = f"{STREAM}-1-2026-12-05-13-{minute:02d}-00-{uuid.uuid4()}"
    return f"{PREFIX}2026/12/05/13/{name}{'.gz' if compressed else ''}"


def deliver(
    s3: Any, lines: list[str], encode: Callable[[list[str]], bytes] = as_cloudwatch
) -> list[str]:
    """The lines in three objects; the later lines under the earlier keys, so that only
    the records' times put them in order."""
    third = -(-len(lines) // 3)
    parts = [lines[start : start + third] for start in range(0, len(lines), third)]
    keys = []
    for minute, part in enumerate(reversed(parts)):
        keys.append(firehose_key(minute, compressed=encode is as_messages))
        s3.put_object(Bucket=BUCKET, Key=keys[-1], Body=encode(part))
    return keys


# What the tables hold.


def values(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Each row's present values, as Python values."""
    return [
        {name: value for name, value in row.items() if not pd.isna(value)}
        for row in frame[columns].to_dict("records")
    ]


def present(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if value is not None}


def assert_holds(found: Captures, traffic: Traffic) -> None:
    """Exactly what was sent and answered: each request once, in time order, and each
    answered row with its prediction and, when asked for, its probabilities."""
    requests = found.requests
    assert list(requests.columns) == list(REQUEST_COLUMNS)
    assert requests["request_id"].tolist() == [s.request_id for s in traffic.sent]
    assert requests["status"].tolist() == [s.status for s in traffic.sent]
    times = [pd.Timestamp(record["time"]) for record in traffic.records]
    assert requests["time"].tolist() == times and requests["time"].is_monotonic_increasing
    assert str(requests["time"].dtype) == "datetime64[us, UTC]"
    refused = requests.set_index("request_id").loc["churn-refused"]
    assert (refused["error_code"], refused["rows_total"]) == ("invalid_input", pd.NA)
    assert requests["rows_omitted"].tolist() == [0, 0, 0, 0, pd.NA, 1]

    rows = found.rows
    probability_columns = [
        f"probability.{label}" for label in ("setosa", "versicolor", "virginica", "no", "yes")
    ]
    assert list(rows.columns) == [
        *ROW_COLUMNS, *IRIS_FEATURES, *CHURN_FEATURES, "prediction", *probability_columns,
    ]  # fmt: skip
    answered = [s for s in traffic.sent if s.status < 400]
    assert rows["request_id"].tolist() == [s.request_id for s in answered for _ in s.rows]
    assert "churn-refused" not in set(rows["request_id"])
    assert rows["time"].is_monotonic_increasing
    for sent in answered:
        mine = rows[rows["request_id"] == sent.request_id]
        assert values(mine, [*IRIS_FEATURES, *CHURN_FEATURES]) == list(map(present, sent.rows))
        assert mine["prediction"].tolist() == sent.predictions
        expected = sent.probabilities or [{}] * len(sent.rows)
        assert values(mine, probability_columns) == [
            {f"probability.{label}": p for label, p in chances.items()} for chances in expected
        ]
    churn = rows[rows["model_name"] == "customer-churn"]
    assert churn[CHURN_FEATURES].dtypes.astype(str).tolist() == [
        "Int64", "float64", "str", "str", "boolean", "float64",
    ]  # fmt: skip
    assert set(churn["protocol"]) == {"native"}
    assert rows["protocol"].tolist()[:4] == ["native", "native", "mlflow", "v2"]


# Tests.


def test_the_s3_scheme_matches_the_app() -> None:
    assert captures.S3_SCHEME == S3_SCHEME


def test_records_in_gives_the_records_as_written_and_nothing_else(traffic: Traffic) -> None:
    noise = ["not json {", '{"a": 1}', "[1, 2]", '{"record": "other"}', ""]
    lines = [*noise, *traffic.lines]
    for encode in ENCODINGS.values():
        assert list(records_in(encode(lines), "object")) == traffic.records


def test_objects_delivered_without_processing_hold_what_was_sent(s3: Any, traffic: Traffic) -> None:
    keys = deliver(s3, traffic.lines)
    found = read_captures(URI, s3=s3)
    assert found.objects == len(keys) == 3
    assert_holds(found, traffic)


@pytest.mark.parametrize("encoding", [e for e in ENCODINGS if e != "cloudwatch"])
def test_every_delivery_shape_gives_the_same_tables(
    s3: Any, traffic: Traffic, encoding: str
) -> None:
    deliver(s3, traffic.lines)
    reference = read_captures(URI, s3=s3)
    other_prefix = f"{encoding}/"
    for minute, part in enumerate((traffic.lines[5:], traffic.lines[:5])):
        compressed = encoding in ("cloudwatch-gzip-twice", "messages")
        key = firehose_key(minute, compressed).replace(PREFIX, other_prefix, 1)
        s3.put_object(Bucket=BUCKET, Key=key, Body=ENCODINGS[encoding](part))
    found = read_captures(f"{S3_SCHEME}{BUCKET}/{other_prefix}", s3=s3)
    pd.testing.assert_frame_equal(found.rows, reference.rows)
    pd.testing.assert_frame_equal(found.requests, reference.requests)


def test_a_multi_output_model_has_a_column_per_output_and_class(
    s3: Any,
    make_app: Callable[..., Flask],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 2))
    Y = np.c_[np.where(X[:, 0] > 0, "up", "down"), np.where(X[:, 1] > 0, 1, 2)]
    model = MultiOutputClassifier(LogisticRegression()).fit(X, Y)
    artifact = tmp_path / "model.joblib"
    save_model(
        model,
        artifact,
        Description("two-way", "1.0.0", ["x", "y"], outputs=["direction", "tier"]),
        X[:4],
    )
    client = make_app(MODEL_URI=str(artifact), CAPTURE_SAMPLE_RATE="1").test_client()
    capsys.readouterr()
    points = [[1.0, 1.0], [-1.0, -1.0]]
    body = {"instances": points, "return_probabilities": True}
    answer = post(client, "two-way", "/predict", body)
    deliver(s3, capsys.readouterr().out.splitlines(), as_messages)

    rows = read_captures(URI, s3=s3).rows
    assert list(rows.columns) == [
        *ROW_COLUMNS, "x", "y", "prediction.direction", "prediction.tier",
        "probability.direction.down", "probability.direction.up",
        "probability.tier.1", "probability.tier.2",
    ]  # fmt: skip
    assert rows[["x", "y"]].to_numpy().tolist() == points
    assert rows[["prediction.direction", "prediction.tier"]].to_dict("records") == [
        {f"prediction.{output}": label for output, label in row.items()}
        for row in answer["predictions"]
    ]
    assert rows.filter(like="probability.").to_dict("records") == [
        {
            f"probability.{output}.{label}": p
            for output, chances in row.items()
            for label, p in chances.items()
        }
        for row in answer["probabilities"]
    ]


class Recording:
    """moto's S3 client, noting which objects were downloaded."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.fetched: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        self.fetched.append(kwargs["Key"])
        return self.client.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def written_at(key: str, when: datetime) -> None:
    """The object as Firehose would have left it at `when`: S3's LastModified is moto's
    own record, set here as no client call can."""
    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[BUCKET].keys[key]
    stored.last_modified = when.astimezone(UTC).replace(tzinfo=None)


def test_since_drops_older_records_and_never_downloads_older_objects(
    s3: Any, make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(CAPTURE_SAMPLE_RATE="1").test_client()
    capsys.readouterr()
    for n in range(2):
        post(client, f"before-{n}", "/predict", {"features": SETOSA})
    before = capsys.readouterr().out.splitlines()
    cutoff = datetime.now(UTC)
    time.sleep(0.002)
    for n in range(2):
        post(client, f"after-{n}", "/predict", {"features": VIRGINICA})
    after = capsys.readouterr().out.splitlines()

    old, recent, spanning = firehose_key(0), firehose_key(1), firehose_key(2)
    s3.put_object(Bucket=BUCKET, Key=old, Body=as_cloudwatch(before))
    written_at(old, cutoff - timedelta(hours=1))
    # Written a little before the cutoff: within S3's and Lambda's clocks' disagreement.
    s3.put_object(Bucket=BUCKET, Key=recent, Body=as_cloudwatch(before))
    written_at(recent, cutoff - timedelta(seconds=30))
    s3.put_object(Bucket=BUCKET, Key=spanning, Body=as_cloudwatch(before[2:] + after))

    recording = Recording(s3)
    found = read_captures(URI, since=cutoff, s3=recording)
    assert sorted(recording.fetched) == [recent, spanning]
    assert found.objects == 2
    assert found.requests["request_id"].tolist() == ["after-0", "after-1"]
    assert found.rows["prediction"].tolist() == ["virginica", "virginica"]
    # A cutoff without a zone is UTC's.
    naive = read_captures(URI, since=cutoff.replace(tzinfo=None), s3=s3)
    pd.testing.assert_frame_equal(naive.requests, found.requests)
    everything = read_captures(URI, s3=Recording(s3))
    assert everything.requests["request_id"].tolist() == [
        "before-0", "before-1", "after-0", "after-1",
    ]  # fmt: skip
    assert everything.objects == 3


NOW = datetime(2026, 12, 5, 13, 58, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T08:30", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("2026-12-01T08:30:00Z", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("2026-12-01T09:30:00+01:00", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_since_takes_a_duration_or_an_iso_date(text: str, expected: datetime) -> None:
    cutoff = parse_since(text, now=NOW)
    assert cutoff == expected and cutoff.tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["7y", "-7d", "7 days", "yesterday", "", "2026-13-01", "9" * 12 + "w"]
)
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a duration \(30m, 12h, 7d, 2w\)"):
        parse_since(text, now=NOW)


def test_a_record_delivered_twice_is_counted_once(s3: Any, traffic: Traffic) -> None:
    deliver(s3, traffic.lines)
    once = read_captures(URI, s3=s3)
    # Firehose retries a delivery it did not see acknowledged: the same records again.
    s3.put_object(Bucket=BUCKET, Key=firehose_key(9, True), Body=as_messages(traffic.lines))
    twice = read_captures(URI, s3=s3)
    assert twice.objects == 4
    pd.testing.assert_frame_equal(twice.rows, once.rows)
    pd.testing.assert_frame_equal(twice.requests, once.requests)


def test_downloaded_objects_read_as_they_do_in_s3(
    s3: Any, traffic: Traffic, tmp_path: Path
) -> None:
    keys = deliver(s3, traffic.lines)
    for key in keys:  # as `aws s3 sync` lays them out
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    found = read_captures(str(tmp_path))
    assert found.objects == 3
    assert_holds(found, traffic)
    one = read_captures(str(tmp_path / keys[0]))
    assert one.objects == 1 and set(one.requests["request_id"]) < set(found.requests["request_id"])


def test_nothing_found_is_an_empty_table_of_the_same_columns(s3: Any, traffic: Traffic) -> None:
    request_lines = [line for line in traffic.lines if RECORD_KIND not in line]
    s3.put_object(Bucket=BUCKET, Key=firehose_key(0), Body=as_cloudwatch(request_lines))
    found = read_captures(URI, s3=s3)
    assert found.objects == 1 and found.rows.empty and found.requests.empty
    assert list(found.rows.columns) == list(ROW_COLUMNS)
    assert list(found.requests.columns) == list(REQUEST_COLUMNS)
    assert str(found.requests["time"].dtype) == "datetime64[us, UTC]"
    assert read_captures(f"{S3_SCHEME}{BUCKET}/elsewhere/", s3=s3).objects == 0


def altered(line: str, **members: Any) -> str:
    return json.dumps({**json.loads(line), **members})


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (lambda lines: as_cloudwatch(lines)[:-20], "broken gzip"),
        (lambda lines: gzip.compress(b"".join(envelopes(lines))[:-3]), "broken JSON"),
        (lambda lines: as_messages([lines[1][:-9], *lines]), "broken JSON"),
        (lambda lines: b"\xff\xfe" + as_messages(lines), "neither gzip nor UTF-8 text"),
        (
            lambda lines: as_messages([altered(lines[1], predictions=[])]),
            "'iris-native': predictions is not a list of one value per row",
        ),
        (
            lambda lines: as_cloudwatch([altered(lines[1], time="yesterday")]),
            "'iris-native' has no ISO-8601 time: 'yesterday'",
        ),
    ],
    ids=[
        "truncated-gzip", "truncated-envelope", "truncated-record", "binary",
        "rows-without-predictions", "no-time",
    ],
)  # fmt: skip
def test_a_corrupt_object_is_an_error_naming_it(
    s3: Any, traffic: Traffic, body: Callable[[list[str]], bytes], problem: str
) -> None:
    deliver(s3, traffic.lines)
    key = firehose_key(7)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body(traffic.lines))
    with pytest.raises(CaptureError, match=problem) as caught:
        read_captures(URI, s3=s3)
    assert str(caught.value).startswith(f"{S3_SCHEME}{BUCKET}/{key}: ")


# The command line.


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_main(main, argv, capsys)


SUMMARY = "6 records, 1 refused, 8 rows, 1 rows omitted, 3 objects read\n"


@pytest.mark.parametrize(
    ("rows_file", "requests_file"),
    [("rows.csv", "requests.parquet"), ("rows.parquet", "requests.csv")],
)
def test_the_command_writes_csv_and_parquet(
    s3: Any,
    traffic: Traffic,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows_file: str,
    requests_file: str,
) -> None:
    deliver(s3, traffic.lines)
    expected = read_captures(URI, s3=s3)
    argv = [URI, "--output", str(tmp_path / rows_file), "--requests", str(tmp_path / requests_file)]
    assert run(argv, capsys) == (0, "", SUMMARY)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([rows_file, requests_file])
    for frame, name in ((expected.rows, rows_file), (expected.requests, requests_file)):
        path = tmp_path / name
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
        else:
            assert path.read_text() == frame.to_csv(index=False)
            back = pd.read_csv(path)
            assert back["request_id"].tolist() == frame["request_id"].tolist()
            assert pd.to_datetime(back["time"]).tolist() == frame["time"].tolist()


def test_the_command_writes_csv_to_stdout_by_default(
    s3: Any, traffic: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(s3, traffic.lines)
    status, out, err = run([URI, "--since", "1h"], capsys)
    assert (status, err) == (0, SUMMARY)
    assert out == read_captures(URI, s3=s3).rows.to_csv(index=False)
    assert out.splitlines()[0].startswith("request_id,time,model_name,model_version,protocol,")


def test_nothing_found_exits_1_and_writes_no_file(
    s3: Any, traffic: Traffic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(s3, traffic.lines)
    output = tmp_path / "rows.csv"
    status, out, err = run([URI, "--since", "2099-01-01", "--output", str(output)], capsys)
    assert (status, out, err) == (1, "", f"no capture records found under {URI}\n")
    assert list(tmp_path.iterdir()) == []


def denied(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials of a user no policy allows anything."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    # The command's client then comes from a session that reads them.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def corrupt(body: bytes) -> Callable[[Any, pytest.MonkeyPatch], None]:
    def put(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}2026/12/05/13/broken", Body=body)

    return put


@pytest.mark.parametrize(
    ("argv", "setup", "status", "message"),
    [
        (["no/such/folder"], None, 2, "'no/such/folder' is neither an s3:// URI nor an existing"),
        (["s3://"], None, 2, "expected s3://bucket/prefix, got 's3://'"),
        ([URI, "--since", "last week"], None, 2, "argument --since: expected a duration"),
        ([URI, "--output", "{tmp}/rows.json"], None, 2, "--output takes a .csv or .parquet file"),
        ([URI, "--requests", "{tmp}/x/r.csv"], None, 2, "--requests: there is no folder"),
        (["s3://no-such-bucket/captures/"], None, 1, "(NoSuchBucket)"),
        ([URI], denied, 1, f"cannot list {URI}: An error occurred (AccessDenied)"),
        ([URI], corrupt(gzip.compress(b'{"record":"capture"')[:-4]), 1, "/broken: broken gzip"),
        ([URI], corrupt(gzip.compress(b'{"record":"capture","time":')), 1, "/broken: broken JSON"),
    ],
    ids=[
        "no-source", "no-bucket-named", "bad-since", "bad-extension", "no-folder",
        "no-such-bucket", "access-denied", "corrupt-gzip", "broken-json",
    ],
)  # fmt: skip
def test_every_bad_input_is_one_error_line(
    s3: Any,
    traffic: Traffic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    setup: Callable[[Any, pytest.MonkeyPatch], None] | None,
    status: int,
    message: str,
) -> None:
    deliver(s3, traffic.lines)
    if setup is not None:
        setup(s3, monkeypatch)
    output = tmp_path / "out" / "rows.csv"
    output.parent.mkdir()
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    if "--output" not in argv:
        argv += ["--output", str(output)]
    command = set_initial_no_auth_action_count(0)(run) if setup is denied else run
    exited, out, err = command(argv, capsys)
    [line] = [line for line in err.splitlines() if "error:" in line]
    assert (exited, out) == (status, "")
    assert message in line
    # A usage error is argparse's: the usage, then the error line naming the command.
    assert line.startswith("error: " if status == 1 else "python -m model.captures: error: ")
    assert not output.exists() and list(output.parent.iterdir()) == []


def test_no_credentials_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Were credentials found after all, nothing would reach AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # one an earlier test made keeps its keys
    output = tmp_path / "rows.csv"
    assert run([URI, "--output", str(output)], capsys) == (
        1, "", f"error: cannot list {URI}: Unable to locate credentials\n",
    )  # fmt: skip
    assert not output.exists()


def test_a_table_parquet_cannot_hold_is_an_error_and_no_file(
    s3: Any,
    make_app: Callable[..., Flask],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One deployment hashed tenure_months, the next did not: a column of strings and
    # integers, which CSV writes and Parquet cannot.
    lines = []
    for settings in ({"CAPTURE_HASH": "tenure_months", "CAPTURE_HASH_KEY": HASH_KEY}, {}):
        client = make_app(MODEL_URI=str(CHURN), CAPTURE_SAMPLE_RATE="1", **settings).test_client()
        capsys.readouterr()
        post(client, "churn", "/predict", {"features": CUSTOMER})
        lines += capsys.readouterr().out.splitlines()
    s3.put_object(Bucket=BUCKET, Key=firehose_key(0), Body=as_messages(lines))
    rows = read_captures(URI, s3=s3).rows
    assert rows["tenure_months"].tolist() == [keyed_hash("6"), 6]

    argv = [URI, "--output", str(tmp_path / "rows.parquet"), "--requests", str(tmp_path / "r.csv")]
    status, out, err = run(argv, capsys)
    assert (status, out) == (1, "")
    assert err.startswith("error: cannot write Parquet: ") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # neither table, nor a temporary file
    assert run([URI, "--output", str(tmp_path / "rows.csv")], capsys)[0] == 0


def test_a_failure_while_writing_leaves_no_file(
    s3: Any, traffic: Traffic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A lone surrogate is valid JSON, and no UTF-8 text: CSV fails part of the way.
    lines = [line.replace('"credit-card"', '"\\ud800"') for line in traffic.lines]
    assert lines != traffic.lines
    s3.put_object(Bucket=BUCKET, Key=firehose_key(0), Body=as_messages(lines))
    assert "\ud800" in read_captures(URI, s3=s3).rows["payment_method"].tolist()
    for name in ("rows.csv", "rows.parquet"):
        status, out, err = run([URI, "--output", str(tmp_path / name)], capsys)
        assert (status, out) == (1, "")
        assert err.startswith("error: cannot write ") and len(err.splitlines()) == 1
        assert list(tmp_path.iterdir()) == []
