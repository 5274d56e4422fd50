"""Canary and linear rollouts (.serverless_plugins/rollout.js): the packaged stacks, the
parameters refused before anything is built, and a rehearsal of the canary stack in moto.

AllAtOnce, the default, is the reviewed default stack (test_start_up_options.py compares
the default package with it; here the plugin is shown to leave the service untouched for
every spelling of AllAtOnce). The hook's own code is tested in
in_process/test_pre_traffic.py.

Where moto stops: its CloudFormation (with tests/support/moto_server.py) creates every
resource of the canary stack, but reads no UpdatePolicy, so no deploy into it starts a
CodeDeploy deployment, calls the hook or shifts the alias; its CodeDeploy answers no
deployment group's alarm configuration; and its Lambda runs no function without Docker.
Beyond that point the template is what is checked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.deploys import aws_client, deploy_local
from support.packages import Package, run_package
from support.plugin_harness import run_hook
from support.servers import moto_server
from support.stack_templates import STACKS, normalized

FUNCTION = "ApiLambdaFunction"
VERSION = "ApiLambdaVersion<code hash>"
ALIAS = "ApiRolloutLambdaAlias"
HOOK = "PreTrafficLambdaFunction"
FUNCTION_NAME = "model-prediction-api-dev-api"
HOOK_NAME = "model-prediction-api-dev-preTraffic"
STACK = "model-prediction-api-dev"
ROLLOUT_RESOURCES = {
    ALIAS,
    HOOK,
    "PreTrafficLogGroup",
    "RolloutApplication",
    "RolloutDeploymentGroup",
    "RolloutCodeDeployRole",
    "RolloutHookRole",
    "RolloutErrorRateAlarm",
    "RolloutLatencyAlarm",
}
# The resources of the default stack that a rollout changes.
CHANGED = {
    FUNCTION,
    "ApiGatewayMethodAny",
    "ApiGatewayMethodProxyVarAny",
    "ApiLambdaPermissionApiGateway",
}
DIMENSIONS = [
    {"Name": "service", "Value": FUNCTION_NAME},
    {"Name": "function_version", "Value": {"Fn::GetAtt": [VERSION, "Version"]}},
]
ALIAS_URI = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":apigateway:",
            {"Ref": "AWS::Region"},
            ":lambda:path/2015-03-31/functions/",
            {"Ref": ALIAS},
            "/invocations",
        ],
    ]
}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def default_stack() -> dict[str, Any]:
    stack: dict[str, Any] = json.loads((STACKS / "default.json").read_text())
    return stack


def resources_of(package: Package) -> dict[str, Any]:
    found: dict[str, Any] = normalized(package.template())["Resources"]
    return found


def metric(query_id: str, name: str, namespace: str = "ModelPredictionApi") -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": DIMENSIONS},
            "Period": 60,
            "Stat": "Sum",
        },
        "ReturnData": False,
    }


def rate_alarm(threshold: float, metrics: list[dict[str, Any]], expression: str) -> dict[str, Any]:
    """A metric-math alarm's properties, less its description."""
    return {
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": threshold,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "TreatMissingData": "notBreaching",
        "Metrics": [*metrics, {"Id": "rate", "Expression": expression, "ReturnData": True}],
    }


def without_description(resource: dict[str, Any]) -> dict[str, Any]:
    properties = dict(resource["Properties"])
    assert properties.pop("AlarmDescription")
    return properties


def test_a_canary_adds_the_alias_codedeploy_alarms_and_hook_and_changes_nothing_else(
    canary_package: Package,
) -> None:
    resources, reviewed = resources_of(canary_package), default_stack()["Resources"]
    assert set(resources) == set(reviewed) | ROLLOUT_RESOURCES
    for name in set(reviewed) - CHANGED:
        assert resources[name] == reviewed[name], name

    function = copy.deepcopy(reviewed[FUNCTION])
    function["Properties"]["Environment"]["Variables"]["METRICS_BY_FUNCTION_VERSION"] = "true"
    assert resources[FUNCTION] == function

    assert resources[ALIAS] == {
        "Type": "AWS::Lambda::Alias",
        "Properties": {
            "FunctionName": {"Ref": FUNCTION},
            "FunctionVersion": {"Fn::GetAtt": [VERSION, "Version"]},
            "Name": "live",
        },
        # The hook is updated to name the new version before CodeDeploy calls it.
        "DependsOn": [FUNCTION, HOOK],
        "UpdatePolicy": {
            "CodeDeployLambdaAliasUpdate": {
                "ApplicationName": {"Ref": "RolloutApplication"},
                "DeploymentGroupName": {"Ref": "RolloutDeploymentGroup"},
                "BeforeAllowTrafficHook": {"Ref": HOOK},
            }
        },
    }
    # API Gateway invokes the alias, and may invoke nothing else.
    for method in ("ApiGatewayMethodAny", "ApiGatewayMethodProxyVarAny"):
        expected = copy.deepcopy(reviewed[method])
        expected["Properties"]["Integration"]["Uri"] = ALIAS_URI
        expected["DependsOn"] = [*expected["DependsOn"], ALIAS]
        assert resources[method] == expected
    permission = copy.deepcopy(reviewed["ApiLambdaPermissionApiGateway"])
    permission["Properties"]["FunctionName"] = {"Ref": ALIAS}
    permission["DependsOn"] = ALIAS
    assert resources["ApiLambdaPermissionApiGateway"] == permission
    assert [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"] == [
        resources[ALIAS]
    ]


