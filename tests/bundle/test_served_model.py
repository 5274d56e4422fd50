"""The package holds the served model's files, and pandas exactly when that model needs it.

The served-model plugin's hook, run on stand-ins for osls's service: which requirements
file serverless-python-requirements will install, which model files are packaged, and
what is logged. tests/test_bundle_pandas.py checks the packages themselves.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.paths import ROOT
from support.plugin_harness import run_hook
from support.servers import local_s3, moto_server

HOOK = "package:initialize"
BASE_PATTERNS = ["!**", "handler.py", "app/**"]
SERVICE = {
    "package": {"patterns": BASE_PATTERNS},
    "custom": {
        "servedModel": {
            "uri": "",
            "pandas": "auto",
            "requirementsWithPandas": "requirements-pandas.txt",
        },
        "pythonRequirements": {"fileName": "requirements.txt"},
    },
}
CHURN = "model/examples/churn.joblib"
BUCKET = "team-models"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def prepare(uri: str = "", pandas: Any = "auto", **options: Any) -> dict[str, Any]:
    service = copy.deepcopy(SERVICE)
    service["custom"]["servedModel"] |= {"uri": uri, "pandas": pandas}
    return run_hook("served-model", HOOK, service, **options)


def requirements_file(result: dict[str, Any]) -> str:
    assert "error" not in result, result["error"]
    return result["service"]["custom"]["pythonRequirements"]["fileName"]


def added_patterns(result: dict[str, Any]) -> list[str]:
    patterns = result["service"]["package"]["patterns"]
    assert patterns[: len(BASE_PATTERNS)] == BASE_PATTERNS
    return patterns[len(BASE_PATTERNS) :]


def messages(result: dict[str, Any], level: str) -> list[str]:
    return [message for logged, message in result["log"] if logged == level]


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A service folder with both requirements files and, in model/examples/, a model
    of each input kind (a metadata file needs no real artifact beside it here)."""
    for name in ("requirements.txt", "requirements-pandas.txt"):
        (tmp_path / name).write_text("")
    examples = tmp_path / "model" / "examples"
    examples.mkdir(parents=True)
    for kind in ("float64_array", "object_array", "dataframe", "text"):
        (examples / f"{kind}.joblib").write_bytes(b"artifact")
        (examples / f"{kind}.json").write_text(json.dumps({"name": kind, "model_input": kind}))
    (examples / "churn.joblib").write_bytes(b"artifact")
    (examples / "churn.json").write_text(json.dumps({"name": "churn", "model_input": "dataframe"}))
    return tmp_path


def test_the_bundled_numeric_model_gets_no_pandas() -> None:
    result = prepare("")
    assert requirements_file(result) == "requirements.txt"
    assert added_patterns(result) == ["model/model.joblib", "model/model.json"]
    assert messages(result, "notice") == [
        "Python requirements from requirements.txt, without pandas: model/model.json says "
        "model_input is float64_array"
    ]


def test_metadata_from_before_model_input_gets_no_pandas(service_dir: Path) -> None:
    legacy = service_dir / "model" / "examples" / "legacy"
    legacy.with_suffix(".joblib").write_bytes(b"artifact")
    legacy.with_suffix(".json").write_text(json.dumps({"name": "legacy", "features": ["a"]}))
    result = prepare("model/examples/legacy.joblib", service_dir=service_dir)
    assert requirements_file(result) == "requirements.txt"
    assert messages(result, "notice") == [
        "Python requirements from requirements.txt, without pandas: "
        "model/examples/legacy.json has no model_input, so the model takes a float64_array"
    ]


def test_a_dataframe_model_in_the_repo_is_bundled_with_pandas(service_dir: Path) -> None:
    result = prepare(CHURN, service_dir=service_dir)
    assert requirements_file(result) == "requirements-pandas.txt"
    # Only the served pair: the bundled model/model.joblib is not shipped beside it.
    assert added_patterns(result) == [CHURN, "model/examples/churn.json"]
    assert messages(result, "notice") == [
        "Python requirements from requirements-pandas.txt, with pandas: "
        "model/examples/churn.json says model_input is dataframe"
    ]


