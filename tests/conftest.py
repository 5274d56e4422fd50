"""Every test builds its own app through the factory; nothing is shared but files."""

# ruff: noqa: E402 -- the lazy imports go in before any other import

from __future__ import annotations

# isort: off
# The lazy imports first, installed as the entry points install them, before anything
# imports scikit-learn: the whole suite runs as the service does (LAZY_IMPORTS=0 runs it
# without them).
from app.aws import lazy_imports

lazy_imports.install()
# isort: on
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.core.artifact import metadata_path_for
from app.factory import create_app
from app.service.settings import BUNDLED_MODEL
from model.export import Description, save_model

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Build an app from settings given as environment-style names."""

    def build(**settings: str) -> Flask:
        app = create_app(settings)
        app.testing = True
        return app

    return build


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, and no endpoint or profile of the developer's leaking in."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled artifact and its metadata; returns the artifact."""
    artifact = tmp_path / "model.joblib"
    shutil.copy(BUNDLED_MODEL, artifact)
    shutil.copy(metadata_path_for(BUNDLED_MODEL), metadata_path_for(artifact))
    return artifact


@pytest.fixture(scope="session")
def regressor_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ridge regressor on the diabetes data set that ships with scikit-learn."""
    data = load_diabetes()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0
    )
    estimator = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X_train, y_train)
    predicted = estimator.predict(X_test)
    artifact = tmp_path_factory.mktemp("regressor") / "diabetes.joblib"
    metrics = {
        "r2": float(r2_score(y_test, predicted)),
        "mae": float(mean_absolute_error(y_test, predicted)),
    }
    save_model(
        estimator, artifact, Description("diabetes-ridge", "2.1.0", data.feature_names, metrics)
    )
    return artifact


@pytest.fixture
def regressor_client(make_app: Callable[..., Flask], regressor_artifact: Path) -> FlaskClient:
    return make_app(MODEL_PATH=str(regressor_artifact)).test_client()


ROOT = Path(__file__).resolve().parent.parent
SERVICE = "model-prediction-api"
# The example model fitted on a pandas DataFrame; its metadata says "model_input": "dataframe".
CHURN_MODEL = "model/examples/churn.joblib"


@dataclass(frozen=True)
class Package:
    """What `make package` produced: the zip and the CloudFormation template; `output`,
    what packaging printed."""

    folder: Path
    output: str = field(default="", compare=False)

    @property
    def zip(self) -> Path:
        return self.folder / f"{SERVICE}.zip"

    def template(self) -> dict:
        return json.loads((self.folder / "cloudformation-template-update-stack.json").read_text())

    def function(self) -> dict:
        return self.template()["Resources"]["ApiLambdaFunction"]["Properties"]


def run_package(
    folder: Path, *params: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`make package` into `folder`, whatever its outcome; `params` are deploy
    parameters, name=value. Its output, stderr included, is in `stdout`."""
    arguments = " ".join([f"--package {folder}", *(f"--param={p}" for p in params)])
    return subprocess.run(
        ["make", "--no-print-directory", "package", f"SLS_ARGS={arguments}"],
        cwd=ROOT,
        env=env,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )


def build_package(folder: Path, *params: str) -> Package:
    """`make package` into `folder`, offline; `params` are deploy parameters, name=value."""
    result = run_package(folder, *params)
    assert result.returncode == 0, result.stdout
    built = Package(folder, result.stdout)
    assert built.zip.is_file()
    return built


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The deployment package with the default parameters, built once per run."""
    return build_package(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="session")
def dataframe_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package that serves the example DataFrame model instead: pandas=auto bundles
    pandas for it. Built once per run."""
    return build_package(tmp_path_factory.mktemp("dataframe-package"), f"modelUri={CHURN_MODEL}")


# Every optional stack setting at once, so that one build serves all their tests
# (tests/test_package_security.py, tests/test_bundle_pandas.py): API Gateway's own key
# and usage plan, the app's keys secret and CORS origin, and pandas forced into the
# bundled numeric model's package.
KEYS_SECRET = "prod/model-api/keys"
CORS_ORIGIN = "https://app.example.com"
KEYED_PARAMS = (
    "requireApiKey=true",
    "apiKeyRateLimit=7",
    "apiKeyBurstLimit=9",
    "apiKeyQuotaLimit=1234",
    "apiKeyQuotaPeriod=WEEK",
    f"apiKeysSecret={KEYS_SECRET}",
    f"corsAllowedOrigins={CORS_ORIGIN}",
    "pandas=true",
)


@pytest.fixture(scope="session")
def keyed_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with KEYED_PARAMS. Built once per run."""
    return build_package(tmp_path_factory.mktemp("keyed-package"), *KEYED_PARAMS)


@pytest.fixture(scope="session")
def snapstart_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with SnapStart on (snapStart=true). Built once per run."""
    return build_package(tmp_path_factory.mktemp("snapstart-package"), "snapStart=true")


@pytest.fixture(scope="session")
def provisioned_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with two environments of provisioned concurrency. Built once per run."""
    return build_package(tmp_path_factory.mktemp("provisioned-package"), "provisionedConcurrency=2")
