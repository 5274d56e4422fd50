"""Where the model comes from: a local file, or S3 objects fetched into a local cache.

Either way the result is a local artifact, its metadata and, when the model has one, its
code archive. The metadata's bytes are checked against the deploy's pin before they are
parsed. The predictor verifies the artifact's hash before unpickling it; the S3 path
checks the artifact and the code archive on download too, so a bad object never
reaches the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.artifact import (
    CODE_SUFFIX,
    S3_SCHEME,
    code_key_for,
    metadata_key_for,
    metadata_path_for,
    sha256_of,
    split_s3_uri,
)
from app.core.artifact_loader import os_reason
from app.core.metadata import ModelMetadata
from app.core.pins import Pins, expected_code_sha256, expected_sha256, pinned_metadata
from app.core.predictor import ModelUnavailable

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalModel:
    artifact: Path
    metadata: ModelMetadata
    # The user's code archive, when the metadata names one: verified before it is used.
    code_archive: Path | None = None


def locate(uri: str, pins: Pins, cache_dir: Path) -> LocalModel:
    """The model at `uri` (a local artifact path or an s3:// URI), held to `pins`; S3
    objects are fetched into `cache_dir`."""
    if uri.startswith(S3_SCHEME):
        return _from_s3(uri, pins, cache_dir)
    artifact = Path(uri)
    path = metadata_path_for(artifact)
    # Named by its name alone: what the metadata's errors say reaches any caller.
    metadata = pinned_metadata(_read_local(path), path.name, pins)
    # The predictor verifies the archive itself; a pin without one is refused here.
    expected_code_sha256(metadata, pins)
    code = None if metadata.code is None else artifact.parent / metadata.code.file
    return LocalModel(artifact, metadata, code)


def _read_local(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelUnavailable(f"model metadata not found: {path.name}", str(path)) from None
    except OSError as error:
        raise ModelUnavailable(
            f"model metadata unreadable: {path.name}: {os_reason(error)}", str(error)
        ) from None


def _from_s3(uri: str, pins: Pins, cache: Path) -> LocalModel:
    # Imported here only: botocore is large, and the bundled-model path never needs it.
    # Lambda's runtime provides it; a local install may not have it.
    try:
        import boto3
    except ImportError:
        raise ModelUnavailable(
            f"reading {uri} needs boto3, which Lambda's runtime provides and this "
            "environment lacks: install it (requirements-dev.txt pins it), or serve a local "
            "copy of the model"
        ) from None

    location = split_s3_uri(uri)
    assert location is not None, "the URI is checked when settings are read"
    bucket, key = location
    s3 = boto3.client("s3")
    metadata_uri = f"{S3_SCHEME}{bucket}/{metadata_key_for(key)}"
    body = _get_object(s3, bucket, metadata_key_for(key), "model metadata")["Body"].read()
    metadata = pinned_metadata(body, metadata_uri, pins)
    # Both hashes settled before either object is fetched: a pin the metadata
    # contradicts stops here.
    expected = expected_sha256(metadata, pins)
    expected_code = expected_code_sha256(metadata, pins)

    # Content-addressed: a later cold start in the same container finds them here.
    wanted = _Wanted(bucket, key, "model artifact", expected, pins.artifact_vouched_by())
    artifact = _cached(s3, wanted, cache / f"{expected}.joblib")
    if expected_code is None:
        return LocalModel(artifact, metadata)
    wanted = _Wanted(
        bucket, code_key_for(key), "model code archive", expected_code, pins.code_vouched_by()
    )
    code = _cached(s3, wanted, cache / f"{expected_code}{CODE_SUFFIX}")
    return LocalModel(artifact, metadata, code)


@dataclass(frozen=True)
class _Wanted:
    """An S3 object the model needs, and the hash it must have."""

    bucket: str
    key: str
    what: str  # how messages name it: "model artifact", "model code archive"
    sha256: str
    vouched_by: str  # who set that hash: a pinned setting, or the metadata

    @property
    def uri(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def _cached(s3: Any, wanted: _Wanted, destination: Path) -> Path:
    """The object at `destination`, downloaded unless a verified copy is there already."""
    if destination.is_file() and sha256_of(destination) == wanted.sha256:
        log.info("%s %s found in %s", wanted.what, wanted.uri, destination)
        return destination
    response = _get_object(s3, wanted.bucket, wanted.key, wanted.what)
    _download_verified(response["Body"], destination, wanted)
    log.info("downloaded %s %s to %s", wanted.what, wanted.uri, destination)
    return destination


def _download_verified(body: Any, destination: Path, wanted: _Wanted) -> None:
    """Stream to a temporary file beside the destination; keep it only if the hash matches."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
                stream.write(chunk)
        if digest.hexdigest() != wanted.sha256:
            raise ModelUnavailable(
                f"{wanted.what} {wanted.uri} has sha256 {digest.hexdigest()}, but "
                f"{wanted.vouched_by} records {wanted.sha256}; refusing to load it"
            )
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _get_object(s3: Any, bucket: str, key: str, what: str) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    uri = f"{S3_SCHEME}{bucket}/{key}"
    try:
        return s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise ModelUnavailable(f"{what} not found: {uri}") from None
        if code == "NoSuchBucket":
            raise ModelUnavailable(f"{what} not found: bucket {bucket} does not exist") from None
        if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId"):
            raise ModelUnavailable(
                f"access denied reading {what} {uri}: the function's role needs s3:GetObject on it"
            ) from None
        raise ModelUnavailable(f"could not read {what} {uri}: {code or error}") from None
    except BotoCoreError as error:  # its text may name a local file (a config, a profile)
        raise ModelUnavailable(
            f"could not reach S3 for {what} {uri}: {type(error).__name__}", str(error)
        ) from None
