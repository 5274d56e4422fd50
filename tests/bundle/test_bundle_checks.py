"""Packaging's checks of a bundle, each on real files: shared libraries, size, and the
download of an S3 model the proof runs on.

tests/test_bundle_lightgbm.py runs all of them through `make package` on a real model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm
import pytest
import sklearn
from bundle_libraries import LibrariesMissing
from bundle_libraries import check as check_libraries
from bundle_size import LAMBDA_UNZIPPED_LIMIT, TooLarge
from bundle_size import check as check_size
from prove_bundle import differences
from support.paths import ROOT
from support.plugin_harness import call_export
from support.servers import local_s3, moto_server

LIGHTGBM_LIBRARY = Path(lightgbm.__file__).parent / "lib" / "lib_lightgbm.so"
SKLEARN_LIBS = Path(sklearn.__file__).parent.parent / "scikit_learn.libs"
SCIPY_LIBS = Path(sklearn.__file__).parent.parent / "scipy.libs"
BUCKET = "team-models"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def lightgbm_tree(tmp_path: Path) -> Path:
    """lightgbm's real shared library, where its wheel puts it, and nothing else."""
    folder = tmp_path / "task" / "lightgbm" / "lib"
    folder.mkdir(parents=True)
    shutil.copy(LIGHTGBM_LIBRARY, folder)
    return tmp_path / "task"


def test_lightgbm_alone_misses_libgomp(lightgbm_tree: Path) -> None:
    # This machine has a libgomp.so.1 in /lib; Lambda's runtime has none, and the check
    # counts only the bundle and Lambda's system libraries.
    with pytest.raises(LibrariesMissing) as missing:
        check_libraries(lightgbm_tree)
    assert "  libgomp.so.1, needed by lightgbm/lib/lib_lightgbm.so\n" in str(missing.value)
    assert not (lightgbm_tree / "lib").exists()


def test_scikit_learns_libgomp_is_supplied_to_lightgbm(lightgbm_tree: Path) -> None:
    shutil.copytree(SKLEARN_LIBS, lightgbm_tree / "scikit_learn.libs")
    (renamed,) = (lightgbm_tree / "scikit_learn.libs").glob("libgomp-*.so*")
    count, supplied = check_libraries(lightgbm_tree)
    assert count == 2
    assert [(s.path, s.source, s.needed_by) for s in supplied] == [
        (
            "lib/libgomp.so.1",
            f"scikit_learn.libs/{renamed.name}",
            ("lightgbm/lib/lib_lightgbm.so",),
        )
    ]
    copy = lightgbm_tree / "lib" / "libgomp.so.1"
    assert copy.read_bytes() == renamed.read_bytes()
    assert os.access(copy, os.X_OK)
    # Once supplied, the tree needs nothing more.
    assert check_libraries(lightgbm_tree) == (3, [])


def test_a_copy_is_known_by_the_name_it_was_built_as(lightgbm_tree: Path) -> None:
    # libgomp's version definitions name it libgomp.so.1, whatever its file is called.
    (renamed,) = SKLEARN_LIBS.glob("libgomp-*.so*")
    (lightgbm_tree / "vendor").mkdir()
    shutil.copy(renamed, lightgbm_tree / "vendor" / "openmp-runtime.so")
    _, supplied = check_libraries(lightgbm_tree)
    assert [(s.path, s.source) for s in supplied] == [
        ("lib/libgomp.so.1", "vendor/openmp-runtime.so")
    ]


def test_a_namesake_without_the_symbol_versions_needed_is_no_copy(lightgbm_tree: Path) -> None:
    # scipy's libgfortran under auditwheel's name for a libgomp: it defines none of the
    # GOMP_* and OMP_* versions lib_lightgbm.so needs.
    gfortran = sorted(SCIPY_LIBS.glob("libgfortran-*.so*"))[0]
    (lightgbm_tree / "scikit_learn.libs").mkdir()
    shutil.copy(gfortran, lightgbm_tree / "scikit_learn.libs" / "libgomp-0123abcd.so.1.0.0")
    with pytest.raises(LibrariesMissing) as missing:
        check_libraries(lightgbm_tree)
    assert "libgomp.so.1, needed by lightgbm/lib/lib_lightgbm.so" in str(missing.value)