def test_codedeploy_shifts_by_the_canary_configuration_and_rolls_back_on_alarm(
    canary_package: Package,
) -> None:
    resources = resources_of(canary_package)
    assert resources["RolloutApplication"] == {
        "Type": "AWS::CodeDeploy::Application",
        "Properties": {"ComputePlatform": "Lambda"},
    }
    assert resources["RolloutDeploymentGroup"] == {
        "Type": "AWS::CodeDeploy::DeploymentGroup",
        "Properties": {
            "ApplicationName": {"Ref": "RolloutApplication"},
            "ServiceRoleArn": {"Fn::GetAtt": ["RolloutCodeDeployRole", "Arn"]},
            "DeploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            "DeploymentStyle": {
                "DeploymentType": "BLUE_GREEN",
                "DeploymentOption": "WITH_TRAFFIC_CONTROL",
            },
            "AlarmConfiguration": {
                "Enabled": True,
                "Alarms": [
                    {"Name": {"Ref": "RolloutErrorRateAlarm"}},
                    {"Name": {"Ref": "RolloutLatencyAlarm"}},
                ],
            },
            "AutoRollbackConfiguration": {
                "Enabled": True,
                "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
            },
        },
    }
    role = resources["RolloutCodeDeployRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    (policy,) = role["Policies"]
    function_arn = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["lambda:GetAlias", "lambda:UpdateAlias",
                       "lambda:GetProvisionedConcurrencyConfig"],
            "Resource": [sub(f"{function_arn}{FUNCTION_NAME}"),
                         sub(f"{function_arn}{FUNCTION_NAME}:*")],
        },
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [sub(f"{function_arn}{HOOK_NAME}")],
        },
        {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": ["*"]},
    ]  # fmt: skip
    assert "ManagedPolicyArns" not in role


def test_the_alarms_watch_the_new_version_s_own_metrics(canary_package: Package) -> None:
    resources = resources_of(canary_package)
    errors = resources["RolloutErrorRateAlarm"]
    assert errors["Type"] == "AWS::CloudWatch::Alarm"
    assert without_description(errors) == rate_alarm(
        0.01,
        [metric("errors", "server_errors"), metric("requests", "requests")],
        "errors / requests",
    )
    latency = resources["RolloutLatencyAlarm"]
    assert without_description(latency) == {
        "Namespace": "ModelPredictionApi",
        "MetricName": "latency_ms",
        "Dimensions": DIMENSIONS,
        "ExtendedStatistic": "p99",
        "Period": 60,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 1000,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "TreatMissingData": "notBreaching",
    }
    # The bundled iris model has no reference statistics, and there is no shadow.
    assert "RolloutUnseenCategoryAlarm" not in resources
    assert "RolloutShadowDisagreementAlarm" not in resources


