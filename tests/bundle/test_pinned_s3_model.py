"""An S3 model pinned at deploy, end to end through moto's server.

A pipeline whose FunctionTransformer calls a function in the user's own module is
described with its code archive and published (`python -m model.publish --code ...`);
`sls package` against moto pins it into the function's environment; the app is built
from exactly that environment, as Lambda would start it, and answers. Then what an
attacker who can write the model's prefix tries, each refused before anything is
unpickled or imported: a malicious artifact with metadata naming its hash, the metadata
alone with two features swapped, the code archive (alone, or with the metadata). With
pinModel=false a re-published model reaches new apps, which is also what lets the
malicious one in.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serverless_wsgi
from flask import Flask
from support.attacks import CreatesMarkerWhenUnpickled, swapped_features
from support.hook_clients import InProcessLambda, RecordingCodeDeploy
from support.iris import IRIS_FEATURES, SETOSA, VIRGINICA
from support.packages import Package, run_package
from support.paths import ROOT
from support.servers import local_s3, moto_server

from app.aws.pre_traffic import check_and_report
from app.core.artifact import code_path_for, metadata_path_for, sha256_of
from app.factory import create_app

BUCKET = "team-models"
KEY = "plans/1.0.0.joblib"
URI = f"s3://{BUCKET}/{KEY}"
METADATA_KEY = "plans/1.0.0.json"
CODE_KEY = "plans/1.0.0.code.zip"
# The user's module: a name no other test imports, since imports outlive an app.
MODULE = "pinned_plan_features"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
TRAIN = f"""
import joblib, numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
import {MODULE}

iris = load_iris()
model = make_pipeline(
    FunctionTransformer({MODULE}.log_scaled), StandardScaler(), LogisticRegression(max_iter=500)
).fit(iris.data, np.asarray(iris.target_names)[iris.target])
joblib.dump(model, "plans.joblib")
"""


def aws_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    region = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    return env | FAKE_CREDENTIALS | region | {"AWS_ENDPOINT_URL": endpoint}


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        local_s3(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint


def run(*command: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def model(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained artifact, described with its code archive and published; the user's
    module importable only while training (PYTHONPATH), never in this process."""
    folder = tmp_path_factory.mktemp("plans")
    source = folder / f"{MODULE}.py"
    source.write_text(
        "import numpy as np\n\n\n"
        "def log_scaled(values):\n"
        "    return np.log1p(np.asarray(values, dtype=float))\n"
    )
    run(sys.executable, "-c", TRAIN, cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)})
    artifact = folder / "plans.joblib"
    out = run(
        sys.executable, "-m", "model.publish", str(artifact), URI,
        "--features", ",".join(IRIS_FEATURES), "--code", str(source),
        cwd=ROOT, env=aws_env(moto),
    )  # fmt: skip
    assert f"published plans 1.0.0 to {URI}" in out
    assert f"code archive s3://{BUCKET}/{CODE_KEY}, sha256 " in out
    return artifact


@pytest.fixture(scope="module")
def published(model: Path, moto: str) -> dict[str, bytes]:
    """Each published object's bytes, as publish left them."""
    s3 = local_s3(moto)
    keys = (KEY, METADATA_KEY, CODE_KEY)
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


@pytest.fixture(autouse=True)
def pristine(request: pytest.FixtureRequest) -> None:
    """Every test starts from the published objects, whatever the last one rewrote."""
    if "published" in request.fixturenames:
        moto = request.getfixturevalue("moto")
        for key, body in request.getfixturevalue("published").items():
            local_s3(moto).put_object(Bucket=BUCKET, Key=key, Body=body)


@pytest.fixture(scope="module")
def pinned_package(model: Path, moto: str, tmp_path_factory: pytest.TempPathFactory) -> Package:
    folder = tmp_path_factory.mktemp("pinned") / "package"
    result = run_package(folder, f"modelUri={URI}", env=aws_env(moto))
    assert result.returncode == 0, result.stdout
    return Package(folder)


@pytest.fixture(scope="module")
def unpinned_package(model: Path, moto: str, tmp_path_factory: pytest.TempPathFactory) -> Package:
    folder = tmp_path_factory.mktemp("unpinned") / "package"
    result = run_package(folder, f"modelUri={URI}", "pinModel=false", env=aws_env(moto))
    assert result.returncode == 0, result.stdout
    return Package(folder)


KEYS_SECRET = "prod/model-api/keys"


@pytest.fixture(scope="module")
def rollout_package(
    published: dict[str, bytes], moto: str, tmp_path_factory: pytest.TempPathFactory
) -> Package:
    """A canary rollout of the S3 model, with the app's API keys in a secret; packaged
    from the objects as published, whatever an earlier test rewrote (a module-scoped
    fixture is made before the per-test restore)."""
    for key, body in published.items():
        local_s3(moto).put_object(Bucket=BUCKET, Key=key, Body=body)
    folder = tmp_path_factory.mktemp("rollout") / "package"
    params = (f"modelUri={URI}", "rollout=Canary10Percent5Minutes", f"apiKeysSecret={KEYS_SECRET}")
    result = run_package(folder, *params, env=aws_env(moto))
    assert result.returncode == 0, result.stdout
    return Package(folder)


