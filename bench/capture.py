"""What capture costs a request: /predict with capture off, and with every request
captured (CAPTURE_SAMPLE_RATE=1), unmasked and with a feature hashed.

In process, the same API Gateway event through serverless_wsgi into apps built with
each setting, for one row and 1,000 rows of iris and of the churn example (the record
holds at most CAPTURE_MAX_ROWS rows, 100 by default, so a batch's record is bounded).
Every variant of every case runs in each round, in turn (bench/batch.py's measure), and
the figures are p50 and p90 per call with the request line and the record written to
/dev/null. The cost at a lower rate is that rate times the difference.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serverless_wsgi
from batch import CHURN, ROOT, churn_rows, event_with, figures_of, iris_rows, measure
from warm import Context, api_gateway_event, percentile, silenced_stdout

from app.factory import create_app

HASH_KEY = "a-bench-key-of-at-least-32-characters"
VARIANTS: dict[str, dict[str, str]] = {
    "capture off": {},
    "capture every request": {"CAPTURE_SAMPLE_RATE": "1"},
    "capture, one feature hashed": {"CAPTURE_SAMPLE_RATE": "1", "CAPTURE_HASH_KEY": HASH_KEY},
}
# The feature each model's hashed variant hashes: a string where the model has one.
HASHED = {"iris": "sepal_length", "churn": "payment_method"}


def cases() -> dict[str, dict[str, Callable[[], object]]]:
    logging.getLogger().addHandler(logging.FileHandler(os.devnull))
    context, base = Context(), api_gateway_event()
    models = {"iris": (ROOT / "model" / "model.joblib", iris_rows), "churn": (CHURN, churn_rows)}
    built: dict[str, dict[str, Callable[[], object]]] = {}
    for model, (uri, rows_of) in models.items():
        rows = rows_of(1000)
        apps = {
            name: create_app(
                {
                    "MODEL_URI": str(uri),
                    **settings,
                    **({"CAPTURE_HASH": HASHED[model]} if "CAPTURE_HASH_KEY" in settings else {}),
                }
            )
            for name, settings in VARIANTS.items()
        }
        for label, payload in (
            ("1 row", {"features": rows[0]}),
            ("1,000 rows", {"instances": rows}),
        ):
            event = event_with(base, payload)
            runs: dict[str, Callable[[], object]] = {}
            for name, app in apps.items():

                def call(app: Any = app, event: dict[str, Any] = event) -> object:
                    answer = serverless_wsgi.handle_request(app, event, context)
                    assert answer["statusCode"] == 200, answer
                    return answer

                runs[name] = call
            built[f"{model}, {label}"] = runs
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with silenced_stdout():
        samples = measure(cases(), args.rounds, args.calls, args.warmup)
    results: dict[str, Any] = {}
    print(f"{'case':<20} {'variant':<30} {'p50 us':>9} {'p90 us':>9} {'x off p50':>10}")
    for case, runs in samples.items():
        figures = {name: figures_of(values) for name, values in runs.items()}
        off = figures["capture off"]["p50_us"]
        for name, row in figures.items():
            row["x_off_p50"] = row["p50_us"] / off
            row["p99_us"] = percentile(runs[name], 0.99)
            print(
                f"{case:<20} {name:<30} {row['p50_us']:>9.1f} {row['p90_us']:>9.1f} "
                f"{row['x_off_p50']:>9.2f}x"
            )
        results[case] = figures
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
