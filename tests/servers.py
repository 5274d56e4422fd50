"""Start and stop the local servers some tests need, on free loopback ports."""

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
from pathlib import Path
from typing import Any


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


@contextmanager
def moto_server(log: Path, aliases: bool = False) -> Iterator[str]:
    """moto's server on a free loopback port; yields its endpoint URL. With `aliases`,
    tests/moto_server.py: its CloudFormation creates Lambda aliases, and only lint
    errors fail a template's validation, as in CloudFormation."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if aliases:
        server = [sys.executable, str(Path(__file__).resolve().parent / "moto_server.py")]
    else:
        server = [str(Path(sys.executable).parent / "moto_server")]
    command = [*server, "-H", "127.0.0.1", "-p", str(port)]
    with running(command, cwd=log.parent, log=log, env=dict(os.environ)):
        wait_until(lambda: answers(endpoint), timeout=30, what="moto_server")
        yield endpoint


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


# The variables app.config reads, which a server started for a test must not inherit.
APP_SETTINGS = {
    "MODEL_URI", "MODEL_PATH", "MODEL_SHA256", "MODEL_METADATA_SHA256", "MODEL_CODE_SHA256",
    "MODEL_CACHE_DIR", "MAX_BATCH_ROWS",
    "MAX_CONTENT_LENGTH", "MAX_JSON_DEPTH", "ALLOW_VERSION_MISMATCH", "API_KEYS",
    "API_KEYS_SECRET", "CORS_ALLOWED_ORIGINS", "TRY_IT_PAGE",
}  # fmt: skip


@contextmanager
def flask_server(log: Path, **settings: str) -> Iterator[str]:
    """The app as `make serve` runs it (app.local_server: Werkzeug's server, as under `flask run`)
    on a free loopback port, with settings as environment variables (MODEL_URI=...);
    yields its base URL once it answers. The app's own settings are not inherited from
    the test run's environment: only `settings`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "app.local_server", "--host", "127.0.0.1", "--port", str(port)]
    env = {name: value for name, value in os.environ.items() if name not in APP_SETTINGS}
    with running(command, cwd=root, log=log, env=env | settings):
        wait_until(lambda: answers(base + "/health"), timeout=60, what="flask run")
        yield base
