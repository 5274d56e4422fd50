"""Prove a deployment zip answers its model's example before anything is uploaded.

    python3.12 -I prove_bundle.py ARCHIVE RUNTIME_VERSION < proof.json

proof.json: {"environment": {...the function's variables...}, "instances": [...example
rows...], "predictions": [...what describe recorded...] or null, "api_key": "..." or null,
"shadow": the shadow model's metadata's name, or null}

The zip is unzipped into a temporary read-only folder, like Lambda's /var/task, and
bundle_runner.py serves one REST API event, POST /predict {"instances": rows}, from it in
this interpreter run bare (-I -S -B: nothing of this machine's site-packages), with the
function's environment and the bundle's own folders first on LD_LIBRARY_PATH. The answer
must be 200 with the recorded predictions; else the bundle's own error is the message.
With a shadow model, GET /model must then show it loaded (proven on its own example and
accepted beside the live model), or its reason is the message. Standard library only.
"""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).resolve().parent / "bundle_runner.py"
# Lambda's LD_LIBRARY_PATH holds /var/task and /var/task/lib: the bundle's own folders
# come first here, so no copy of a library on this machine stands in for a missing one.
BUNDLE_LIBRARY_FOLDERS = ("", "lib")
# Longer than any cold start should take, even on a busy build machine.
RUN_TIMEOUT_SECONDS = 300
# The same wheels answer in the bundle as at describe; only the order of floating-point
# sums may differ (BLAS threads), far below this.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12
# Frames of the bundle's own code shown for an error: the innermost, where it happened.
FRAMES_SHOWN = 4
DIFFERENCES_SHOWN = 3


class ProofFailed(Exception):
    """The bundle did not answer as its model's metadata says it should; the message is why."""


