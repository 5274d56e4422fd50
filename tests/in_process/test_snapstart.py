"""SnapStart's hooks, registered with the real snapshot_restore_py and run in the order
Lambda's Python runtime runs them: before the snapshot, then after each restore.

The stack that turns SnapStart on is checked in test_start_up_options.py, and deployed
into moto in test_deploy_local.py.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import numpy
import pytest
import snapshot_restore_py
from flask import Flask
from moto import mock_aws
from support.access_log import access_lines
from support.event_payloads import event_for
from support.iris import SETOSA, VIRGINICA
from support.paths import ROOT, TESTS

from app.auth.key_source import KeysUnavailable
from app.aws.snapstart import after_restore, before_snapshot, register_snapstart_hooks
from app.core.predictor import Predictor
from app.factory import create_app
from app.http.components import part_of
from app.service.model_slot import ModelSlot
from app.service.settings import Settings
from model.publish import publish

SECRET = "prod/model-api/keys"
KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
ROTATED_KEY = "charlie-1e2d3c4b5a6f7e8d9c0b"
# Set by Lambda for a function without SnapStart, never for one with it.
LOG_GROUP_VARIABLES = ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """snapshot_restore_py with empty registries, so only this test's hooks are in them
    (importing handler, as other tests do, registers its own)."""
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    return snapshot_restore_py


def take_snapshot(runtime: ModuleType) -> None:
    """As Lambda's runtime does before the snapshot: last registered first."""
    for func, args, kwargs in reversed(runtime.get_before_snapshot()):
        func(*args, **kwargs)


def restore(runtime: ModuleType) -> None:
    """As Lambda's runtime does in each restored copy: in order of registration."""
    for func, args, kwargs in runtime.get_after_restore():
        func(*args, **kwargs)


@pytest.fixture
def global_random() -> Iterator[None]:
    """Put Python's and numpy's global generators back as they were: the hooks reseed them."""
    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    yield
    random.setstate(python_state)
    numpy.random.set_state(numpy_state)


@pytest.fixture
def snapstarted(runtime: ModuleType, global_random: None) -> Callable[..., tuple[Flask, Settings]]:
    """Build an app from settings given as environment names, as handler.py does, with
    its hooks registered."""

    def build(**environ: str) -> tuple[Flask, Settings]:
        settings = Settings.from_environ(environ)
        app = create_app(settings)
        app.testing = True
        assert register_snapstart_hooks(app, settings) is True
        return app, settings

    return build


def status_with(app: Flask, key: str | None) -> int:
    headers = {"x-api-key": key} if key else {}
    response = app.test_client().post("/predict", json={"features": SETOSA}, headers=headers)
    return response.status_code


def test_one_hook_of_each_kind_is_registered(
    snapstarted: Callable[..., tuple[Flask, Settings]], runtime: ModuleType
) -> None:
    app, settings = snapstarted()
    assert runtime.get_before_snapshot() == [(before_snapshot, (app,), {})]
    assert runtime.get_after_restore() == [(after_restore, (app, settings), {})]


