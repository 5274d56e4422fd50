"""How new execution environments start: as before by default; with SnapStart, or with
provisioned concurrency, behind an alias that API Gateway invokes; never both.

The hooks a SnapStart function runs are tested in test_snapstart.py; the SnapStart
stack is deployed into moto in test_deploy_local.py.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.packages import Package, run_package
from support.paths import ROOT
from support.plugin_harness import run_hook
from support.stack_templates import STACKS, normalized

# The stack with the default parameters, as it was before these options existed.
DEFAULT_STACK = STACKS / "default.json"
FUNCTION = "ApiLambdaFunction"


def default_stack() -> dict[str, Any]:
    stack: dict[str, Any] = json.loads(DEFAULT_STACK.read_text())
    return stack


def behind_alias(stack: dict[str, Any], logical_id: str, name: str, **properties: Any) -> dict:
    """`stack` with an alias `name` on its published version, and API Gateway's
    integrations and permission on the alias instead of the function."""
    expected = copy.deepcopy(stack)
    resources = expected["Resources"]
    (version,) = [k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Version"]
    resources[logical_id] = {
        "Type": "AWS::Lambda::Alias",
        "Properties": {
            "FunctionName": {"Ref": FUNCTION},
            "FunctionVersion": {"Fn::GetAtt": [version, "Version"]},
            "Name": name,
            **properties,
        },
        "DependsOn": FUNCTION,
    }
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGateway::Method":
            # ...:function:NAME:ALIAS/invocations
            parts = resource["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
            parts[parts.index("/invocations") : parts.index("/invocations")] = [":", name]
            resource["DependsOn"] = [*resource["DependsOn"], logical_id]
        elif resource["Type"] == "AWS::Lambda::Permission":
            arn = resource["Properties"]["FunctionName"]
            resource["Properties"]["FunctionName"] = {"Fn::Join": [":", [arn, name]]}
            resource["DependsOn"] = logical_id
    return expected


def test_the_default_stack_is_as_it_was(package: Package) -> None:
    # After an intended change to the default stack, write the file anew:
    # python tests/stack_templates.py .serverless/cloudformation-template-update-stack.json
    assert normalized(package.template()) == default_stack()
    resources = default_stack()["Resources"]
    assert "SnapStart" not in resources[FUNCTION]["Properties"]
    assert not [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]


def test_snapstart_applies_to_versions_and_api_gateway_invokes_the_snapstart_alias(
    snapstart_package: Package,
) -> None:
    expected = behind_alias(default_stack(), "ApiSnapStartLambdaAlias", "snapstart")
    expected["Resources"][FUNCTION]["Properties"]["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    assert normalized(snapstart_package.template()) == expected


def test_provisioned_concurrency_keeps_environments_on_the_provisioned_alias(
    provisioned_package: Package,
) -> None:
    expected = behind_alias(
        default_stack(),
        "ApiProvConcLambdaAlias",
        "provisioned",
        ProvisionedConcurrencyConfig={"ProvisionedConcurrentExecutions": 2},
    )
    assert normalized(provisioned_package.template()) == expected


def resolved_function(*params: str) -> dict[str, Any]:
    """The function's configuration as osls resolves it with `params`: `sls print`."""
    result = subprocess.run(
        ["npx", "--no-install", "sls", "print", "--format", "json"]
        + [f"--param={param}" for param in params],
        cwd=ROOT,
        env={**os.environ, "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    function: dict[str, Any] = json.loads(result.stdout)["functions"]["api"]
    return function


@pytest.mark.parametrize(
    ("params", "snap_start", "provisioned"),
    [
        ((), False, 0),
        # Every --param value is a string, and 'false' is truthy in JavaScript.
        (("snapStart=false",), False, 0),
        (("snapStart=0",), False, 0),
        (("snapStart=true",), True, 0),
        (("snapStart=1",), True, 0),
        (("provisionedConcurrency=0",), False, 0),
        (("provisionedConcurrency=2",), False, 2),
        (("snapStart=false", "provisionedConcurrency=3"), False, 3),
    ],
)
def test_parameters_resolve_to_what_osls_reads(
    params: tuple[str, ...], snap_start: bool, provisioned: int
) -> None:
    function = resolved_function(*params)
    assert function["snapStart"] is snap_start
    assert function["provisionedConcurrency"] == provisioned


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("snapStart=yes", 'Invalid "strToBool" input'),
        ("snapStart=on", 'Invalid "strToBool" input'),
        ("provisionedConcurrency=-1", "functions.api.provisionedConcurrency"),
        ("provisionedConcurrency=two", "functions.api.provisionedConcurrency"),
    ],
)
def test_other_values_stop_packaging_at_once(tmp_path: Path, param: str, message: str) -> None:
    result = run_package(tmp_path / "package", param)
    assert result.returncode != 0
    assert message in result.stdout
    assert not (tmp_path / "package").exists()  # refused before anything was built


def test_snapstart_with_provisioned_concurrency_is_refused_naming_both(tmp_path: Path) -> None:
    result = run_package(tmp_path / "package", "snapStart=true", "provisionedConcurrency=2")
    assert result.returncode != 0
    assert (
        'Function "api": SnapStart (snapStart=true) and provisioned concurrency '
        "(provisionedConcurrency=2) cannot be combined: Lambda's SnapStart excludes "
        'provisioned concurrency. Pass --param="snapStart=true" or '
        '--param="provisionedConcurrency=N", not both.'
    ) in result.stdout
    # Refused before the requirements are installed, not after (as osls alone would).
    assert "Python requirements" not in result.stdout
    assert not (tmp_path / "package").exists()


def check(**function: Any) -> dict[str, Any]:
    service = {
        "service": "model-prediction-api",
        "provider": {"name": "aws"},
        "functions": {"api": {"handler": "handler.handler", **function}},
    }
    return run_hook("start-up-options", "initialize", service)


@pytest.mark.parametrize(
    "function",
    [
        {},
        {"snapStart": False, "provisionedConcurrency": 5},
        {"snapStart": True, "provisionedConcurrency": 0},
        {"snapStart": True, "ephemeralStorageSize": 512},
    ],
)
def test_what_snapstart_allows_passes(function: dict[str, Any]) -> None:
    assert "error" not in check(**function)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ({"snapStart": True, "provisionedConcurrency": 1}, "cannot be combined"),
        ({"snapStart": True, "fileSystemConfig": {"arn": "x", "localMountPath": "/mnt/x"}},
         "EFS file system"),
        ({"snapStart": True, "ephemeralStorageSize": 1024}, "at most 512 MB"),
    ],
)  # fmt: skip
def test_what_snapstart_excludes_is_refused(function: dict[str, Any], message: str) -> None:
    error = check(**function)["error"]
    assert error.startswith('Function "api": ') and message in error
