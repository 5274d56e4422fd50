"""Cold start of the deployment bundle: process start to the first /predict answer.

    python bench/cold_start.py [--zip .serverless/model-prediction-api.zip] [--runs 5]
                               [--model model/examples/churn.joblib] [--json out.json]

Each run is a fresh, bare python3.12 (-I -S -B: only the bundle and the standard
library, no bytecode written) in a read-only copy of the unzipped bundle, as on Lambda.
Four variants run interleaved, round by round, so machine noise hits them alike:

- bundle:                   the zip as built, with its unchecked-hash bytecode
- bundle, lazy imports off: the same, with LAZY_IMPORTS=0 for the app (its switch for
                            deferring imports a request may not need)
- without bytecode:         the same files minus every .pyc
- floor:                    the same interpreter importing numpy, scikit-learn and joblib
                            from the bundle (and pandas, for a model handed a DataFrame),
                            loading the artifact and predicting once; no web stack

The handler variants also get LAZY_IMPORTS from this process's environment when it is set
(the lazy-imports-off variant always has 0).

--model names the artifact inside the bundle that the function serves, for a bundle
built with `sls package --param="modelUri=PATH"`: the handler then runs with MODEL_URI
set to it, as Lambda would, the request is the first example row of its metadata, and
the floor predicts that row (as a one-row pd.DataFrame for a DataFrame model). Without
it: the bundled iris model and the row [5.1, 3.5, 1.4, 0.2].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ZIP = ROOT / ".serverless" / "model-prediction-api.zip"

EVENT = {
    "resource": "/{proxy+}",
    "path": "/predict",
    "httpMethod": "POST",
    "headers": {
        "content-type": "application/json",
        "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    },
    "pathParameters": {"proxy": "predict"},
    "requestContext": {"stage": "prod", "path": "/prod/predict", "requestId": "cold-start"},
    "isBase64Encoded": False,
}  # the body is the served model's row: Served.event

BUNDLED_MODEL = "model/model.joblib"
BUNDLED_ROW = [5.1, 3.5, 1.4, 0.2]


def handler_script(event: dict[str, Any]) -> str:
    return f"""
import sys
sys.path.insert(0, ".")
import handler
class Context:
    aws_request_id = "cold-start"
answer = handler.handler({event!r}, Context())
sys.stdout.write(answer["body"])
"""


# How the floor loads each artifact format: the least any server must do.
_LOADERS = {
    "joblib": "import joblib\nmodel = joblib.load({model!r})",
    "pickle": "import pickle\nwith open({model!r}, 'rb') as f:\n    model = pickle.load(f)",
    "skops": "import skops.io\nmodel = skops.io.load({model!r}, trusted={trusted!r})",
}


def floor_script(served: Served) -> str:
    if served.dataframe:
        # The training dtypes the row's values would not give by themselves (dates).
        model_input = f"pandas.DataFrame([{served.row!r}]).astype({served.dtypes!r})"
        imports = "numpy, pandas, sklearn"
    else:
        imports, model_input = "numpy, sklearn", f"numpy.array([{served.row!r}])"
    code = f"sys.path.append({served.code!r})" if served.code else ""
    load = _LOADERS[served.format].format(model=served.model, trusted=list(served.trusted))
    return f"""
