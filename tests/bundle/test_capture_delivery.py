"""Capture from deploy parameters, and its delivery from the function's log group to S3.

The package with CAPTURE_PARAMS against the reviewed default stack; the roles' rights;
the stream's partition keys computed by jq 1.6 (Firehose's own engine) on records the
bundle wrote; and a rehearsal in moto: the stack deployed, the bundle's own log lines put
into the function's log group, carried by the subscription filter and the stream into
S3, and read back by the capture reader.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.bundles import run_in_bundle, unzipped_read_only
from support.deploys import aws_client, deploy_local
from support.event_payloads import event_for
from support.iris import IRIS_FEATURES
from support.packages import (
    CAPTURE_BUCKET,
    CAPTURE_HASH_SECRET,
    Package,
    run_package,
)
from support.servers import moto_server
from support.stack_templates import STACKS, normalized

from app.core.captured_rows import HASH_HEX_DIGITS

FUNCTION = "ApiLambdaFunction"
ROLE = "IamRoleLambdaExecution"
CAPTURE_RESOURCES = {
    "CaptureDeliveryRole",
    "CaptureDeliveryStream",
    "CaptureSubscriptionRole",
    "CaptureSubscriptionFilter",
}
PREFIX = "captured/iris/"
LOG_GROUP = "/aws/lambda/model-prediction-api-dev-api"
STREAM = "model-prediction-api-dev-captures"
HASH_KEY = "a-hash-key-that-stands-in-for-the-secret"

# Three rows (one beyond captureMaxRows), one with probabilities, and a refused request.
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
REQUESTS = [
    {"features": ROWS[0]},
    {"instances": ROWS, "return_probabilities": True},
    {"features": [5.1, "wide", 1.4, 0.2]},
]


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


@pytest.fixture(scope="module")
def template(capture_package: Package) -> dict[str, Any]:
    stack: dict[str, Any] = normalized(capture_package.template())
    return stack


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    stack: dict[str, Any] = json.loads((STACKS / "default.json").read_text())
    return stack


def test_the_stack_is_the_default_one_with_capture_and_its_delivery(
    template: dict[str, Any], default: dict[str, Any]
) -> None:
    resources, reviewed = template["Resources"], default["Resources"]
    assert set(resources) == set(reviewed) | CAPTURE_RESOURCES
    for name in set(reviewed) - {FUNCTION, ROLE}:
        assert resources[name] == reviewed[name], name

    expected = copy.deepcopy(reviewed[FUNCTION])
    expected["Properties"]["Environment"]["Variables"].update(
        CAPTURE_SAMPLE_RATE="1",
        CAPTURE_EXCLUDE="sepal_width",
        CAPTURE_HASH="petal_width",
        CAPTURE_HASH_KEY_SECRET=CAPTURE_HASH_SECRET,
        CAPTURE_MAX_ROWS="2",
    )
    assert resources[FUNCTION] == expected

    # The function may read the hash key's secret, and nothing more than before.
    role = copy.deepcopy(reviewed[ROLE])
    role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [
                sub(
                    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
                    f":secret:{CAPTURE_HASH_SECRET}-??????"
                )
            ],
        }
    )
    assert resources[ROLE] == role
    assert template["Outputs"]["CaptureLocation"]["Value"] == f"s3://{CAPTURE_BUCKET}/{PREFIX}"


def test_the_stream_partitions_by_model_version_and_date_and_compresses(
    template: dict[str, Any],
) -> None:
    stream = template["Resources"]["CaptureDeliveryStream"]["Properties"]
    assert stream["DeliveryStreamName"] == STREAM
    assert stream["DeliveryStreamType"] == "DirectPut"
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == sub(f"arn:${{AWS::Partition}}:s3:::{CAPTURE_BUCKET}")
    assert destination["RoleARN"] == {"Fn::GetAtt": ["CaptureDeliveryRole", "Arn"]}
    assert destination["Prefix"] == (
        f"{PREFIX}model=!{{partitionKeyFromQuery:model}}/"
        "version=!{partitionKeyFromQuery:version}/date=!{timestamp:yyyy-MM-dd}/"
    )
    assert destination["ErrorOutputPrefix"].startswith(f"{PREFIX}errors/")
    assert destination["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["DynamicPartitioningConfiguration"] == {"Enabled": True}
    processing = destination["ProcessingConfiguration"]
    assert processing["Enabled"] is True
    processors = {p["Type"]: p.get("Parameters", []) for p in processing["Processors"]}
    # In the order Firehose applies them: unzip CloudWatch Logs' batch, keep the
    # messages, read the keys, one record per line.
    assert list(processors) == [
        "Decompression",
        "CloudWatchLogProcessing",
        "MetadataExtraction",
        "AppendDelimiterToRecord",
    ]
    assert processors["Decompression"] == [
        {"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}
    ]
    assert processors["CloudWatchLogProcessing"] == [
        {"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}
    ]
    engine = {p["ParameterName"]: p["ParameterValue"] for p in processors["MetadataExtraction"]}
    assert engine["JsonParsingEngine"] == "JQ-1.6"


def test_each_role_may_do_exactly_its_part(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    delivery = resources["CaptureDeliveryRole"]["Properties"]
    (trust,) = delivery["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}
    (policy,) = delivery["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": [sub(f"arn:${{AWS::Partition}}:s3:::{CAPTURE_BUCKET}")],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Resource": [sub(f"arn:${{AWS::Partition}}:s3:::{CAPTURE_BUCKET}/{PREFIX}*")],
        },
    ]

    subscription = resources["CaptureSubscriptionRole"]["Properties"]
    (trust,) = subscription["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "logs.amazonaws.com"}
    assert trust["Condition"] == {
        "StringLike": {
            "aws:SourceArn": sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*")
        }
    }
    (policy,) = subscription["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
            "Resource": [{"Fn::GetAtt": ["CaptureDeliveryStream", "Arn"]}],
        }
    ]

    subscription_filter = resources["CaptureSubscriptionFilter"]["Properties"]
    assert subscription_filter == {
        "LogGroupName": {"Ref": "ApiLogGroup"},
        "FilterPattern": '{ $.record = "capture" }',
        "DestinationArn": {"Fn::GetAtt": ["CaptureDeliveryStream", "Arn"]},
        "RoleArn": {"Fn::GetAtt": ["CaptureSubscriptionRole", "Arn"]},
    }


@pytest.fixture(scope="module")
def bundle_log(capture_package: Package, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The lines the packaged function writes for REQUESTS, one invocation each, with a
    key standing in for the hash key's secret."""
    events = [event_for("rest-api.json", "POST", "/predict", json.dumps(r)) for r in REQUESTS]
    stand_ins = {"CAPTURE_HASH_KEY_SECRET": None, "CAPTURE_HASH_KEY": HASH_KEY}
    with unzipped_read_only(capture_package.zip, tmp_path_factory.mktemp("task")) as bundle:
        report = run_in_bundle(bundle, capture_package, events, stand_ins)
    assert [answer["statusCode"] for answer in report["answers"]] == [200, 200, 422]
    lines: list[str] = report["log_lines"]
    return lines


