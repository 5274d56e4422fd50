"""Models served from S3 (moto stands in): download, verify, cache, fail clearly, recover;
and the deploy's pins (MODEL_METADATA_SHA256, MODEL_CODE_SHA256) held against what is found."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import pickle
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count
from support.attacks import CreatesMarkerWhenUnpickled, swapped_features
from support.iris import SETOSA
from support.paths import ROOT
from support.s3 import BUCKET, models_bucket

import app.service.model_slot
from app.core.artifact import code_path_for, metadata_path_for, sha256_of
from app.core.metadata import CodeArchive, ModelMetadata
from app.core.predictor import ModelUnavailable
from app.service.model_source import LocalModel, locate
from app.service.settings import Settings
from model.publish import publish

KEY = "iris/model.joblib"
URI = f"s3://{BUCKET}/{KEY}"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def s3_app(make_app, cache: Path):
    def build(**settings: str):
        return make_app(MODEL_URI=URI, MODEL_CACHE_DIR=str(cache), **settings)

    return build


def health(app) -> tuple[int, dict]:
    response = app.test_client().get("/health")
    return response.status_code, response.get_json()


def predicts_setosa(app) -> bool:
    response = app.test_client().post("/predict", json={"features": SETOSA})
    return response.status_code == 200 and response.get_json()["prediction"] == "setosa"


def test_downloads_verifies_and_serves(s3: Any, model_copy: Path, s3_app, cache: Path) -> None:
    publish(model_copy, URI, s3)
    app = s3_app()
    assert predicts_setosa(app)
    assert [p.name for p in cache.iterdir()] == [f"{sha256_of(model_copy)}.joblib"]
    info = app.test_client().get("/model").get_json()
    assert info["sha256"] == sha256_of(model_copy)


def test_later_cold_start_reuses_the_download(
    s3: Any, model_copy: Path, s3_app, caplog: pytest.LogCaptureFixture
) -> None:
    publish(model_copy, URI, s3)
    assert predicts_setosa(s3_app())
    s3.delete_object(Bucket=BUCKET, Key=KEY)  # only the metadata is left to read
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="app.service.model_source"):
        again = s3_app()
    assert predicts_setosa(again)
    assert "found in" in caplog.text and "downloaded" not in caplog.text


def test_a_corrupted_cache_file_is_downloaded_again(
    s3: Any, model_copy: Path, s3_app, cache: Path
) -> None:
    publish(model_copy, URI, s3)
    assert predicts_setosa(s3_app())
    (cached,) = cache.iterdir()
    cached.write_bytes(b"garbage")
    assert predicts_setosa(s3_app())
    assert sha256_of(cached) == sha256_of(model_copy)


def test_hash_mismatch_is_never_unpickled(
    s3: Any, model_copy: Path, s3_app, cache: Path, tmp_path: Path
) -> None:
    publish(model_copy, URI, s3)
    marker = tmp_path / "marker"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=pickle.dumps(CreatesMarkerWhenUnpickled(marker)))
    status, body = health(s3_app())
    assert status == 503
    assert "refusing to load it" in body["reason"] and URI in body["reason"]
    assert not marker.exists()
    assert not list(cache.iterdir())  # neither the file nor a partial download stays


def test_pinned_hash_wins(s3: Any, model_copy: Path, s3_app) -> None:
    publish(model_copy, URI, s3)
    assert predicts_setosa(s3_app(MODEL_SHA256=sha256_of(model_copy)))
    status, body = health(s3_app(MODEL_SHA256="0" * 64))
    assert status == 503
    assert "MODEL_SHA256 is 0000" in body["reason"]


def test_pinned_hash_applies_to_local_models_too(model_copy: Path, make_app) -> None:
    pinned = make_app(MODEL_URI=str(model_copy), MODEL_SHA256="f" * 64)
    assert health(pinned)[0] == 503
    assert predicts_setosa(make_app(MODEL_URI=str(model_copy), MODEL_SHA256=sha256_of(model_copy)))


@pytest.mark.parametrize(
    ("remove", "fragment"),
    [
        ("artifact", f"model artifact not found: {URI}"),
        ("metadata", "model metadata not found: s3://models/iris/model.json"),
        ("bucket", "bucket models does not exist"),
    ],
)
def test_missing_objects(s3: Any, model_copy: Path, s3_app, remove: str, fragment: str) -> None:
    publish(model_copy, URI, s3)
    if remove in ("artifact", "bucket"):
        s3.delete_object(Bucket=BUCKET, Key=KEY)
    if remove in ("metadata", "bucket"):
        s3.delete_object(Bucket=BUCKET, Key="iris/model.json")
    if remove == "bucket":
        s3.delete_bucket(Bucket=BUCKET)
    status, body = health(s3_app())
    assert status == 503
    assert fragment in body["reason"]
    response = s3_app().test_client().post("/predict", json={"features": SETOSA})
    assert response.get_json()["error"]["code"] == "model_unavailable"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "metadata unreadable"), (b'{"name": 1}', "'name' must be a string")],
)
def test_malformed_metadata(
    s3: Any, model_copy: Path, s3_app, content: bytes, fragment: str
) -> None:
    publish(model_copy, URI, s3)
    s3.put_object(Bucket=BUCKET, Key="iris/model.json", Body=content)
    status, body = health(s3_app())
    assert status == 503 and fragment in body["reason"]


# moto enforces IAM after the first 5 calls: the set-up below, made as an admin.
@set_initial_no_auth_action_count(5)
def test_access_denied(
    aws_env: None, model_copy: Path, s3_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    with models_bucket() as s3:
        publish(model_copy, URI, s3)  # two calls: artifact and metadata
        # A function whose role has no policy: it may not read the bucket.
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="function")
        key = iam.create_access_key(UserName="function")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        status, body = health(s3_app())
    assert status == 503
    assert "access denied reading model metadata s3://models/iris/model.json" in body["reason"]
    assert "s3:GetObject" in body["reason"]


def test_recovers_after_a_fault_with_backoff(
    s3: Any, model_copy: Path, s3_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(app.service.model_slot, "monotonic", lambda: now[0])
    s3.put_object(
        Bucket=BUCKET, Key="iris/model.json", Body=metadata_path_for(model_copy).read_bytes()
    )
    served = s3_app()  # the artifact is not there yet
    assert health(served)[0] == 503

    s3.upload_file(str(model_copy), BUCKET, KEY)
    now[0] += 0.5  # within the first backoff (1 s): no new attempt
    assert health(served)[0] == 503
    now[0] += 0.6
    assert predicts_setosa(served)
    assert health(served) == (200, {"status": "ok", "model_version": "1.0.0"})


def test_backoff_doubles_while_the_fault_lasts(
    s3: Any, s3_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    attempts: list[float] = []
    monkeypatch.setattr(app.service.model_slot, "monotonic", lambda: now[0])
    real_locate = app.service.model_slot.locate
    monkeypatch.setattr(
        app.service.model_slot,
        "locate",
        lambda *place: attempts.append(now[0]) or real_locate(*place),
    )
    served = s3_app()  # nothing published at all
    client = served.test_client()
    for _ in range(400):  # 100 s of requests, one every 0.25 s
        now[0] += 0.25
        client.get("/health")
    gaps = [round(b - a) for a, b in itertools.pairwise(attempts)]
    assert gaps == [1, 2, 4, 8, 16, 32]
    assert all(client.get("/health").status_code == 503 for _ in range(3))


def test_bundled_model_never_imports_boto3() -> None:
    script = (
        "import sys; from app.factory import create_app; create_app({}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_metadata_is_uploaded_beside_the_artifact(s3: Any, model_copy: Path) -> None:
    published = publish(model_copy, URI, s3)
    stored = s3.get_object(Bucket=BUCKET, Key="iris/model.json")["Body"].read()
    assert json.loads(stored) == published.metadata
    artifact = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    assert artifact == model_copy.read_bytes()


def test_publish_refuses_a_pair_that_disagrees(s3: Any, model_copy: Path) -> None:
    model_copy.write_bytes(model_copy.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="describe it again"):
        publish(model_copy, URI, s3)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def answer(app, features: dict[str, float]) -> Any:
    response = app.test_client().post("/predict", json={"features": features})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["prediction"]


def test_pinned_metadata_is_served(s3: Any, model_copy: Path, s3_app) -> None:
    published = publish(model_copy, URI, s3)
    pinned = published.metadata_sha256
    assert pinned == sha256_of(metadata_path_for(model_copy))  # uploaded byte for byte
    assert predicts_setosa(s3_app(MODEL_METADATA_SHA256=pinned))


def test_rewritten_metadata_is_refused_before_it_is_read(
    s3: Any, model_copy: Path, s3_app, cache: Path
) -> None:
    published = publish(model_copy, URI, s3)
    rewritten = swapped_features(metadata_path_for(model_copy).read_bytes())
    s3.put_object(Bucket=BUCKET, Key="iris/model.json", Body=rewritten)
    status, body = health(s3_app(MODEL_METADATA_SHA256=published.metadata_sha256))
    assert status == 503
    assert body["reason"].startswith(
        f"model metadata s3://{BUCKET}/iris/model.json has sha256 {sha256_of_bytes(rewritten)}, "
        f"but MODEL_METADATA_SHA256 is {published.metadata_sha256}; refusing to read it"
    )
    assert not cache.exists()  # nothing was downloaded
    # Unpinned, the same rewrite loads, and the two features trade places unnoticed.
    flower = {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 5.1, "petal_width": 1.8}
    s3.put_object(
        Bucket=BUCKET, Key="iris/model.json", Body=metadata_path_for(model_copy).read_bytes()
    )
    honest = answer(s3_app(), flower)
    s3.put_object(Bucket=BUCKET, Key="iris/model.json", Body=rewritten)
    assert answer(s3_app(), flower) != honest


def test_a_local_models_metadata_is_held_to_its_pin_too(model_copy: Path, make_app) -> None:
    path = metadata_path_for(model_copy)
    pinned = sha256_of(path)
    assert predicts_setosa(make_app(MODEL_URI=str(model_copy), MODEL_METADATA_SHA256=pinned))
    path.write_bytes(swapped_features(path.read_bytes()))
    status, body = health(make_app(MODEL_URI=str(model_copy), MODEL_METADATA_SHA256=pinned))
    assert status == 503
    assert body["reason"] == (
        f"model metadata {path.name} has sha256 {sha256_of(path)}, but MODEL_METADATA_SHA256 is "
        f"{pinned}; refusing to read it (it changed after the deploy pinned it: deploy again "
        "to serve what is there now)"
    )


def test_a_code_pin_without_a_code_archive_is_refused(model_copy: Path, make_app) -> None:
    status, body = health(make_app(MODEL_URI=str(model_copy), MODEL_CODE_SHA256="c" * 64))
    assert status == 503
    assert body["reason"] == (
        f"MODEL_CODE_SHA256 is {'c' * 64}, but the model metadata names no code archive; "
        "refusing to load it"
    )


def add_code_archive(artifact: Path) -> Path:
    """A code archive beside `artifact`, named in its metadata as describe names one."""
    archive = code_path_for(artifact)
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("iris_helpers.py", "def double(values):\n    return values * 2\n")
    path = metadata_path_for(artifact)
    code = CodeArchive(archive.name, sha256_of(archive), ("iris_helpers",))
    replace(ModelMetadata.read(path), code=code).write(path)
    return archive


def s3_located(cache: Path, **pins: str) -> LocalModel:
    """The S3 model located as the live model's slot locates it."""
    settings = Settings.from_environ({"MODEL_URI": URI, "MODEL_CACHE_DIR": str(cache), **pins})
    return locate(settings.model_uri, settings.model_pins, settings.model_cache_dir)