import sys
sys.path.insert(0, ".")
{code}
import {imports}
{load}
sys.stdout.write(str(model.predict({model_input})[0]))
"""


@dataclass(frozen=True)
class Served:
    """The model a bundle serves, and the request and floor that go with it."""

    model: str
    model_uri: str  # the function's MODEL_URI; empty for the bundled model
    row: Any
    dataframe: bool
    format: str = "joblib"
    code: str | None = None  # the user's code archive in the bundle, if any
    trusted: tuple[str, ...] = ()
    dtypes: dict[str, str] | None = None

    @property
    def event(self) -> dict[str, Any]:
        return {**EVENT, "body": json.dumps({"features": self.row})}

    @property
    def environment(self) -> dict[str, str]:
        return {"MODEL_URI": self.model_uri} if self.model_uri else {}


def served_by(archive: Path, model: str | None) -> Served:
    """What the bundle serves; exits with the reason when the bundle does not hold it."""
    if not model:
        return Served(BUNDLED_MODEL, "", BUNDLED_ROW, dataframe=False)
    metadata_name = str(PurePosixPath(model).with_suffix(".json"))
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        missing = [name for name in (model, metadata_name) if name not in names]
        if missing:
            sys.exit(
                f"{archive} holds no {' or '.join(missing)}: build it with "
                f'sls package --param="modelUri={model}"'
            )
        metadata = json.loads(zf.read(metadata_name))
    dataframe = metadata.get("model_input") == "dataframe"
    if dataframe and "pandas/__init__.py" not in names:
        sys.exit(f"{archive} serves a DataFrame model but holds no pandas")
    examples = metadata.get("example") or []
    if not examples:
        sys.exit(f"{metadata_name} has no example rows to send")
    code = metadata.get("code")
    row = examples[0]
    if not dataframe:  # an array's row: the values in feature order
        names = [f if isinstance(f, str) else f["name"] for f in metadata["features"]]
        row = [row[name] for name in names]
    dtypes = {
        f["name"]: f["dtype"]
        for f in metadata["features"]
        if isinstance(f, dict) and f.get("dtype") not in (None, "category", "object", "str")
    }
    return Served(
        model,
        model,
        row,
        dataframe,
        format=metadata.get("format", "joblib"),
        code=str(PurePosixPath(model).with_name(code["file"])) if code else None,
        trusted=tuple(metadata.get("trusted", ())),
        dtypes=dtypes,
    )


def bare_python() -> str:
    return getattr(sys, "_base_executable", sys.executable)


def unzip(archive: Path, into: Path, keep_bytecode: bool) -> Path:
    with zipfile.ZipFile(archive) as zf:
        members = [n for n in zf.namelist() if keep_bytecode or not n.endswith(".pyc")]
        zf.extractall(into, members)
    for path in [into, *into.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return into


def child_environment(served: Served, **overrides: str) -> dict[str, str]:
    """What a measured process sees: the locale, one BLAS thread, the served model's
    MODEL_URI, and, from this process, OPENBLAS_CORE* and the app's LAZY_IMPORTS switch.
    """
    env = {"LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", **served.environment}
    env |= {
        k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORE") or k == "LAZY_IMPORTS"
    }
    return env | overrides


def bare_command(script: str) -> list[str]:
    """The runtime's python3.12 with only the bundle and the standard library, no .pyc written."""
    return [bare_python(), "-I", "-S", "-B", "-c", script]


def one_run(
    folder: Path, script: str, served: Served, overrides: dict[str, str]
) -> tuple[float, str]:
    # Lambda's LD_LIBRARY_PATH holds /var/task and /var/task/lib: libraries the bundle
    # supplies (a libgomp for LightGBM) load from there.
    env = child_environment(served, LD_LIBRARY_PATH=f"{folder}/lib:{folder}", **overrides)
    started = time.perf_counter()
    result = subprocess.run(
        bare_command(script),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--model", help="the artifact the bundle serves, as its modelUri (default: the bundled)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.zip.is_file():
        sys.exit(f"{args.zip} not found: run `make package` first")
    served = served_by(args.zip, args.model)

    scratch = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        with_pyc = unzip(args.zip, scratch / "bundle", keep_bytecode=True)
        without_pyc = unzip(args.zip, scratch / "no-bytecode", keep_bytecode=False)
        handler = handler_script(served.event)
        floor = floor_script(served)
        variants: dict[str, tuple[Path, str, dict[str, str]]] = {
            "bundle": (with_pyc, handler, {}),
            "bundle, lazy imports off": (with_pyc, handler, {"LAZY_IMPORTS": "0"}),
            "without bytecode": (without_pyc, handler, {}),
            "floor": (with_pyc, floor, {}),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        # One untimed run each first: the page cache then holds the files for every
        # variant alike, instead of favouring whichever runs second. The floor's answer
        # is the one the handler must give.
        answers = {
            name: one_run(folder, script, served, overrides)[1]
            for name, (folder, script, overrides) in variants.items()
        }
        expected = answers["floor"]
        for _ in range(args.runs):
            for name, (folder, script, overrides) in variants.items():
                seconds, output = one_run(folder, script, served, overrides)
                if name != "floor":
                    # The request's log line (with its metrics), then the answer's body.
                    log_line, body = output.splitlines()
                    assert json.loads(log_line)["cold_start"] is True, output
                    assert str(json.loads(body)["prediction"]) == expected, (output, expected)
                times[name].append(seconds)
    finally:
        for path in [scratch, *scratch.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(scratch)

    medians = {name: statistics.median(values) for name, values in times.items()}
    if args.json:
        args.json.write_text(
            json.dumps(
                {"model": served.model, "runs": args.runs, "medians": medians, "runs_s": times},
                indent=2,
            )
        )
    floor = medians["floor"]
    print(f"cold start, median of {args.runs} interleaved runs ({args.zip.name}, {served.model})")
    print(f"{'variant':<24} {'median s':>9} {'min s':>7} {'max s':>7} {'x floor':>8}")
    for name, values in times.items():
        median = medians[name]
        print(
            f"{name:<24} {median:>9.3f} {min(values):>7.3f} {max(values):>7.3f} "
            f"{median / floor:>8.2f}"
        )


if __name__ == "__main__":
    main()
