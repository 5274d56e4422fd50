"""moto's in-process S3, with the bucket the publish and model-source tests use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

BUCKET = "models"


@contextmanager
def models_bucket() -> Iterator[Any]:
    """An S3 client of moto's in-process AWS, with BUCKET made; other clients made
    inside reach the same moto."""
    # Imported here: tests/conftest.py imports this module in every run; few tests use AWS.
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
