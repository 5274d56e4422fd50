"""The request log lines a test's requests wrote to stdout (app.http.access_log)."""

from __future__ import annotations

import json
from typing import Any

import pytest


def access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line written to stdout since the last read, each one JSON object."""
    return parse_lines(capsys.readouterr().out)


def parse_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines()]
    assert all(isinstance(line, dict) and "request_id" in line for line in lines), lines
    return lines