def test_the_code_archive_is_downloaded_verified_into_the_cache(
    s3: Any, model_copy: Path, cache: Path
) -> None:
    archive = add_code_archive(model_copy)
    published = publish(model_copy, URI, s3)
    assert published.code_uri == f"s3://{BUCKET}/iris/model.code.zip"
    pins = {
        "MODEL_SHA256": sha256_of(model_copy),
        "MODEL_METADATA_SHA256": published.metadata_sha256,
        "MODEL_CODE_SHA256": sha256_of(archive),
    }
    found = s3_located(cache, **pins)
    assert found.code_archive == cache / f"{sha256_of(archive)}.code.zip"
    assert found.code_archive.read_bytes() == archive.read_bytes()
    # Unpinned, the metadata's own hash is the one checked.
    assert s3_located(cache).code_archive == found.code_archive


def test_a_rewritten_code_archive_is_refused_and_never_cached(
    s3: Any, model_copy: Path, cache: Path
) -> None:
    archive = add_code_archive(model_copy)
    published = publish(model_copy, URI, s3)
    evil = b"PK\x05\x06" + b"\0" * 18  # an empty zip: any other bytes would do
    s3.put_object(Bucket=BUCKET, Key="iris/model.code.zip", Body=evil)
    pins = {
        "MODEL_METADATA_SHA256": published.metadata_sha256,
        "MODEL_CODE_SHA256": sha256_of(archive),
    }
    with pytest.raises(ModelUnavailable) as refused:
        s3_located(cache, **pins)
    assert str(refused.value) == (
        f"model code archive s3://{BUCKET}/iris/model.code.zip has sha256 "
        f"{sha256_of_bytes(evil)}, but MODEL_CODE_SHA256 records {sha256_of(archive)}; "
        "refusing to load it"
    )
    assert [p.name for p in cache.iterdir()] == [f"{sha256_of(model_copy)}.joblib"]


def test_a_code_pin_the_metadata_contradicts_is_refused_before_any_download(
    s3: Any, model_copy: Path, cache: Path
) -> None:
    add_code_archive(model_copy)
    publish(model_copy, URI, s3)
    with pytest.raises(ModelUnavailable) as refused:
        s3_located(cache, MODEL_CODE_SHA256="e" * 64)
    assert str(refused.value).startswith(
        f"MODEL_CODE_SHA256 is {'e' * 64}, but the model metadata describes a code archive "
        f"with sha256 {sha256_of(code_path_for(model_copy))}"
    )
    assert not cache.exists()


def test_a_missing_code_archive_is_named(s3: Any, model_copy: Path, cache: Path) -> None:
    add_code_archive(model_copy)
    publish(model_copy, URI, s3)
    s3.delete_object(Bucket=BUCKET, Key="iris/model.code.zip")
    with pytest.raises(ModelUnavailable, match="model code archive not found: s3://models/iris/"):
        s3_located(cache)
