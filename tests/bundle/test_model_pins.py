"""The deploy pins the served model: the model-pins plugin's hook, run on stand-ins for
osls's service, reading S3 (moto's server) or the service folder.

What the pins do at cold start is tested in test_model_source.py; the packaged stack
with them, and the attacks they stop, in test_pinned_s3_model.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.packages import Package, run_package
from support.paths import ROOT
from support.plugin_harness import run_hook
from support.servers import local_s3, moto_server
from support.stack_templates import STACKS

from app.core.artifact import metadata_path_for, sha256_of
from app.service.settings import BUNDLED_MODEL

HOOKS = ["package:initialize", "deploy:function:initialize", "before:offline:start:init"]
BUCKET = "team-models"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Nothing listens on port 9: a read from there fails at once.
NO_AWS = {
    **FAKE_CREDENTIALS,
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
ARTIFACT_SHA = "a" * 64
CODE_SHA = "c" * 64
# Metadata as the server reads it; only the fields the pins come from matter here.
WITH_CODE = {
    "name": "plans",
    "sha256": ARTIFACT_SHA,
    "code": {"file": "plans.code.zip", "sha256": CODE_SHA, "modules": ["plan_features"]},
}
WITHOUT_CODE = {"name": "iris", "sha256": ARTIFACT_SHA, "code": None}
OBJECTS = {
    "plans/1.0.0.json": json.dumps(WITH_CODE, indent=2).encode(),
    "iris/1.0.0.json": json.dumps(WITHOUT_CODE).encode(),
    "broken/1.0.0.json": b"{not json",
    "listed/1.0.0.json": b"[]",
    "unhashed/1.0.0.json": json.dumps({"name": "unhashed"}).encode(),
    "shouting/1.0.0.json": json.dumps({"sha256": "A" * 64}).encode(),
    "badcode/1.0.0.json": json.dumps({"sha256": ARTIFACT_SHA, "code": {"sha256": "xyz"}}).encode(),
    "pathcode/1.0.0.json": json.dumps(
        {"sha256": ARTIFACT_SHA, "code": {"file": "../x.code.zip", "sha256": CODE_SHA}}
    ).encode(),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pin(
    uri: str,
    explicit: str = "",
    enabled: Any = "true",
    hook: str = HOOKS[0],
    **options: Any,
) -> dict[str, Any]:
    service = {
        "provider": {"environment": {"MODEL_URI": uri, "MODEL_SHA256": explicit}},
        "custom": {"modelPins": {"enabled": enabled}},
    }
    return run_hook("model-pins", hook, service, **options)


def environment(result: dict[str, Any]) -> dict[str, str]:
    assert "error" not in result, result["error"]
    variables: dict[str, str] = result["service"]["provider"]["environment"]
    return variables


def messages(result: dict[str, Any], level: str) -> list[str]:
    return [message for logged, message in result["log"] if logged == level]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's server with a bucket of models' metadata; yields the environment to reach it."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        client = local_s3(endpoint)
        client.create_bucket(Bucket=BUCKET)
        for key, body in OBJECTS.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=body)
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        yield env | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}


@pytest.mark.parametrize("hook", HOOKS)
def test_an_s3_model_with_a_code_archive_gets_all_three_pins(s3: dict[str, str], hook: str) -> None:
    result = pin(f"s3://{BUCKET}/plans/1.0.0.joblib", hook=hook, env=s3)
    metadata_sha = sha256(OBJECTS["plans/1.0.0.json"])
    assert environment(result) == {
        "MODEL_URI": f"s3://{BUCKET}/plans/1.0.0.joblib",
        "MODEL_SHA256": ARTIFACT_SHA,
        "MODEL_METADATA_SHA256": metadata_sha,
        "MODEL_CODE_SHA256": CODE_SHA,
    }
    assert messages(result, "notice") == [
        f"Pinned s3://{BUCKET}/plans/1.0.0.joblib by sha256: metadata "
        f"s3://{BUCKET}/plans/1.0.0.json {metadata_sha}, artifact {ARTIFACT_SHA}, "
        f"code archive {CODE_SHA}"
    ]


def test_a_model_without_a_code_archive_gets_no_code_pin(s3: dict[str, str]) -> None:
    uri = f"s3://{BUCKET}/iris/1.0.0.joblib"
    service = {
        # A stale code pin (say, from a template edited by hand) is dropped, not kept.
        "provider": {"environment": {"MODEL_URI": uri, "MODEL_CODE_SHA256": CODE_SHA}},
        "custom": {"modelPins": {"enabled": True}},
    }
    result = run_hook("model-pins", HOOKS[0], service, env=s3)
    assert environment(result) == {
        "MODEL_URI": uri,
        "MODEL_SHA256": ARTIFACT_SHA,
        "MODEL_METADATA_SHA256": sha256(OBJECTS["iris/1.0.0.json"]),
    }


def test_an_explicit_pin_that_agrees_stays(s3: dict[str, str]) -> None:
    result = pin(f"s3://{BUCKET}/iris/1.0.0.joblib", explicit=ARTIFACT_SHA.upper(), env=s3)
    assert environment(result)["MODEL_SHA256"] == ARTIFACT_SHA


def test_an_explicit_pin_that_disagrees_stops_the_deploy(s3: dict[str, str]) -> None:
    result = pin(f"s3://{BUCKET}/iris/1.0.0.joblib", explicit="b" * 64, env=s3)
    assert result["error"] == (
        f"modelSha256 is {'b' * 64}, but s3://{BUCKET}/iris/1.0.0.json describes an artifact "
        f"with sha256 {ARTIFACT_SHA}: the model there is not the one that was approved"
    )


def test_an_explicit_pin_must_be_a_sha256() -> None:
    result = pin("", explicit="abc123")
    assert result["error"] == 'modelSha256 must be 64 hex digits, got "abc123"'


def test_without_aws_the_deploy_stops_naming_the_way_out() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | NO_AWS
    error = pin(f"s3://{BUCKET}/iris/1.0.0.joblib", env=env)["error"]
    assert error.startswith(
        f"pinModel reads the model's metadata, s3://{BUCKET}/iris/1.0.0.json, with the "
        "deploy's AWS credentials, to pin its hashes into the function's configuration, and "
        "could not (connect ECONNREFUSED 127.0.0.1:9). Give the deploy credentials that may "
        "read it: packaging an S3 model reads its objects to pin them, to install what the "
        "model needs and to prove the bundle, so it cannot be done offline"
    )


def test_a_missing_metadata_object_stops_the_deploy(s3: dict[str, str]) -> None:
    error = pin(f"s3://{BUCKET}/missing/1.0.0.joblib", env=s3)["error"]
    assert error.startswith(
        f"pinModel reads the model's metadata, s3://{BUCKET}/missing/1.0.0.json"
    )
    assert "could not (The specified key does not exist.)" in error


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("broken", "is not valid JSON"),
        ("listed", "is not a JSON object"),
        ("unhashed", "has no 'sha256' of 64 lowercase hex digits"),
        ("shouting", "has no 'sha256' of 64 lowercase hex digits"),
        ("badcode", "has a 'code.sha256' that is not 64 lowercase hex digits"),
        ("pathcode", "has a 'code.file' that is not a plain file name"),
    ],
)
def test_metadata_the_server_would_refuse_cannot_be_pinned(
    s3: dict[str, str], key: str, problem: str
) -> None:
    error = pin(f"s3://{BUCKET}/{key}/1.0.0.joblib", env=s3)["error"]
    assert error.startswith(f"Cannot pin the model: s3://{BUCKET}/{key}/1.0.0.json {problem}")


def test_an_offline_package_of_an_s3_model_stops_naming_the_way_out(tmp_path: Path) -> None:
    # pandas forced, so that served-model needs no read: the pins still do.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= NO_AWS | {"SLS_AWS_REQUEST_MAX_RETRIES": "0"}
    uri = f"s3://{BUCKET}/churn/2.0.0.joblib"
    result = run_package(tmp_path / "package", f"modelUri={uri}", "pandas=true", env=env)
    assert result.returncode != 0
    output = " ".join(result.stdout.split())  # the message may be wrapped
    assert f"pinModel reads the model's metadata, s3://{BUCKET}/churn/2.0.0.json" in output
    assert "Give the deploy credentials that may read it: packaging an S3 model" in output
    assert "so it cannot be done offline" in output
    assert not (tmp_path / "package").exists()


@pytest.mark.parametrize("enabled", ["false", False])
def test_pin_model_false_reads_nothing_and_pins_nothing_but_modelsha256(enabled: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | NO_AWS
    uri = f"s3://{BUCKET}/plans/1.0.0.joblib"
    result = pin(uri, explicit="b" * 64, enabled=enabled, env=env)
    assert environment(result) == {"MODEL_URI": uri, "MODEL_SHA256": "b" * 64}
    assert messages(result, "warning") == [
        f"pinModel=false: nothing pins s3://{BUCKET}/plans/1.0.0.json, so each new container "
        f"loads whatever is published under {uri}, and whoever may write those objects may "
        "run code in the function"
    ]


@pytest.mark.parametrize("value", ["yes", "", "True", "0", 1])
def test_pin_model_takes_only_true_or_false(value: Any) -> None:
    result = pin("", enabled=value)
    assert result["error"] == f'The pinModel parameter must be true or false, got "{value}"'


def test_the_bundled_model_is_pinned_to_its_files() -> None:
    result = pin("")
    assert environment(result) == {
        "MODEL_URI": "",
        "MODEL_SHA256": sha256_of(BUNDLED_MODEL),
        "MODEL_METADATA_SHA256": sha256_of(BUNDLED_MODEL.with_suffix(".json")),
    }
    assert BUNDLED_MODEL.relative_to(ROOT).as_posix() == "model/model.joblib"


def test_the_default_package_pins_the_bundled_model(package: Package) -> None:
    variables = package.function()["Environment"]["Variables"]
    pins = {
        "MODEL_SHA256": sha256_of(BUNDLED_MODEL),
        "MODEL_METADATA_SHA256": sha256_of(metadata_path_for(BUNDLED_MODEL)),
    }
    assert {name: variables.get(name) for name in pins} == pins
    assert "MODEL_CODE_SHA256" not in variables
    # The reviewed stack holds the same pins: after `make train` or a new describe of the
    # bundled model, write it anew (test_start_up_options.py says how).
    reviewed = json.loads((STACKS / "default.json").read_text())
    function = reviewed["Resources"]["ApiLambdaFunction"]["Properties"]
    assert {name: function["Environment"]["Variables"][name] for name in pins} == pins


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A service folder with a bundled model that has a code archive."""
    folder = tmp_path / "model" / "examples"
    folder.mkdir(parents=True)
    (folder / "plans.joblib").write_bytes(b"artifact")
    (folder / "plans.code.zip").write_bytes(b"archive")
    metadata = {
        "name": "plans",
        "sha256": sha256(b"artifact"),
        "code": {"file": "plans.code.zip", "sha256": sha256(b"archive"), "modules": ["p"]},
    }
    (folder / "plans.json").write_text(json.dumps(metadata))
    return tmp_path


