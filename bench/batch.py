"""One row, batches and mixed-type rows, in process: our handler against a naive app, same body.

    python bench/batch.py [--rounds 30] [--calls 20] [--profile-calls 200] [--json out.json]

Four cases, each sent to both sides as the same API Gateway REST event:

- iris, 1 row:       the bundled model, `{"features": row}`; the naive app as below
- iris, 1,000 rows:  the bundled model, rows as arrays of numbers; the naive app is
                     bench/peers/naive_app.py (np.array -> predict -> jsonify)
- churn, 1 row:      the mixed-type example model/examples/churn.joblib (a DataFrame
- churn, 1,000 rows: pipeline), rows as objects keyed by feature name, drawn from its own
                     generator customers(); the naive app is bench/peers/naive_pandas_app.py
                     (pd.DataFrame(rows) -> predict -> jsonify)

Ours is handler.handler with every check on and its request line written, as in
bench/warm.py; for churn, a second copy of handler.py built with MODEL_URI pointing at
the example, as Lambda builds it with that variable set. The naive apps sit behind the
same serverless_wsgi.handle_request call. For context, "model only" is predict on the
model's input already built (a float64 matrix, or pd.DataFrame(rows)).

Every variant of every case runs in each round, in turn, `calls` calls at a time, so
machine noise hits them alike; the figures are the median (p50) and p90 per call.

Then, for the 1,000-row cases, where the time goes, two ways:
- stages: each step of the work called on its own (ours: the typed read that a valid body
  takes, from bytes to checked rows in one pass; the general path's strict parse and
  validation, which every other body takes, for comparison; the conversion to the
  model's input; Predictor.run; naive: json.loads, the array or pd.DataFrame, predict),
  median per call, interleaved like the rest;
- pyinstrument over the 1,000-row churn request on both sides, each sample charged to
  the part of the work it belongs to (see PARTS below). Its hook still runs on every
  Python call, so code made of many small calls (the parse's per-number hooks) is slowed
  more than the rest and its share overstated: the stages give the times, the profile
  the places.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH)]

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import serverless_wsgi  # noqa: E402
import warm  # noqa: E402  (it puts the repo root and bench/peers on sys.path)

CHURN = ROOT / "model" / "examples" / "churn.joblib"
BATCH_ROWS = 1000
# Not the training seed: rows the model has not seen, from the same distribution.
CHURN_SEED = 2026

CASES = {
    "iris_1": "iris, 1 row",
    "iris_1000": "iris, 1,000 rows",
    "churn_1": "churn, 1 row",
    "churn_1000": "churn, 1,000 rows",
}
# Which case the goal of each ratio belongs to is in bench/report.py.


def handler_for(model_uri: Path, name: str) -> ModuleType:
    """handler.py as its own module, its app built with MODEL_URI set, as on Lambda."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("MODEL_URI")
    os.environ["MODEL_URI"] = str(model_uri)
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del os.environ["MODEL_URI"]
        else:
            os.environ["MODEL_URI"] = saved
    return module


def iris_rows(count: int) -> list[list[float]]:
    """Real iris measurements, repeated to `count` rows."""
    from sklearn.datasets import load_iris

    data = load_iris().data
    return np.resize(data, (count, data.shape[1])).tolist()


def churn_rows(count: int) -> list[dict[str, Any]]:
    """Customers as the API takes them: JSON objects, a missing call count as null."""
    from model.examples.churn import customers

    frame, _ = customers(count, seed=CHURN_SEED)
    return json.loads(frame.to_json(orient="records"))


def event_with(base: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**base, "body": json.dumps(payload)}


def predictions_of(answer: dict[str, Any]) -> list[Any]:
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    return body["predictions"] if "predictions" in body else [body["prediction"]]


