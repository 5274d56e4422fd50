"""A shadow model reaches the function the way the live one does: bundled (or read from
S3), pinned, granted, its distributions installed, and proven at packaging: both models
in one zip, which must load the shadow beside the live model before anything is uploaded.

The plugins' hooks run on stand-ins for osls's service; two packages are built: one whose
shadow fits, run from its unzipped zip, and one whose shadow does not, refused by the
bundle's proof with the reason.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.bundles import names_in, run_in_bundle, unzipped_read_only
from support.event_payloads import LambdaAnswer, event_for
from support.packages import Package, build_package, run_package
from support.paths import CHURN_MODEL, ROOT
from support.plugin_harness import run_hook
from support.servers import local_s3, moto_server

from model.examples.churn import customers

CHURN_RETRAINED = "model/examples/churn_retrained.joblib"
SHADOW_PARAMS = (
    f"modelUri={CHURN_MODEL}",
    f"shadowModelUri={CHURN_RETRAINED}",
    "shadowSampleRate=1",
)
BUCKET = "team-models"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SERVICE = {
    "provider": {"environment": {"MODEL_URI": ""}},
    "package": {"patterns": ["!**", "handler.py", "app/**"]},
    "custom": {
        "servedModel": {
            "uri": "",
            "pandas": "auto",
            "requirementsWithPandas": "requirements-pandas.txt",
            "shadow": {"uri": "", "sampleRate": "", "tolerance": ""},
        },
        "pythonRequirements": {"fileName": "requirements.txt"},
    },
}


def sha256_of(relative: str) -> str:
    return hashlib.sha256((ROOT / relative).read_bytes()).hexdigest()


def prepare(live: str = "", **shadow: str) -> dict[str, Any]:
    service = copy.deepcopy(SERVICE)
    service["custom"]["servedModel"]["uri"] = live
    service["custom"]["servedModel"]["shadow"] |= shadow
    return run_hook("served-model", "package:initialize", service)


def test_a_shadow_is_bundled_beside_the_live_model_and_set_for_the_app() -> None:
    result = prepare("", uri=CHURN_RETRAINED, sampleRate="0.25", tolerance="0.5")
    assert "error" not in result, result["error"]
    service = result["service"]
    assert service["package"]["patterns"][3:] == [
        "model/model.joblib",
        "model/model.json",
        CHURN_RETRAINED,
        "model/examples/churn_retrained.json",
    ]
    assert service["provider"]["environment"] == {
        "MODEL_URI": "",
        "SHADOW_MODEL_URI": CHURN_RETRAINED,
        "SHADOW_SAMPLE_RATE": "0.25",
        "SHADOW_TOLERANCE": "0.5",
    }
    # The live model takes a float64 array, its shadow a DataFrame: pandas for the shadow.
    assert service["custom"]["pythonRequirements"]["fileName"] == "requirements-pandas.txt"


def test_without_a_shadow_nothing_of_it_is_set() -> None:
    result = prepare("")
    assert result["service"]["provider"]["environment"] == {"MODEL_URI": ""}
    assert result["service"]["custom"]["pythonRequirements"]["fileName"] == "requirements.txt"


@pytest.mark.parametrize(
    ("shadow", "error"),
    [
        ({"sampleRate": "0.5"}, "shadowSampleRate set, but shadowModelUri is not"),
        (
            {"sampleRate": "1", "tolerance": "2"},
            "shadowSampleRate and shadowTolerance set, but shadowModelUri is not",
        ),
        (
            {"uri": CHURN_RETRAINED, "sampleRate": "1.5"},
            'shadowSampleRate must be a number from 0 to 1, got "1.5"',
        ),
        (
            {"uri": CHURN_RETRAINED, "sampleRate": "half"},
            'shadowSampleRate must be a number from 0 to 1, got "half"',
        ),
        (
            {"uri": CHURN_RETRAINED, "tolerance": "-1"},
            'shadowTolerance must be a finite number of at least 0, got "-1"',
        ),
        (
            {"uri": CHURN_RETRAINED, "tolerance": "Infinity"},
            'shadowTolerance must be a finite number of at least 0, got "Infinity"',
        ),
        (
            {"uri": "model/examples/none.joblib"},
            "shadowModelUri: model/examples/none.joblib does not exist",
        ),
        (
            {"uri": "../elsewhere/model.joblib"},
            "shadowModelUri must be s3://bucket/key.joblib, or a path inside the service folder "
            "relative to it, such as model/examples/churn.joblib; got ../elsewhere/model.joblib",
        ),
        (
            {"uri": "s3://bucket-only"},
            "shadowModelUri must look like s3://bucket/key.joblib, got s3://bucket-only",
        ),
    ],
)
def test_shadow_parameters_are_checked_before_anything_is_built(
    shadow: dict[str, str], error: str
) -> None:
    assert prepare("", **shadow)["error"] == error


def test_a_bundled_shadow_is_pinned_to_its_own_files() -> None:
    service = {
        "provider": {
            "environment": {"MODEL_URI": CHURN_MODEL, "SHADOW_MODEL_URI": CHURN_RETRAINED}
        },
        "custom": {"modelPins": {"enabled": True}},
    }
    result = run_hook("model-pins", "package:initialize", service)
    assert "error" not in result, result["error"]
    environment = result["service"]["provider"]["environment"]
    retrained = json.loads((ROOT / "model/examples/churn_retrained.json").read_text())
    assert environment["SHADOW_MODEL_SHA256"] == sha256_of(CHURN_RETRAINED) == retrained["sha256"]
    assert environment["SHADOW_MODEL_METADATA_SHA256"] == sha256_of(
        "model/examples/churn_retrained.json"
    )
    assert "SHADOW_MODEL_CODE_SHA256" not in environment
    assert environment["MODEL_SHA256"] == sha256_of(CHURN_MODEL)


SHADOW_METADATA = {
    "name": "plans",
    "sha256": "a" * 64,
    "code": {"file": "2.0.0.code.zip", "sha256": "c" * 64, "modules": ["plan_features"]},
    "distributions": {"lightgbm": "4.7.0"},
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's server with a shadow model's metadata; yields the environment to reach it."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        client = local_s3(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(
            Bucket=BUCKET, Key="plans/2.0.0.json", Body=json.dumps(SHADOW_METADATA).encode()
        )
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        yield env | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}


def test_an_s3_shadow_is_pinned_and_granted_its_own_objects(s3: dict[str, str]) -> None:
    uri = f"s3://{BUCKET}/plans/2.0.0.joblib"
    service = {
        "provider": {"environment": {"MODEL_URI": "", "SHADOW_MODEL_URI": uri}},
        "custom": {"modelPins": {"enabled": True}},
    }
    pinned = run_hook("model-pins", "package:initialize", service, env=s3)
    assert "error" not in pinned, pinned["error"]
    environment = pinned["service"]["provider"]["environment"]
    metadata_sha = hashlib.sha256(json.dumps(SHADOW_METADATA).encode()).hexdigest()
    assert {k: v for k, v in environment.items() if k.startswith("SHADOW_")} == {
        "SHADOW_MODEL_URI": uri,
        "SHADOW_MODEL_SHA256": "a" * 64,
        "SHADOW_MODEL_METADATA_SHA256": metadata_sha,
        "SHADOW_MODEL_CODE_SHA256": "c" * 64,
    }
    granted = run_hook(
        "read-access",
        "before:package:setupProviderConfiguration",
        {"provider": {"environment": environment, "iam": {"role": {"statements": []}}}},
    )
    assert granted["service"]["provider"]["iam"]["role"]["statements"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [
                {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BUCKET}/plans/{name}"}
                for name in ("2.0.0.joblib", "2.0.0.json", "2.0.0.code.zip")
            ],
        }
    ]


def test_an_s3_shadow_s_distributions_are_installed_with_the_live_model_s(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    (tmp_path / "model").mkdir()
    for name in ("model.joblib", "model.json"):
        shutil.copy(ROOT / "model" / name, tmp_path / "model" / name)
    service = copy.deepcopy(SERVICE)
    service["custom"]["servedModel"]["shadow"]["uri"] = f"s3://{BUCKET}/plans/2.0.0.joblib"
    result = run_hook(
        "model-distributions", "package:initialize", service, service_dir=tmp_path, env=s3
    )
    assert "error" not in result, result["error"]
    generated = (tmp_path / ".serverless" / "model-requirements.txt").read_text().splitlines()
    assert generated[-2:] == ["-r ../requirements.txt", "lightgbm==4.7.0"]


def test_two_models_that_need_different_versions_of_one_distribution_are_refused(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "live.joblib").write_bytes(b"artifact")
    live = {"name": "live", "distributions": {"lightgbm": "4.6.0"}}
    (tmp_path / "model" / "live.json").write_text(json.dumps(live))
    service = copy.deepcopy(SERVICE)
    service["custom"]["servedModel"]["uri"] = "model/live.joblib"
    service["custom"]["servedModel"]["shadow"]["uri"] = f"s3://{BUCKET}/plans/2.0.0.joblib"
    result = run_hook(
        "model-distributions", "package:initialize", service, service_dir=tmp_path, env=s3
    )
    assert result["error"] == (
        f"model/live.json records lightgbm 4.6.0 and s3://{BUCKET}/plans/2.0.0.json records "
        "4.7.0: one bundle installs one version of a distribution, so the live model and "
        "its shadow must be described with the same one"
    )


@pytest.fixture(scope="module")
def shadow_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The churn model with its retrained model as its shadow."""
    return build_package(tmp_path_factory.mktemp("shadow-package"), *SHADOW_PARAMS)