def zip_of(path: Path, entries: dict[str, int]) -> Path:
    """A zip whose entries hold that many bytes each (zeros: they compress to nothing)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, size in entries.items():
            with zf.open(name, "w") as entry:
                for start in range(0, size, 1 << 24):
                    entry.write(bytes(min(1 << 24, size - start)))
    return path


def test_the_largest_packages_are_listed_with_their_sizes_and_hints(tmp_path: Path) -> None:
    archive = zip_of(
        tmp_path / "bundle.zip",
        {
            "xgboost/lib/libxgboost.so": 150_000_000,
            "nvidia/nccl/lib/libnccl.so.2": 100_000_000,
            "scipy/linalg/_flapack.so": 20_000_000,
            "handler.py": 6_000,
        },
    )
    with zipfile.ZipFile(archive) as zf:
        assert sum(info.file_size for info in zf.infolist()) > LAMBDA_UNZIPPED_LIMIT
    with pytest.raises(TooLarge) as refused:
        check_size(archive)
    lines = str(refused.value).splitlines()
    assert lines[0] == (
        "270,006,000 bytes unzipped, 103% of Lambda's 262,144,000 bytes allowed "
        "(7,862,000 over). Its largest top-level packages:"
    )
    assert lines[1].split()[:3] == ["xgboost", "150,000,000", "bytes"]
    assert "xgboost-cpu is the same library without the GPU code" in lines[1]
    assert lines[2].split()[:3] == ["nvidia", "100,000,000", "bytes"]
    assert "CUDA libraries (the nvidia-* distributions)" in lines[2]
    assert [line.split()[:3] for line in lines[3:]] == [
        ["scipy", "20,000,000", "bytes"],
        ["handler.py", "6,000", "bytes"],
    ]


def test_a_bundle_within_the_limit_passes_with_its_size(tmp_path: Path) -> None:
    archive = zip_of(tmp_path / "bundle.zip", {"scipy/linalg/_flapack.so": 131_072_000})
    assert check_size(archive) == "131,072,000 bytes unzipped, 50% of Lambda's 262,144,000"


@pytest.mark.parametrize(
    ("recorded", "answered"),
    [
        ([0.1 + 0.2, 12.5], [0.3, 12.500000000001]),  # summation order, far below 1e-9
        ([1e-300], [0.0]),
        ([{"yes": 0.75, "no": 0.25}], [{"yes": 0.7500000000000001, "no": 0.25}]),
        ([[1, 2], "setosa", None, True], [[1, 2], "setosa", None, True]),
    ],
)
def test_the_proof_takes_answers_within_a_tight_tolerance(recorded: Any, answered: Any) -> None:
    assert differences(recorded, answered, "predictions") == []


@pytest.mark.parametrize(
    ("recorded", "answered", "found"),
    [
        ([12.5], [12.5001], "predictions[0]: expected 12.5, got 12.5001"),
        ([3], [4], "predictions[0]: expected 3, got 4"),
        ([True], [1], "predictions[0]: expected true, got 1"),
        ([1], [True], "predictions[0]: expected 1, got true"),
        (["1"], [1], 'predictions[0]: expected "1", got 1'),
        ([[1, 2]], [[1, 2, 3]], "predictions[0]: expected [1, 2], got [1, 2, 3]"),
        ([{"yes": 0.5}], [{"no": 0.5}], 'predictions[0]: expected {"yes": 0.5}, got {"no": 0.5}'),
        ([None], [0.0], "predictions[0]: expected null, got 0.0"),
    ],
)
def test_the_proof_finds_every_other_answer(recorded: Any, answered: Any, found: str) -> None:
    assert differences(recorded, answered, "predictions") == [found]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's server with the bundled model published as plans/1.0.0 with a code archive,
    a pair whose artifact is not the one its metadata records (swapped/), and one whose
    code archive is missing (nocode/); yields the environment that reaches it."""
    artifact = (ROOT / "model" / "model.joblib").read_bytes()
    code = tmp_path_factory.mktemp("code") / "plans.code.zip"
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("planfeatures.py", "def ratio(a, b):\n    return a / b\n")
    metadata = json.loads((ROOT / "model" / "model.json").read_text())
    metadata["code"] = {
        "file": "plans.code.zip",
        "sha256": sha256(code.read_bytes()),
        "modules": ["planfeatures"],
    }
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        client = local_s3(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="plans/1.0.0.joblib", Body=artifact)
        client.put_object(Bucket=BUCKET, Key="plans/1.0.0.json", Body=json.dumps(metadata))
        # Where publish puts it: the artifact's key with .code.zip for its extension.
        client.put_object(Bucket=BUCKET, Key="plans/1.0.0.code.zip", Body=code.read_bytes())
        client.put_object(Bucket=BUCKET, Key="swapped/1.0.0.joblib", Body=artifact + b"\0")
        client.put_object(Bucket=BUCKET, Key="swapped/1.0.0.json", Body=json.dumps(metadata))
        # The metadata names a code archive that was never uploaded beside the artifact.
        client.put_object(Bucket=BUCKET, Key="nocode/1.0.0.joblib", Body=artifact)
        client.put_object(Bucket=BUCKET, Key="nocode/1.0.0.json", Body=json.dumps(metadata))
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        yield env | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}