def test_the_hook_is_a_function_of_the_same_bundle_with_only_what_it_uses(
    canary_package: Package,
) -> None:
    resources = resources_of(canary_package)
    hook = resources[HOOK]["Properties"]
    api = resources[FUNCTION]["Properties"]
    assert hook["Handler"] == "app.aws.pre_traffic.handler"
    assert hook["FunctionName"] == HOOK_NAME
    assert hook["Code"] == api["Code"]  # the same zip
    assert hook["Runtime"] == "python3.12"
    assert hook["Environment"] == {
        "Variables": {"ROLLOUT_TARGET": {"Ref": VERSION}, "MODEL_METADATA": "model/model.json"}
    }
    assert hook["Role"] == {"Fn::GetAtt": ["RolloutHookRole", "Arn"]}
    # CodeDeploy calls the hook itself: no version of it is published.
    versions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Version"]
    assert [v["Properties"]["FunctionName"] for v in versions] == [{"Ref": FUNCTION}]

    role = resources["RolloutHookRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    (policy,) = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [{"Ref": VERSION}]},
        {
            "Effect": "Allow",
            "Action": ["codedeploy:PutLifecycleEventHookExecutionStatus"],
            "Resource": [
                sub(
                    "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:"
                    "deploymentgroup:${RolloutApplication}/${RolloutDeploymentGroup}"
                )
            ],
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                    f"log-group:/aws/lambda/{HOOK_NAME}:*"
                )
            ],
        },
    ]
    assert "ManagedPolicyArns" not in role
    # The hook's logs, kept as long as the api function's.
    assert resources["PreTrafficLogGroup"]["Properties"] == {
        "LogGroupName": f"/aws/lambda/{HOOK_NAME}",
        "RetentionInDays": 14,
    }


def test_a_linear_rollout_with_input_health_and_a_shadow_has_all_four_alarms(
    linear_package: Package,
) -> None:
    resources = resources_of(linear_package)
    group = resources["RolloutDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"
    names = ["RolloutErrorRateAlarm", "RolloutLatencyAlarm", "RolloutUnseenCategoryAlarm",
             "RolloutShadowDisagreementAlarm"]  # fmt: skip
    assert group["AlarmConfiguration"]["Alarms"] == [{"Name": {"Ref": n}} for n in names]
    namespace = "ChurnModel"
    assert without_description(resources["RolloutErrorRateAlarm"]) == rate_alarm(
        0.02,
        [
            metric("errors", "server_errors", namespace),
            metric("requests", "requests", namespace),
        ],
        "errors / requests",
    )
    assert resources["RolloutLatencyAlarm"]["Properties"]["Threshold"] == 750
    assert resources["RolloutLatencyAlarm"]["Properties"]["Namespace"] == namespace
    assert without_description(resources["RolloutUnseenCategoryAlarm"]) == rate_alarm(
        0.1,
        [
            metric("unseen", "rows_unseen_category", namespace),
            metric("rows", "rows", namespace),
        ],
        "unseen / rows",
    )
    # churn is a classifier: the shadow's rows agreeing with the live answer.
    assert without_description(resources["RolloutShadowDisagreementAlarm"]) == rate_alarm(
        0.2,
        [
            metric("agreeing", "shadow_rows_agreeing", namespace),
            metric("shadow", "shadow_rows", namespace),
        ],
        "1 - agreeing / shadow",
    )
    hook = resources[HOOK]["Properties"]
    assert hook["Environment"]["Variables"]["MODEL_METADATA"] == "model/examples/churn.json"
    api = resources[FUNCTION]["Properties"]["Environment"]["Variables"]
    assert api["METRICS_BY_FUNCTION_VERSION"] == "true"
    assert api["METRICS_NAMESPACE"] == namespace


def test_with_snapstart_versions_are_snapshotted_and_live_is_the_only_alias(
    canary_snapstart_package: Package, canary_package: Package
) -> None:
    resources = resources_of(canary_snapstart_package)
    assert resources[FUNCTION]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    # osls's snapstart alias gives way to live: everything else as in the plain canary.
    expected = resources_of(canary_package)
    expected[FUNCTION]["Properties"]["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    assert resources == expected


def test_with_provisioned_concurrency_live_keeps_the_environments(
    canary_provisioned_package: Package, canary_package: Package
) -> None:
    resources = resources_of(canary_provisioned_package)
    expected = resources_of(canary_package)
    expected[ALIAS]["Properties"]["ProvisionedConcurrencyConfig"] = {
        "ProvisionedConcurrentExecutions": 2
    }
    assert resources == expected


def service_with(rollout: dict[str, Any], **function: Any) -> dict[str, Any]:
    return {
        "service": "model-prediction-api",
        "provider": {"name": "aws", "environment": {"METRICS_NAMESPACE": "ModelPredictionApi"}},
        "custom": {"rollout": rollout, "servedModel": {"uri": ""}},
        "functions": {"api": {"handler": "handler.handler", **function}},
    }


LIMITS = {"maxErrorRate": "0.01", "maxP99Ms": "1000", "maxUnseenRate": "0.05",
          "maxDisagreement": "0.05", "shadowModelUri": ""}  # fmt: skip


@pytest.mark.parametrize("config", ["AllAtOnce", "CodeDeployDefault.LambdaAllAtOnce", ""])
def test_all_at_once_leaves_the_service_as_it_was(config: str) -> None:
    service = service_with({"config": config, **LIMITS})
    assert run_hook("rollout", "initialize", service) == {"service": service, "log": []}


RATE = "must be a number from 0 to 1"
WHOLE = "must be a whole number of 0 or more"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (("rollout=Canary50Percent5Minutes",), 'got "Canary50Percent5Minutes"'),
        (("rollout=CodeDeployDefault.ECSAllAtOnce",), 'got "CodeDeployDefault.ECSAllAtOnce"'),
        (("rolloutMaxErrorRate=1.5",), f'rolloutMaxErrorRate {RATE}, got "1.5"'),
        (("rolloutMaxErrorRate=-0.1",), f'rolloutMaxErrorRate {RATE}, got "-0.1"'),
        (("rolloutMaxUnseenRate=often",), f'rolloutMaxUnseenRate {RATE}, got "often"'),
        (("rolloutMaxDisagreement=2",), f'rolloutMaxDisagreement {RATE}, got "2"'),
        (("rolloutMaxP99Ms=fast",), f'rolloutMaxP99Ms {WHOLE}, got "fast"'),
        (("rolloutMaxP99Ms=12.5",), f'rolloutMaxP99Ms {WHOLE}, got "12.5"'),
        (
            ("rollout=Canary10Percent5Minutes", "snapStart=true", "provisionedConcurrency=2"),
            "SnapStart (snapStart=true) and provisioned concurrency (provisionedConcurrency=2) "
            "cannot be combined",
        ),
    ],
)  # fmt: skip
def test_bad_parameters_stop_packaging_before_anything_is_built(
    tmp_path: Path, params: tuple[str, ...], message: str
) -> None:
    result = run_package(tmp_path / "package", *params)
    assert result.returncode != 0
    assert message in result.stdout
    assert "Traceback" not in result.stdout and "    at " not in result.stdout
    assert "Python requirements" not in result.stdout  # stopped before the bundle
    assert not (tmp_path / "package").exists()


