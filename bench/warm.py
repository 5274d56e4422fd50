"""Warm request latency, in process: what one /predict costs once the container is warm.

    python bench/warm.py [--rounds 30] [--calls 100] [--json results.json]

Three variants, interleaved round by round so machine noise hits them alike:

- raw predict:  model.predict on the row, already a numpy array: the floor
- naive app:    a tutorial-style Flask app (get_json -> np.array -> jsonify) behind
                the same serverless_wsgi.handle_request call
- handler:      our handler.handler with a complete API Gateway REST event, every
                check on, and its request log line (with its metrics) written to /dev/null

and, to show where the time goes, serverless_wsgi around a WSGI app that only returns
a fixed body: the event translation alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench" / "peers")]

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import serverless_wsgi  # noqa: E402

ROW = [5.1, 3.5, 1.4, 0.2]


class Context:
    aws_request_id = "warm-bench"


def api_gateway_event(path: str = "/predict") -> dict[str, Any]:
    """The REST API proxy event of the tests, sent to `path` on its stage."""
    event = json.loads((ROOT / "tests" / "events" / "rest-api.json").read_text())
    # API Gateway names the route three times: the proxy parameter the handler fills
    # "/{proxy+}" with, the event's path and the path the client saw, stage first.
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    context = event["requestContext"]
    context["path"] = f"/{context['stage']}{path}"
    event["body"] = json.dumps({"features": ROW})
    return event


def variants() -> dict[str, Callable[[], object]]:
    # Logs go where Lambda's would, minus the terminal: formatted and written. The
    # request line (with its metrics) goes to stdout, which the callers point at
    # /dev/null around the calls with `silenced_stdout`.
    logging.getLogger().addHandler(logging.FileHandler(os.devnull))
    # Imported after logging is set up, as on Lambda.
    import naive_app

    import handler

    model = joblib.load(ROOT / "model" / "model.joblib")
    row = np.array([ROW])
    event = api_gateway_event()
    context = Context()

    def ours() -> object:
        # serverless_wsgi does not modify the event; a copy per call would bias the figure.
        return handler.handler(event, context)

    def naive() -> object:
        return serverless_wsgi.handle_request(naive_app.app, event, context)

    def raw() -> object:
        return model.predict(row)

    def fixed_body(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"prediction": "setosa"}']

    def translation_only() -> object:
        return serverless_wsgi.handle_request(fixed_body, event, context)

    for name, call in (("handler", ours), ("naive app", naive)):
        answer = call()
        assert answer["statusCode"] == 200, (name, answer)
        assert json.loads(answer["body"])["prediction"] == "setosa", (name, answer)
    return {
        "raw predict": raw,
        "event translation only": translation_only,
        "naive app": naive,
        "handler": ours,
    }


@contextlib.contextmanager
def silenced_stdout() -> Iterator[None]:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def measure(rounds: int, calls: int, warmup: int) -> dict[str, list[float]]:
    runs = variants()
    for call in runs.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, call in runs.items():
            bucket = samples[name]
            for _ in range(calls):
                started = clock()
                call()
                bucket.append((clock() - started) / 1000)
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    floor = statistics.median(samples["raw predict"])
    return {
        name: {
            "calls": len(values),
            "p50_us": statistics.median(values),
            "p90_us": percentile(values, 0.90),
            "p99_us": percentile(values, 0.99),
            "x_raw_predict": statistics.median(values) / floor,
        }
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with silenced_stdout():
        samples = measure(args.rounds, args.calls, args.warmup)
    results = summarise(samples)
    print(f"{'variant':<24} {'calls':>6} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'x raw':>6}")
    for name, row in results.items():
        print(
            f"{name:<24} {row['calls']:>6} {row['p50_us']:>8.1f} {row['p90_us']:>8.1f} "
            f"{row['p99_us']:>8.1f} {row['x_raw_predict']:>6.2f}"
        )
    handler, naive = results["handler"], results["naive app"]
    print(
        f"handler / naive app: p50 {handler['p50_us'] / naive['p50_us']:.2f}x, "
        f"p90 {handler['p90_us'] / naive['p90_us']:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