@pytest.mark.parametrize("kind", ["float64_array", "object_array", "text"])
def test_only_a_dataframe_model_needs_pandas(service_dir: Path, kind: str) -> None:
    result = prepare(f"./model/examples/{kind}.joblib", service_dir=service_dir)
    assert requirements_file(result) == "requirements.txt"
    assert added_patterns(result) == [
        f"model/examples/{kind}.joblib",
        f"model/examples/{kind}.json",
    ]


@pytest.mark.parametrize("forced", ["true", True])
def test_pandas_true_adds_pandas_to_a_numeric_model(forced: Any) -> None:
    result = prepare("", forced)
    assert requirements_file(result) == "requirements-pandas.txt"
    assert added_patterns(result) == ["model/model.joblib", "model/model.json"]
    assert messages(result, "notice") == [
        "Python requirements from requirements-pandas.txt, with pandas: pandas=true was passed"
    ]


def test_pandas_false_leaves_it_out_of_a_dataframe_model_and_warns(service_dir: Path) -> None:
    result = prepare(CHURN, "false", service_dir=service_dir)
    assert requirements_file(result) == "requirements.txt"
    assert added_patterns(result) == [CHURN, "model/examples/churn.json"]
    (warning,) = messages(result, "warning")
    assert "pandas=false leaves pandas out" in warning


@pytest.mark.parametrize("value", ["yes", "", "True", "auto ", "1", 0])
def test_pandas_takes_only_auto_true_or_false(value: Any) -> None:
    result = prepare("", value)
    assert result["error"] == f'The pandas parameter must be auto, true or false, got "{value}"'


@pytest.mark.parametrize(
    "uri",
    [
        "/var/task/model/model.joblib",
        "../elsewhere/model.joblib",
        "model/../../model.joblib",
        "model/*.joblib",
        "model/{a,b}.joblib",
        "https://example.com/model.joblib",
        ".",
    ],
)
def test_a_model_path_must_be_inside_the_repo_and_plain(uri: str) -> None:
    assert prepare(uri)["error"].startswith("modelUri must be empty (the bundled model), s3://")


def test_a_bundled_model_needs_its_artifact_and_its_metadata(service_dir: Path) -> None:
    missing = prepare("model/examples/nothing.joblib", service_dir=service_dir)
    assert missing["error"] == "modelUri: model/examples/nothing.joblib does not exist"
    (service_dir / "model" / "examples" / "churn.json").unlink()
    orphan = prepare(CHURN, "true", service_dir=service_dir)
    assert orphan["error"].startswith(
        f"modelUri: {CHURN} has no metadata beside it (model/examples/churn.json)"
    )


def test_a_bundled_models_code_archive_goes_beside_it(service_dir: Path) -> None:
    code = {"file": "churn.code.zip", "sha256": "0" * 64, "modules": ["churnfeatures"]}
    metadata = {"name": "churn", "model_input": "dataframe", "code": code}
    (service_dir / "model" / "examples" / "churn.json").write_text(json.dumps(metadata))
    (service_dir / "model" / "examples" / "churn.code.zip").write_bytes(b"PK")
    result = prepare(CHURN, service_dir=service_dir)
    assert added_patterns(result) == [
        CHURN,
        "model/examples/churn.json",
        "model/examples/churn.code.zip",
    ]


def test_a_missing_code_archive_stops_packaging(service_dir: Path) -> None:
    code = {"file": "churn.code.zip", "sha256": "0" * 64, "modules": ["churnfeatures"]}
    metadata = {"name": "churn", "model_input": "dataframe", "code": code}
    (service_dir / "model" / "examples" / "churn.json").write_text(json.dumps(metadata))
    # Forced or not: the archive is a file of the model, whatever the bundle carries.
    for pandas in ("auto", "false"):
        assert prepare(CHURN, pandas, service_dir=service_dir)["error"] == (
            "model/examples/churn.json names the code archive model/examples/churn.code.zip, "
            "which does not exist"
        )


