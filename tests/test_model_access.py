"""The deploy grants s3:GetObject on the model's two objects, and only with an S3 model."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import ROOT

from app.artifact import metadata_key_for

# Runs the local plugin's hook on a minimal stand-in for osls's service object.
HARNESS = """
const Plugin = require('./.serverless_plugins/model-access.js');
const environment = JSON.parse(process.argv[1]);
const serverless = {
  service: { provider: { environment, iam: { role: { statements: [] } } } },
  classes: { Error },
};
const plugin = new Plugin(serverless);
try {
  plugin.hooks['before:package:setupProviderConfiguration']();
  process.stdout.write(JSON.stringify(serverless.service.provider.iam.role.statements));
} catch (error) {
  process.stdout.write(JSON.stringify({ error: error.message }));
}
"""


def statements(environment: dict[str, str]) -> object:
    result = subprocess.run(
        ["node", "-e", HARNESS, json.dumps(environment)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("uri", ["", "/var/task/model/model.joblib"])
def test_no_grant_without_an_s3_model(uri: str) -> None:
    assert statements({"MODEL_URI": uri}) == []


def test_grant_covers_the_artifact_and_its_metadata_only() -> None:
    assert statements({"MODEL_URI": "s3://my-models/iris/v2.joblib"}) == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:s3:::my-models/iris/v2.joblib"},
                {"Fn::Sub": "arn:${AWS::Partition}:s3:::my-models/iris/v2.json"},
            ],
        }
    ]


def test_metadata_key_follows_the_server_rule() -> None:
    for key in ["a/b/model.joblib", "model", "a.b/model", "v1.2/model.pkl"]:
        (grant,) = statements({"MODEL_URI": f"s3://bucket/{key}"})
        metadata_arn = grant["Resource"][1]["Fn::Sub"]
        assert metadata_arn.endswith(f":s3:::bucket/{metadata_key_for(key)}")


def test_malformed_s3_uri_stops_the_deploy() -> None:
    assert "error" in statements({"MODEL_URI": "s3://bucket-only"})
