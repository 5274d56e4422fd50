"""A model that needs more than the bundle's requirements: packaged, checked and proven.

A ColumnTransformer + lightgbm.LGBMClassifier pipeline, trained on generated data and
described, is packaged with modelUri pointing at it inside the repo. Packaging installs
lightgbm (its metadata records it), supplies the libgomp.so.1 lightgbm links against from
scikit-learn's copy, checks the size, and proves the zip answers the example as recorded;
then the tests serve from the zip as Lambda would. A metadata whose recorded answers are
not the model's stops packaging with the bundle's own words, unless the proof is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
from prove_bundle import FRAMES_SHOWN, ProofFailed, prove
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from support.bundles import names_in, run_in_bundle, unzipped_read_only, unzipped_size
from support.event_payloads import LambdaAnswer, event_for
from support.packages import Package, build_package, run_package
from support.paths import ROOT
from support.servers import local_s3, moto_server

from model.export import Description, save_model

# Inside the repo (modelUri is a path in it), in a folder git ignores.
MODELS = ROOT / "test-artifacts" / "lightgbm"
ARTIFACT = "plans.joblib"
# A JavaScript stack frame, as a crash of a plugin would print it.
JS_STACK_FRAME = re.compile(r"^\s+at .+:\d+:\d+\)?$", re.MULTILINE)


def trained_pipeline() -> tuple[Any, pd.DataFrame]:
    """Strings and numbers selected by name, then gradient-boosted trees; seeded."""
    rng = np.random.default_rng(7)
    rows = 400
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "city": rng.choice(["lisbon", "oslo", "porto"], rows),
            "plan": rng.choice(["basic", "pro"], rows),
        }
    )
    target = np.where((frame.income > 52_000) | (frame.plan == "pro"), "upgrade", "stay")
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
            ]
        ),
        lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1, random_state=0),
    ).fit(frame, target)
    return pipeline, frame


def model_uri(folder: str) -> str:
    return (MODELS / folder / ARTIFACT).relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, Any]]:
    """The described model in described/, and in misdescribed/ the same artifact with
    metadata whose example_predictions are not the model's answers; yields the metadata."""
    pipeline, frame = trained_pipeline()
    described = MODELS / "described" / ARTIFACT
    # describe records the distributions (lightgbm among them) and the example's answers.
    metadata = save_model(
        pipeline, described, Description("plans-lightgbm", "1.0.0"), frame.head(20)
    )
    assert metadata["distributions"]["lightgbm"] == lightgbm.__version__
    misdescribed = MODELS / "misdescribed" / ARTIFACT
    misdescribed.parent.mkdir(parents=True)
    shutil.copy(described, misdescribed)
    flipped = {"stay": "upgrade", "upgrade": "stay"}
    wrong = metadata | {
        "example_predictions": [flipped[p] for p in metadata["example_predictions"]]
    }
    misdescribed.with_suffix(".json").write_text(json.dumps(wrong, indent=2) + "\n")
    yield metadata
    shutil.rmtree(MODELS)


