"""The README's examples against a live server: each command and snippet prints what the
README says it prints.

The sections with examples on the bundled model ("Calling it", "Use the client you
already have") are read from README.md: every `$ curl` line of a console block (a
`printf ... |` in front included) with the lines that follow it as its output, and
every Python block followed by a text block with what it prints. They run against
`flask run` on a free port, the README's 127.0.0.1:5000 swapped for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from support.paths import ROOT
from support.servers import LiveServer

SECTIONS = ("## Calling it", "## Use the client you already have")
README_HOST = "127.0.0.1:5000"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(title + "\n")
    following = text.find("\n## ", start + len(title))
    return text[start : following if following != -1 else len(text)]


def console_examples() -> list[tuple[str, str]]:
    """(command, expected output) for each curl command with its output shown."""
    examples = []
    for title in SECTIONS:
        for kind, body in _BLOCK.findall(section(title)):
            if kind != "console":
                continue
            for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
                command, _, output = chunk.partition("\n")
                if README_HOST in command and output.strip():
                    examples.append((command, output.strip()))
    return examples


def python_examples() -> list[tuple[str, str]]:
    """(code, expected output) for each Python block followed by a text block."""
    examples = []
    for title in SECTIONS:
        blocks = _BLOCK.findall(section(title))
        for (kind, code), (next_kind, output) in pairwise(blocks):
            if kind == "python" and next_kind == "text":
                examples.append((code, output.strip()))
    return examples


@pytest.fixture(scope="module")
def server(live_server: Callable[..., LiveServer]) -> str:
    return live_server(LOG_LEVEL="WARNING").url.removeprefix("http://")


def test_the_sections_have_examples() -> None:
    # A renamed section or a changed layout must not leave this file checking nothing.
    assert len(console_examples()) >= 12
    assert len(python_examples()) == 2


@pytest.mark.parametrize(("command", "expected"), console_examples())
def test_console_example(server: str, command: str, expected: str) -> None:
    result = subprocess.run(
        ["bash", "-c", command.replace(README_HOST, server)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(("code", "expected"), python_examples())
def test_python_example(server: str, code: str, expected: str, tmp_path: Path) -> None:
    host, port = server.split(":")
    code = code.replace(README_HOST, server).replace(f'"{host}", 5000', f'"{host}", {port}')
    assert server in code or f", {port})" in code  # the snippet was pointed at the server
    script = tmp_path / "example.py"
    script.write_text(code)
    # A fresh interpreter in an empty folder, as a user would run it; MLflow may not
    # write anything but temporary files, nor look for a tracking server.
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{tmp_path}/mlruns"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
