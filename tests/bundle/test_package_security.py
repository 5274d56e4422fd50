"""The packaged stack: no API Gateway key unless asked for; with one, keyed methods, a
usage plan from the deploy parameters, and the open routes and preflights left open;
the secret's grant; binary media types for V2's binary tensors."""

from __future__ import annotations

from typing import Any

from support.packages import CORS_ORIGIN, KEYS_SECRET, Package

from app.auth.open_routes import OPEN_ROUTES

# keyed_package (tests/conftest.py): requireApiKey=true, a 7/s rate, a burst of 9 and a
# quota of 1234 a WEEK, this secret and this origin (and pandas=true, for other tests).
SECRET = KEYS_SECRET
ORIGIN = CORS_ORIGIN
KEY_TYPES = {
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def methods(template: dict[str, Any]) -> dict[str, dict]:
    return {
        name: r["Properties"] for name, r in of_type(template, "AWS::ApiGateway::Method").items()
    }


def role_actions(template: dict[str, Any]) -> list[tuple[list[str], list]]:
    role = template["Resources"]["IamRoleLambdaExecution"]["Properties"]
    return [
        (statement["Action"], statement["Resource"])
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def test_default_stack_has_no_edge_key(package: Package) -> None:
    template = package.template()
    assert not {r["Type"] for r in template["Resources"].values()} & KEY_TYPES
    assert {name: m["ApiKeyRequired"] for name, m in methods(template).items()} == {
        "ApiGatewayMethodAny": False,
        "ApiGatewayMethodProxyVarAny": False,
    }


def test_default_stack_reads_no_secret_and_allows_no_origin(package: Package) -> None:
    variables = package.function()["Environment"]["Variables"]
    assert variables["API_KEYS_SECRET"] == "" and variables["CORS_ALLOWED_ORIGINS"] == ""
    actions = {a for listed, _ in role_actions(package.template()) for a in listed}
    assert not [a for a in actions if a.startswith("secretsmanager:")]


def test_keyed_stack_has_one_key_in_a_usage_plan(keyed_package: Package) -> None:
    template = keyed_package.template()
    (key,) = of_type(template, "AWS::ApiGateway::ApiKey").values()
    assert key["Properties"]["Name"] == "model-prediction-api-dev"
    assert key["Properties"]["Enabled"] is True
    assert "Value" not in key["Properties"]  # API Gateway generates it; no secret in the template
    (plan_name, plan), *others = of_type(template, "AWS::ApiGateway::UsagePlan").items()
    assert not others
    assert plan["Properties"]["Throttle"] == {"RateLimit": 7, "BurstLimit": 9}
    assert plan["Properties"]["Quota"] == {"Limit": 1234, "Period": "WEEK"}
    assert plan["Properties"]["ApiStages"] == [
        {"ApiId": {"Ref": "ApiGatewayRestApi"}, "Stage": "dev"}
    ]
    (link,) = of_type(template, "AWS::ApiGateway::UsagePlanKey").values()
    (key_name,) = of_type(template, "AWS::ApiGateway::ApiKey")
    assert link["Properties"] == {
        "KeyId": {"Ref": key_name},
        "KeyType": "API_KEY",
        "UsagePlanId": {"Ref": plan_name},
    }


def resource_path(template: dict[str, Any], method: dict[str, Any]) -> str:
    """The path of a method's REST resource, walking PathPart up to the API's root."""
    parts: list[str] = []
    parent = method["ResourceId"]
    while "Ref" in parent:
        resource = template["Resources"][parent["Ref"]]["Properties"]
        parts.insert(0, resource["PathPart"])
        parent = resource["ParentId"]
    return "/" + "/".join(parts)


def test_keyed_stack_requires_the_key_except_on_open_routes_and_preflights(
    keyed_package: Package,
) -> None:
    template = keyed_package.template()
    found = {
        (resource_path(template, m), m["HttpMethod"]): m["ApiKeyRequired"]
        for m in methods(template).values()
    }
    open_routes = {(path, method) for method, path in OPEN_ROUTES}
    assert found == {
        ("/", "ANY"): True,
        ("/{proxy+}", "ANY"): True,
        ("/", "OPTIONS"): False,
        ("/{proxy+}", "OPTIONS"): False,
        **{route: False for route in open_routes},
        **{(path, "OPTIONS"): False for path, _ in open_routes},
    }
    # Preflights and open routes reach the app, which answers them.
    for method in methods(template).values():
        assert method["Integration"]["Type"] == "AWS_PROXY"


def test_binary_answers_pass_through_api_gateway(package: Package) -> None:
    (api,) = of_type(package.template(), "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == ["*/*"]


def test_keyed_stack_passes_the_settings_and_grants_the_secret(keyed_package: Package) -> None:
    variables = keyed_package.function()["Environment"]["Variables"]
    assert variables["API_KEYS_SECRET"] == SECRET
    assert variables["CORS_ALLOWED_ORIGINS"] == ORIGIN
    secret_grants = [
        (actions, resources)
        for actions, resources in role_actions(keyed_package.template())
        if any(a.startswith("secretsmanager:") for a in actions)
    ]
    assert secret_grants == [
        (
            ["secretsmanager:GetSecretValue"],
            [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                    f"${{AWS::AccountId}}:secret:{SECRET}-??????"
                }
            ],
        )
    ]
