"""Upload a model to S3, for a server with MODEL_URI=s3://...

    python -m model.publish PATH s3://bucket/key.joblib [describe's options]

Writes the metadata first (as `model.describe` does) when PATH has none beside it, and
refuses to upload a model whose files disagree with its metadata: the artifact's hash,
and the code archive's when the metadata names one (missing, or another hash). The
artifact goes up first, then the code archive (key.code.zip), then the metadata, so a
server never finds metadata naming objects that are not there yet. The metadata is
uploaded byte for byte: the hash a deploy pins is the hash of the local file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.artifact import (
    S3_SCHEME,
    code_key_for,
    metadata_key_for,
    metadata_path_for,
    sha256_of,
    split_s3_uri,
)
from app.core.metadata import MetadataError, ModelMetadata
from model.describe import add_description_options, describe_from_args
from model.export import ExportError


@dataclass(frozen=True)
class Published:
    """What went up: the metadata as uploaded, where it is, and its own hash."""

    metadata: dict[str, Any]
    metadata_uri: str
    metadata_sha256: str
    code_uri: str | None


def publish(artifact: Path, uri: str, s3: Any) -> Published:
    """Check the model's files against its metadata, then upload artifact, code
    archive (if any) and metadata, in that order."""
    location = split_s3_uri(uri)
    if location is None:
        raise ExportError(f"expected s3://bucket/key.joblib, got {uri!r}")
    bucket, key = location
    metadata_path = metadata_path_for(artifact)
    body = metadata_path.read_bytes()
    try:
        metadata = ModelMetadata.parse(body, source=str(metadata_path))
    except MetadataError as error:
        raise ExportError(f"{error}: describe it again before publishing") from None
    _check(artifact, metadata.sha256, f"{metadata_path} records sha256")
    code = None
    if metadata.code is not None:
        code = artifact.parent / metadata.code.file
        if not code.is_file():
            raise ExportError(
                f"{metadata_path} names the code archive {metadata.code.file}, but {code} "
                "does not exist: describe it again with its code, or put the archive beside it"
            )
        _check(code, metadata.code.sha256, f"{metadata_path} records for its code archive")

    s3.upload_file(str(artifact), bucket, key)
    if code is not None:
        s3.upload_file(str(code), bucket, code_key_for(key))
    s3.put_object(
        Bucket=bucket, Key=metadata_key_for(key), Body=body, ContentType="application/json"
    )
    document: dict[str, Any] = json.loads(body)
    return Published(
        metadata=document,
        metadata_uri=f"{S3_SCHEME}{bucket}/{metadata_key_for(key)}",
        metadata_sha256=hashlib.sha256(body).hexdigest(),
        code_uri=None if code is None else f"{S3_SCHEME}{bucket}/{code_key_for(key)}",
    )


def _check(path: Path, recorded: str, what: str) -> None:
    actual = sha256_of(path)
    if actual != recorded:
        raise ExportError(
            f"{what} {recorded}, but {path} has {actual}: describe it again before publishing"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model.publish", description=__doc__.splitlines()[0]
    )
    parser.add_argument("path", type=Path, help="the joblib artifact")
    parser.add_argument("uri", help="where to put it: s3://bucket/key.joblib")
    add_description_options(parser)
    args = parser.parse_args(argv)
    if split_s3_uri(args.uri) is None:
        parser.error(f"expected s3://bucket/key.joblib, got {args.uri!r}")

    # A tool dependency, never the server's: imported only when publishing.
    import boto3
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if not metadata_path_for(args.path).is_file():
            describe_from_args(args.path, args)
            print(f"wrote {metadata_path_for(args.path)}")
        published = publish(args.path, args.uri, boto3.client("s3"))
    except (ExportError, OSError, BotoCoreError, ClientError, S3UploadFailedError) as error:
        sys.exit(f"error: {error}")
    metadata = published.metadata
    print(f"published {metadata['name']} {metadata['version']} to {args.uri}")
    print(f"  artifact sha256 {metadata['sha256']}")
    if published.code_uri:
        print(f"  code archive {published.code_uri}, sha256 {metadata['code']['sha256']}")
    print(f"  metadata {published.metadata_uri}, sha256 {published.metadata_sha256}")


if __name__ == "__main__":
    main()
