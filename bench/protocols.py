"""The MLflow and V2 routes against /predict, in process: what each protocol costs per call.

    python bench/protocols.py [--rounds 30] [--calls 30] [--json out.json]

The bundled iris model, the same rows (bench/batch.py's) in three bodies, each sent to
handler.handler as an API Gateway REST event on its own route:

- /predict:       {"instances": rows}
- /invocations:   MLflow's scoring protocol, {"dataframe_split": {"columns", "data"}}, the
                  form MLflow's own client sends for a DataFrame
- /v2/models/<name>/infer: the Open Inference Protocol V2, one FP64 tensor of shape
                  [N, 4], row-major, in JSON

for 1 row and 1,000 rows. Every answer is checked to hold the same labels as /predict's
before timing. Logging as in bench/warm.py: the request line written to /dev/null.
Rounds interleave every route of every case, `calls` calls at a time (bench/batch.py's
`measure`); the figures are the median (p50) and p90 per call, and each route's ratio
to /predict's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH)]

import batch  # noqa: E402
import warm  # noqa: E402

METADATA = json.loads((ROOT / "model" / "model.json").read_text())
MODEL_NAME = METADATA["name"]
COLUMNS = [feature["name"] for feature in METADATA["features"]]
V2_PATH = f"/v2/models/{MODEL_NAME}/infer"
# Each route's overhead against /predict, on the p50.
GOAL = 1.10

CASES = {"iris_1": ("iris, 1 row", 1), "iris_1000": ("iris, 1,000 rows", batch.BATCH_ROWS)}


def predict_body(rows: list[list[float]]) -> dict[str, Any]:
    # One row as a batch of one, so every route does the same work.
    return {"instances": rows}


def mlflow_body(rows: list[list[float]]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": COLUMNS, "data": rows}}


def v2_body(rows: list[list[float]]) -> dict[str, Any]:
    flat = [value for row in rows for value in row]
    tensor = {"name": "input-0", "shape": [len(rows), len(COLUMNS)], "datatype": "FP64"}
    return {"inputs": [{**tensor, "data": flat}]}


def v2_labels(answer: dict[str, Any]) -> list[Any]:
    assert answer["statusCode"] == 200, answer
    (output,) = json.loads(answer["body"])["outputs"]
    return list(output["data"])


# route name -> (path, body, the labels of its answer)
ROUTES: dict[str, tuple[str, Callable[..., dict[str, Any]], Callable[..., list[Any]]]] = {
    "/predict": ("/predict", predict_body, batch.predictions_of),
    "/invocations": ("/invocations", mlflow_body, batch.predictions_of),
    "/v2 infer": (V2_PATH, v2_body, v2_labels),
}


def variants() -> dict[str, dict[str, Callable[[], object]]]:
    """Per case, one call per route, each checked to give /predict's labels."""
    logging.getLogger().addHandler(logging.FileHandler(os.devnull))
    import handler  # after logging is set up, as on Lambda

    context = warm.Context()
    cases: dict[str, dict[str, Callable[[], object]]] = {}
    for case, (_, count) in CASES.items():
        rows = batch.iris_rows(count)
        calls: dict[str, Callable[[], object]] = {}
        expected: list[Any] | None = None
        for name, (path, body, labels_of) in ROUTES.items():
            event = batch.event_with(warm.api_gateway_event(path), body(rows))

            def call(event: dict[str, Any] = event) -> object:
                return handler.handler(event, context)

            labels = labels_of(call())
            expected = labels if expected is None else expected
            assert labels == expected, (case, name, labels[:5], expected[:5])
            assert len(labels) == count, (case, name, len(labels))
            calls[name] = call
        cases[case] = calls
    return cases


def summarise(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    results: dict[str, Any] = {"goal_x_predict_p50": GOAL, "model": MODEL_NAME, "cases": {}}
    for case, runs in samples.items():
        figures = {name: batch.figures_of(values) for name, values in runs.items()}
        native = figures["/predict"]
        for name, row in figures.items():
            row["path"] = ROUTES[name][0]
            row["x_predict_p50"] = row["p50_us"] / native["p50_us"]
            row["x_predict_p90"] = row["p90_us"] / native["p90_us"]
        label, count = CASES[case]
        results["cases"][case] = {"label": label, "rows": count, "routes": figures}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with warm.silenced_stdout():
        samples = batch.measure(variants(), args.rounds, args.calls, args.warmup)
    results = summarise(samples)
    print(f"{'case':<18} {'route':<14} {'calls':>6} {'p50 us':>9} {'p90 us':>9} {'x p50':>6}")
    for case in results["cases"].values():
        for name, row in case["routes"].items():
            judged = row["x_predict_p50"] <= GOAL
            verdict = "" if name == "/predict" else ("met" if judged else "missed")
            print(
                f"{case['label']:<18} {name:<14} {row['calls']:>6} {row['p50_us']:>9.1f} "
                f"{row['p90_us']:>9.1f} {row['x_predict_p50']:>5.2f}x {verdict}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