def s3_model(key: str) -> dict[str, str]:
    """model-files.js' servedModel() of s3://team-models/KEY."""
    metadata = f"s3://{BUCKET}/{key.rsplit('.', 1)[0]}.json"
    return {"uri": f"s3://{BUCKET}/{key}", "bucket": BUCKET, "key": key, "metadata": metadata}


def test_an_s3_model_is_downloaded_and_checked_for_the_proof(
    s3: dict[str, str], tmp_path: Path
) -> None:
    result = call_export(
        "model-files", "downloadServedModel", s3_model("plans/1.0.0.joblib"), str(tmp_path), env=s3
    )
    assert "error" not in result, result["error"]
    assert result["result"] == str(tmp_path / "1.0.0.joblib")
    # Where the server looks for a local model's files: the archive by its metadata's name.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "1.0.0.joblib",
        "1.0.0.json",
        "plans.code.zip",
    ]
    metadata = json.loads((tmp_path / "1.0.0.json").read_text())
    assert sha256((tmp_path / "1.0.0.joblib").read_bytes()) == metadata["sha256"]
    assert sha256((tmp_path / "plans.code.zip").read_bytes()) == metadata["code"]["sha256"]


def test_an_s3_artifact_its_metadata_does_not_vouch_for_is_refused(
    s3: dict[str, str], tmp_path: Path
) -> None:
    result = call_export(
        "model-files",
        "downloadServedModel",
        s3_model("swapped/1.0.0.joblib"),
        str(tmp_path),
        env=s3,
    )
    recorded = json.loads((ROOT / "model" / "model.json").read_text())["sha256"]
    found = sha256((ROOT / "model" / "model.joblib").read_bytes() + b"\0")
    assert result["error"] == (
        f"s3://{BUCKET}/swapped/1.0.0.joblib has SHA-256 {found}, but "
        f"s3://{BUCKET}/swapped/1.0.0.json records {recorded}: the objects on S3 do not "
        "belong together"
    )


def test_a_missing_code_archive_on_s3_stops_the_proof(s3: dict[str, str], tmp_path: Path) -> None:
    result = call_export(
        "model-files", "downloadServedModel", s3_model("nocode/1.0.0.joblib"), str(tmp_path), env=s3
    )
    assert result["error"].startswith(
        f"Could not download s3://{BUCKET}/nocode/1.0.0.code.zip to prove the bundle ("
    )