def variants() -> dict[str, dict[str, Callable[[], object]]]:
    """Per case: ours, naive and model only, each checked to give the same predictions."""
    # As in bench/warm.py: logs formatted and written, the request line to stdout,
    # which main() points at /dev/null.
    logging.getLogger().addHandler(logging.FileHandler(os.devnull))
    import naive_app
    import naive_pandas_app

    import handler

    churn_handler = handler_for(CHURN, "handler_churn")
    context = warm.Context()
    base = warm.api_gateway_event()
    iris_model = joblib.load(ROOT / "model" / "model.joblib")
    churn_model = joblib.load(CHURN)

    iris = iris_rows(BATCH_ROWS)
    customers = churn_rows(BATCH_ROWS)
    bodies = {
        "iris_1": (handler, naive_app, {"features": iris[0]}),
        "iris_1000": (handler, naive_app, {"instances": iris}),
        "churn_1": (churn_handler, naive_pandas_app, {"features": customers[0]}),
        "churn_1000": (churn_handler, naive_pandas_app, {"instances": customers}),
    }
    iris_matrix = np.array(iris)
    churn_frames = {"churn_1": pd.DataFrame([customers[0]]), "churn_1000": pd.DataFrame(customers)}

    cases: dict[str, dict[str, Callable[[], object]]] = {}
    for case, (ours_module, naive_module, payload) in bodies.items():
        event = event_with(base, payload)

        def ours(module: ModuleType = ours_module, event: dict[str, Any] = event) -> object:
            return module.handler(event, context)

        def naive(module: ModuleType = naive_module, event: dict[str, Any] = event) -> object:
            return serverless_wsgi.handle_request(module.app, event, context)

        if case.startswith("iris"):
            rows_in_case = len(payload["instances"]) if "instances" in payload else 1

            def model_only(matrix: np.ndarray = iris_matrix[:rows_in_case]) -> object:
                return iris_model.predict(matrix)

        else:

            def model_only(frame: pd.DataFrame = churn_frames[case]) -> object:
                return churn_model.predict(frame)

        expected = [str(label) for label in np.asarray(model_only()).tolist()]
        for name, call in (("ours", ours), ("naive", naive)):
            got = predictions_of(call())  # type: ignore[arg-type]
            assert got == expected, (case, name, got[:5], expected[:5])
        cases[case] = {"ours": ours, "naive": naive, "model only": model_only}
    return cases


def stage_calls() -> dict[str, dict[str, Callable[[], object]]]:
    """The steps of each 1,000-row request, ours and the naive apps', callable one by one."""
    from app.core.decoding import parse_json
    from app.core.model_input import to_model_input
    from app.factory import create_app
    from app.http.components import part_of
    from app.protocols.native.decoding import (
        InputSchema,
        parse_predict_request,
        typed_predict_request,
    )
    from app.service.model_slot import ModelSlot
    from app.service.settings import Settings

    stages: dict[str, dict[str, Callable[[], object]]] = {}
    for case, model_uri, rows in (
        ("iris_1000", ROOT / "model" / "model.joblib", iris_rows(BATCH_ROWS)),
        ("churn_1000", CHURN, churn_rows(BATCH_ROWS)),
    ):
        app = create_app({"MODEL_URI": str(model_uri)})
        predictor = part_of(ModelSlot, app).current()
        body = json.dumps({"instances": rows}).encode()
        depth = part_of(Settings, app).max_json_depth
        expected = InputSchema(
            predictor.schema,
            predictor.supports_probabilities,
            part_of(Settings, app).max_batch_rows,
        )
        payload = parse_json(body, depth)
        checked = parse_predict_request(payload, expected).rows
        typed = typed_predict_request(body, expected)
        assert typed is not None, "the bench's valid body must take the typed read"
        schema = predictor.schema
        if case == "iris_1000":
            build, naive_input = "naive: np.array(rows)", np.array(rows)
        else:
            build, naive_input = "naive: pd.DataFrame(rows)", pd.DataFrame(rows)
        builder = np.array if case == "iris_1000" else pd.DataFrame
        stages[case] = {
            "ours: typed read, body to checked rows (app/core/typed_rows.py)": (
                lambda b=body, e=expected: typed_predict_request(b, e)
            ),
            "ours, general path: strict parse (app/core/decoding.py)": (
                lambda b=body, d=depth: parse_json(b, d)
            ),
            "ours, general path: validation (app/core/validation.py)": (
                lambda p=payload, e=expected: parse_predict_request(p, e)
            ),
            "ours: conversion (app/core/model_input.py)": (
                lambda r=checked, s=schema: to_model_input(r, s)
            ),
            "ours: Predictor.run (conversion + model)": lambda r=checked, p=predictor: p.run(r),
            "naive: json.loads": lambda b=body: json.loads(b),
            build: lambda r=rows, f=builder: f(r),
            "naive: model.predict": lambda m=predictor.estimator, x=naive_input: m.predict(x),
        }
    return stages


def measure(
    cases: dict[str, dict[str, Callable[[], object]]], rounds: int, calls: int, warmup: int
) -> dict[str, dict[str, list[float]]]:
    for runs in cases.values():
        for call in runs.values():
            for _ in range(warmup):
                call()
    samples = {case: {name: [] for name in runs} for case, runs in cases.items()}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for case, runs in cases.items():
            for name, call in runs.items():
                bucket = samples[case][name]
                for _ in range(calls):
                    started = clock()
                    call()
                    bucket.append((clock() - started) / 1000)
    return samples