def test_a_bundled_model_with_a_code_archive_gets_all_three_pins(service_dir: Path) -> None:
    result = pin("model/examples/plans.joblib", service_dir=service_dir)
    assert environment(result) == {
        "MODEL_URI": "model/examples/plans.joblib",
        "MODEL_SHA256": sha256(b"artifact"),
        "MODEL_METADATA_SHA256": sha256_of(service_dir / "model/examples/plans.json"),
        "MODEL_CODE_SHA256": sha256(b"archive"),
    }


@pytest.mark.parametrize(
    ("file", "content"),
    [("plans.joblib", b"retrained"), ("plans.code.zip", b"edited")],
)
def test_bundled_files_that_differ_from_their_metadata_cannot_be_pinned(
    service_dir: Path, file: str, content: bytes
) -> None:
    (service_dir / "model/examples" / file).write_bytes(content)
    result = pin("model/examples/plans.joblib", service_dir=service_dir)
    assert result["error"] == (
        f"Cannot pin the model: model/examples/{file} has sha256 {sha256(content)}, but "
        "model/examples/plans.json records "
        f"{sha256(b'artifact' if file == 'plans.joblib' else b'archive')}: describe it again "
        "(python -m model.describe)"
    )


def test_a_bundled_code_archive_must_be_there(service_dir: Path) -> None:
    (service_dir / "model/examples/plans.code.zip").unlink()
    result = pin("model/examples/plans.joblib", service_dir=service_dir)
    assert result["error"].startswith(
        "Cannot pin the model: model/examples/plans.json names model/examples/plans.code.zip: "
        "ENOENT"
    )
