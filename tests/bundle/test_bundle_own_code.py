"""The user's own models, each from describe to a zip that answers in a bare python3.12.

Three kinds are trained in a copy of tests/user_project inside the repo (modelUri is a
path in it; test-artifacts/ is ignored by git), described there as a user would, and
packaged: the user's transformer and function shipped with --code (joblib), the same
pipeline saved with skops and its types trusted, and a zoned date-time column read by the
user's transformer. Packaging proves each bundle; then each zip serves its example rows
with the answers describe recorded. A fourth, stamped as fitted by scikit-learn 1.5.2,
is refused by the proof with the bundle's own words.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.bundles import names_in, run_in_bundle, unzipped_read_only
from support.event_payloads import LambdaAnswer, event_for
from support.packages import Package, build_package, run_package
from support.paths import ROOT, TESTS

MODELS = ROOT / "test-artifacts" / "own-code"
USER_PROJECT = TESTS / "user_project"
DESCRIBE = ROOT / "model" / "describe.py"
DATETIME_TRAINING = """
import joblib
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from date_features import DateParts, visits

frame, target = visits(300, "datetime64[ns, UTC]")
model = make_pipeline(DateParts(), LinearRegression()).fit(frame[["when"]], target)
joblib.dump(model, "visits.joblib")
frame[["when"]].head(6).to_json("example.json", orient="records", date_format="iso")
"""


@dataclass(frozen=True)
class Kind:
    folder: str
    artifact: str
    describe_options: tuple[str, ...]

    @property
    def path(self) -> Path:
        return MODELS / self.folder / self.artifact

    @property
    def uri(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


OWN_CODE = Kind("joblib", "model.joblib", ("--code", "features"))
SKOPS = Kind(
    "skops",
    "model.skops",
    ("--code", "features", "--trust", "features.AddRatio", "--trust", "features.clipped"),
)
DATETIME = Kind("datetime", "visits.joblib", ("--code", "date_features.py"))
OLD = Kind("old", "model.joblib", ("--code", "features"))


def python(folder: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=folder, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def prepared(kind: Kind, *train_flags: str) -> str:
    """Train in the kind's folder and describe there; return describe's output."""
    folder = kind.path.parent
    if kind is DATETIME:
        folder.mkdir(parents=True)
        shutil.copy(TESTS / "date_features.py", folder)
        (folder / "train.py").write_text(DATETIME_TRAINING)
        python(folder, "train.py")
    else:
        shutil.copytree(USER_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
        python(folder, "train.py", kind.artifact, *train_flags)
    return python(
        folder, str(DESCRIBE), kind.artifact, "--example", "example.json", *kind.describe_options
    )


@pytest.fixture(scope="module")
def described() -> Iterator[dict[str, str]]:
    """Each kind trained and described; yields describe's output by folder."""
    shutil.rmtree(MODELS, ignore_errors=True)
    outputs = {kind.folder: prepared(kind) for kind in (OWN_CODE, SKOPS, DATETIME)}
    outputs[OLD.folder] = prepared(OLD, "--sklearn-version", "1.5.2")
    yield outputs
    shutil.rmtree(MODELS)


def metadata_of(kind: Kind) -> dict[str, Any]:
    return json.loads(kind.path.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def packages(
    described: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Package]:
    return {
        kind.folder: build_package(tmp_path_factory.mktemp(kind.folder), f"modelUri={kind.uri}")
        for kind in (OWN_CODE, SKOPS, DATETIME)
    }


def served_from_zip(package: Package, kind: Kind, tmp_path: Path) -> list[Any]:
    metadata = metadata_of(kind)
    body = json.dumps({"instances": metadata["example"]})
    events = [event_for("rest-api.json", "POST", "/predict", body)]
    with unzipped_read_only(package.zip, tmp_path) as bundle:
        report = run_in_bundle(bundle, package, events)
    answer = LambdaAnswer.of(report["answers"][0])
    assert answer.status == 200, answer.body
    predictions: list[Any] = answer.json()["predictions"]
    return predictions


@pytest.mark.parametrize("kind", [OWN_CODE, SKOPS, DATETIME], ids=lambda kind: kind.folder)
def test_the_zip_carries_the_code_and_answers_as_described(
    kind: Kind, packages: dict[str, Package], tmp_path: Path
) -> None:
    package = packages[kind.folder]
    names = names_in(package.zip)
    metadata = metadata_of(kind)
    code = kind.path.with_name(metadata["code"]["file"])
    assert code.relative_to(ROOT).as_posix() in names
    assert kind.uri in names
    # The user's module is in the archive only: nowhere else in the zip.
    module = metadata["code"]["modules"][0]
    assert not [n for n in names if n.split("/")[0] in (module, f"{module}.py")]
    assert served_from_zip(package, kind, tmp_path) == metadata["example_predictions"]


def test_skops_alone_brings_skops_into_its_bundle(packages: dict[str, Package]) -> None:
    assert metadata_of(SKOPS)["distributions"]["skops"]
    assert "skops/__init__.py" in names_in(packages[SKOPS.folder].zip)
    assert "skops/__init__.py" not in names_in(packages[OWN_CODE.folder].zip)


def test_describe_said_what_ships(described: dict[str, str]) -> None:
    assert "ships your code: features in model.code.zip" in described[OWN_CODE.folder]
    assert "skops loads it trusting features.AddRatio, features.clipped" in described[SKOPS.folder]
    assert "when  datetime (UTC)" in described[DATETIME.folder]
    assert "fitted with scikit-learn 1.5.2" in described[OLD.folder]


def test_a_model_fitted_by_another_scikit_learn_is_refused_by_the_proof(
    described: dict[str, str], tmp_path: Path
) -> None:
    result = run_package(tmp_path / "package", f"modelUri={OLD.uri}")
    assert result.returncode != 0
    output = " ".join(result.stdout.split())  # the message may be wrapped
    assert "POST /predict answered 503" in output
    assert "model was trained with scikit-learn 1.5.2" in output
    assert not (tmp_path / "package" / "model-prediction-api.zip").exists()
