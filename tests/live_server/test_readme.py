"""The examples of README.md and of every page in docs/, against a live server: each
command and snippet prints what its page says it prints.

Which examples run (anything else on a page is prose to this file):

- In a console block (one indented inside a list item too), each `$ ` line that calls
  http://127.0.0.1:5000 and has output lines after it (up to the next `$ ` line or the
  block's end) is run by bash, a `printf ... |` in front included, with 127.0.0.1:5000
  swapped for the server's address, and must print exactly that output.
- Those calls go to `flask run` serving the bundled model, unless the block's first line
  starts a server itself, `$ NAME=value ... make serve`: then to one started with those
  variables (`MODEL_URI=model/examples/churn.joblib make serve` serves the churn
  example). A value holding a `$` (`$PWD/plans.joblib`, `$KEY`) is the reader's own: a
  model the reader trains, a key the reader makes. Such a block is the reader's session
  and none of it runs.
- A python block followed by a text block: a fresh interpreter runs the snippet against
  the bundled model's server, and it must print the text.

So an example that needs AWS, a deploy or a model of the reader's stays out by its form:
a sh block, another address, or a `make serve` line with the reader's own values.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from support.paths import ROOT
from support.servers import LiveServer

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HOST = "127.0.0.1:5000"
# A fenced block, at any indentation; its closing fence at the same indentation.
_BLOCK = re.compile(r"^([ \t]*)```(\w*)\n(.*?)^\1```", re.DOTALL | re.MULTILINE)
_SERVE = re.compile(r"((?:\w+=\S+ )+)make serve")

Settings = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Block:
    page: str  # its path from the repository's root
    line: int  # the line of its opening fence
    kind: str
    text: str  # dedented


@dataclass(frozen=True)
class Example:
    where: str  # page:line, the example's id
    code: str  # a bash command, or a Python snippet
    expected: str
    settings: Settings = ()  # the server's environment, beside LOG_LEVEL


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in _BLOCK.finditer(text):
        _, kind, body = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(str(page.relative_to(ROOT)), line, kind, textwrap.dedent(body)))
    return found


def server_settings(first_command: str) -> Settings | None:
    """The environment a block's `make serve` line asks for: () if it has none, None if
    the line holds the reader's own values."""
    started = _SERVE.fullmatch(first_command.strip())
    if started is None:
        return ()
    pairs = tuple(
        (name, value) for name, _, value in (word.partition("=") for word in started[1].split())
    )
    return None if any("$" in value for _, value in pairs) else pairs


def console_examples() -> list[Example]:
    """Each call of a live server with its output shown, by the rule above."""
    examples = []
    for page in PAGES:
        for block in blocks(page):
            starts = [m.start() for m in re.finditer(r"^\$ ", block.text, re.MULTILINE)]
            if block.kind != "console" or not starts:
                continue
            chunks = [block.text[a + 2 : b] for a, b in pairwise([*starts, len(block.text)])]
            settings = server_settings(chunks[0].partition("\n")[0])
            if settings is None:
                continue
            for start, chunk in zip(starts, chunks, strict=True):
                command, _, output = chunk.partition("\n")
                if HOST in command and output.strip():
                    line = block.line + 1 + block.text.count("\n", 0, start)
                    where = f"{block.page}:{line}"
                    examples.append(Example(where, command, output.strip(), settings))
    return examples


def python_examples() -> list[Example]:
    """Each Python block followed by a text block, with what it prints."""
    examples = []
    for page in PAGES:
        for code, output in pairwise(blocks(page)):
            if code.kind == "python" and output.kind == "text":
                where = f"{code.page}:{code.line}"
                examples.append(Example(where, code.text, output.text.strip()))
    return examples


@pytest.fixture(scope="module")
def server(live_server: Callable[..., LiveServer]) -> Callable[[Settings], str]:
    """host:port of a server with the given settings, started on first use and shared."""

    def started(settings: Settings) -> str:
        return live_server(LOG_LEVEL="WARNING", **dict(settings)).url.removeprefix("http://")

    return started


def test_the_pages_have_examples() -> None:
    # A changed layout or extraction must not leave this file checking nothing.
    console = console_examples()
    on_page = {page: [e for e in console if e.where.startswith(page + ":")] for page in
               ("README.md", "docs/protocols.md", "docs/models.md")}  # fmt: skip
    # The README: one call per protocol.
    for route in ("/predict", "/invocations", "/v2/models/"):
        assert any(f"{HOST}{route}" in e.code for e in on_page["README.md"]), route
    assert len(on_page["docs/protocols.md"]) >= 16
    # The churn example runs against its own model; the reader's own model does not.
    assert {e.settings for e in on_page["docs/models.md"]} == {
        (("MODEL_URI", "model/examples/churn.joblib"),)
    }
    assert len(python_examples()) == 2


@pytest.mark.parametrize("example", console_examples(), ids=lambda example: example.where)
def test_console_example(server: Callable[[Settings], str], example: Example) -> None:
    address = server(example.settings)
    result = subprocess.run(
        ["bash", "-c", example.code.replace(HOST, address)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stdout.strip() == example.expected


@pytest.mark.parametrize("example", python_examples(), ids=lambda example: example.where)
def test_python_example(
    server: Callable[[Settings], str], example: Example, tmp_path: Path
) -> None:
    address = server(())
    host, port = address.split(":")
    code = example.code.replace(HOST, address).replace(f'"{host}", 5000', f'"{host}", {port}')
    assert address in code or f", {port})" in code  # the snippet was pointed at the server
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
    assert result.stdout.strip() == example.expected