def test_both_models_are_in_one_zip_pinned_and_proven(shadow_package: Package) -> None:
    names = set(names_in(shadow_package.zip))
    assert {
        CHURN_MODEL,
        "model/examples/churn.json",
        CHURN_RETRAINED,
        "model/examples/churn_retrained.json",
    } <= names
    variables = shadow_package.function()["Environment"]["Variables"]
    assert variables["SHADOW_MODEL_URI"] == CHURN_RETRAINED
    assert variables["SHADOW_SAMPLE_RATE"] == "1"
    assert variables["SHADOW_MODEL_SHA256"] == sha256_of(CHURN_RETRAINED)
    assert "Bundle proven: .serverless/model-prediction-api.zip answered its 5 example row(s) " in (
        shadow_package.output
    )
    assert "; its shadow customer-churn 1.1.0 loaded beside it" in shadow_package.output


def test_the_zip_answers_with_the_live_model_and_meters_its_shadow(
    shadow_package: Package, tmp_path: Path
) -> None:
    frame, _ = customers(200, 99)
    rows = json.loads(frame.to_json(orient="records"))
    events = [
        event_for("rest-api.json", "POST", "/predict", json.dumps({"instances": rows})),
        event_for("rest-api.json", "GET", "/model"),
    ]
    with unzipped_read_only(shadow_package.zip, tmp_path / "task") as bundle:
        report = run_in_bundle(bundle, shadow_package, events)
    predicted, described = (LambdaAnswer.of(answer) for answer in report["answers"])
    assert predicted.status == 200
    assert set(predicted.json()["predictions"]) <= {"yes", "no"}
    assert predicted.json()["model_version"] == "1.0.0"
    assert described.json()["shadow"] == {
        "loaded": True,
        "name": "customer-churn",
        "version": "1.1.0",
        "sample_rate": 1.0,
    }
    lines = [json.loads(line) for line in report["log_lines"] if '"_aws"' in line]
    (line,) = [line for line in lines if line["path"] == "/predict"]
    assert line["shadow_rows"] == 200
    assert 0 < line["shadow_rows_agreeing"] < 200


def test_a_shadow_that_does_not_fit_stops_packaging_at_the_proof(tmp_path: Path) -> None:
    # The iris model as the churn model's shadow: it needs features churn rows lack.
    result = run_package(tmp_path, f"modelUri={CHURN_MODEL}", "shadowModelUri=model/model.joblib")
    assert result.returncode != 0
    assert (
        "does not serve model/examples/churn.json with its shadow model/model.json (function "
        "api, run from the unzipped bundle"
    ) in result.stdout
    assert (
        "the shadow model (model/model.json) did not load in the bundle: it does not accept "
        "every row the live model accepts: the shadow takes feature 'sepal_length', which the "
        "live model's rows lack"
    ) in result.stdout
    assert not (tmp_path / "model-prediction-api.zip").exists()