def medians(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {
        case: {name: statistics.median(values) for name, values in runs.items()}
        for case, runs in samples.items()
    }


def figures_of(values: list[float]) -> dict[str, float]:
    """The figures kept of one variant's per-call times (µs)."""
    return {
        "calls": len(values),
        "p50_us": statistics.median(values),
        "p90_us": warm.percentile(values, 0.90),
    }


def summarise(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for case, runs in samples.items():
        figures = {name: figures_of(values) for name, values in runs.items()}
        results[case] = {
            "label": CASES[case],
            "variants": figures,
            "x_naive_p50": figures["ours"]["p50_us"] / figures["naive"]["p50_us"],
            "x_naive_p90": figures["ours"]["p90_us"] / figures["naive"]["p90_us"],
        }
    return results


# Where the 1,000-row churn request's time goes. Each sample goes to the innermost frame
# that names a part; numpy and pandas frames (and the standard library's) go to the part
# that called them, except that pandas under our conversion or the naive app is the
# DataFrame's construction. pandas under scikit-learn is the model's.
PARTS = (
    (
        "typed read: body to checked rows (app/core/typed_rows.py)",
        ("/app/core/typed_rows.py", "/app/protocols/native/decoding.py"),
    ),
    ("validation (app/core/validation.py)", ("/app/core/validation.py",)),
    ("conversion (app/core/model_input.py)", ("/app/core/model_input.py",)),
    (
        "JSON parse, strict (app/core/decoding.py)",
        ("/app/core/decoding.py", "/app/http/body.py", "/app/core/json_depth.py"),
    ),
    ("ours, other (app/, handler.py)", ("/app/", "/handler.py")),
    ("naive app", ("/naive_pandas_app.py",)),
    ("model (scikit-learn, scipy, narwhals)", ("/sklearn/", "/scipy/", "/narwhals/")),
    ("Flask + Werkzeug", ("/flask/", "/werkzeug/")),
    ("serverless-wsgi", ("/serverless_wsgi.py",)),
)
DATAFRAME = "pandas: building the DataFrame"
OTHER = "other"


def part_of(path: str | None) -> str | None:
    if not path or "/bench/batch.py" in path:
        return None
    for name, markers in PARTS:
        if any(marker in path for marker in markers):
            if name.startswith("ours") and "site-packages" in path:
                continue
            return name
    if "/pandas/" in path:
        return DATAFRAME
    return None


def charge(paths: list[str | None]) -> str:
    owner = OTHER
    for path in paths:
        part = part_of(path)
        if part == DATAFRAME:
            if owner in ("conversion (app/core/model_input.py)", "naive app"):
                owner = DATAFRAME
        elif part is not None:
            owner = part
    return owner


def profile(call: Callable[[], object], calls: int) -> dict[str, Any]:
    from pyinstrument import Profiler

    # Reading the clock on every Python call costs about 6 µs here (pyinstrument warns of
    # it); its timing thread reads it once per interval instead, distorting far less.
    profiler = Profiler(interval=0.001, use_timing_thread=True)
    profiler.start()
    for _ in range(calls):
        call()
    profiler.stop()
    seconds: Counter[str] = Counter()

    def walk(frame: Any, paths: list[str | None]) -> None:
        here = [*paths, frame.file_path]
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            seconds[charge(here)] += own
        for child in frame.children:
            walk(child, here)

    walk(profiler.last_session.root_frame(), [])
    total = sum(seconds.values()) or 1.0
    return {
        "calls": calls,
        "profiled_us_per_call": total / calls * 1e6,
        "shares": {part: spent / total for part, spent in seconds.most_common()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--profile-calls", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with warm.silenced_stdout():
        cases = variants()
        samples = measure(cases, args.rounds, args.calls, args.warmup)
        stages = medians(measure(stage_calls(), args.rounds, args.calls, args.warmup))
        profiles = {
            name: profile(cases["churn_1000"][name], args.profile_calls)
            for name in ("ours", "naive")
        }
    results = summarise(samples)
    print(f"{'case':<20} {'variant':<11} {'calls':>6} {'p50 us':>9} {'p90 us':>9}")
    for result in results.values():
        for name, row in result["variants"].items():
            print(
                f"{result['label']:<20} {name:<11} {row['calls']:>6} "
                f"{row['p50_us']:>9.1f} {row['p90_us']:>9.1f}"
            )
        print(
            f"{result['label']:<20} ours/naive p50 {result['x_naive_p50']:.2f}x, "
            f"p90 {result['x_naive_p90']:.2f}x"
        )
    for case, steps in stages.items():
        print(f"\n{CASES[case]}, each step on its own, p50 us")
        for name, value in steps.items():
            print(f"  {name:<45} {value:>9.1f}")
    print("\nchurn, 1,000 rows (pyinstrument), share of profiled time")
    parts = list(dict.fromkeys(p for r in profiles.values() for p in r["shares"]))
    print(f"{'part':<40}" + "".join(f"{name:>10}" for name in profiles))
    for part in parts:
        cells = "".join(f"{profiles[n]['shares'].get(part, 0.0):>9.1%} " for n in profiles)
        print(f"{part:<40}{cells}")
    print(
        f"{'profiled µs per call':<40}"
        + "".join(f"{profiles[n]['profiled_us_per_call']:>9.0f} " for n in profiles)
    )
    if args.json:
        results["stages_p50_us"] = stages
        results["profile_churn_1000"] = profiles
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