@pytest.fixture
def function_app(
    moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Package], Flask]]:
    """Build the app from a package's function environment, as a fresh Lambda container
    would (its own cache), reaching moto; forget the user's module afterwards."""
    for name, value in aws_env(moto).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    path = list(sys.path)
    containers = iter(range(1000))

    def build(package: Package) -> Flask:
        variables = package.function()["Environment"]["Variables"]
        cache = tmp_path / f"container-{next(containers)}"
        # And the version Lambda runs, which a rollout's metrics go by.
        lambda_sets = {"MODEL_CACHE_DIR": str(cache), "AWS_LAMBDA_FUNCTION_VERSION": "1"}
        app = create_app({**variables, **lambda_sets})
        app.testing = True
        return app

    yield build
    sys.path[:] = path
    sys.modules.pop(MODULE, None)


def health(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/health")
    return response.status_code, response.get_json()


def prediction(app: Flask, features: list[float]) -> Any:
    response = app.test_client().post("/predict", json={"features": features})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["prediction"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def granted_objects(package: Package) -> list[str]:
    role = package.template()["Resources"]["IamRoleLambdaExecution"]["Properties"]
    return [
        resource["Fn::Sub"].rpartition(":::")[2]
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == ["s3:GetObject"]
        for resource in statement["Resource"]
    ]


def test_the_packaged_function_pins_what_was_published(
    pinned_package: Package, model: Path
) -> None:
    variables = pinned_package.function()["Environment"]["Variables"]
    assert variables["MODEL_URI"] == URI
    assert variables["MODEL_SHA256"] == sha256_of(model)
    # The metadata went up byte for byte: the pin is the local file's hash.
    assert variables["MODEL_METADATA_SHA256"] == sha256_of(metadata_path_for(model))
    assert variables["MODEL_CODE_SHA256"] == sha256_of(code_path_for(model))
    assert granted_objects(pinned_package) == [
        f"{BUCKET}/{KEY}",
        f"{BUCKET}/{METADATA_KEY}",
        f"{BUCKET}/{CODE_KEY}",
    ]


def test_the_pinned_function_answers_with_the_users_code_from_its_archive(
    pinned_package: Package, published: dict[str, bytes], function_app: Callable[..., Flask]
) -> None:
    assert MODULE not in sys.modules
    app = function_app(pinned_package)
    assert health(app) == (200, {"status": "ok", "model_version": "1.0.0"})
    assert prediction(app, SETOSA) == "setosa"
    assert prediction(app, VIRGINICA) == "virginica"
    # Imported from the archive the cold start downloaded and verified.
    module_file = Path(sys.modules[MODULE].__file__ or "")
    assert module_file.parent.name == f"{sha256(published[CODE_KEY])}.code.zip"


def refused(app: Flask) -> str:
    """The reason the app gives on /health, after checking /predict says the same."""
    status, body = health(app)
    assert status == 503
    response = app.test_client().post("/predict", json={"features": SETOSA})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"
    reason: str = body["reason"]
    return reason


def rewritten_metadata(published: dict[str, bytes], **fields: Any) -> bytes:
    document = json.loads(published[METADATA_KEY])
    for name, value in fields.items():
        if name == "code_sha256":
            document["code"]["sha256"] = value
        else:
            document[name] = value
    return json.dumps(document, indent=2).encode()


def metadata_refusal(rewritten: bytes, published: dict[str, bytes]) -> str:
    return (
        f"model metadata s3://{BUCKET}/{METADATA_KEY} has sha256 {sha256(rewritten)}, but "
        f"MODEL_METADATA_SHA256 is {sha256(published[METADATA_KEY])}; refusing to read it "
        "(it changed after the deploy pinned it: deploy again to serve what is there now)"
    )


def test_a_malicious_artifact_with_metadata_naming_its_hash_is_refused(
    pinned_package: Package,
    published: dict[str, bytes],
    moto: str,
    function_app: Callable[..., Flask],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    malicious = pickle.dumps(CreatesMarkerWhenUnpickled(marker))
    metadata = rewritten_metadata(published, sha256=sha256(malicious))
    s3 = local_s3(moto)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=malicious)
    s3.put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=metadata)
    assert refused(function_app(pinned_package)) == metadata_refusal(metadata, published)
    assert not marker.exists()
    assert not list(tmp_path.glob("container-*"))  # nothing was even downloaded


def test_the_metadata_alone_rewritten_is_refused(
    pinned_package: Package,
    published: dict[str, bytes],
    moto: str,
    function_app: Callable[..., Flask],
    tmp_path: Path,
) -> None:
    metadata = swapped_features(published[METADATA_KEY])
    local_s3(moto).put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=metadata)
    assert refused(function_app(pinned_package)) == metadata_refusal(metadata, published)
    assert not list(tmp_path.glob("container-*"))
    assert MODULE not in sys.modules


