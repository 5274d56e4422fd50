"""The deploy grants read access to exactly what the function reads at cold start.

s3:GetObject on the model's objects, only with an S3 model: the artifact, its metadata
and, when the function may read one, its code archive; and secretsmanager:GetSecretValue
on the API keys secret, only when one is named.
"""

from __future__ import annotations

import pytest
from support.plugin_harness import run_hook

from app.core.artifact import code_key_for, metadata_key_for
from app.core.errors import ConfigError
from app.service.settings import Settings


def statements(environment: dict[str, str]) -> object:
    service = {"provider": {"environment": environment, "iam": {"role": {"statements": []}}}}
    result = run_hook("read-access", "before:package:setupProviderConfiguration", service)
    if "error" in result:
        return result
    return result["service"]["provider"]["iam"]["role"]["statements"]


@pytest.mark.parametrize("uri", ["", "/var/task/model/model.joblib"])
def test_no_grant_without_an_s3_model(uri: str) -> None:
    assert statements({"MODEL_URI": uri}) == []


def object_grant(*keys: str) -> list[dict[str, object]]:
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::my-models/{k}"} for k in keys],
        }
    ]


PINNED = {"MODEL_SHA256": "a" * 64, "MODEL_METADATA_SHA256": "b" * 64}


def test_a_pinned_model_without_code_gets_its_artifact_and_metadata_only() -> None:
    granted = statements({"MODEL_URI": "s3://my-models/iris/v2.joblib", **PINNED})
    assert granted == object_grant("iris/v2.joblib", "iris/v2.json")


def test_a_pinned_model_with_code_gets_its_code_archive_too() -> None:
    environment = {"MODEL_URI": "s3://my-models/iris/v2.joblib", **PINNED}
    granted = statements(environment | {"MODEL_CODE_SHA256": "c" * 64})
    assert granted == object_grant("iris/v2.joblib", "iris/v2.json", "iris/v2.code.zip")


def test_an_unpinned_model_gets_its_code_archive_key_whatever_it_is_published_with() -> None:
    # pinModel=false: the metadata a cold start reads is not known at deploy.
    granted = statements({"MODEL_URI": "s3://my-models/iris/v2.joblib", "MODEL_SHA256": ""})
    assert granted == object_grant("iris/v2.joblib", "iris/v2.json", "iris/v2.code.zip")


@pytest.mark.parametrize(
    "key",
    ["a/b/model.joblib", "model", "a.b/model", "v1.2/model.pkl", "a/.joblib", "a/b.", "x/.a.b"],
)
def test_metadata_and_code_keys_follow_the_server_rule(key: str) -> None:
    (grant,) = statements({"MODEL_URI": f"s3://bucket/{key}"})
    _, metadata_arn, code_arn = (resource["Fn::Sub"] for resource in grant["Resource"])
    assert metadata_arn.endswith(f":s3:::bucket/{metadata_key_for(key)}")
    assert code_arn.endswith(f":s3:::bucket/{code_key_for(key)}")


def test_malformed_s3_uri_stops_the_deploy() -> None:
    assert "error" in statements({"MODEL_URI": "s3://bucket-only"})


def test_no_grant_without_a_secret() -> None:
    assert statements({"MODEL_URI": "", "API_KEYS_SECRET": ""}) == []


def test_secret_by_name_is_granted_with_its_random_suffix_only() -> None:
    assert statements({"API_KEYS_SECRET": "prod/model-api/keys"}) == [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                    "${AWS::AccountId}:secret:prod/model-api/keys-??????"
                }
            ],
        }
    ]


def test_secret_by_arn_is_granted_as_given() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/keys-AbC123"
    (grant,) = statements({"API_KEYS_SECRET": arn})
    assert grant["Action"] == ["secretsmanager:GetSecretValue"]
    assert grant["Resource"] == [arn]


def test_model_and_secret_together() -> None:
    granted = statements({"MODEL_URI": "s3://models/m.joblib", "API_KEYS_SECRET": "keys"})
    assert [g["Action"] for g in granted] == [["s3:GetObject"], ["secretsmanager:GetSecretValue"]]


@pytest.mark.parametrize(
    "secret", ["name with spaces", "arn:aws:s3:::bucket/key", "arn:aws:secretsmanager:x", "a${b}"]
)
def test_malformed_secret_stops_the_deploy(secret: str) -> None:
    result = statements({"API_KEYS_SECRET": secret})
    assert "API_KEYS_SECRET must be a Secrets Manager secret name or ARN" in result["error"]


@pytest.mark.parametrize(
    "secret",
    [
        "keys",
        "prod/model-api/keys",
        "a_b+c=d.e@f-g",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbC123",
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b-AbC123",
        "name with spaces",
        "arn:aws:secretsmanager:us-east-1:12345:secret:keys",
        "arn:aws:s3:::bucket/key",
        "keys#1",
    ],
)
def test_the_deploy_and_the_server_accept_the_same_secrets(secret: str) -> None:
    try:
        Settings.from_environ({"API_KEYS_SECRET": secret})
        server_accepts = True
    except ConfigError:
        server_accepts = False
    deploy_accepts = "error" not in statements({"API_KEYS_SECRET": secret})
    assert deploy_accepts == server_accepts