def capture_records(lines: list[str]) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    return [record for record in parsed if record.get("record") == "capture"]


def test_the_bundle_captures_every_request_masked_and_bounded(bundle_log: list[str]) -> None:
    records = capture_records(bundle_log)
    assert [r["status"] for r in records] == [200, 200, 422]
    one, batch, refused = records
    key = HASH_KEY.encode()
    for record, rows in ((one, ROWS[:1]), (batch, ROWS[:2])):
        assert record["rows"] == [
            {
                "sepal_length": row[0],
                "petal_length": row[2],
                "petal_width": hmac.new(
                    key, json.dumps(row[3]).encode(), hashlib.sha256
                ).hexdigest()[:HASH_HEX_DIGITS],
            }
            for row in rows
        ]
    assert (batch["rows_total"], batch["rows_omitted"]) == (3, 1)
    assert "probabilities" in batch and "probabilities" not in one
    assert "rows" not in refused and refused["error_code"]
    # The excluded feature is nowhere: neither in a record nor in any other line.
    assert not [line for line in bundle_log if "sepal_width" in line]


def jq(query: str, record: dict[str, Any]) -> Any:
    result = subprocess.run(
        ["jq", "-c", query],
        input=json.dumps(record),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)


def test_firehose_partition_keys_come_from_the_records_as_jq_1_6_reads_them(
    template: dict[str, Any], bundle_log: list[str]
) -> None:
    # The stream names jq 1.6; the query uses nothing that later versions changed.
    destination = template["Resources"]["CaptureDeliveryStream"]["Properties"][
        "ExtendedS3DestinationConfiguration"
    ]
    (extraction,) = [
        p
        for p in destination["ProcessingConfiguration"]["Processors"]
        if p["Type"] == "MetadataExtraction"
    ]
    query = {p["ParameterName"]: p["ParameterValue"] for p in extraction["Parameters"]}[
        "MetadataExtractionQuery"
    ]
    metadata = json.loads((Path(__file__).parents[2] / "model" / "model.json").read_text())
    for record in capture_records(bundle_log):
        assert jq(query, record) == {"model": metadata["name"], "version": metadata["version"]}
    # A request refused before any model was loaded names none: a key all the same.
    unnamed = {**capture_records(bundle_log)[-1], "model_name": None, "model_version": None}
    assert jq(query, unnamed) == {"model": "none", "version": "none"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (("captureBucket=my-captures",), "bucket given, but sampleRate is 0: capture is off"),
        (("captureExclude=sepal_width",), "exclude given, but sampleRate is 0"),
        (("captureSampleRate=1.5",), "sampleRate must be a number from 0 to 1, got 1.5"),
        (("captureSampleRate=often",), "sampleRate must be a number from 0 to 1, got often"),
        (
            ("captureSampleRate=0.1", "captureBucket=My_Captures"),
            "bucket must be an S3 bucket name, got My_Captures",
        ),
        (
            ("captureSampleRate=0.1", "captureBucket=my-captures", "captureBucketPrefix=captures"),
            'prefix must be folder names each ending in "/"',
        ),
        (
            ("captureSampleRate=0.1", "captureBucket=my-captures", "captureBufferSeconds=30"),
            "bufferSeconds must be an integer from 60 to 900, got 30",
        ),
    ],
)
def test_capture_parameters_are_checked_before_anything_is_built(
    tmp_path: Path, params: tuple[str, ...], message: str
) -> None:
    result = run_package(tmp_path / "package", *params)
    assert result.returncode != 0
    assert f"custom.capture: {message}" in result.stdout
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "package").exists()