def archive_that_creates(marker: Path) -> bytes:
    """The user's module rewritten to run a command of its own when it is imported."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            f"{MODULE}.py",
            f"import os\nos.mkdir({str(marker)!r})\n\ndef log_scaled(values):\n    return values\n",
        )
    return buffer.getvalue()


@pytest.mark.parametrize("with_metadata", [False, True], ids=["archive", "archive-and-metadata"])
def test_a_rewritten_code_archive_is_refused(
    pinned_package: Package,
    published: dict[str, bytes],
    moto: str,
    function_app: Callable[..., Flask],
    tmp_path: Path,
    with_metadata: bool,
) -> None:
    marker = tmp_path / "marker"
    archive = archive_that_creates(marker)
    s3 = local_s3(moto)
    s3.put_object(Bucket=BUCKET, Key=CODE_KEY, Body=archive)
    if with_metadata:
        metadata = rewritten_metadata(published, code_sha256=sha256(archive))
        s3.put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=metadata)
        expected = metadata_refusal(metadata, published)
    else:
        expected = (
            f"model code archive s3://{BUCKET}/{CODE_KEY} has sha256 {sha256(archive)}, but "
            f"MODEL_CODE_SHA256 records {sha256(published[CODE_KEY])}; refusing to load it"
        )
    assert refused(function_app(pinned_package)) == expected
    assert not marker.exists()
    assert MODULE not in sys.modules


def test_with_pinning_off_new_apps_load_what_is_published_malicious_included(
    unpinned_package: Package,
    pinned_package: Package,
    published: dict[str, bytes],
    moto: str,
    function_app: Callable[..., Flask],
    tmp_path: Path,
) -> None:
    variables = unpinned_package.function()["Environment"]["Variables"]
    assert variables["MODEL_URI"] == URI and variables["MODEL_SHA256"] == ""
    assert "MODEL_METADATA_SHA256" not in variables and "MODEL_CODE_SHA256" not in variables
    # Whatever metadata is published may name a code archive: its key is granted.
    assert f"{BUCKET}/{CODE_KEY}" in granted_objects(unpinned_package)
    assert health(function_app(unpinned_package))[1]["model_version"] == "1.0.0"

    s3 = local_s3(moto)
    republished = rewritten_metadata(published, version="1.0.1")
    s3.put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=republished)
    assert health(function_app(unpinned_package)) == (
        200,
        {"status": "ok", "model_version": "1.0.1"},
    )
    # The pinned function keeps to what it was deployed with.
    assert refused(function_app(pinned_package)) == metadata_refusal(republished, published)

    # The risk that comes with it: a malicious artifact runs at the next cold start.
    marker = tmp_path / "marker"
    malicious = pickle.dumps(CreatesMarkerWhenUnpickled(marker))
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=malicious)
    s3.put_object(
        Bucket=BUCKET,
        Key=METADATA_KEY,
        Body=rewritten_metadata(published, sha256=sha256(malicious)),
    )
    assert "artifact holds a NoneType, not an estimator" in refused(function_app(unpinned_package))
    assert marker.exists()


def test_a_rollout_s_hook_reads_the_s3_metadata_by_its_pin_and_sends_a_key(
    rollout_package: Package,
    model: Path,
    published: dict[str, bytes],
    moto: str,
    function_app: Callable[[Package], Flask],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook of a rollout of an S3 model with API keys: its environment names the
    metadata object and its pin and the keys' secret; its role may read exactly those;
    and, run with that environment against the function, it passes it."""
    resources = rollout_package.template()["Resources"]
    variables = resources["PreTrafficLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k != "ROLLOUT_TARGET"} == {
        "MODEL_METADATA": f"s3://{BUCKET}/{METADATA_KEY}",
        "MODEL_METADATA_SHA256": sha256_of(metadata_path_for(model)),
        "API_KEYS_SECRET": KEYS_SECRET,
    }
    (policy,) = resources["RolloutHookRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    assert statements[-2:] == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BUCKET}/{METADATA_KEY}"}],
        },
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                    f"${{AWS::AccountId}}:secret:{KEYS_SECRET}-??????"
                }
            ],
        },
    ]

    import boto3

    key = "rollout-key-0123456789abcdef"
    env = aws_env(moto)
    secrets = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1")
    secrets.create_secret(Name=KEYS_SECRET, SecretString=key)
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    app = function_app(rollout_package)  # reads the same secret at start-up
    verdict = check_and_report(
        {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"},
        InProcessLambda(lambda event, context: serverless_wsgi.handle_request(app, event, context)),
        RecordingCodeDeploy(),
        {**variables, "ROLLOUT_TARGET": "live-version"},
        local_s3(moto),
    )
    assert verdict == {"status": "Succeeded", "reason": "answered its 1 example row(s) as recorded"}