@pytest.fixture(scope="module")
def lightgbm_package(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Package:
    return build_package(tmp_path_factory.mktemp("lightgbm"), f"modelUri={model_uri('described')}")


@pytest.fixture(scope="module")
def lightgbm_bundle(
    lightgbm_package: Package, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    with unzipped_read_only(lightgbm_package.zip, tmp_path_factory.mktemp("task")) as folder:
        yield folder


def logged(package: Package, prefix: str) -> list[str]:
    """Lines of the packaging output that start with `prefix`, unwrapped."""
    return [line for line in package.output.splitlines() if line.startswith(prefix)]


def test_packaging_installs_lightgbm_because_the_metadata_records_it(
    lightgbm_package: Package,
) -> None:
    names = set(names_in(lightgbm_package.zip))
    assert {"lightgbm/__init__.py", "lightgbm/lib/lib_lightgbm.so", "pandas/__init__.py"} <= names
    assert logged(lightgbm_package, "Python requirements: ") == [
        f"Python requirements: requirements-pandas.txt plus lightgbm=={lightgbm.__version__}, "
        f"which {model_uri('described').replace('.joblib', '.json')} records among the "
        "distributions the model references (.serverless/model-requirements.txt)"
    ]
    generated = (lightgbm_package.folder / "model-requirements.txt").read_text().splitlines()
    assert generated[-2:] == ["-r ../requirements-pandas.txt", f"lightgbm=={lightgbm.__version__}"]


def test_libgomp_is_supplied_from_scikit_learns_copy(lightgbm_package: Package) -> None:
    with zipfile.ZipFile(lightgbm_package.zip) as zf:
        (renamed,) = [n for n in zf.namelist() if n.startswith("scikit_learn.libs/libgomp-")]
        assert zf.read("lib/libgomp.so.1") == zf.read(renamed)
        assert zf.getinfo("lib/libgomp.so.1").external_attr >> 16 == 0o100755
    assert logged(lightgbm_package, "Shared library supplied: ") == [
        f"Shared library supplied: lib/libgomp.so.1: a copy of {renamed}, as libgomp.so.1 for "
        "lightgbm/lib/lib_lightgbm.so (Lambda's runtime has no libgomp.so.1)"
    ]


def test_packaging_reports_the_size_lambda_counts(lightgbm_package: Package) -> None:
    size = unzipped_size(lightgbm_package.zip)
    (line,) = logged(lightgbm_package, "Bundle size: ")
    assert f" {size:,} bytes unzipped, " in line
    assert size < 262_144_000


def test_packaging_proved_the_bundle_answers_as_described(lightgbm_package: Package) -> None:
    (line,) = logged(lightgbm_package, "Bundle proven: ")
    assert "answered its 20 example row(s) as recorded at describe in " in line


def test_the_bundle_serves_with_libgomp_from_itself(
    lightgbm_bundle: Path, lightgbm_package: Package, models: dict[str, Any]
) -> None:
    body = json.dumps({"instances": models["example"]})
    report = run_in_bundle(
        lightgbm_bundle, lightgbm_package, [event_for("rest-api.json", "POST", "/predict", body)]
    )
    (answer,) = [LambdaAnswer.of(a) for a in report["answers"]]
    assert answer.status == 200, answer.body
    assert answer.json()["predictions"] == models["example_predictions"]
    assert "lightgbm" in report["imported_packages"]
    # The OpenMP runtime lightgbm loaded is the bundle's copy, not this machine's /lib one.
    libgomp = [path for path in report["shared_libraries"] if "libgomp" in Path(path).name]
    assert str(lightgbm_bundle / "lib" / "libgomp.so.1") in libgomp
    assert all(path.startswith(f"{lightgbm_bundle}/") for path in libgomp), libgomp


def without(archive: Path, folder: str, copy: Path) -> Path:
    """A copy of the zip without the entries under `folder`."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(copy, "w") as target:
        for info in source.infolist():
            if not info.filename.startswith(folder):
                target.writestr(info, source.read(info))
    return copy


def proof_of(package: Package, models: dict[str, Any]) -> dict[str, Any]:
    """What packaging sends prove_bundle.py for this package's function."""
    function = package.function()
    environment = function["Environment"]["Variables"]
    environment["AWS_LAMBDA_FUNCTION_NAME"] = function["FunctionName"]
    return {
        "environment": environment,
        "instances": models["example"],
        "predictions": models["example_predictions"],
        "api_key": None,
    }


def test_a_bundle_missing_the_models_library_fails_with_its_503(
    lightgbm_package: Package, models: dict[str, Any], tmp_path: Path
) -> None:
    archive = without(lightgbm_package.zip, "lightgbm/", tmp_path / "bundle.zip")
    with pytest.raises(ProofFailed) as failed:
        prove(archive, proof_of(lightgbm_package, models))
    # The server's own 503, which names the module and the distribution to install.
    message = str(failed.value)
    assert message.startswith(
        "POST /predict answered 503: The model is not available: the model needs module lightgbm."
    )
    assert f"install lightgbm=={lightgbm.__version__}" in message


def test_a_bundle_that_cannot_import_its_handler_fails_with_the_traceback(
    lightgbm_package: Package, models: dict[str, Any], tmp_path: Path
) -> None:
    archive = without(lightgbm_package.zip, "flask/", tmp_path / "bundle.zip")
    with pytest.raises(ProofFailed) as failed:
        prove(archive, proof_of(lightgbm_package, models))
    lines = str(failed.value).splitlines()
    assert lines[0] == "handler.handler could not be imported in the bundle:"
    assert lines[-1] == "ModuleNotFoundError: No module named 'flask'"
    frames = [line for line in lines if line.startswith('  File "')]
    # The innermost frames of the bundle's own code, by their paths inside it.
    assert 0 < len(frames) <= FRAMES_SHOWN
    assert frames[-1].startswith('  File "app/')
    assert not [line for line in lines if "/tmp" in line or "frozen importlib" in line]


def test_the_proof_compares_every_prediction_with_the_recorded_one(
    lightgbm_package: Package, models: dict[str, Any], tmp_path: Path
) -> None:
    # Rows other than the metadata's own example: the server loads the model, and the
    # proof itself finds the answers that differ from those it was told to expect.
    proof = proof_of(lightgbm_package, models)
    rows = models["example"][:5]
    answers = models["example_predictions"][:5]
    flipped = {"stay": "upgrade", "upgrade": "stay"}
    proof |= {"instances": rows, "predictions": [answers[0], *(flipped[a] for a in answers[1:])]}
    with pytest.raises(ProofFailed) as failed:
        prove(lightgbm_package.zip, proof)
    assert str(failed.value).splitlines() == [
        "POST /predict answered the example rows differently from the example_predictions "
        "recorded at describe:",
        *(
            f'  predictions[{i}]: expected "{flipped[answers[i]]}", got "{answers[i]}"'
            for i in (1, 2, 3)
        ),
        "  ... 1 more",
    ]
    proof["predictions"] = answers
    assert prove(lightgbm_package.zip, proof).startswith("answered its 5 example row(s) as")


def test_a_model_answering_otherwise_than_described_stops_packaging(
    models: dict[str, Any], tmp_path: Path
) -> None:
    result = run_package(tmp_path / "package", f"modelUri={model_uri('misdescribed')}")
    assert result.returncode != 0
    assert "Error:" in result.stdout
    assert not JS_STACK_FRAME.search(result.stdout), result.stdout
    output = " ".join(result.stdout.split())  # the message may be wrapped
    metadata = model_uri("misdescribed").replace(".joblib", ".json")
    assert f"does not serve {metadata} (function api, run from the unzipped bundle" in output
    # The bundle's own words: its server proves the model on the example as it loads.
    answered = models["example_predictions"][0]
    recorded = "stay" if answered == "upgrade" else "upgrade"
    assert (
        "POST /predict answered 503: The model is not available: the model answers example "
        f"row 0 with '{answered}', but it answered '{recorded}' when it was described"
    ) in output
    # Nothing is left to deploy.
    assert not (tmp_path / "package").exists()


def test_prove_bundle_false_skips_the_proof_alone_and_says_so(
    models: dict[str, Any], tmp_path: Path
) -> None:
    built = build_package(
        tmp_path / "package", f"modelUri={model_uri('misdescribed')}", "proveBundle=false"
    )
    assert not logged(built, "Bundle proven: ")
    assert logged(built, "Bundle size: ")  # the other checks still ran
    assert "lib/libgomp.so.1" in names_in(built.zip)
    output = " ".join(built.output.split())
    assert (
        ".serverless/model-prediction-api.zip is not proven (proveBundle=false): nothing "
        "checked that it imports its handler and answers its model's example in a bare "
        "python3.12 on its own" in output
    )


def test_an_s3_model_is_proven_from_a_download_checked_against_its_hashes(
    models: dict[str, Any], tmp_path: Path
) -> None:
    # The described model published to moto's S3; packaging reads its metadata there for
    # lightgbm, pins it, and proves the bundle on a copy it downloaded and checked.
    uri = "s3://team-models/plans/1.0.0.joblib"
    with moto_server(tmp_path / "moto.log") as endpoint:
        local_s3(endpoint).create_bucket(Bucket="team-models")
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        env |= {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }
        artifact = MODELS / "described" / ARTIFACT
        subprocess.run(
            [sys.executable, "-m", "model.publish", str(artifact), uri],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        result = run_package(tmp_path / "package", f"modelUri={uri}", env=env)
    assert result.returncode == 0, result.stdout
    built = Package(tmp_path / "package", result.stdout)
    assert logged(built, "Python requirements: ")[0].startswith(
        f"Python requirements: requirements-pandas.txt plus lightgbm=={lightgbm.__version__}, "
        "which s3://team-models/plans/1.0.0.json records"
    )
    (line,) = logged(built, "Bundle proven: ")
    assert "answered its 20 example row(s) as recorded at describe" in line
    # Nothing of the model is bundled: the function reads it from S3 at cold start.
    assert not [n for n in names_in(built.zip) if n.endswith((".joblib", "plans.json"))]