def test_an_unknown_configuration_lists_the_known_ones() -> None:
    error = run_hook("rollout", "initialize", service_with({"config": "Canary", **LIMITS}))
    assert error["error"] == (
        "rollout must be one of CodeDeploy's Lambda configurations, AllAtOnce, "
        "Canary10Percent5Minutes, Canary10Percent10Minutes, Canary10Percent15Minutes, "
        "Canary10Percent30Minutes, Linear10PercentEvery1Minute, Linear10PercentEvery2Minutes, "
        "Linear10PercentEvery3Minutes, Linear10PercentEvery10Minutes (with or without the "
        'prefix CodeDeployDefault.Lambda), got "Canary"'
    )


@pytest.mark.parametrize("where", ["provider", "function"])
def test_a_rollout_without_published_versions_is_refused(where: str) -> None:
    service = service_with({"config": "Canary10Percent5Minutes", **LIMITS})
    if where == "provider":
        service["provider"]["versionFunctions"] = False
    else:
        service["functions"]["api"]["versionFunction"] = False
    error = run_hook("start-up-options", "initialize", service)["error"]
    assert error.startswith(
        'Function "api": rollout=Canary10Percent5Minutes shifts traffic between published '
        "versions, and versionFunctions is off"
    )
    with_versions = service_with({"config": "Canary10Percent5Minutes", **LIMITS})
    assert "error" not in run_hook("start-up-options", "initialize", with_versions)


# The rehearsal: moto's CloudFormation (tests/support/moto_server.py) creates the version,
# the alias, both functions, the roles, the alarms (metric math included) and CodeDeploy's
# application and deployment group. It stops there: it reads no UpdatePolicy, so no
# deploy starts a CodeDeploy deployment, runs the hook or shifts the alias; its CodeDeploy
# has no PutLifecycleEventHookExecutionStatus and answers no group's alarm configuration,
# and its Lambda cannot run a function without Docker. The shift itself is the
# template's (checked above), and the hook's code runs in in_process/test_pre_traffic.py.