def test_a_masked_name_the_model_lacks_stops_packaging_at_the_bundle_s_proof(
    tmp_path: Path,
) -> None:
    # The proof starts the zipped function with its own variables: the app's own check.
    result = run_package(tmp_path / "package", "captureSampleRate=1", "captureExclude=petal_size")
    assert result.returncode != 0
    assert (
        "CAPTURE_EXCLUDE names 'petal_size', which is not one of the model's 4 features"
        in result.stdout
    )
    assert "Traceback" not in result.stdout


# The rehearsal: moto's CloudFormation (tests/support/moto_server.py) creates the stream
# and the filter; moto carries every event put into the log group to the stream, and
# the stream writes each batch into S3 as CloudWatch Logs sends it. It does not apply
# the filter's pattern, run the stream's processors or fill in its partition keys: those
# are checked above, on the template and with jq.


@pytest.fixture(scope="module")
def rehearsal(capture_package: Package, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("capture-deploy")
    with moto_server(folder / "moto.log", extended=True) as endpoint:
        aws_client("s3", endpoint).create_bucket(Bucket=CAPTURE_BUCKET)
        yield deploy_local(capture_package, endpoint, folder)


def test_the_deployed_filter_sends_the_log_group_to_the_stream(rehearsal: str) -> None:
    (subscription,) = aws_client("logs", rehearsal).describe_subscription_filters(
        logGroupName=LOG_GROUP
    )["subscriptionFilters"]
    assert subscription["filterPattern"] == '{ $.record = "capture" }'
    assert subscription["destinationArn"].endswith(f":deliverystream/{STREAM}")
    stream = aws_client("firehose", rehearsal).describe_delivery_stream(DeliveryStreamName=STREAM)
    (destination,) = stream["DeliveryStreamDescription"]["Destinations"]
    assert destination["ExtendedS3DestinationDescription"]["BucketARN"].endswith(CAPTURE_BUCKET)


def test_records_written_by_the_function_arrive_in_s3_and_read_back_as_rows(
    rehearsal: str, bundle_log: list[str]
) -> None:
    from model.captures import read_captures

    logs = aws_client("logs", rehearsal)
    stream = "2026/12/05/[$LATEST]0123456789abcdef0123456789abcdef"
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    # Every line the function wrote, request lines and records alike, as Lambda ships
    # its standard output; moto sends each batch on at once.
    for line in bundle_log:
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": line + "\n"}],
        )
    s3 = aws_client("s3", rehearsal)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=CAPTURE_BUCKET)["Contents"]]
    assert len(keys) == len(bundle_log)
    assert all(key.startswith(PREFIX) for key in keys)

    captures = read_captures(f"s3://{CAPTURE_BUCKET}/{PREFIX}", s3=s3)
    sent = capture_records(bundle_log)
    # In time order; records of one millisecond may come in either order (S3's keys
    # decide), so they are compared in the order of the invocations that wrote them.
    assert captures.requests["time"].is_monotonic_increasing
    requests = captures.requests.sort_values("request_id", kind="stable")
    assert list(requests["status"]) == [200, 200, 422]
    assert list(requests["request_id"]) == [r["request_id"] for r in sent]
    rows = captures.rows.sort_values("request_id", kind="stable")
    assert len(rows) == 3  # 1 + 2 of 3 (captureMaxRows=2); the refused request has none
    assert "sepal_width" not in rows.columns
    assert list(rows["sepal_length"]) == [ROWS[0][0], ROWS[0][0], ROWS[1][0]]
    assert list(rows["petal_width"]) == [r["petal_width"] for s in sent[:2] for r in s["rows"]]
    assert set(IRIS_FEATURES) - {"sepal_width"} <= set(rows.columns)
