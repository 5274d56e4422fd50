"""Upload a model artifact and its metadata to S3, for a server with MODEL_URI=s3://...

    python -m model.publish PATH s3://bucket/key.joblib [describe's options]

Writes the metadata first (as `model.describe` does) when PATH has none beside it, and
refuses to upload a pair whose hashes disagree. The artifact goes up before its
metadata, so a server never finds metadata for an artifact that is not there yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.artifact import S3_SCHEME, metadata_key_for, metadata_path_for, sha256_of, split_s3_uri
from model.describe import add_description_options, describe_from_args
from model.export import ExportError


def publish(artifact: Path, uri: str, s3: Any) -> dict[str, Any]:
    """Upload artifact then metadata; return the metadata."""
    # Written by model.describe: a JSON object.
    metadata: dict[str, Any] = json.loads(metadata_path_for(artifact).read_text())
    actual = sha256_of(artifact)
    if metadata.get("sha256") != actual:
        raise ExportError(
            f"{metadata_path_for(artifact)} records sha256 {metadata.get('sha256')}, but "
            f"{artifact} has {actual}: describe it again before publishing"
        )
    location = split_s3_uri(uri)
    if location is None:
        raise ExportError(f"expected s3://bucket/key.joblib, got {uri!r}")
    bucket, key = location
    s3.upload_file(str(artifact), bucket, key)
    s3.put_object(
        Bucket=bucket,
        Key=metadata_key_for(key),
        Body=json.dumps(metadata, indent=2).encode(),
        ContentType="application/json",
    )
    return metadata


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model.publish", description=__doc__.splitlines()[0]
    )
    parser.add_argument("path", type=Path, help="the joblib artifact")
    parser.add_argument("uri", help="where to put it: s3://bucket/key.joblib")
    add_description_options(parser)
    args = parser.parse_args(argv)
    location = split_s3_uri(args.uri)
    if location is None:
        parser.error(f"expected s3://bucket/key.joblib, got {args.uri!r}")
    bucket, key = location

    # A tool dependency, never the server's: imported only when publishing.
    import boto3
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if not metadata_path_for(args.path).is_file():
            describe_from_args(args.path, args)
            print(f"wrote {metadata_path_for(args.path)}")
        metadata = publish(args.path, args.uri, boto3.client("s3"))
    except (ExportError, OSError, BotoCoreError, ClientError, S3UploadFailedError) as error:
        sys.exit(f"error: {error}")
    print(
        f"published {metadata['name']} {metadata['version']} to {args.uri} "
        f"(metadata: {S3_SCHEME}{bucket}/{metadata_key_for(key)}, sha256 {metadata['sha256']})"
    )


if __name__ == "__main__":
    main()