def test_without_the_runtime_module_nothing_is_registered(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert register_snapstart_hooks(make_app(), Settings()) is False


def test_the_snapshot_holds_a_warmed_app_and_a_restore_serves_as_a_fresh_one(
    snapstarted: Callable[..., tuple[Flask, Settings]],
    runtime: ModuleType,
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, _ = snapstarted()
    runs: list[int] = []
    real_run = Predictor.run

    def counted(self: Predictor, rows: Any, with_probabilities: bool = False) -> Any:
        runs.append(rows.count)
        return real_run(self, rows, with_probabilities)

    monkeypatch.setattr(Predictor, "run", counted)
    take_snapshot(runtime)
    example = part_of(ModelSlot, app).predictor.metadata.example
    assert runs == [len(example)]  # the example, answered once more into the snapshot
    restore(runtime)

    body = {"instances": [SETOSA, VIRGINICA], "return_probabilities": True}
    with caplog.at_level(logging.INFO, logger="app.access"):
        first = app.test_client().post("/predict", json=body)
        second = app.test_client().post("/predict", json=body)
    lines = access_lines(capsys)
    expected = make_app().test_client().post("/predict", json=body)  # never snapshotted
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json() == expected.get_json()
    assert [(line["cold_start"], line["restore"]) for line in lines] == [
        (False, True),
        (False, False),
    ]
    assert lines[0]["restores"] == 1 and "cold_starts" not in lines[0]


def test_each_restore_is_logged_once(
    snapstarted: Callable[..., tuple[Flask, Settings]],
    runtime: ModuleType,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, _ = snapstarted()
    take_snapshot(runtime)
    with caplog.at_level(logging.INFO, logger="app.access"):
        for _ in range(2):
            restore(runtime)
            app.test_client().get("/health")
            app.test_client().get("/health")
    assert [line["restore"] for line in access_lines(capsys)] == [True, False, True, False]
    assert not any(line["cold_start"] for line in access_lines(capsys))


@pytest.fixture
def secrets(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_keys_rotated_after_the_snapshot_take_effect_on_restore(
    snapstarted: Callable[..., tuple[Flask, Settings]], runtime: ModuleType, secrets: Any
) -> None:
    secrets.create_secret(Name=SECRET, SecretString=KEY)
    app, _ = snapstarted(API_KEYS_SECRET=SECRET)
    take_snapshot(runtime)
    assert status_with(app, KEY) == 200
    secrets.put_secret_value(SecretId=SECRET, SecretString=ROTATED_KEY)
    assert status_with(app, ROTATED_KEY) == 401  # the snapshot's keys, until a restore
    restore(runtime)
    assert status_with(app, ROTATED_KEY) == 200
    assert status_with(app, KEY) == 401
    assert status_with(app, None) == 401


def test_a_restore_that_cannot_read_the_keys_fails_closed(
    snapstarted: Callable[..., tuple[Flask, Settings]],
    runtime: ModuleType,
    secrets: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets.create_secret(Name=SECRET, SecretString=KEY)
    app, _ = snapstarted(API_KEYS_SECRET=SECRET)
    take_snapshot(runtime)
    secrets.delete_secret(SecretId=SECRET, ForceDeleteWithoutRecovery=True)
    # Raised out of the hook: Lambda's runtime reports the restore as failed and
    # discards this copy before it serves.
    with pytest.raises(KeysUnavailable, match="ResourceNotFoundException"):
        restore(runtime)
    assert "refusing to start" in caplog.text
    # Should it serve regardless, it accepts no key at all, not even the snapshot's.
    assert status_with(app, KEY) == 401
    assert status_with(app, None) == 401
    assert app.test_client().get("/health").status_code == 200  # an open route stays open


def test_no_aws_client_made_at_init_is_kept_for_the_snapshot(
    snapstarted: Callable[..., tuple[Flask, Settings]],
    runtime: ModuleType,
    secrets: Any,
    model_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An S3 model and a keys secret: every client the app makes at init.
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    publish(model_copy, "s3://models/iris/model.joblib", s3)
    secrets.create_secret(Name=SECRET, SecretString=KEY)
    made: list[weakref.ref[Any]] = []
    real_client = boto3.client

    def recorded(*args: Any, **kwargs: Any) -> Any:
        client = real_client(*args, **kwargs)
        made.append(weakref.ref(client))
        return client

    monkeypatch.setattr(boto3, "client", recorded)
    app, _ = snapstarted(
        MODEL_URI="s3://models/iris/model.joblib",
        MODEL_CACHE_DIR=str(tmp_path / "cache"),
        API_KEYS_SECRET=SECRET,
    )
    take_snapshot(runtime)
    gc.collect()
    assert len(made) == 2  # S3's, for the model's metadata and artifact; the secret's
    assert [ref for ref in made if ref() is not None] == []
    restore(runtime)  # reads the secret with a client of its own, dropped again
    gc.collect()
    assert len(made) == 3 and made[-1]() is None
    assert status_with(app, KEY) == 200


def draws() -> tuple[float, float]:
    return random.random(), float(numpy.random.random())


def test_two_restores_of_one_snapshot_draw_different_random_numbers(
    snapstarted: Callable[..., tuple[Flask, Settings]], runtime: ModuleType
) -> None:
    snapstarted()
    take_snapshot(runtime)
    held = random.getstate(), numpy.random.get_state()  # what the snapshot holds

    def restored_copy(with_hooks: bool) -> tuple[float, float]:
        random.setstate(held[0])
        numpy.random.set_state(held[1])
        if with_hooks:
            restore(runtime)
        return draws()

    assert restored_copy(with_hooks=False) == restored_copy(with_hooks=False)
    first, second = restored_copy(with_hooks=True), restored_copy(with_hooks=True)
    assert first[0] != second[0] and first[1] != second[1]


def restored_copies(*arguments: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(TESTS / "support" / "restored_copies.py"), *arguments],
        cwd=ROOT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    copies: list[dict[str, Any]] = json.loads(result.stdout)
    return copies


def test_two_restored_copies_of_the_handler_share_no_random_state_or_request_ids() -> None:
    # Forked after the before-snapshot hooks: two copies of one memory, as two
    # execution environments restored from one snapshot are.
    first, second = restored_copies()
    for name in ("python_random", "numpy_random", "request_id"):
        assert first[name] != second[name], name
    for copy in (first, second):
        assert copy["status"] == 200
        assert copy["line"] == {
            "request_id": copy["request_id"],
            "cold_start": False,
            "restore": True,
        }
    # Without the hooks both copies would draw the same numbers; request ids differ
    # regardless (uuid4 reads os.urandom, fresh in each copy), and each copy would
    # log its first request as a cold start.
    first, second = restored_copies("--no-hooks")
    assert (first["python_random"], first["numpy_random"]) == (
        second["python_random"],
        second["numpy_random"],
    )
    assert first["request_id"] != second["request_id"]
    assert first["line"]["cold_start"] and second["line"]["cold_start"]


# Imports the handler in a fresh interpreter and serves one API Gateway event.
SERVE_ONE = """
import json, sys
hide = sys.argv[1] == "hide"
if hide:
    sys.modules["snapshot_restore_py"] = None  # as where the runtime has no such module
import handler
hooks = None
if not hide:
    from snapshot_restore_py import get_after_restore, get_before_snapshot
    hooks = [len(get_before_snapshot()), len(get_after_restore())]
    for func, args, kwargs in reversed(get_before_snapshot()):  # the snapshot...
        func(*args, **kwargs)
    for func, args, kwargs in get_after_restore():  # ...and its restore
        func(*args, **kwargs)

class Context:
    aws_request_id = "snapstart-test-request"

answer = handler.handler(json.load(sys.stdin), Context())
print(json.dumps({"status": answer["statusCode"], "hooks": hooks}))
"""


def serve_one(mode: str, env: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The answer's status and hooks registered, and the access lines written."""
    event = event_for("rest-api.json", "POST", "/predict", json.dumps({"features": SETOSA}))
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE, mode],
        cwd=ROOT,
        env=env,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    *lines, summary = result.stdout.splitlines()
    return json.loads(summary), [json.loads(line) for line in lines]


def lambda_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LOG_GROUP_VARIABLES}
    return {**env, "AWS_LAMBDA_FUNCTION_NAME": "model-prediction-api-dev-api", **extra}


def test_the_handler_imports_and_serves_without_snapshot_restore_py() -> None:
    summary, lines = serve_one("hide", lambda_environment())
    assert summary == {"status": 200, "hooks": None}
    assert [(line["cold_start"], line["restore"]) for line in lines] == [(True, False)]


def test_a_snapstart_handler_serves_without_the_log_group_variables() -> None:
    # As Lambda starts a SnapStart function: no log group or stream in its environment.
    env = lambda_environment(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    assert not set(LOG_GROUP_VARIABLES) & set(env)
    summary, lines = serve_one("keep", env)
    assert summary == {"status": 200, "hooks": [1, 1]}
    (line,) = lines
    assert (line["cold_start"], line["restore"], line["request_id"]) == (
        False,
        True,
        "snapstart-test-request",
    )
    assert line["service"] == "model-prediction-api-dev-api"
