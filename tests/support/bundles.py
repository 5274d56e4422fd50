"""Unzip a deployment package as Lambda would, and serve events from it in a bare python3.12.

The unzipping and the run are packaging's own (.serverless_plugins/prove_bundle.py, which
proves every package this way before it is uploaded); here they serve the tests' events.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from prove_bundle import run_events
from prove_bundle import unzipped_read_only as unzipped_read_only

from support.packages import Package

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


def run_in_bundle(
    bundle: Path,
    package: Package,
    events: list[dict[str, Any]],
    stand_ins: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """bundle_runner.py's report of serving `events` from the unzipped `bundle`, with the
    function's own environment from the template; `stand_ins` set variables (None: take
    one out) where the bundle alone cannot reach what Lambda's would, like a secret."""
    function = package.function()
    env = dict(function["Environment"]["Variables"])
    for name, value in (stand_ins or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    # Lambda sets the function's name; the metrics take it as their service.
    env["AWS_LAMBDA_FUNCTION_NAME"] = function["FunctionName"]
    # And its version: a rollout's metrics go by it (METRICS_BY_FUNCTION_VERSION).
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    report = run_events(bundle, env, events)
    assert report["error"] is None, report["error"]
    return report
