"""`make deploy-local` of a built package into a moto server, and clients of that server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from support.packages import Package
from support.paths import ROOT

FAKE = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def deploy_local(package: Package, endpoint: str, folder: Path) -> str:
    """`make deploy-local` of `package` into the moto server at `endpoint`; returns it."""
    # A copy: deploying from a package folder may tidy it up afterwards.
    copied = folder / "package"
    shutil.copytree(package.folder, copied, symlinks=True)
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy-local", f"SLS_ARGS=--package {copied}"],
        cwd=ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Service deployed to stack model-prediction-api-dev" in result.stdout + result.stderr
    return endpoint


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client of the moto server at `endpoint`, with fake credentials."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **FAKE)
