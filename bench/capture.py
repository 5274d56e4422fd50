"""What capture, input health and a shadow model cost a request: /predict with none of
them, with every request captured (CAPTURE_SAMPLE_RATE=1), unmasked and with a feature
hashed, with the model's reference statistics (input health counted per request), with
both, and with a shadow model answering every request (SHADOW_SAMPLE_RATE=1): for iris a
copy of the live model itself, so the shadow costs what the live model's prediction does;
for churn the retrained example (model/examples/churn_retrained.joblib).

The models are copies made here: each with its metadata's reference removed, and each
with one (iris: the statistics of its 150 rows, made as describe --reference makes
them; churn: the one its metadata carries).

In process, the same API Gateway event through serverless_wsgi into apps built with
each setting, for one row and 1,000 rows of iris and of the churn example (the record
holds at most CAPTURE_MAX_ROWS rows, 100 by default, so a batch's record is bounded).
Every variant of every case runs in each round, in turn (bench/batch.py's measure), and
the figures are p50 and p90 per call with the request line and the record written to
/dev/null. The cost at a lower rate is that rate times the difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import serverless_wsgi
from batch import CHURN, ROOT, churn_rows, event_with, figures_of, iris_rows, measure
from sklearn.datasets import load_iris
from warm import Context, api_gateway_event, percentile, silenced_stdout

from app.core.metadata import ModelMetadata
from app.factory import create_app
from model.reference_stats import reference_statistics

HASH_KEY = "a-bench-key-of-at-least-32-characters"
BASELINE = "neither"
# Variant -> (the model copy with reference statistics?, settings).
VARIANTS: dict[str, tuple[bool, dict[str, str]]] = {
    BASELINE: (False, {}),
    "capture every request": (False, {"CAPTURE_SAMPLE_RATE": "1"}),
    "capture, one feature hashed": (
        False,
        {"CAPTURE_SAMPLE_RATE": "1", "CAPTURE_HASH_KEY": HASH_KEY},
    ),
    "input health": (True, {}),
    "input health and capture": (True, {"CAPTURE_SAMPLE_RATE": "1"}),
    "shadow every request": (False, {"SHADOW_MODEL_URI": ""}),  # the model's shadow, below
}
CHURN_RETRAINED = ROOT / "model" / "examples" / "churn_retrained.joblib"
# The feature each model's hashed variant hashes: a string where the model has one.
HASHED = {"iris": "sepal_length", "churn": "payment_method"}


def model_copies(artifact: Path, folder: Path) -> dict[bool, Path]:
    """Copies of `artifact` in `folder`: False, without reference statistics; True, with
    them (the metadata's own, or for the iris model its data set's)."""
    metadata = ModelMetadata.read(artifact.with_suffix(".json"))
    reference = metadata.reference
    if reference is None:
        iris = load_iris(as_frame=True)
        rows = iris.data.set_axis(list(metadata.features), axis=1)
        reference = reference_statistics(joblib.load(artifact), metadata, pd.DataFrame(rows))
    copies = {}
    for with_reference in (False, True):
        copy = folder / f"{artifact.stem}-{'reference' if with_reference else 'plain'}.joblib"
        shutil.copyfile(artifact, copy)
        chosen = reference if with_reference else None
        dataclasses.replace(metadata, reference=chosen).write(copy.with_suffix(".json"))
        copies[with_reference] = copy
    return copies


def cases(folder: Path) -> dict[str, dict[str, Callable[[], object]]]:
    logging.getLogger().addHandler(logging.FileHandler(os.devnull))
    context, base = Context(), api_gateway_event()
    models = {"iris": (ROOT / "model" / "model.joblib", iris_rows), "churn": (CHURN, churn_rows)}
    built: dict[str, dict[str, Callable[[], object]]] = {}
    for model, (artifact, rows_of) in models.items():
        rows = rows_of(1000)
        copies = model_copies(artifact, folder)
        shadow = {"iris": copies[False], "churn": CHURN_RETRAINED}[model]
        apps = {
            name: create_app(
                {
                    "MODEL_URI": str(copies[with_reference]),
                    **settings,
                    **({"CAPTURE_HASH": HASHED[model]} if "CAPTURE_HASH_KEY" in settings else {}),
                    **({"SHADOW_MODEL_URI": str(shadow)} if "SHADOW_MODEL_URI" in settings else {}),
                }
            )
            for name, (with_reference, settings) in VARIANTS.items()
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
    with tempfile.TemporaryDirectory() as folder, silenced_stdout():
        samples = measure(cases(Path(folder)), args.rounds, args.calls, args.warmup)
    results: dict[str, Any] = {}
    print(f"{'case':<20} {'variant':<30} {'p50 us':>9} {'p90 us':>9} {'x neither p50':>14}")
    for case, runs in samples.items():
        figures = {name: figures_of(values) for name, values in runs.items()}
        off = figures[BASELINE]["p50_us"]
        for name, row in figures.items():
            row["x_neither_p50"] = row["p50_us"] / off
            row["p99_us"] = percentile(runs[name], 0.99)
            print(
                f"{case:<20} {name:<30} {row['p50_us']:>9.1f} {row['p90_us']:>9.1f} "
                f"{row['x_neither_p50']:>13.2f}x"
            )
        results[case] = figures
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
