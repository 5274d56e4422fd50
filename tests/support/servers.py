"""Start and stop the local servers some tests need, on free loopback ports.

`serving` is the one way a server is started: a command on a free port, in its own
process group, polled until it answers, and stopped with everything it started. The
app under `flask run`, `make offline`, gunicorn and moto's server all go through it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.paths import ROOT

# serverless-offline's stage: the function answers under /dev.
OFFLINE_STAGE = "dev"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f} s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@contextmanager
def running(
    command: Sequence[str], cwd: Path, log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group; stop the whole group afterwards."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass(frozen=True)
class LiveServer:
    """A server started for tests: its base URL, the file its output goes to, its process."""

    url: str
    log: Path
    process: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])


@contextmanager
def serving(
    command: Callable[[int], Sequence[str]],
    *,
    log: Path,
    what: str,
    env: dict[str, str] | None = None,
    base_path: str = "",
    ready_path: str = "/health",
    timeout: float = 60,
    cwd: Path = ROOT,
) -> Iterator[LiveServer]:
    """`command(port)` run in `cwd` (the repository) on a free loopback port; yields once
    `ready_path` under the base URL (`base_path` on that port) answers, and stops the
    server and everything it started afterwards. A server that exits before it answers
    fails at once, with its output."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{base_path}"
    with running(command(port), cwd, log, dict(os.environ) if env is None else env) as process:

        def ready() -> bool:
            if process.poll() is not None:
                output = log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{output}")
            return answers(url + ready_path)

        wait_until(ready, timeout, what)
        yield LiveServer(url, log, process)


# The variables app.config reads, which a server started for a test must not inherit.
APP_SETTINGS = {
    "MODEL_URI", "MODEL_PATH", "MODEL_SHA256", "MODEL_METADATA_SHA256", "MODEL_CODE_SHA256",
    "MODEL_CACHE_DIR", "MAX_BATCH_ROWS",
    "MAX_CONTENT_LENGTH", "MAX_JSON_DEPTH", "ALLOW_VERSION_MISMATCH", "API_KEYS",
    "API_KEYS_SECRET", "CORS_ALLOWED_ORIGINS", "TRY_IT_PAGE",
}  # fmt: skip


@contextmanager
def flask_server(log: Path, **settings: str) -> Iterator[LiveServer]:
    """The app as `make serve` runs it (app.local_server: Werkzeug's server, as under
    `flask run`), with settings as environment variables (MODEL_URI=...). The app's own
    settings are not inherited from the test run's environment: only `settings`."""
    env = {name: value for name, value in os.environ.items() if name not in APP_SETTINGS}

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "app.local_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    with serving(command, log=log, what="flask run", env=env | settings) as server:
        yield server


@dataclass(frozen=True)
class Offline:
    """`make offline`'s two endpoints: API Gateway's (with the stage) and Lambda's API."""

    http: str
    lambda_endpoint: str


@contextmanager
def sls_offline(log: Path, *params: str, env: dict[str, str] | None = None) -> Iterator[Offline]:
    """`make offline` on free ports, with deploy parameters (name=value); yields once
    the function answers."""
    lambda_port = free_port()

    def command(port: int) -> list[str]:
        return [
            "make", "--no-print-directory", "offline",
            f"OFFLINE_PORT={port}", f"OFFLINE_LAMBDA_PORT={lambda_port}",
            "SLS_ARGS=" + " ".join(f"--param={param}" for param in params),
        ]  # fmt: skip

    base_path = f"/{OFFLINE_STAGE}"
    with serving(
        command, log=log, what="sls offline", env=env, base_path=base_path, timeout=120
    ) as server:
        yield Offline(server.url, f"http://127.0.0.1:{lambda_port}")


@contextmanager
def moto_server(log: Path, extended: bool = False) -> Iterator[str]:
    """moto's server on a free loopback port; yields its endpoint URL. With `extended`,
    support/moto_server.py: its CloudFormation creates Lambda aliases, Firehose streams
    and subscription filters, and only lint
    errors fail a template's validation, as in CloudFormation."""
    if extended:
        server = [sys.executable, str(Path(__file__).resolve().parent / "moto_server.py")]
    else:
        server = [str(Path(sys.executable).parent / "moto_server")]

    def command(port: int) -> list[str]:
        return [*server, "-H", "127.0.0.1", "-p", str(port)]

    with serving(
        command, log=log, what="moto_server", ready_path="", timeout=30, cwd=log.parent
    ) as server:
        yield server.url


def local_s3(endpoint: str) -> Any:
    """An S3 client of moto's server at `endpoint`, with fake credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
