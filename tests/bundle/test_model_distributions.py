"""The bundle installs the distributions the served model's metadata records.

The model-distributions plugin's hook, run on stand-ins for osls's service with the
repo's real requirements files: the requirements file it writes for
serverless-python-requirements, what it logs, and what it refuses.
tests/test_bundle_lightgbm.py packages a real model that needs lightgbm.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import lightgbm
import numpy
import pytest
import sklearn
from support.paths import ROOT
from support.plugin_harness import run_hook

HOOK = "package:initialize"
MODEL = "models/plans.joblib"
METADATA = "models/plans.json"
GENERATED = ".serverless/model-requirements.txt"
SERVICE = {
    "custom": {
        "servedModel": {"uri": MODEL, "pandas": "auto"},
        "pythonRequirements": {"fileName": "requirements.txt"},
    },
}
# What the describe of a lightgbm pipeline records.
LIGHTGBM_MODEL = {
    "scikit-learn": sklearn.__version__,
    "numpy": numpy.__version__,
    "lightgbm": lightgbm.__version__,
}


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A service folder with the repo's requirements files and a model's artifact."""
    for name in ("requirements.txt", "requirements-pandas.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "models").mkdir()
    (tmp_path / MODEL).write_bytes(b"artifact")
    return tmp_path


def add(
    service_dir: Path, metadata: dict[str, Any], requirements: str = "requirements.txt"
) -> dict[str, Any]:
    (service_dir / METADATA).write_text(json.dumps(metadata))
    service = copy.deepcopy(SERVICE)
    service["custom"]["pythonRequirements"]["fileName"] = requirements
    return run_hook("model-distributions", HOOK, service, service_dir=service_dir)


def requirements_file(result: dict[str, Any]) -> str:
    assert "error" not in result, result["error"]
    return result["service"]["custom"]["pythonRequirements"]["fileName"]


def messages(result: dict[str, Any], level: str) -> list[str]:
    return [message for logged, message in result["log"] if logged == level]


def test_adds_what_the_requirements_file_does_not_pin(service_dir: Path) -> None:
    result = add(service_dir, {"distributions": LIGHTGBM_MODEL})
    assert requirements_file(result) == GENERATED
    lines = (service_dir / GENERATED).read_text().splitlines()
    # serverless-python-requirements follows -r relative to the file that holds it.
    assert [line for line in lines if not line.startswith("#")] == [
        "-r ../requirements.txt",
        f"lightgbm=={lightgbm.__version__}",
    ]
    assert messages(result, "notice") == [
        f"Python requirements: requirements.txt plus lightgbm=={lightgbm.__version__}, which "
        f"{METADATA} records among the distributions the model references ({GENERATED})"
    ]
    assert messages(result, "warning") == []


def test_follows_the_pandas_file_and_what_it_includes(service_dir: Path) -> None:
    recorded = LIGHTGBM_MODEL | {"pandas": "3.1.1", "python-dateutil": "2.9.0.post0"}
    result = add(service_dir, {"distributions": recorded}, "requirements-pandas.txt")
    assert requirements_file(result) == GENERATED
    lines = (service_dir / GENERATED).read_text().splitlines()
    assert "-r ../requirements-pandas.txt" in lines
    # pandas is in the pandas file, numpy and scikit-learn in the file it includes.
    assert [line for line in lines if "==" in line] == [f"lightgbm=={lightgbm.__version__}"]


def test_names_compare_as_pip_compares_them(service_dir: Path) -> None:
    recorded = {"Scikit_Learn": sklearn.__version__, "NumPy": numpy.__version__}
    result = add(service_dir, {"distributions": recorded})
    assert requirements_file(result) == "requirements.txt"
    assert not (service_dir / GENERATED).exists()
    assert messages(result, "info") == [
        f"requirements.txt holds every distribution {METADATA} records"
    ]


def test_a_version_other_than_the_pinned_one_is_a_warning(service_dir: Path) -> None:
    result = add(service_dir, {"distributions": {"numpy": "2.4.0"}})
    assert requirements_file(result) == "requirements.txt"
    (warning,) = messages(result, "warning")
    assert warning == (
        f"{METADATA} records numpy 2.4.0; the bundle installs numpy=={numpy.__version__} "
        "(requirements.txt), which serves the model instead"
    )


@pytest.mark.parametrize("metadata", [{"name": "plans"}, {"distributions": None}])
def test_metadata_without_distributions_adds_nothing(
    service_dir: Path, metadata: dict[str, Any]
) -> None:
    result = add(service_dir, metadata)
    assert requirements_file(result) == "requirements.txt"
    assert messages(result, "notice") == [
        f"{METADATA} records no distributions (metadata written before they were): "
        "the bundle gets requirements.txt alone"
    ]


@pytest.mark.parametrize("version", ["0.11.0", "0.9", "0.12.0rc1", "0.12.dev0"])
def test_skops_before_0_12_is_refused(service_dir: Path, version: str) -> None:
    result = add(service_dir, {"distributions": {"skops": version}})
    assert result["error"] == (
        f"{METADATA} records skops {version}; skops before 0.12.0 lets a file bypass its "
        "trusted-type check (CVE-2025-54412). Save and describe the model again with skops "
        "0.12 or newer"
    )


@pytest.mark.parametrize("version", ["0.12.0", "0.12", "0.16.0", "1.0.1"])
def test_skops_0_12_and_newer_is_installed(service_dir: Path, version: str) -> None:
    result = add(service_dir, {"distributions": {"skops": version}})
    assert requirements_file(result) == GENERATED
    assert f"skops=={version}" in (service_dir / GENERATED).read_text().splitlines()


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("--index-url", "https://example.com/simple"),
        ("lightgbm", ">=4"),
        ("lightgbm", "4.7.0 --pre"),
        ("light gbm", "4.7.0"),
        ("lightgbm", 4),
    ],
)
def test_only_names_and_versions_reach_pip(service_dir: Path, name: str, version: Any) -> None:
    result = add(service_dir, {"distributions": {name: version}})
    assert result["error"] == (
        f'{METADATA}: "distributions" holds {json.dumps(name)}: {json.dumps(version)}, not a '
        "distribution name and version pip can install"
    )
    assert not (service_dir / GENERATED).exists()


def test_unreadable_metadata_stops_packaging(service_dir: Path) -> None:
    (service_dir / METADATA).write_text("{not json")
    result = run_hook("model-distributions", HOOK, copy.deepcopy(SERVICE), service_dir=service_dir)
    assert result["error"].startswith(f"{METADATA}: not valid JSON")
