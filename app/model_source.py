"""Where the model comes from: a local file, or an S3 object fetched into a local cache.

Either way the result is a local artifact and its metadata. The predictor verifies
the artifact's hash before unpickling it; the S3 path checks it on download too, so
a bad object never reaches the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.artifact import (
    S3_SCHEME,
    metadata_key_for,
    metadata_path_for,
    sha256_of,
    split_s3_uri,
)
from app.config import Settings
from app.metadata import MetadataError, ModelMetadata
from app.predictor import ModelUnavailable, expected_sha256

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalModel:
    artifact: Path
    metadata: ModelMetadata
    # The user's code archive, when the metadata names one: verified before it is used.
    code_archive: Path | None = None


def locate(settings: Settings) -> LocalModel:
    if settings.model_uri.startswith(S3_SCHEME):
        return _from_s3(settings)
    artifact = Path(settings.model_uri)
    metadata = _read_metadata(metadata_path_for(artifact))
    code = None if metadata.code is None else artifact.parent / metadata.code.file
    return LocalModel(artifact, metadata, code)


def _read_metadata(path: Path) -> ModelMetadata:
    try:
        return ModelMetadata.read(path)
    except FileNotFoundError:
        raise ModelUnavailable(f"model metadata not found: {path}") from None
    except OSError as error:
        raise ModelUnavailable(f"model metadata unreadable: {path}: {error}") from None
    except MetadataError as error:
        raise ModelUnavailable(str(error)) from None


def _from_s3(settings: Settings) -> LocalModel:
    # Imported here only: botocore is large, and the bundled-model path never needs it.
    import boto3

    location = split_s3_uri(settings.model_uri)
    assert location is not None, "MODEL_URI is checked when settings are read"
    bucket, key = location
    metadata_key = metadata_key_for(key)
    s3 = boto3.client("s3")
    metadata_uri = f"{S3_SCHEME}{bucket}/{metadata_key}"
    body = _get_object(s3, bucket, metadata_key, "model metadata")["Body"].read()
    try:
        metadata = ModelMetadata.parse(body, source=metadata_uri)
    except MetadataError as error:
        raise ModelUnavailable(str(error)) from None

    expected = expected_sha256(metadata, settings.model_sha256)
    # Content-addressed: a later cold start in the same container finds it here.
    cached = settings.model_cache_dir / f"{expected}.joblib"
    if cached.is_file() and sha256_of(cached) == expected:
        log.info("model artifact %s found in %s", settings.model_uri, cached)
        return LocalModel(cached, metadata)

    response = _get_object(s3, bucket, key, "model artifact")
    _download_verified(response["Body"], cached, expected, settings.model_uri)
    log.info("downloaded model artifact %s to %s", settings.model_uri, cached)
    return LocalModel(cached, metadata)


def _download_verified(body: Any, destination: Path, expected: str, uri: str) -> None:
    """Stream to a temporary file beside the destination; keep it only if the hash matches."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
                stream.write(chunk)
        if digest.hexdigest() != expected:
            raise ModelUnavailable(
                f"model artifact {uri} has sha256 {digest.hexdigest()}, but {expected} "
                "was expected; refusing to load it"
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
    except BotoCoreError as error:
        raise ModelUnavailable(f"could not reach S3 for {what} {uri}: {error}") from None
