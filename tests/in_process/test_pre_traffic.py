"""The pre-traffic hook (app/aws/pre_traffic.py) against functions that answer right, wrong,
or not at all.

The hook's Lambda client is handed in: `InProcessLambda` runs the real handler.py (the
bundled model, as the api function serves it) in this process, with Lambda's invoke
semantics (an exception in the handler is a FunctionError, not a raise). An invoke that
fails is moto's own Lambda, asked for a version that does not exist. CodeDeploy's client
records the call: moto 5.2.5's CodeDeploy has no PutLifecycleEventHookExecutionStatus,
so there is no real one to hand in.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from support.hook_clients import InProcessLambda, RecordingCodeDeploy
from support.paths import ROOT

import handler
from app.aws.pre_traffic import check_and_report
from app.factory import create_app

METADATA = "model/model.json"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:model-prediction-api-dev-api:7"
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}


def environ(root: Path = ROOT, metadata: str = METADATA) -> dict[str, str]:
    # What the template sets, and Lambda's task root: the bundle, here the repository.
    return {"ROLLOUT_TARGET": TARGET, "MODEL_METADATA": metadata, "LAMBDA_TASK_ROOT": str(root)}


def run(lambda_client: Any, env: dict[str, str]) -> tuple[dict[str, str], RecordingCodeDeploy]:
    codedeploy = RecordingCodeDeploy()
    verdict = check_and_report(EVENT, lambda_client, codedeploy, env)
    return verdict, codedeploy


def reported(codedeploy: RecordingCodeDeploy, status: str) -> None:
    assert codedeploy.reported == [
        {
            "deploymentId": EVENT["DeploymentId"],
            "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
            "status": status,
        }
    ]


def logged(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (line,) = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"hook"')
    ]
    return line  # type: ignore[no-any-return]


def test_a_version_that_answers_the_example_as_recorded_succeeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lam = InProcessLambda(handler.handler)
    verdict, codedeploy = run(lam, environ())
    assert verdict["status"] == "Succeeded", verdict["reason"]
    reported(codedeploy, "Succeeded")
    # The new version itself, waited for.
    assert lam.invoked == [{"FunctionName": TARGET, "InvocationType": "RequestResponse"}]
    line = logged(capsys)
    assert line["status"] == "Succeeded" and line["target"] == TARGET
    assert line["reason"] == "answered its 5 example row(s) as recorded"


def test_a_version_that_answers_otherwise_fails_naming_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same rows, with the answers of another model recorded: setosa and versicolor
    # swapped in the second row.
    metadata = json.loads((ROOT / METADATA).read_text())
    assert metadata["example_predictions"][1] == "versicolor"
    metadata["example_predictions"][1] = "virginica"
    (tmp_path / "model").mkdir()
    (tmp_path / METADATA).write_text(json.dumps(metadata))

    verdict, codedeploy = run(InProcessLambda(handler.handler), environ(tmp_path))
    reported(codedeploy, "Failed")
    reason = (
        f'{TARGET} answered example row 1 with "versicolor", where {METADATA} records "virginica"'
    )
    assert verdict == {"status": "Failed", "reason": reason}
    assert logged(capsys)["reason"] == reason


def test_a_version_serving_another_model_fails_with_its_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The churn example's metadata sent to the iris function: its rows are refused.
    verdict, codedeploy = run(
        InProcessLambda(handler.handler), environ(metadata="model/examples/churn.json")
    )
    reported(codedeploy, "Failed")
    assert verdict["reason"].startswith(f"{TARGET} answered POST /predict with 422: ")
    assert logged(capsys)["status"] == "Failed"


def test_a_function_error_fails(capsys: pytest.CaptureFixture[str]) -> None:
    def out_of_memory(event: dict[str, Any], context: Any) -> Any:
        raise MemoryError("Runtime exited with error: signal: killed")

    verdict, codedeploy = run(InProcessLambda(out_of_memory), environ())
    reported(codedeploy, "Failed")
    assert verdict["reason"].startswith(f"{TARGET} failed (Unhandled): ")
    assert "signal: killed" in verdict["reason"]
    assert logged(capsys)["status"] == "Failed"


def test_an_invoke_error_fails(capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    with mock_aws():
        lam = boto3.client("lambda", region_name="us-east-1")
        verdict, codedeploy = run(lam, environ())
    reported(codedeploy, "Failed")
    assert verdict["reason"].startswith("the check itself failed: ResourceNotFoundException")
    assert logged(capsys)["status"] == "Failed"


def test_unreadable_metadata_fails_without_invoking(tmp_path: Path) -> None:
    lam = InProcessLambda(handler.handler)
    verdict, codedeploy = run(lam, environ(tmp_path))
    reported(codedeploy, "Failed")
    assert "FileNotFoundError" in verdict["reason"]
    assert lam.invoked == []


def test_an_answer_that_is_not_a_lambda_proxy_answer_fails() -> None:
    verdict, codedeploy = run(InProcessLambda(lambda event, context: "ok"), environ())
    reported(codedeploy, "Failed")
    assert verdict["reason"].startswith("the check itself failed: AttributeError")


def test_the_hook_imports_boto3_only_when_it_runs() -> None:
    # Lambda's runtime provides boto3; importing the module alone must not need it.
    result = subprocess.run(
        [sys.executable, "-c", "import sys, app.aws.pre_traffic; print('boto3' in sys.modules)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
SECRET = "prod/model-api/keys"


@pytest.fixture
def s3_metadata(aws_env: None) -> Iterator[tuple[Any, str, bytes]]:
    """The bundled model's metadata published on moto's S3; yields the client, its URI
    and its bytes."""
    import boto3

    body = (ROOT / METADATA).read_bytes()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="team-models")
        s3.put_object(Bucket="team-models", Key="iris/1.0.0.json", Body=body)
        yield s3, "s3://team-models/iris/1.0.0.json", body


def test_a_model_on_s3_is_checked_on_its_pinned_metadata(
    s3_metadata: tuple[Any, str, bytes],
) -> None:
    s3, uri, body = s3_metadata
    env = environ(metadata=uri) | {"MODEL_METADATA_SHA256": hashlib.sha256(body).hexdigest()}
    verdict = check_and_report(
        EVENT, InProcessLambda(handler.handler), RecordingCodeDeploy(), env, s3
    )
    assert verdict == {"status": "Succeeded", "reason": "answered its 5 example row(s) as recorded"}


def test_s3_metadata_that_differs_from_its_pin_fails_without_invoking(
    s3_metadata: tuple[Any, str, bytes],
) -> None:
    s3, uri, body = s3_metadata
    lam = InProcessLambda(handler.handler)
    env = environ(metadata=uri) | {"MODEL_METADATA_SHA256": "0" * 64}
    verdict = check_and_report(EVENT, lam, RecordingCodeDeploy(), env, s3)
    assert verdict["status"] == "Failed"
    assert verdict["reason"] == (
        f"{uri} has sha256 {hashlib.sha256(body).hexdigest()}, but the deploy pinned {'0' * 64}: "
        "the new version would refuse it too"
    )
    assert lam.invoked == []


def test_with_api_keys_the_hook_sends_one_from_the_function_s_secret(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    keyed = create_app({"API_KEYS": KEY})
    monkeypatch.setattr(handler, "app", keyed)
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=SECRET, SecretString=KEY
        )
        verdict = check_and_report(
            EVENT,
            InProcessLambda(handler.handler),
            RecordingCodeDeploy(),
            environ() | {"API_KEYS_SECRET": SECRET},
        )
        assert verdict["status"] == "Succeeded", verdict["reason"]
        # Without the secret's key the keyed function refuses the example: Failed.
        refused = check_and_report(
            EVENT, InProcessLambda(handler.handler), RecordingCodeDeploy(), environ()
        )
    assert refused["status"] == "Failed"
    assert refused["reason"].startswith(f"{TARGET} answered POST /predict with 401: ")
