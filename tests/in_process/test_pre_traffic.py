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

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from support.event_payloads import LambdaContext
from support.paths import ROOT

import handler
from app.aws.pre_traffic import check_and_report

METADATA = "model/model.json"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:model-prediction-api-dev-api:7"
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}


class InProcessLambda:
    """A Lambda client whose invoke runs `function` here, as Lambda would run it."""

    def __init__(self, function: Callable[[dict[str, Any], Any], Any]) -> None:
        self.function = function
        self.invoked: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        self.invoked.append({"FunctionName": FunctionName, "InvocationType": InvocationType})
        try:
            result = self.function(json.loads(Payload), LambdaContext())
        except Exception as error:  # Lambda's answer when the handler raises
            body = {"errorMessage": str(error), "errorType": type(error).__name__}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _stream(body)}
        return {"StatusCode": 200, "ExecutedVersion": "7", "Payload": _stream(result)}


def _stream(value: Any) -> io.BytesIO:
    return io.BytesIO(json.dumps(value).encode())


class RecordingCodeDeploy:
    def __init__(self) -> None:
        self.reported: list[dict[str, str]] = []

    def put_lifecycle_event_hook_execution_status(self, **arguments: str) -> dict[str, str]:
        self.reported.append(arguments)
        return {"lifecycleEventHookExecutionId": arguments["lifecycleEventHookExecutionId"]}


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
