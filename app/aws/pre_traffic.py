"""CodeDeploy's pre-traffic hook: the new version answers the model's example, or no
traffic shifts to it.

CodeDeploy invokes `handler` with {"DeploymentId", "LifecycleEventHookExecutionId"}
before it moves any of the alias to the new version. The hook invokes that version
(`ROLLOUT_TARGET`, its qualified ARN, from the template) with an API Gateway REST event,
`POST /predict {"instances": <the metadata's example rows>}`, through the same handler
path as every request, and compares the answer with the metadata's recorded
`example_predictions`. The metadata is the served model's own file (`MODEL_METADATA`):
for a bundled model a path in this same bundle, relative to its root; for a model on S3
its s3:// URI, held to the deploy's pin (`MODEL_METADATA_SHA256`) as the function holds
it, so the example cannot drift from the model deployed with it. With API keys on
(`API_KEYS_SECRET`, the function's own secret) the request carries the first of them,
as a client's would. Whatever goes wrong (the invoke, the function, the answer, the
metadata, the key) reports Failed: CodeDeploy is never left waiting, and the shift stops.

Only boto3, which Lambda's runtime provides, is imported beyond the app, and lazily.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.auth.key_source import load_api_keys
from app.auth.keys import API_KEY_HEADER
from app.core.answers import first_difference
from app.core.artifact import S3_SCHEME, split_s3_uri

SUCCEEDED = "Succeeded"
FAILED = "Failed"
# Long enough to name what differs, short enough for one log line.
_SHOWN = 300


class CheckFailed(Exception):
    """The new version did not answer as recorded; the message says how."""


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    import boto3

    return check_and_report(
        event, boto3.client("lambda"), boto3.client("codedeploy"), os.environ, boto3.client("s3")
    )


def check_and_report(
    event: Mapping[str, Any],
    lambda_client: Any,
    codedeploy_client: Any,
    environ: Mapping[str, str],
    s3_client: Any = None,
) -> dict[str, str]:
    """Check the version, report the verdict to CodeDeploy, log it, and return it.
    `s3_client` reads a model's metadata on S3; a bundled model's needs none."""
    try:
        rows = check(lambda_client, environ, s3_client)
    except Exception as error:  # any failure must reach CodeDeploy as Failed
        status, reason = FAILED, _reason(error)
    else:
        status, reason = SUCCEEDED, f"answered its {rows} example row(s) as recorded"
    target = environ.get("ROLLOUT_TARGET", "")
    print(json.dumps({"hook": "pre_traffic", "status": status, "target": target, "reason": reason}))
    codedeploy_client.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status, "reason": reason}


def _reason(error: Exception) -> str:
    if isinstance(error, CheckFailed):
        return str(error)
    return f"the check itself failed: {type(error).__name__}: {error}"[:1000]


def check(lambda_client: Any, environ: Mapping[str, str], s3_client: Any = None) -> int:
    """The number of example rows the target answered as recorded; CheckFailed else."""
    target = environ["ROLLOUT_TARGET"]
    metadata = json.loads(metadata_bytes(environ, s3_client))
    rows, recorded = metadata.get("example"), metadata.get("example_predictions")
    if not rows:
        raise CheckFailed(f"{environ['MODEL_METADATA']} has no example rows to send")
    secret = environ.get("API_KEYS_SECRET", "").strip()
    keys = load_api_keys((), secret) if secret else ()
    headers = {API_KEY_HEADER: keys[0]} if keys else {}
    event = rest_api_event("/predict", json.dumps({"instances": rows}), headers)
    answer = lambda_client.invoke(
        FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(event)
    )
    payload = answer["Payload"].read()
    if answer.get("FunctionError"):
        shown = payload[:_SHOWN].decode(errors="replace")
        raise CheckFailed(f"{target} failed ({answer['FunctionError']}): {shown}")
    response = json.loads(payload)
    status, body = response.get("statusCode"), response.get("body") or ""
    if status != 200:
        raise CheckFailed(f"{target} answered POST /predict with {status}: {body[:_SHOWN]}")
    predictions = json.loads(body).get("predictions")
    if not isinstance(predictions, list):
        raise CheckFailed(f"{target} answered without predictions: {body[:_SHOWN]}")
    if recorded is None:
        # Metadata from before describe recorded answers: one prediction per row.
        if len(predictions) != len(rows):
            raise CheckFailed(
                f"{target} answered {len(predictions)} prediction(s) for {len(rows)} rows"
            )
        return len(rows)
    row = first_difference(predictions, recorded)
    if row is not None:
        answered = json.dumps(predictions[row]) if row < len(predictions) else "nothing"
        expected = json.dumps(recorded[row]) if row < len(recorded) else "nothing"
        raise CheckFailed(
            f"{target} answered example row {row} with {answered[:_SHOWN]}, where "
            f"{environ['MODEL_METADATA']} records {expected[:_SHOWN]}"
        )
    return len(rows)


def metadata_bytes(environ: Mapping[str, str], s3_client: Any) -> bytes:
    """The served model's metadata file: from the bundle, or from S3 held to its pin."""
    source = environ["MODEL_METADATA"]
    if not source.startswith(S3_SCHEME):
        return (Path(environ.get("LAMBDA_TASK_ROOT", ".")) / source).read_bytes()
    location = split_s3_uri(source)
    if location is None:
        raise CheckFailed(f"MODEL_METADATA is not an s3://bucket/key URI: {source}")
    bucket, key = location
    body: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    pinned = environ.get("MODEL_METADATA_SHA256", "").strip()
    found = hashlib.sha256(body).hexdigest()
    if pinned and found != pinned:
        raise CheckFailed(
            f"{source} has sha256 {found}, but the deploy pinned {pinned}: the new version "
            "would refuse it too"
        )
    return body


def rest_api_event(path: str, body: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway REST API proxy event for POST `path`, as `ANY /{proxy+}` gets it;
    `extra`, headers beside the content type."""
    headers = {
        "content-type": "application/json",
        "user-agent": "pre-traffic-hook",
        **(extra or {}),
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "POST",
            "path": f"/pre-traffic{path}",
            "stage": "pre-traffic",
            "requestId": "pre-traffic-hook",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "pre-traffic-hook"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
