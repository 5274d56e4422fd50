"""`make deploy-local`: `sls deploy` rehearsed against moto's server, then checked with boto3.

The default stack, and the stack with SnapStart on (into a moto of its own, whose
CloudFormation creates Lambda aliases: tests/moto_server.py).
"""

from __future__ import annotations

import ast
import json
import urllib.parse
from collections.abc import Iterator

import pytest
from support.deploys import aws_client, deploy_local
from support.packages import Package
from support.servers import moto_server

from app.core.artifact import metadata_path_for, sha256_of
from app.service.settings import BUNDLED_MODEL

STACK = "model-prediction-api-dev"
FUNCTION = "model-prediction-api-dev-api"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def deployed(moto: str, package: Package, tmp_path_factory: pytest.TempPathFactory) -> str:
    return deploy_local(package, moto, tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="module")
def snapstart_deployed(
    snapstart_package: Package, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto-aliases") / "moto.log"
    with moto_server(log, extended=True) as endpoint:
        yield deploy_local(snapstart_package, endpoint, tmp_path_factory.mktemp("deploy"))


def test_stack_completed(deployed: str) -> None:
    (stack,) = aws_client("cloudformation", deployed).describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def test_function_configuration(deployed: str) -> None:
    config = aws_client("lambda", deployed).get_function_configuration(FunctionName=FUNCTION)
    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "handler.handler"
    assert config["MemorySize"] == 1024
    assert config["Timeout"] == 29
    assert config["Architectures"] == ["x86_64"]
    assert config["Environment"]["Variables"] == {
        "MAX_BATCH_ROWS": "1000",
        "MAX_CONTENT_LENGTH": "1048576",
        "MAX_JSON_DEPTH": "32",
        "LOG_LEVEL": "INFO",
        "METRICS_NAMESPACE": "ModelPredictionApi",
        "MODEL_URI": "",
        # Pinned at deploy: the bundled model's artifact and metadata file.
        "MODEL_SHA256": sha256_of(BUNDLED_MODEL),
        "MODEL_METADATA_SHA256": sha256_of(metadata_path_for(BUNDLED_MODEL)),
        "API_KEYS_SECRET": "",
        "CORS_ALLOWED_ORIGINS": "",
        "TRY_IT_PAGE": "true",
        "OPENBLAS_NUM_THREADS": "1",
    }


def test_function_code_is_the_package(deployed: str, package: Package) -> None:
    config = aws_client("lambda", deployed).get_function_configuration(FunctionName=FUNCTION)
    assert config["CodeSize"] == package.zip.stat().st_size


def test_rest_api_routes(deployed: str) -> None:
    gateway = aws_client("apigateway", deployed)
    (api,) = [a for a in gateway.get_rest_apis()["items"] if a["name"] == f"dev-{STACK[:-4]}"]
    resources = gateway.get_resources(restApiId=api["id"])["items"]
    methods = {r["path"]: set(r.get("resourceMethods", {})) for r in resources}
    assert methods == {"/": {"ANY"}, "/{proxy+}": {"ANY"}}
    for resource in resources:
        integration = gateway.get_integration(
            restApiId=api["id"], resourceId=resource["id"], httpMethod="ANY"
        )
        assert integration["type"] == "AWS_PROXY"
        assert FUNCTION in integration["uri"]


def test_logs_kept_for_two_weeks(deployed: str) -> None:
    groups = aws_client("logs", deployed).describe_log_groups(logGroupNamePrefix="/aws/lambda/")
    (group,) = [g for g in groups["logGroups"] if g["logGroupName"] == f"/aws/lambda/{FUNCTION}"]
    assert group["retentionInDays"] == 14


def test_role_allows_only_its_own_logs(deployed: str) -> None:
    iam = aws_client("iam", deployed)
    config = aws_client("lambda", deployed).get_function_configuration(FunctionName=FUNCTION)
    role = config["Role"].rsplit("/", 1)[-1]
    actions = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):  # moto hands back the template's dict as its repr
            document = ast.literal_eval(urllib.parse.unquote(document))
        for statement in document["Statement"]:
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, (str, dict)) else resources:
                assert FUNCTION in str(resource) or "log-group" in str(resource)
    assert actions <= {
        "logs:CreateLogStream",
        "logs:CreateLogGroup",
        "logs:PutLogEvents",
        "logs:TagResource",
    }
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def test_snapstart_function_serves_a_published_version_through_its_alias(
    snapstart_deployed: str,
) -> None:
    cloudformation = aws_client("cloudformation", snapstart_deployed)
    body = cloudformation.get_template(StackName=STACK)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    function = template["Resources"]["ApiLambdaFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    # moto's Lambda keeps no SnapStart setting: get_function_configuration always
    # answers {"ApplyOn": "None", ...}, so the deployed template is what shows it.
    resources = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    assert {r["ResourceStatus"] for r in resources} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}

    lam = aws_client("lambda", snapstart_deployed)
    published = [
        v["Version"] for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    ]
    assert published == ["$LATEST", "1"]
    alias = lam.get_alias(FunctionName=FUNCTION, Name="snapstart")
    assert alias["FunctionVersion"] == "1"
    alias_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:snapstart"
    assert alias["AliasArn"] == alias_arn

    gateway = aws_client("apigateway", snapstart_deployed)
    (api,) = [a for a in gateway.get_rest_apis()["items"] if a["name"] == f"dev-{STACK[:-4]}"]
    resources = gateway.get_resources(restApiId=api["id"])["items"]
    assert {r["path"] for r in resources} == {"/", "/{proxy+}"}
    for resource in resources:
        integration = gateway.get_integration(
            restApiId=api["id"], resourceId=resource["id"], httpMethod="ANY"
        )
        assert integration["uri"] == (
            f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{alias_arn}/invocations"
        )
    # API Gateway's permission to invoke is on the alias.
    policy = json.loads(lam.get_policy(FunctionName=FUNCTION, Qualifier="snapstart")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["FunctionName"] == alias_arn
