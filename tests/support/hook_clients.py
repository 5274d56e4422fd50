"""Clients the pre-traffic hook (app/aws/pre_traffic.py) is handed in tests: a Lambda client
whose invoke runs a real handler in this process, and a CodeDeploy client that records
the verdict (moto 5.2.5's CodeDeploy has no PutLifecycleEventHookExecutionStatus)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from support.event_payloads import LambdaContext


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
