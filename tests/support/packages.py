"""`make package`: build a deployment package and read what it holds."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from support.paths import ROOT

SERVICE = "model-prediction-api"


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


# Every optional stack setting at once, so that one build serves all their tests
# (bundle/test_package_security.py, bundle/test_bundle_pandas.py): API Gateway's own key
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

# Capture of every prediction request, masked, and delivered to S3
# (bundle/test_capture_delivery.py).
CAPTURE_BUCKET = "model-captures"
CAPTURE_HASH_SECRET = "prod/model-api/capture-hash"
CAPTURE_PARAMS = (
    "captureSampleRate=1",
    "captureExclude=sepal_width",
    "captureHash=petal_width",
    f"captureHashKeySecret={CAPTURE_HASH_SECRET}",
    "captureMaxRows=2",
    f"captureBucket={CAPTURE_BUCKET}",
    "captureBucketPrefix=captured/iris/",
    "captureBufferSeconds=60",
)

# Rollouts (bundle/test_rollout.py): a canary of the bundled model with the default
# alarm limits, and a linear rollout of the churn model (reference statistics: the
# unseen-category alarm) with a shadow model (the disagreement alarm) and every limit set.
CANARY_PARAMS = ("rollout=Canary10Percent5Minutes",)
LINEAR_PARAMS = (
    "rollout=CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
    "modelUri=model/examples/churn.joblib",
    "shadowModelUri=model/examples/churn_retrained.joblib",
    "rolloutMaxErrorRate=0.02",
    "rolloutMaxP99Ms=750",
    "rolloutMaxUnseenRate=0.1",
    "rolloutMaxDisagreement=0.2",
    "metricsNamespace=ChurnModel",
)
