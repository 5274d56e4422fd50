"""Two copies of one initialised handler process, as SnapStart restores them.

    python tests/support/restored_copies.py [--no-hooks] > report.json

Imports `handler` (which builds the app and registers its SnapStart hooks with
snapshot_restore_py), runs the before-snapshot hooks as Lambda's runtime does, then
forks twice: each child starts from the same memory, as every execution environment
restored from one snapshot does. Each copy runs the after-restore hooks (not with
--no-hooks), draws from Python's and numpy's global generators, serves GET /health
through the app and reports what it drew, the answer's request id and the request's
log line. The report is a JSON list, one object per copy.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy
import snapshot_restore_py

import handler

COPIES = 2


def take_snapshot() -> None:
    # Lambda's runtime runs these last registered first, once, just before the snapshot.
    for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        func(*args, **kwargs)


def restore() -> None:
    # ...and these in order of registration, in each copy, before its first invocation.
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


def copy_report(with_hooks: bool, snapshot_random: Any) -> dict[str, Any]:
    # fork reseeds Python's generator in the child (random registers that at fork);
    # a restored snapshot is no fork and does not: put back the state the parent had.
    random.setstate(snapshot_random)
    if with_hooks:
        restore()
    drawn = {"python_random": random.random(), "numpy_random": float(numpy.random.random())}
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        answer = handler.app.test_client().get("/health")
    (line,) = [json.loads(text) for text in log.getvalue().splitlines()]
    return {
        **drawn,
        "status": answer.status_code,
        "request_id": answer.headers["X-Request-Id"],
        "line": {name: line[name] for name in ("request_id", "cold_start", "restore")},
    }


def main(with_hooks: bool) -> None:
    take_snapshot()
    snapshot_random = random.getstate()
    reports = []
    for _ in range(COPIES):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy
            os.close(read_end)
            status = 0
            try:
                os.write(write_end, json.dumps(copy_report(with_hooks, snapshot_random)).encode())
            except BaseException as error:
                sys.stderr.write(f"copy failed: {error!r}\n")
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            sent = reader.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit(f"a restored copy failed (wait status {status})")
        reports.append(json.loads(sent))
    json.dump(reports, sys.stdout)


if __name__ == "__main__":
    main(with_hooks="--no-hooks" not in sys.argv[1:])
