"""What one-row requests pay for the service's features: each taken out in place.

    python bench/one_row_features.py [--rounds 40] [--calls 100]

One iris row, in process, interleaved round by round against the naive app
(bench/peers/naive_app.py). Through the handler, as an API Gateway REST event:

- ours:                 handler.handler, every check on, the request line written
- request line off:     the same with `app.access` above INFO (no line, no metrics)
- no hooks:             the app's before- and after-request hooks removed: no line, no
                        request id, no Server-Timing, nosniff or no-store header
- no hooks, no repairs: the same app handed to serverless_wsgi directly, without
                        handler.py's event repairs

and at the WSGI level, as gunicorn calls the app (Werkzeug's EnvironBuilder), with the
line off for both apps as in bench/throughput.py: ours, and ours without hooks.

The variants only remove; every answer is checked to be the same prediction.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import serverless_wsgi
import warm  # puts the repo root and bench/peers on sys.path
from werkzeug.test import EnvironBuilder

Setup = Callable[[], Iterator[None]]


def variants() -> dict[str, tuple[Setup, Callable[[], bytes]]]:
    logging.getLogger().addHandler(logging.FileHandler("/dev/null"))
    import naive_app

    import handler

    app = handler.app
    event, context = warm.api_gateway_event(), warm.Context()
    before = dict(app.before_request_funcs)
    after = dict(app.after_request_funcs)
    access = logging.getLogger("app.access")

    @contextmanager
    def as_built() -> Iterator[None]:
        yield

    @contextmanager
    def line_off() -> Iterator[None]:
        level = access.level
        access.setLevel(logging.WARNING)
        try:
            yield
        finally:
            access.setLevel(level)

    @contextmanager
    def no_hooks() -> Iterator[None]:
        app.before_request_funcs.clear()
        app.after_request_funcs.clear()
        try:
            yield
        finally:
            app.before_request_funcs.update(before)
            app.after_request_funcs.update(after)

    @contextmanager
    def wsgi_no_hooks() -> Iterator[None]:
        with line_off(), no_hooks():
            yield

    def lambda_body(call: Callable[[], dict[str, Any]]) -> Callable[[], bytes]:
        def run() -> bytes:
            answer = call()
            return str(answer["statusCode"]).encode() + b" " + answer["body"].encode()

        return run

    body = json.dumps({"features": warm.ROW}).encode()

    def through_wsgi(wsgi_app: Any) -> Callable[[], bytes]:
        def run() -> bytes:
            environ = EnvironBuilder(
                path="/predict", method="POST", data=body, content_type="application/json"
            ).get_environ()
            status: list[str] = []
            chunks = wsgi_app(environ, lambda s, headers, exc_info=None: status.append(s))
            answer = b"".join(chunks)
            getattr(chunks, "close", lambda: None)()
            return status[0].split()[0].encode() + b" " + answer

        return run

    naive_lambda = lambda_body(
        lambda: serverless_wsgi.handle_request(naive_app.app, event, context)
    )
    ours_lambda = lambda_body(lambda: handler.handler(event, context))
    unrepaired = lambda_body(lambda: serverless_wsgi.handle_request(app, event, context))
    return {
        "naive app": (as_built, naive_lambda),
        "ours": (as_built, ours_lambda),
        "ours, request line off": (line_off, ours_lambda),
        "ours, no hooks": (no_hooks, ours_lambda),
        "ours, no hooks, no repairs": (no_hooks, unrepaired),
        "WSGI: naive app": (line_off, through_wsgi(naive_app.app)),
        "WSGI: ours, line off": (line_off, through_wsgi(app)),
        "WSGI: ours, no hooks": (wsgi_no_hooks, through_wsgi(app)),
    }


def prediction(answer: bytes) -> str:
    status, _, body = answer.partition(b" ")
    assert status == b"200", answer
    return str(json.loads(body)["prediction"])


def measure(rounds: int, calls: int) -> dict[str, list[float]]:
    runs = variants()
    for name, (setup, call) in runs.items():
        with setup():
            assert prediction(call()) == "setosa", name
    samples: dict[str, list[float]] = {name: [] for name in runs}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, (setup, call) in runs.items():
            bucket = samples[name]
            with setup():
                for _ in range(calls):
                    started = clock()
                    call()
                    bucket.append((clock() - started) / 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    with warm.silenced_stdout():
        samples = measure(args.rounds, args.calls)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{'variant':<28} {'p50 us':>8} {'x naive':>8}")
    for name, median in medians.items():
        naive = medians["WSGI: naive app" if name.startswith("WSGI") else "naive app"]
        print(f"{name:<28} {median:>8.1f} {median / naive:>8.3f}")


if __name__ == "__main__":
    main()