@contextmanager
def unzipped_read_only(archive: Path, folder: Path) -> Iterator[Path]:
    """The zip, unzipped into `folder` and made read-only, like /var/task."""
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    paths = [folder, *folder.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield folder
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def bare_python() -> str:
    """The interpreter behind this one (a venv's base): its standard library, no packages."""
    return getattr(sys, "_base_executable", sys.executable)


def bundle_environment(bundle: Path, function_environment: dict[str, str]) -> dict[str, str]:
    """The function's variables, with what Lambda adds that serving depends on, and
    nothing of this machine's but its OpenBLAS core settings, which keep old CPUs safe."""
    env = dict(function_environment)
    env["LAMBDA_TASK_ROOT"] = str(bundle)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        str(bundle / folder) for folder in BUNDLE_LIBRARY_FOLDERS
    )
    env.setdefault("LANG", "C.UTF-8")
    env |= {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORE")}
    return env


def run_events(
    bundle: Path, function_environment: dict[str, str], events: list[dict[str, Any]]
) -> dict[str, Any]:
    """bundle_runner.py's report of serving `events` from the unzipped `bundle`."""
    try:
        result = subprocess.run(
            [bare_python(), "-I", "-S", "-B", str(RUNNER), str(bundle)],
            input=json.dumps(events),
            capture_output=True,
            text=True,
            cwd=bundle,  # Lambda's cwd is /var/task, the bundle's root
            env=bundle_environment(bundle, function_environment),
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProofFailed(
            f"the bundle gave no answer within {RUN_TIMEOUT_SECONDS} s of starting"
        ) from None
    if result.returncode != 0:
        # A crash below Python (a shared library's fault), or the runner's own failure.
        ending = "\n".join(result.stderr.strip().splitlines()[-15:])
        how = (
            f"was killed by signal {-result.returncode}"
            if result.returncode < 0
            else f"exited with status {result.returncode}"
        )
        raise ProofFailed(f"python{version()} serving the bundle {how}\n{ending}".rstrip())
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def rest_api_event(method: str, path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway REST API proxy event, as `ANY /{proxy+}` receives it."""
    all_headers = {"content-type": "application/json", **headers}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/proof{path}",
            "stage": "proof",
            "requestId": "bundle-proof",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "bundle-proof"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def trimmed_traceback(error: dict[str, Any], bundle: Path) -> str:
    """The exception, under the innermost frames that ran the bundle's own code."""
    root = f"{bundle.resolve()}{os.sep}"
    frames = [
        frame
        for frame in error["frames"]
        if frame["file"].startswith(root) and Path(frame["file"]).name != RUNNER.name
    ][-FRAMES_SHOWN:]
    lines = []
    for frame in frames:
        lines.append(
            f'  File "{frame["file"][len(root) :]}", line {frame["line"]}, in {frame["function"]}'
        )
        if frame["code"]:
            lines.append(f"    {frame['code']}")
    return "\n".join([*lines, error["exception"]])


def error_answer(answer: dict[str, Any]) -> str:
    """What a failed answer says: its error message and details, or its body."""
    body = answer.get("body") or ""
    try:
        error = json.loads(body)["error"]
        details = [f"{d.get('loc', '')}: {d.get('msg', '')}" for d in error.get("details") or []]
        return "; ".join([error["message"], *details[:DIFFERENCES_SHOWN]])
    except (ValueError, KeyError, TypeError, AttributeError):
        return body[:500]


def differences(expected: Any, answered: Any, where: str = "") -> list[str]:
    """Where `answered` differs from `expected`: floats within a tight relative tolerance,
    everything else exactly (a bool is not a number here)."""
    if isinstance(expected, float | int) and not isinstance(expected, bool):
        if isinstance(answered, float | int) and not isinstance(answered, bool):
            if isinstance(expected, float) or isinstance(answered, float):
                close = math.isclose(
                    expected, answered, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE
                )
            else:
                close = expected == answered
            if close:
                return []
    elif isinstance(expected, list) and isinstance(answered, list):
        if len(expected) == len(answered):
            return [
                found
                for i, (e, a) in enumerate(zip(expected, answered, strict=True))
                for found in differences(e, a, f"{where}[{i}]")
            ]
    elif isinstance(expected, dict) and isinstance(answered, dict):
        if expected.keys() == answered.keys():
            return [
                found
                for key in expected
                for found in differences(expected[key], answered[key], f"{where}.{key}")
            ]
    elif type(expected) is type(answered) and expected == answered:
        return []
    return [f"{where or 'the answer'}: expected {json.dumps(expected)}, got {json.dumps(answered)}"]


def prove(archive: Path, proof: dict[str, Any]) -> str:
    """A one-line account of what the bundle answered; ProofFailed when it did not."""
    instances = proof["instances"]
    recorded = proof["predictions"]
    headers = {"x-api-key": proof["api_key"]} if proof.get("api_key") else {}
    events = [rest_api_event("POST", "/predict", json.dumps({"instances": instances}), headers)]
    if proof.get("shadow"):
        events.append(rest_api_event("GET", "/model", "", headers))
    with (
        tempfile.TemporaryDirectory(prefix="bundle-proof-") as tmp,
        unzipped_read_only(archive, Path(tmp) / "task") as bundle,
    ):
        report = run_events(bundle, proof["environment"], events)
        if report["error"]:
            stage = "imported" if report["error"]["stage"] == "import" else "invoked"
            raise ProofFailed(
                f"handler.handler could not be {stage} in the bundle:\n"
                + trimmed_traceback(report["error"], bundle)
            )
    answer = report["answers"][0]
    status = answer.get("statusCode")
    if status != 200:
        raise ProofFailed(f"POST /predict answered {status}: {error_answer(answer)}")
    predictions = json.loads(answer["body"]).get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(instances):
        raise ProofFailed(
            f"POST /predict answered {len(predictions or [])} prediction(s) for "
            f"{len(instances)} example row(s)"
        )
    seconds = f"{report['seconds_to_answers']:.1f} s"
    shadow = shadow_loaded(report["answers"][1:], proof.get("shadow"))
    if recorded is None:
        return (
            f"answered its {len(instances)} example row(s) with one prediction each in "
            f"{seconds} (the metadata records no example predictions to compare)"
        )
    found = differences(recorded, predictions, "predictions")
    if found:
        shown = found[:DIFFERENCES_SHOWN]
        if len(found) > DIFFERENCES_SHOWN:
            shown.append(f"... {len(found) - DIFFERENCES_SHOWN} more")
        raise ProofFailed(
            "POST /predict answered the example rows differently from the example_predictions "
            "recorded at describe:\n  " + "\n  ".join(shown)
        )
    return (
        f"answered its {len(instances)} example row(s) as recorded at describe in {seconds}"
        + shadow
    )


def shadow_loaded(answers: list[dict[str, Any]], shadow: str | None) -> str:
    """ "" without a shadow; with one, what GET /model says of it, or ProofFailed."""
    if not shadow:
        return ""
    answer = answers[0] if answers else {}
    if answer.get("statusCode") != 200:
        raise ProofFailed(f"GET /model answered {answer.get('statusCode')}: {error_answer(answer)}")
    described = json.loads(answer["body"]).get("shadow") or {}
    if described.get("loaded") is not True:
        raise ProofFailed(
            f"the shadow model ({shadow}) did not load in the bundle: "
            f"{described.get('reason') or 'GET /model does not name it'}"
        )
    return f"; its shadow {described.get('name')} {described.get('version')} loaded beside it"


def main(archive: str, runtime: str) -> None:
    if version() != runtime:
        sys.exit(f"{sys.executable} is Python {version()}, the runtime is python{runtime}")
    try:
        print(prove(Path(archive), json.load(sys.stdin)))
    except ProofFailed as failed:
        sys.exit(str(failed))


if __name__ == "__main__":
    main(*sys.argv[1:])
