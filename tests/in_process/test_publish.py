"""publish: the model's files checked against its metadata, then uploaded artifact, code
archive, metadata, in that order (moto stands in for S3)."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.s3 import BUCKET

from app.core.artifact import code_path_for, metadata_path_for, sha256_of
from app.core.metadata import CodeArchive, ModelMetadata
from model.export import ExportError
from model.publish import main, publish

URI = f"s3://{BUCKET}/plans/1.0.0.joblib"


def uploads(s3: Any) -> list[str]:
    """The keys the client writes, in the order it writes them (boto3's own events)."""
    written: list[str] = []
    s3.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: written.append(params["Key"])
    )
    return written


def stored_keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def add_code_archive(artifact: Path) -> Path:
    archive = code_path_for(artifact)
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("plan_features.py", "def scaled(values):\n    return values / 10\n")
    path = metadata_path_for(artifact)
    code = CodeArchive(archive.name, sha256_of(archive), ("plan_features",))
    replace(ModelMetadata.read(path), code=code).write(path)
    return archive


def test_artifact_then_code_archive_then_metadata(s3: Any, model_copy: Path) -> None:
    archive = add_code_archive(model_copy)
    written = uploads(s3)
    published = publish(model_copy, URI, s3)
    assert written == ["plans/1.0.0.joblib", "plans/1.0.0.code.zip", "plans/1.0.0.json"]
    # The archive's key follows the artifact's, whatever its local name.
    code = s3.get_object(Bucket=BUCKET, Key="plans/1.0.0.code.zip")["Body"].read()
    assert code == archive.read_bytes()
    assert published.code_uri == f"s3://{BUCKET}/plans/1.0.0.code.zip"


def test_without_a_code_archive_artifact_then_metadata(s3: Any, model_copy: Path) -> None:
    written = uploads(s3)
    published = publish(model_copy, URI, s3)
    assert written == ["plans/1.0.0.joblib", "plans/1.0.0.json"]
    assert published.code_uri is None


def test_the_metadata_goes_up_byte_for_byte(s3: Any, model_copy: Path) -> None:
    local = metadata_path_for(model_copy).read_bytes()
    published = publish(model_copy, URI, s3)
    stored = s3.get_object(Bucket=BUCKET, Key="plans/1.0.0.json")["Body"].read()
    assert stored == local
    # So the hash a deploy pins is the one of the file on the publisher's disk.
    assert published.metadata_sha256 == hashlib.sha256(local).hexdigest()


def test_a_missing_code_archive_is_refused_before_anything_is_uploaded(
    s3: Any, model_copy: Path
) -> None:
    add_code_archive(model_copy).unlink()
    with pytest.raises(ExportError) as refused:
        publish(model_copy, URI, s3)
    assert str(refused.value) == (
        f"{metadata_path_for(model_copy)} names the code archive model.code.zip, but "
        f"{code_path_for(model_copy)} does not exist: describe it again with its code, or "
        "put the archive beside it"
    )
    assert stored_keys(s3) == []


def test_a_code_archive_that_differs_is_refused_before_anything_is_uploaded(
    s3: Any, model_copy: Path
) -> None:
    archive = add_code_archive(model_copy)
    recorded = sha256_of(archive)
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("extra.py", "")
    with pytest.raises(ExportError) as refused:
        publish(model_copy, URI, s3)
    assert str(refused.value) == (
        f"{metadata_path_for(model_copy)} records for its code archive {recorded}, but "
        f"{archive} has {sha256_of(archive)}: describe it again before publishing"
    )
    assert stored_keys(s3) == []


def test_metadata_the_server_would_refuse_is_not_published(s3: Any, model_copy: Path) -> None:
    metadata_path_for(model_copy).write_text('{"name": "plans"}')
    with pytest.raises(ExportError, match="'version' must be a string: describe it again"):
        publish(model_copy, URI, s3)
    assert stored_keys(s3) == []


def test_the_command_prints_every_object_and_its_hash(
    s3: Any, model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = add_code_archive(model_copy)
    main([str(model_copy), URI])
    metadata = metadata_path_for(model_copy)
    assert capsys.readouterr().out.splitlines() == [
        f"published iris-logistic-regression 1.0.0 to {URI}",
        f"  artifact sha256 {sha256_of(model_copy)}",
        f"  code archive s3://{BUCKET}/plans/1.0.0.code.zip, sha256 {sha256_of(archive)}",
        f"  metadata s3://{BUCKET}/plans/1.0.0.json, sha256 {sha256_of(metadata)}",
    ]


def test_the_command_exits_with_the_refusal(s3: Any, model_copy: Path) -> None:
    add_code_archive(model_copy).unlink()
    with pytest.raises(SystemExit) as exited:
        main([str(model_copy), URI])
    assert str(exited.value).startswith("error: ")
    assert "names the code archive model.code.zip" in str(exited.value)
    assert stored_keys(s3) == []
