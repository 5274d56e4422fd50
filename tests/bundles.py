"""Unzip a deployment package as Lambda would, and serve events from it in a bare python3.12."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import Package

RUNNER = Path(__file__).resolve().parent / "bundle_runner.py"
# What requirements-pandas.txt adds to requirements.txt, as top-level names in a zip.
PANDAS_TOP_LEVEL = {"pandas", "dateutil", "six.py"}


def unzipped_size(archive: Path) -> int:
    """Bytes the zip takes once unzipped: what Lambda's 262,144,000-byte limit counts."""
    with zipfile.ZipFile(archive) as zf:
        return sum(info.file_size for info in zf.infolist())


def names_in(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


def top_level_names(archive: Path) -> set[str]:
    return {name.split("/")[0] for name in names_in(archive)}


@contextmanager
def unzipped_read_only(archive: Path, folder: Path) -> Iterator[Path]:
    """The zip, unzipped into `folder` and made read-only, like /var/task."""
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    paths = [folder, *folder.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield folder
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def bare_python() -> str:
    """The interpreter behind this venv: its standard library, none of its packages."""
    return getattr(sys, "_base_executable", sys.executable)


def run_in_bundle(bundle: Path, package: Package, events: list[dict[str, Any]]) -> dict[str, Any]:
    """bundle_runner.py's report of serving `events` from the unzipped `bundle`."""
    # The function's own environment from the template, and nothing of ours,
    # except this machine's OpenBLAS core settings, which keep old CPUs safe.
    function = package.function()
    env = {**function["Environment"]["Variables"], "LANG": "C.UTF-8"}
    # Lambda sets the function's name; the metrics take it as their service.
    env["AWS_LAMBDA_FUNCTION_NAME"] = function["FunctionName"]
    env |= {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORE")}
    result = subprocess.run(
        [bare_python(), "-I", "-S", "-B", str(RUNNER), str(bundle)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=bundle,  # Lambda's cwd is /var/task, the bundle's root
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
