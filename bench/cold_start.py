"""Cold start of the deployment bundle: process start to the first /predict answer.

    python bench/cold_start.py [--zip .serverless/model-prediction-api.zip] [--runs 5]

Each run is a fresh, bare python3.12 (-I -S -B: only the bundle and the standard
library, no bytecode written) in a read-only copy of the unzipped bundle, as on Lambda.
Three variants run interleaved, round by round, so machine noise hits them alike:

- bundle:           the zip as built, with its unchecked-hash bytecode
- without bytecode: the same files minus every .pyc
- floor:            the same interpreter importing numpy, scikit-learn and joblib from
                    the bundle, loading the artifact and predicting once; no web stack
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
from pathlib import Path

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
    "body": '{"features": [5.1, 3.5, 1.4, 0.2]}',
    "isBase64Encoded": False,
}

HANDLER_SCRIPT = f"""
import sys
sys.path.insert(0, ".")
import handler
class Context:
    aws_request_id = "cold-start"
answer = handler.handler({EVENT!r}, Context())
sys.stdout.write(answer["body"])
"""

FLOOR_SCRIPT = """
import sys
sys.path.insert(0, ".")
import joblib, numpy, sklearn
model = joblib.load("model/model.joblib")
sys.stdout.write(str(model.predict(numpy.array([[5.1, 3.5, 1.4, 0.2]]))[0]))
"""


def bare_python() -> str:
    return getattr(sys, "_base_executable", sys.executable)


def unzip(archive: Path, into: Path, keep_bytecode: bool) -> Path:
    with zipfile.ZipFile(archive) as zf:
        members = [n for n in zf.namelist() if keep_bytecode or not n.endswith(".pyc")]
        zf.extractall(into, members)
    for path in [into, *into.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return into


def one_run(folder: Path, script: str) -> tuple[float, str]:
    env = {"LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1"}
    env |= {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORE")}
    started = time.perf_counter()
    result = subprocess.run(
        [bare_python(), "-I", "-S", "-B", "-c", script],
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
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.zip.is_file():
        sys.exit(f"{args.zip} not found: run `make package` first")

    scratch = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        with_pyc = unzip(args.zip, scratch / "bundle", keep_bytecode=True)
        without_pyc = unzip(args.zip, scratch / "no-bytecode", keep_bytecode=False)
        variants = {
            "bundle": (with_pyc, HANDLER_SCRIPT),
            "without bytecode": (without_pyc, HANDLER_SCRIPT),
            "floor": (with_pyc, FLOOR_SCRIPT),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        # One untimed run each first: the page cache then holds the files for every
        # variant alike, instead of favouring whichever runs second.
        for folder, script in variants.values():
            one_run(folder, script)
        for _ in range(args.runs):
            for name, (folder, script) in variants.items():
                seconds, output = one_run(folder, script)
                if name != "floor":
                    # The request's log line (with its metrics), then the answer's body.
                    log_line, body = output.splitlines()
                    assert json.loads(log_line)["cold_start"] is True, output
                    assert json.loads(body)["prediction"] == "setosa", output
                times[name].append(seconds)
    finally:
        for path in [scratch, *scratch.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(scratch)

    medians = {name: statistics.median(values) for name, values in times.items()}
    if args.json:
        args.json.write_text(
            json.dumps({"runs": args.runs, "medians": medians, "runs_s": times}, indent=2)
        )
    floor = medians["floor"]
    print(f"cold start, median of {args.runs} interleaved runs ({args.zip.name})")
    print(f"{'variant':<18} {'median s':>9} {'min s':>7} {'max s':>7} {'x floor':>8}")
    for name, values in times.items():
        median = medians[name]
        print(
            f"{name:<18} {median:>9.3f} {min(values):>7.3f} {max(values):>7.3f} "
            f"{median / floor:>8.2f}"
        )


if __name__ == "__main__":
    main()
