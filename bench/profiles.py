"""Where a warm request's time goes, layer by layer, measured with two profilers.

    python bench/profiles.py [--calls 3000] [--seconds 10] [--json out.json]

- in process (pyinstrument): our handler.handler on an API Gateway event, and the naive
  app behind the same serverless_wsgi call, exactly as bench/warm.py times them;
- under load (py-spy, sampling the live processes): the gunicorn workers of ours and of
  the naive app while wrk sends single-row requests over 8 connections, as
  bench/throughput.py runs them.

Each sample is charged to the innermost frame that belongs to a layer: the model
(scikit-learn, numpy, scipy, narwhals, joblib), our app (app/, handler.py), Flask and
Werkzeug, serverless-wsgi, the naive app, gunicorn. Standard-library frames (json,
logging, contextlib, ...) go to the layer that called them, so `json.dumps` inside
Flask's jsonify counts as Flask and our request log's `logging` call counts as ours.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH)]

import throughput  # noqa: E402
import warm  # noqa: E402

PY_SPY = BENCH / ".venvs" / "bench" / "bin" / "py-spy"
# The first pattern found in a frame's file path names its layer.
LAYERS = (
    ("naive app", re.compile(r"naive_app\.py$")),
    ("gunicorn", re.compile(r"(^|/)gunicorn/")),
    ("serverless-wsgi", re.compile(r"(^|/)serverless_wsgi\.py$")),
    ("Flask + Werkzeug", re.compile(r"(^|/)(flask|werkzeug)/")),
    ("model (scikit-learn, numpy)", re.compile(r"(^|/)(sklearn|numpy|scipy|narwhals|joblib)/")),
    # py-spy shortens library paths to start at the package, so ours come last.
    ("ours (app/, handler.py)", re.compile(r"^(?!.*site-packages)(.*/)?(app/[^/]+|handler)\.py$")),
)
UNCLAIMED = "other"


def layer_of(path: str | None) -> str | None:
    if not path:
        return None
    for name, pattern in LAYERS:
        if pattern.search(path):
            return name
    return None


def charge(paths: Iterable[str | None]) -> str:
    """The layer of the innermost frame that has one; paths run outermost first."""
    owner = UNCLAIMED
    for path in paths:
        owner = layer_of(path) or owner
    return owner


def shares(samples: Counter[str]) -> dict[str, float]:
    total = sum(samples.values()) or 1
    return {layer: count / total for layer, count in samples.most_common()}


# In process: pyinstrument's call tree, self time charged frame by frame.


def in_process(calls: int) -> dict[str, dict[str, Any]]:
    variants = warm.variants()
    results = {}
    for name in ("handler", "naive app"):
        call = variants[name]
        for _ in range(500):
            call()
        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(calls):
            call()
        profiler.stop()
        root = profiler.last_session.root_frame()
        seconds: Counter[str] = Counter()
        _walk(root, [], seconds)
        total = sum(seconds.values())
        results[name] = {
            "calls": calls,
            "profiled_us_per_call": total / calls * 1e6,
            "shares": shares(seconds),
        }
    return results


def _walk(frame: Any, paths: list[str | None], seconds: Counter[str]) -> None:
    here = [*paths, frame.file_path]
    own = frame.time - sum(child.time for child in frame.children)
    if own > 0:
        seconds[charge(here)] += own
    for child in frame.children:
        _walk(child, here, seconds)


# Under load: py-spy samples every worker of a gunicorn server while wrk runs.

_FRAME_FILE = re.compile(r"\(([^():]+)(?::\d+)?\)$")


def under_load(seconds: int, connections: int) -> dict[str, dict[str, Any]]:
    logs = BENCH / ".work" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results = {}
    for server in throughput.servers():
        if server.name not in ("ours", "naive"):
            continue
        throughput.start(server, logs)
        try:
            throughput.warm_up(server, 200)
            results[server.name] = _sample(server, seconds, connections)
        finally:
            throughput.stop(server)
    return results


def _sample(server: throughput.Server, seconds: int, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "stacks.txt"
        spy = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(server.process.pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                "500",
                "--duration",
                str(seconds),
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        load: dict[str, Any] = {}
        runner = threading.Thread(
            target=lambda: load.update(throughput.wrk(server, connections, seconds))
        )
        runner.start()
        _, error = spy.communicate()
        runner.join()
        if spy.returncode != 0:
            sys.exit(f"py-spy failed: {error.decode(errors='replace')}")
        samples = _collapsed(raw.read_text())
    return {
        "connections": connections,
        "requests_per_s": load["requests_per_s"],
        "samples": sum(samples.values()),
        "shares": shares(samples),
    }


def _collapsed(text: str) -> Counter[str]:
    # One stack per line, outermost frame first: "frame;frame;... COUNT", where a
    # frame reads "function (path:line)" and py-spy adds a "process ..." frame first.
    samples: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        paths = [_frame_path(frame) for frame in stack.split(";")]
        samples[charge(paths)] += int(count)
    return samples


def _frame_path(frame: str) -> str | None:
    match = _FRAME_FILE.search(frame.strip())
    return match.group(1) if match else None


def print_table(title: str, results: dict[str, dict[str, Any]]) -> None:
    layers = [name for name, _ in LAYERS] + [UNCLAIMED]
    names = list(results)
    print(f"\n{title}")
    print(f"{'layer':<30}" + "".join(f"{name:>12}" for name in names))
    for layer in layers:
        cells = [results[name]["shares"].get(layer, 0.0) for name in names]
        if any(cells):
            print(f"{layer:<30}" + "".join(f"{cell:>11.1%} " for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with warm.silenced_stdout():
        measured_in_process = in_process(args.calls)
    results = {
        "in_process": measured_in_process,
        "under_load": under_load(args.seconds, args.connections),
    }
    print_table("In process (pyinstrument), share of profiled time", results["in_process"])
    print_table(
        f"Under wrk at {args.connections} connections (py-spy), share of CPU samples",
        results["under_load"],
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