@pytest.fixture(scope="module")
def rehearsal(canary_package: Package, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("rollout-deploy")
    with moto_server(folder / "moto.log", extended=True) as endpoint:
        yield deploy_local(canary_package, endpoint, folder)


def test_the_deployed_stack_has_every_resource_complete(rehearsal: str) -> None:
    cloudformation = aws_client("cloudformation", rehearsal)
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    kinds = {r["LogicalResourceId"]: r["ResourceType"] for r in summaries}
    assert {kinds[name] for name in ROLLOUT_RESOURCES} >= {
        "AWS::Lambda::Alias",
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
    }
    assert {r["ResourceStatus"] for r in summaries} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def test_api_gateway_invokes_live_on_the_published_version(rehearsal: str) -> None:
    lam = aws_client("lambda", rehearsal)
    alias = lam.get_alias(FunctionName=FUNCTION_NAME, Name="live")
    assert alias["FunctionVersion"] == "1"
    alias_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}:live"
    gateway = aws_client("apigateway", rehearsal)
    (api,) = [a for a in gateway.get_rest_apis()["items"] if a["name"] == f"dev-{STACK[:-4]}"]
    for resource in gateway.get_resources(restApiId=api["id"])["items"]:
        integration = gateway.get_integration(
            restApiId=api["id"], resourceId=resource["id"], httpMethod="ANY"
        )
        assert integration["uri"] == (
            f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{alias_arn}/invocations"
        )
    config = lam.get_function_configuration(FunctionName=FUNCTION_NAME)
    assert config["Environment"]["Variables"]["METRICS_BY_FUNCTION_VERSION"] == "true"


def test_the_hook_function_targets_the_new_version(rehearsal: str) -> None:
    lam = aws_client("lambda", rehearsal)
    hook = lam.get_function_configuration(FunctionName=HOOK_NAME)
    assert hook["Handler"] == "app.aws.pre_traffic.handler"
    assert hook["Environment"]["Variables"] == {
        "ROLLOUT_TARGET": f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}:1",
        "MODEL_METADATA": "model/model.json",
    }
    # Its own role, not the api function's.
    api = lam.get_function_configuration(FunctionName=FUNCTION_NAME)
    assert "RolloutHookRole" in hook["Role"] and hook["Role"] != api["Role"]


def test_codedeploy_has_the_group_with_the_alarms_and_rollback(rehearsal: str) -> None:
    codedeploy = aws_client("codedeploy", rehearsal)
    (application,) = codedeploy.list_applications()["applications"]
    assert (
        codedeploy.get_application(applicationName=application)["application"]["computePlatform"]
        == "Lambda"
    )
    (group_name,) = codedeploy.list_deployment_groups(applicationName=application)[
        "deploymentGroups"
    ]
    group = codedeploy.get_deployment_group(
        applicationName=application, deploymentGroupName=group_name
    )["deploymentGroupInfo"]
    assert group["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    assert group["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    assert "RolloutCodeDeployRole" in group["serviceRoleArn"]

    # moto's GetDeploymentGroup answers "alarmConfiguration": {} whatever the group has:
    # the group's alarms are the deployed template's, and each must be a real alarm.
    cloudformation = aws_client("cloudformation", rehearsal)
    body = cloudformation.get_template(StackName=STACK)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    configured = template["Resources"]["RolloutDeploymentGroup"]["Properties"]
    assert [a["Name"]["Ref"] for a in configured["AlarmConfiguration"]["Alarms"]] == [
        "RolloutErrorRateAlarm",
        "RolloutLatencyAlarm",
    ]
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    names = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in summaries
        if r["ResourceType"] == "AWS::CloudWatch::Alarm"
    }
    cloudwatch = aws_client("cloudwatch", rehearsal)
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert sorted(alarms) == sorted(names.values())
    rate, latency = alarms[names["RolloutErrorRateAlarm"]], alarms[names["RolloutLatencyAlarm"]]
    dimensions = [
        {"Name": "service", "Value": FUNCTION_NAME},
        {"Name": "function_version", "Value": "1"},
    ]
    assert [q.get("Expression") for q in rate["Metrics"]] == [None, None, "errors / requests"]
    for query, name in zip(rate["Metrics"][:2], ["server_errors", "requests"], strict=True):
        stat = query["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": "ModelPredictionApi",
            "MetricName": name,
            "Dimensions": dimensions,
        }
        assert (stat["Period"], stat["Stat"]) == (60, "Sum")
    assert rate["Threshold"] == 0.01 and rate["TreatMissingData"] == "notBreaching"
    assert latency["MetricName"] == "latency_ms"
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Dimensions"] == dimensions
    assert latency["Threshold"] == 1000