@pytest.mark.parametrize("file", ["../elsewhere.code.zip", "churn.zip", "*.code.zip", 3])
def test_a_code_archive_is_a_plain_file_name(service_dir: Path, file: Any) -> None:
    code = {"file": file, "sha256": "0" * 64, "modules": []}
    (service_dir / "model" / "examples" / "churn.json").write_text(json.dumps({"code": code}))
    assert prepare(CHURN, "true", service_dir=service_dir)["error"] == (
        'model/examples/churn.json: "code" must be null or name a file NAME.code.zip beside '
        "the artifact"
    )


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ('{"model_input": "polars"}', "model_input must be one of float64_array, object_array"),
        ('{"model_input": null}', "model_input must be one of"),
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
    ],
)
def test_auto_refuses_metadata_it_cannot_read(
    service_dir: Path, metadata: str, problem: str
) -> None:
    (service_dir / "model" / "examples" / "churn.json").write_text(metadata)
    error = prepare(CHURN, service_dir=service_dir)["error"]
    assert error.startswith("model/examples/churn.json: ")
    assert problem in error
    assert error.endswith('pass --param="pandas=true" or --param="pandas=false"')
    # Forced, the kind is not needed: the parameter is the way past an unknown one.
    assert requirements_file(prepare(CHURN, "true", service_dir=service_dir)) == (
        "requirements-pandas.txt"
    )


def test_the_chosen_requirements_file_must_exist(service_dir: Path) -> None:
    (service_dir / "requirements-pandas.txt").unlink()
    result = prepare(CHURN, service_dir=service_dir)
    assert result["error"] == "requirements-pandas.txt does not exist"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's server with a bucket of models' metadata; yields the environment to reach it."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        client = local_s3(endpoint)
        client.create_bucket(Bucket=BUCKET)
        for key, metadata in {
            "churn/2.0.0.json": {"name": "churn", "model_input": "dataframe"},
            "iris/1.0.0.json": {"name": "iris"},
            "reviews/1.0.0.json": {"name": "reviews", "model_input": "text"},
        }.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(metadata).encode())
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        yield env | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("churn/2.0.0.joblib", "requirements-pandas.txt"),
        ("iris/1.0.0.joblib", "requirements.txt"),
        ("reviews/1.0.0.joblib", "requirements.txt"),
    ],
)
def test_auto_reads_an_s3_models_metadata(s3: dict[str, str], key: str, expected: str) -> None:
    result = prepare(f"s3://{BUCKET}/{key}", env=s3)
    assert requirements_file(result) == expected
    assert added_patterns(result) == []  # read from S3 at cold start: none bundled
    (notice,) = messages(result, "notice")
    assert f"pandas: s3://{BUCKET}/{key.replace('.joblib', '.json')} " in notice


def test_auto_stops_when_the_s3_metadata_cannot_be_read(s3: dict[str, str]) -> None:
    # Forcing pandas would not help: packaging reads the metadata for more than pandas.
    error = prepare(f"s3://{BUCKET}/missing/1.0.0.joblib", env=s3)["error"]
    assert error.startswith(
        f"Packaging reads the served model's metadata, s3://{BUCKET}/missing/1.0.0.json, "
        "with the deploy's AWS credentials"
    )
    assert error.endswith("Packaging a model on S3 needs read access to it")


@pytest.mark.parametrize(
    ("forced", "expected"), [("true", "requirements-pandas.txt"), ("false", "requirements.txt")]
)
def test_forced_pandas_needs_no_s3_read(forced: str, expected: str) -> None:
    # Nothing listens on port 9: a read would fail. (The model's distributions and the
    # bundle's proof still read it, later: model-distributions, bundle-checks.)
    env = dict(os.environ) | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    result = prepare(f"s3://{BUCKET}/churn/2.0.0.joblib", forced, env=env)
    assert requirements_file(result) == expected
    assert added_patterns(result) == []


def test_a_malformed_s3_uri_is_refused() -> None:
    assert prepare("s3://bucket-only")["error"] == (
        "modelUri must look like s3://bucket/key.joblib, got s3://bucket-only"
    )


def test_the_repo_has_both_requirements_files() -> None:
    pandas = (ROOT / "requirements-pandas.txt").read_text().splitlines()
    assert "-r requirements.txt" in pandas
    assert {"pandas==3.1.1", "python-dateutil==2.9.0.post0", "six==1.17.0"} <= set(pandas)
