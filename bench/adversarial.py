"""Hostile requests: what one request of at most MAX_CONTENT_LENGTH costs the service.

    python bench/adversarial.py [--json PATH] [--only TEXT ...] [--timeout 60]

The budget: any request up to MAX_CONTENT_LENGTH (1 MiB by default), on any route and
protocol, costs at most 100 ms of CPU beyond the model's own predict, and at most 32
times the body's size of extra peak memory (a body under 32 KiB is allowed 1 MiB, of the
order of a warm process's own noise; a GET has no body at all). Beside the budget, a row
also fails on a 5xx and on an answer past Lambda's 6 MB response payload limit, which
the client would get as an error.

Models: the bundled iris model, the churn example (a DataFrame model with categories),
and three trained here from generated data into bench/.work/adversarial/models/ and
described with model.export.save_model: 2,000 number features (each per-feature cost
times 2,000), 1,000 classes (the largest probability answers) and one zoned date-time
feature (the user's transformer of tests/date_features.py, shipped as its code archive).
They are kept between runs while this scikit-learn and numpy are the ones that made them
(describing the 2,000-feature model takes about half a minute).

Each case goes in two ways at once, each through a warm process serving one model (every
route answered once first), with one BLAS thread and one malloc arena:

- flask run: the app's own `flask --app app.factory run` with MODEL_URI set (flask's CLI, started
  with a SIGUSR1 handler through which the harness has it collect garbage and hand its
  free heap back before each case), over loopback HTTP. Its CPU is utime+stime from
  /proc/PID/stat (10 ms ticks) from before the request to after the request's thread has
  ended; its extra peak memory is VmHWM after the request minus VmRSS before it, the
  high-water mark reset by writing 5 to /proc/PID/clear_refs. A server that still holds
  more than 4 MB beyond its warm-up after that trim is replaced by a fresh one, started
  while the cases before ran. Its predict is the handler's for the same case.
- handler: handler.handler fed API Gateway REST events (tests/support/event_payloads.py; a body
  that is not UTF-8 goes base64-encoded, as for a binary media type), each case in a
  fork of a warm process, measuring itself the same way with time.process_time, so that
  every case starts from the same state. Predictor.run is timed there, wrapped by this
  harness, and reported as predict. Lambda B is `len(json.dumps(response))`.

Every request is capped (--timeout); a process whose RSS passes the function's memory
(serverless.yml's memorySize) is killed, as Lambda would end it. A process that dies, is
killed or times out is replaced, and the case recorded so with what it had spent by then.

Cases: one valid request per protocol (the control); the ones found by probing the code;
and a generator driven by the limits (app.service.settings.Settings' defaults, MAX_DETAILS of
app.core.validation): for each protocol, bodies that fill MAX_CONTENT_LENGTH with the most of
one thing. Rows are printed worst first: the failing ones, by how far past the budget
(x budget: the larger of CPU beyond predict / 100 ms and extra peak memory / allowance),
then the rest; then the generator's worst body for each protocol.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import gc
import http.client
import json
import os
import pickle
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from lambda_sizes import configured_memory_mb  # noqa: E402

from app.core.validation import MAX_DETAILS  # noqa: E402
from app.service.settings import Settings  # noqa: E402

WORK = BENCH / ".work" / "adversarial"
SETTINGS = Settings()
MAX_BODY = SETTINGS.max_content_length
MAX_ROWS = SETTINGS.max_batch_rows
MAX_DEPTH = SETTINGS.max_json_depth

BUDGET_CPU_MS = 100.0
BUDGET_MEMORY_X = 32
MEMORY_FLOOR_BYTES = 32 * 1024
# Lambda's limit on a synchronous invocation's response: the handler's JSON.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
MEMORY_LIMIT_MB = configured_memory_mb() or 1024
# A process that holds this much more than after its warm-up is started again.
RESTART_SLACK_KB = 4 * 1024
TICK_S = 1 / os.sysconf("SC_CLK_TCK")

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
BINARY_TYPE = "application/octet-stream"
BINARY_HEADER = "Inference-Header-Content-Length"
# One astral-plane character: 4 bytes of UTF-8, 12 as \u-escaped JSON.
ASTRAL = "\U0001f600"

# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------

# Bumped when a trained model's recipe changes, so that the kept ones are made again.
RECIPE = 1
WIDE_FEATURES = 2000
CLASSES = 1000


@dataclass(frozen=True)
class Model:
    key: str
    artifact: Path

    @cached_property
    def metadata(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.artifact.with_suffix(".json").read_text())
        return document

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def features(self) -> list[dict[str, Any]]:
        return list(self.metadata["features"])

    @property
    def names(self) -> list[str]:
        return [feature["name"] for feature in self.features]

    @property
    def all_numeric(self) -> bool:
        return all(feature["type"] in ("number", "integer") for feature in self.features)

    def rows(self, count: int) -> list[dict[str, Any]]:
        """`count` valid rows by feature name: the example's complete rows, cycled."""
        example = [row for row in self.metadata["example"] if None not in row.values()]
        return [dict(example[index % len(example)]) for index in range(count)]


def _train_wide(folder: Path) -> Path:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from model.export import Description, save_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, WIDE_FEATURES))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    names = [f"feature_{index:04d}" for index in range(WIDE_FEATURES)]
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    artifact = folder / "wide.joblib"
    save_model(estimator, artifact, Description("wide-2000", "1.0.0", names), X[:3])
    return artifact


def _train_classes(folder: Path) -> Path:
    import numpy as np
    from sklearn.naive_bayes import GaussianNB

    from model.export import Description, save_model

    rng = np.random.default_rng(0)
    labels = np.array([f"class_{index:04d}" for index in range(CLASSES)])
    rows = 3 * CLASSES
    X = rng.normal(size=(rows, 4)) + (np.arange(rows) % CLASSES)[:, None] / 100
    estimator = GaussianNB().fit(X, labels[np.arange(rows) % CLASSES])
    artifact = folder / "classes.joblib"
    description = Description("classes-1000", "1.0.0", ["a", "b", "c", "d"])
    save_model(estimator, artifact, description, X[:5])
    return artifact


def _train_visits(folder: Path) -> Path:
    source = folder / "date_features.py"
    shutil.copy(ROOT / "tests" / "date_features.py", source)
    sys.path.insert(0, str(folder))
    try:
        from date_features import DateParts, visits
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline

        from model.export import Description, save_model

        frame, target = visits(400, "datetime64[ns, UTC]")
        estimator = make_pipeline(DateParts(), LinearRegression()).fit(frame[["when"]], target)
        artifact = folder / "visits.joblib"
        example = frame[["when"]].head(5)
        save_model(estimator, artifact, Description("visits", "1.0.0"), example, code=[source])
    finally:
        sys.path.remove(str(folder))
    return artifact


TRAINED: dict[str, Callable[[Path], Path]] = {
    "wide": _train_wide,
    "classes": _train_classes,
    "visits": _train_visits,
}


def prepare_models() -> dict[str, Model]:
    """The bundled models, and the trained ones, made again only when stale."""
    import numpy
    import sklearn

    made_with = {"recipe": RECIPE, "scikit-learn": sklearn.__version__, "numpy": numpy.__version__}
    models = {
        "iris": Model("iris", ROOT / "model" / "model.joblib"),
        "churn": Model("churn", ROOT / "model" / "examples" / "churn.joblib"),
    }
    for key, train in TRAINED.items():
        folder = WORK / "models" / key
        stamp = folder / "made-with.json"
        artifacts = sorted(folder.glob("*.joblib"))
        if not (artifacts and stamp.is_file() and json.loads(stamp.read_text()) == made_with):
            started = time.monotonic()
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            artifacts = [train(folder)]
            stamp.write_text(json.dumps(made_with))
            print(f"made the {key} model in {time.monotonic() - started:.0f} s", flush=True)
        models[key] = Model(key, artifacts[0])
    return models


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    protocol: str  # native, mlflow, mlflow csv, v2, v2 columnar, v2 binary, ...
    model: str
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.protocol}, {self.model}: {self.name}"

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def dumps(value: Any) -> str:
    """Compact JSON with non-ASCII as written: the fewest bytes a client would send."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_bytes(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def most(build: Callable[[int], str | bytes], low: int = 0) -> int:
    """The largest n >= low for which build(n) fits MAX_BODY; build grows with n.

    The bodies here grow by the same bytes per step, or nearly: the first guess is close.
    """

    def size(n: int) -> int:
        return len(as_bytes(build(n)))

    if size(low) > MAX_BODY:
        raise ValueError("even the smallest body is over the limit")
    first = size(low + 1)
    if first > MAX_BODY:
        return low
    guess = low + 1 + (MAX_BODY - first) // max(1, size(low + 2) - first)
    if size(guess) <= MAX_BODY:
        low, high = guess, guess + 1
        while size(high) <= MAX_BODY:
            low, high = high, high + (high - low) * 2
    else:
        high = guess
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if size(middle) <= MAX_BODY else (low, middle)
    return low


def largest(build: Callable[[int], str | bytes], low: int = 0, limit: int | None = None) -> bytes:
    """The largest body build(n) makes that fits MAX_BODY, with n at most `limit`."""
    n = most(build, low)
    return as_bytes(build(n if limit is None else min(n, limit)))


def repeated(item: str, count: int, sep: str = ",") -> str:
    return sep.join([item] * count)


def key(index: int) -> str:
    """Distinct member names, all of one length (up to 16**5 of them)."""
    return f"k{index:05x}"


_KEYS: list[str] = []


def keys(count: int, template: str = '"{}":0') -> str:
    """`template` filled with each of the first `count` names, comma-separated."""
    while len(_KEYS) < count:
        _KEYS.extend(key(index) for index in range(len(_KEYS), max(count, 2 * len(_KEYS))))
    before, after = template.split("{}")
    return before + (after + "," + before).join(_KEYS[:count]) + after if count else ""


DATATYPE = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
}
_NUMPY = {"FP64": "<f8", "INT64": "<i8", "BOOL": "?"}


def encode(values: Sequence[Any], datatype: str) -> bytes:
    """Values as Triton's binary extension carries them: little-endian, row-major,
    BYTES each as a 4-byte length and its UTF-8."""
    if datatype == "BYTES":
        texts = [str(value).encode() for value in values]
        return b"".join(struct.pack("<I", len(text)) + text for text in texts)
    import numpy as np

    return np.asarray(values, dtype=_NUMPY[datatype]).tobytes()


def _csv_field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class Requests:
    """One model's requests: its routes, content types and each protocol's body forms."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.v2_path = f"/v2/models/{model.name}/infer"

    def native(self, name: str, family: str, body: str | bytes) -> Case:
        return self._post(name, family, "native", "/predict", body, JSON_TYPE)

    def mlflow(self, name: str, family: str, body: str | bytes) -> Case:
        return self._post(name, family, "mlflow", "/invocations", body, JSON_TYPE)

    def csv(self, name: str, family: str, body: str | bytes) -> Case:
        return self._post(name, family, "mlflow csv", "/invocations", body, CSV_TYPE)

    def v2(self, name: str, family: str, body: str | bytes, protocol: str = "v2") -> Case:
        return self._post(name, family, protocol, self.v2_path, body, JSON_TYPE)

    def v2_binary(
        self, name: str, family: str, body: bytes, header_length: int | str | None = None
    ) -> Case:
        """Triton's binary form: `body` is the JSON header, then the tensors' bytes; without
        `header_length`, the whole body is the header."""
        length = str(len(body) if header_length is None else header_length)
        headers = (("Content-Type", BINARY_TYPE), (BINARY_HEADER, length))
        return Case(name, family, "v2 binary", self.model.key, "POST", self.v2_path, body, headers)

    def get(self, name: str, family: str, path: str, protocol: str) -> Case:
        return Case(name, family, protocol, self.model.key, "GET", path)

    def _post(
        self, name: str, family: str, protocol: str, path: str, body: str | bytes, kind: str
    ) -> Case:
        headers = (("Content-Type", kind),)
        return Case(name, family, protocol, self.model.key, "POST", path, as_bytes(body), headers)

    # Valid bodies of `rows` (dicts by feature name) in each protocol's usual form.

    def instances(self, rows: list[dict[str, Any]], **extra: Any) -> str:
        return dumps({"instances": rows, **extra})

    def split(self, rows: list[dict[str, Any]]) -> str:
        names = self.model.names
        data = [[row[name] for name in names] for row in rows]
        return dumps({"dataframe_split": {"columns": names, "data": data}})

    def csv_text(self, rows: list[dict[str, Any]]) -> str:
        names = self.model.names
        lines = [",".join(names), *(",".join(_csv_field(r[n]) for n in names) for r in rows)]
        return "\n".join(lines) + "\n"

    def matrix(self, rows: list[dict[str, Any]], **extra: Any) -> str:
        names = self.model.names
        data = [row[name] for row in rows for name in names]
        tensor = {"name": "input-0", "datatype": "FP64", "shape": [len(rows), len(names)]}
        return dumps({"inputs": [{**tensor, "data": data}], **extra})

    def columns(self, rows: list[dict[str, Any]]) -> str:
        return dumps({"inputs": [{**t, "data": d} for t, d in self._columns(rows)]})

    def binary(self, rows: list[dict[str, Any]], **extra: Any) -> tuple[bytes, int]:
        """The rows in Triton's binary form (the matrix for an all-number model, else one
        tensor per feature): the body, and the length of its JSON header."""
        if self.model.all_numeric:
            names = self.model.names
            tensor = {"name": "input-0", "datatype": "FP64", "shape": [len(rows), len(names)]}
            parts = [(tensor, [row[name] for row in rows for name in names])]
        else:
            parts = self._columns(rows)
        blobs = [encode(data, tensor["datatype"]) for tensor, data in parts]
        tensors = [
            {**tensor, "parameters": {"binary_data_size": len(blob)}}
            for (tensor, _), blob in zip(parts, blobs, strict=True)
        ]
        header = dumps({"inputs": tensors, **extra}).encode()
        return header + b"".join(blobs), len(header)

    def _columns(self, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[Any]]]:
        return [
            (
                {"name": f["name"], "datatype": DATATYPE[f["type"]], "shape": [len(rows)]},
                [row[f["name"]] for row in rows],
            )
            for f in self.model.features
        ]


def control_cases(r: Requests) -> Iterator[Case]:
    """One valid row in each protocol: what an ordinary request costs, the noise floor."""
    rows = r.model.rows(1)
    yield r.native("one row", "control", r.instances(rows))
    yield r.mlflow("one row", "control", r.split(rows))
    yield r.csv("one row", "control", r.csv_text(rows))
    if r.model.all_numeric:
        yield r.v2("one row", "control", r.matrix(rows))
    yield r.v2("one row", "control", r.columns(rows), "v2 columnar")
    yield r.v2_binary("one row", "control", *r.binary(rows))


def warm_up_cases(r: Requests) -> list[Case]:
    """Every route once, so that what loads on first use is loaded before measuring."""
    rows = r.model.rows(3)
    return [
        *control_cases(r),
        r.mlflow("records", "warm-up", dumps({"dataframe_records": rows})),
        r.native("an unknown field", "warm-up", dumps({"instances": [{"x": 1}]})),
        r.get("openapi", "warm-up", "/openapi.json", "native"),
        r.get("model", "warm-up", "/model", "native"),
        r.get("v2 metadata", "warm-up", f"/v2/models/{r.model.name}", "v2"),
    ]


def probe_cases(models: dict[str, Model]) -> Iterator[Case]:
    """What probing the code found, one request each."""
    iris, wide, classes = (Requests(models[k]) for k in ("iris", "wide", "classes"))
    family = "probe"

    def tens(n: int) -> str:
        shape = repeated("10", n)
        return '{"inputs":[{"name":"input-0","datatype":"FP64","data":[],"shape":[' + shape + "]}]}"

    body = largest(tens)
    yield iris.v2(f"shape of {body.count(b'10'):,} dimensions of 10", family, body)

    # A product of more than 4,300 digits, which Python will not write as text.
    huge = [10] * 4301
    name = "shape whose product has 4,302 digits"
    tensor = {"name": "input-0", "datatype": "FP64", "shape": huge}
    yield iris.v2(name, family, dumps({"inputs": [{**tensor, "data": []}]}))
    binary = {**tensor, "parameters": {"binary_data_size": 0}}
    yield iris.v2_binary(name, family, dumps({"inputs": [binary]}).encode())
    columns = [{**tensor, "name": n, "data": []} for n in models["iris"].names]
    yield iris.v2(name, family, dumps({"inputs": columns}), "v2 columnar")
    one = iris.matrix(models["iris"].rows(1)).encode()
    yield iris.v2_binary(f"{BINARY_HEADER} of 5,000 digits", family, one, "9" * 5000)

    body = largest(lambda n: repeated("a", n) + "\n")
    yield iris.csv(f"CSV header of {body.count(b',') + 1:,} columns", family, body)
    body = largest(lambda n: '{"inputs":[' + repeated("{}", n) + "]}")
    yield iris.v2(f"{body.count(b'{}'):,} empty tensors", family, body)
    width = WIDE_FEATURES
    strings = "[" + repeated('""', width) + "]"
    body = largest(lambda n: '{"instances":[' + repeated(strings, n) + "]}")
    rows = body.count(b"[") - 1
    yield wide.native(f"{rows} rows of {width:,} strings for numbers", family, body)

    body = largest(lambda n: '{"' + ASTRAL * n + '":0}')
    name = f"unknown field name of {body.count(ASTRAL.encode()):,} astral-plane characters"
    yield iris.native(name, family, body)
    yield iris.mlflow(name, family, body)
    yield iris.v2(name, family, body)
    yield iris.v2_binary(name, family, body)
    features = ",".join(models["iris"].names)
    body = largest(lambda n: features + "," + ASTRAL * n + "\n")
    name = f"unknown column name of {body.count(ASTRAL.encode()):,} astral-plane characters"
    yield iris.csv(name, family, body)

    name = f"probabilities of {MAX_ROWS:,} rows, {CLASSES:,} classes"
    rows_of = models["classes"].rows(MAX_ROWS)
    yield classes.native(name, family, classes.instances(rows_of, return_probabilities=True))
    yield wide.get(f"/openapi.json of {width:,} features", family, "/openapi.json", "native")


def generated_cases(models: dict[str, Model]) -> Iterator[Case]:
    """For each protocol, bodies that fill MAX_BODY with the most of one thing."""
    for family in FAMILIES:
        yield from family(models)


def widest_rows(models: dict[str, Model]) -> Iterator[Case]:
    """Rows at the batch limit, each value as wide as fits: valid, so the model answers."""
    family = "widest rows"
    iris, churn = Requests(models["iris"]), Requests(models["churn"])
    # A number of many digits that is still a float64 (and so read digit by digit).
    number = lambda k: "0." + "1" * k  # noqa: E731
    width = len(models["iris"].names)
    row = lambda k: "[" + repeated(number(k), width) + "]"  # noqa: E731
    names = dumps(models["iris"].names)
    name = f"{MAX_ROWS:,} rows of numbers as long as fit"
    yield iris.native(
        name, family, largest(lambda k: '{"instances":[' + repeated(row(k), MAX_ROWS) + "]}", 1)
    )
    split = '{"dataframe_split":{"columns":' + names + ',"data":['
    yield iris.mlflow(
        name, family, largest(lambda k: split + repeated(row(k), MAX_ROWS) + "]}}", 1)
    )
    header = ",".join(models["iris"].names) + "\n"
    line = lambda k: repeated(number(k), width)  # noqa: E731
    yield iris.csv(name, family, largest(lambda k: header + repeated(line(k), MAX_ROWS, "\n"), 1))
    tensor = f'{{"inputs":[{{"name":"input-0","datatype":"FP64","shape":[{MAX_ROWS},{width}],'
    yield iris.v2(
        name,
        family,
        largest(lambda k: tensor + '"data":[' + repeated(number(k), MAX_ROWS * width) + "]}]}", 1),
    )
    # A binary tensor cannot be wider: the most rows it may hold.
    yield iris.v2_binary(f"{MAX_ROWS:,} rows", family, *iris.binary(models["iris"].rows(MAX_ROWS)))

    # The churn model's open category: long strings the model takes as unknown ones.
    base = models["churn"].rows(MAX_ROWS)
    texts = lambda k: [{**row, "payment_method": "x" * k} for row in base]  # noqa: E731
    name = f"{MAX_ROWS:,} rows, an open category's strings as long as fit"
    yield from _rows_in_every_form(churn, name, family, texts)


def _rows_in_every_form(
    r: Requests, name: str, family: str, rows: Callable[[int], list[dict[str, Any]]]
) -> Iterator[Case]:
    """rows(k), k as large as fits, in each protocol's form: instances, dataframe_split,
    CSV, V2 by feature in JSON and in binary."""
    yield r.native(name, family, largest(lambda k: r.instances(rows(k)), 1))
    yield r.mlflow(name, family, largest(lambda k: r.split(rows(k)), 1))
    yield r.csv(name, family, largest(lambda k: r.csv_text(rows(k)), 1))
    yield r.v2(name, family, largest(lambda k: r.columns(rows(k)), 1), "v2 columnar")
    k = most(lambda k: r.binary(rows(k))[0], 1)
    yield r.v2_binary(name + " (columnar)", family, *r.binary(rows(k)))


def unknown_fields(models: dict[str, Model]) -> Iterator[Case]:
    """As many distinct unknown member names as fit, each one a problem to report."""
    family = "unknown fields"
    iris, wide = Requests(models["iris"]), Requests(models["wide"])
    one = dumps(models["iris"].rows(1))
    body = largest(lambda n: '{"instances":' + one + "," + keys(n) + "}")
    top = f"{body.count(b'"k'):,} unknown top-level fields"
    yield iris.native(top, family, body)
    yield iris.mlflow(
        top, family, largest(lambda n: '{"dataframe_records":' + one + "," + keys(n) + "}")
    )
    split = '{"dataframe_split":{"data":[[1,2,3,4]],'
    body = largest(lambda n: split + keys(n) + "}}")
    yield iris.mlflow(f"dataframe_split: {body.count(b'"k'):,} unknown fields", family, body)
    v2 = iris.matrix(models["iris"].rows(1))[:-1]
    yield iris.v2(top, family, largest(lambda n: v2 + "," + keys(n) + "}"))
    tensor = '{"inputs":[{"name":"input-0","datatype":"FP64","shape":[1,4],"data":[1,2,3,4],'
    body = largest(lambda n: tensor + keys(n) + "}]}")
    yield iris.v2(f"inputs[0]: {body.count(b'"k'):,} unknown fields", family, body)
    body = largest(lambda n: v2 + ',"outputs":[{"name":"predict",' + keys(n) + "}]}")
    yield iris.v2(f"outputs[0]: {body.count(b'"k'):,} unknown fields", family, body)
    binary, length = iris.binary(models["iris"].rows(1))
    header, blob = binary[: length - 1].decode(), binary[length:]
    body = largest(lambda n: (header + "," + keys(n) + "}").encode() + blob)
    yield iris.v2_binary(top, family, body, len(body) - len(blob))

    # Against the wide model: each unknown name's message lists its 2,000 features.
    per_row = 100
    row = "{" + keys(per_row) + "}"
    body = largest(lambda n: '{"instances":[' + repeated(row, n) + "]}")
    rows = body.count(b"{") - 1
    yield wide.native(f"{rows} object rows of {per_row} unknown names", family, body)
    body = largest(lambda n: '{"dataframe_records":[' + repeated(row, n) + "]}")
    yield wide.mlflow(f"dataframe_records: {rows} rows of {per_row} unknown names", family, body)
    body = largest(lambda n: '{"inputs":{' + keys(n, '"{}":[0]') + "}}")
    yield wide.mlflow(f"inputs: {body.count(b'[0]'):,} unknown columns", family, body)
    body = largest(lambda n: ",".join(key(i) for i in range(n)) + "\n")
    yield wide.csv(f"CSV header of {body.count(b',') + 1:,} unknown names", family, body)


def missing_features(models: dict[str, Model]) -> Iterator[Case]:
    """Rows at the batch limit that name no feature: one problem per feature and row."""
    family = "missing features"
    wide = Requests(models["wide"])
    empty = repeated("{}", MAX_ROWS)
    yield wide.native(f"{MAX_ROWS:,} empty object rows", family, '{"instances":[' + empty + "]}")
    records = '{"dataframe_records":[' + empty + "]}"
    yield wide.mlflow(f"dataframe_records: {MAX_ROWS:,} empty rows", family, records)
    yield wide.mlflow("inputs: no column", family, '{"inputs":{}}')
    one = '{"inputs":[{"name":"feature_0000","datatype":"FP64","shape":[1],"data":[0]}]}'
    yield wide.v2("one input of 2,000", family, one, "v2 columnar")


def wrong_types(models: dict[str, Model]) -> Iterator[Case]:
    """As many wrong-typed values as fit, in rows of the wide model, at most MAX_ROWS."""
    family = "wrong types"
    wide = Requests(models["wide"])
    names, width = models["wide"].names, WIDE_FEATURES

    def arrays(item: str, n: int) -> str:
        return repeated("[" + repeated(item, width) + "]", n)

    body = largest(lambda n: '{"instances":[' + arrays("[]", n) + "]}", limit=MAX_ROWS)
    yield wide.native(f"{body.count(b'[[]')} rows of arrays for numbers", family, body)
    split = '{"dataframe_split":{"columns":' + dumps(names) + ',"data":['
    body = largest(lambda n: split + arrays('""', n) + "]}}", limit=MAX_ROWS)
    yield wide.mlflow(f"dataframe_split: {body.count(b'[""')} rows of strings", family, body)
    header = ",".join(names) + "\n"
    lines = lambda n: repeated(repeated("x", width), n, "\n")  # noqa: E731
    body = largest(lambda n: header + lines(n) + "\n", limit=MAX_ROWS)
    yield wide.csv(f"{body.count(b'\n') - 1} rows of x for numbers", family, body)

    def matrix(rows: int) -> str:
        tensor = f'{{"name":"input-0","datatype":"FP64","shape":[{rows},{width}],"data":['
        return '{"inputs":[' + tensor + repeated('""', rows * width) + "]}]}"

    body = largest(matrix, limit=MAX_ROWS)
    yield wide.v2(f"FP64 matrix of {body.count(b'""'):,} strings", family, body)

    def columns(rows: int) -> str:
        data = repeated('""', rows)
        tensor = '"datatype":"FP64","shape":[' + str(rows) + '],"data":[' + data + "]}"
        return '{"inputs":[' + ",".join('{"name":"' + n + '",' + tensor for n in names) + "]}"

    body = largest(columns, limit=MAX_ROWS)
    yield wide.v2(
        f"an FP64 input per feature, {body.count(b'""'):,} strings", family, body, "v2 columnar"
    )

    def infinities(rows: int) -> tuple[bytes, int]:
        blob = struct.pack("<d", float("inf")) * (rows * width)
        tensor = {"name": "input-0", "datatype": "FP64", "shape": [rows, width]}
        header = dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(blob)}}]})
        return header.encode() + blob, len(header)

    rows = min(most(lambda n: infinities(n)[0]), MAX_ROWS)
    name = f"FP64 matrix of {rows * width:,} infinities"
    yield wide.v2_binary(name, family, *infinities(rows))


def deep_nesting(models: dict[str, Model]) -> Iterator[Case]:
    """Arrays nested to MAX_JSON_DEPTH, as many as fit: the deepest a parser is handed."""
    family = "deep nesting"
    iris = Requests(models["iris"])
    width = len(models["iris"].names)

    def chain(depth: int) -> str:
        return "[" * depth + "0" + "]" * depth

    # Above a row's values: the body's object, the array of rows and the row; each value
    # an array of chains, so the deepest 0 is at MAX_DEPTH.
    value = lambda k: "[" + repeated(chain(MAX_DEPTH - 4), k) + "]"  # noqa: E731
    rows = lambda k: repeated("[" + repeated(value(k), width) + "]", MAX_ROWS)  # noqa: E731
    name = f"{MAX_ROWS:,} rows of values nested {MAX_DEPTH} deep"
    yield iris.native(name, family, largest(lambda k: '{"instances":[' + rows(k) + "]}", 1))
    split = '{"dataframe_split":{"data":['
    yield iris.mlflow(name, family, largest(lambda k: split + rows(k) + "]}}", 1))

    # Above the data's values: the body, inputs, the tensor and its data.
    def v2(n: int) -> str:
        tensor = f'{{"name":"input-0","datatype":"FP64","shape":[{n},{width}],"data":['
        return '{"inputs":[' + tensor + repeated(chain(MAX_DEPTH - 4), n * width) + "]}]}"

    rows = most(v2, 1)
    name = f"data of {rows * width:,} values nested {MAX_DEPTH} deep"
    yield iris.v2(name, family, v2(rows))
    one = dumps(models["iris"].rows(1))
    body = largest(
        lambda n: '{"instances":' + one + ',"x":[' + repeated(chain(MAX_DEPTH - 2), n) + "]}"
    )
    yield iris.native(f"an unknown field: arrays nested {MAX_DEPTH} deep", family, body)


def many_tensors(models: dict[str, Model]) -> Iterator[Case]:
    """As many short V2 tensors as fit, each a problem to report or a tensor to decode."""
    family = "many tensors"
    iris, wide = Requests(models["iris"]), Requests(models["wide"])
    tensor = '{"name":"{}","datatype":"FP64","shape":[1],"data":[0]}'
    body = largest(lambda n: '{"inputs":[' + keys(n, tensor) + "]}")
    name = f"{body.count(b'"name"'):,} one-value tensors of unknown names"
    yield iris.v2(name, family, body)
    yield wide.v2(name, family, body)
    names = models["iris"].names
    repeats = lambda n: ",".join(tensor.replace("{}", names[i % 4]) for i in range(n))  # noqa: E731
    body = largest(lambda n: '{"inputs":[' + repeats(n) + "]}")
    name = f"{body.count(b'"name"'):,} one-value tensors named after the features"
    yield iris.v2(name, family, body, "v2 columnar")
    binary = '{"name":"{}","datatype":"FP64","shape":[1],"parameters":{"binary_data_size":8}}'
    header = lambda n: '{"inputs":[' + keys(n, binary) + "]}"  # noqa: E731
    body = largest(lambda n: header(n).encode() + bytes(8 * n))
    count = body.count(b'"name"')
    yield iris.v2_binary(f"{count:,} one-value tensors", family, body, len(header(count)))


def declared_sizes(models: dict[str, Model]) -> Iterator[Case]:
    """Sizes declared far beyond what the body holds."""
    family = "declared sizes"
    iris = Requests(models["iris"])
    big = "1" + "0" * 307  # 1e307: an integer that is still a float64

    def dims(n: int) -> str:
        tensor = '{"name":"input-0","datatype":"FP64","data":[],"shape":['
        return '{"inputs":[' + tensor + repeated(big, n) + "]}]}"

    body = largest(dims)
    name = f"shape of {body.count(big.encode()):,} dimensions of 1e307"
    yield iris.v2(name, family, body)

    def columns(n: int) -> str:
        shape = repeated(big, n)
        tensor = '{{"name":"{}","datatype":"FP64","data":[],"shape":[' + shape + "]}}"
        return '{"inputs":[' + ",".join(tensor.format(name) for name in models["iris"].names) + "]}"

    body = largest(columns)
    name = f"a shape of {body.count(big.encode()) // 4:,} dimensions of 1e307 per feature"
    yield iris.v2(name, family, body, "v2 columnar")
    tensor = {"name": "input-0", "datatype": "FP64", "shape": [int(big), 4]}
    yield iris.v2("shape [1e307, 4], no data", family, dumps({"inputs": [{**tensor, "data": []}]}))
    tensor = {"name": "input-0", "datatype": "FP64", "shape": [1, 4]}
    sized = {**tensor, "parameters": {"binary_data_size": int(big)}}
    yield iris.v2_binary(
        "binary_data_size of 308 digits", family, dumps({"inputs": [sized]}).encode()
    )
    one = iris.matrix(models["iris"].rows(1)).encode()
    yield iris.v2_binary(f"{BINARY_HEADER} of 4,300 digits", family, one, "9" * 4300)


def long_categories(models: dict[str, Model]) -> Iterator[Case]:
    """Rows at the batch limit whose closed category is a string as long as fits."""
    base = models["churn"].rows(MAX_ROWS)
    texts = lambda k: [{**row, "contract": "x" * k} for row in base]  # noqa: E731
    name = f"{MAX_ROWS:,} rows, a closed category's strings as long as fit"
    yield from _rows_in_every_form(Requests(models["churn"]), name, "long categories", texts)


def datetimes(models: dict[str, Model]) -> Iterator[Case]:
    """Rows at the batch limit of date-times: valid at full precision, and long ones."""
    family = "date-times"
    visits = Requests(models["visits"])
    valid = [
        {"when": f"2024-0{1 + i % 9}-1{i % 10}T1{i % 10}:59:59.123456789+0{i % 10}:30"}
        for i in range(MAX_ROWS)
    ]
    name = f"{MAX_ROWS:,} date-times with nanoseconds and offsets"
    yield visits.native(name, family, visits.instances(valid))
    long = lambda k: [{"when": "2024-01-01T00:00:00." + "1" * k}] * MAX_ROWS  # noqa: E731
    name = f"{MAX_ROWS:,} date-times of fractions as long as fit"
    yield from _rows_in_every_form(visits, name, family, long)


def many_rows(models: dict[str, Model]) -> Iterator[Case]:
    """As many (empty) rows as fit, far past the batch limit: refused by their count."""
    family = "many rows"
    iris = Requests(models["iris"])
    body = largest(lambda n: '{"instances":[' + repeated("[]", n) + "]}")
    yield iris.native(f"{body.count(b'[]'):,} empty rows", family, body)
    body = largest(lambda n: '{"dataframe_records":[' + repeated("{}", n) + "]}")
    yield iris.mlflow(f"dataframe_records: {body.count(b'{}'):,} empty rows", family, body)
    header = ",".join(models["iris"].names) + "\n"
    body = largest(lambda n: header + repeated("0", n, "\n") + "\n")
    yield iris.csv(f"{body.count(b'\n') - 1:,} rows of one field", family, body)

    def v2(n: int) -> str:
        tensor = f'{{"name":"input-0","datatype":"FP64","shape":[{n},4],"data":['
        return '{"inputs":[' + tensor + repeated("0", n * 4) + "]}]}"

    rows = most(v2)
    yield iris.v2(f"{rows:,} rows in one tensor", family, v2(rows))


def answers(models: dict[str, Model]) -> Iterator[Case]:
    """The largest answers a small request can ask for."""
    family = "answers"
    classes, wide = Requests(models["classes"]), Requests(models["wide"])
    rows = models["classes"].rows(MAX_ROWS)
    proba = [{"name": "predict_proba"}]
    name = f"predict_proba of {MAX_ROWS:,} rows, {CLASSES:,} classes"
    yield classes.v2(name, family, classes.matrix(rows, outputs=proba))
    binary = classes.binary(rows, outputs=proba, parameters={"binary_data_output": True})
    yield classes.v2_binary(name + ", binary", family, *binary)
    yield classes.get(f"/openapi.json of {CLASSES:,} classes", family, "/openapi.json", "native")
    yield wide.get(f"/model of {WIDE_FEATURES:,} features", family, "/model", "native")
    path = f"/v2/models/{models['wide'].name}"
    yield wide.get(f"V2 model metadata of {WIDE_FEATURES:,} features", family, path, "v2")


FAMILIES: list[Callable[[dict[str, Model]], Iterator[Case]]] = [
    widest_rows,
    unknown_fields,
    missing_features,
    wrong_types,
    deep_nesting,
    many_tensors,
    declared_sizes,
    long_categories,
    datetimes,
    many_rows,
    answers,
]


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of the whole process, its ended threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def memory_kb(pid: int | str, name: str) -> int:
    """VmRSS, VmHWM, ... of /proc/PID/status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def reset_peak(pid: int | str) -> None:
    """Reset the process's VmHWM to its RSS now, where the kernel lets this user."""
    if PEAK_RESETS:
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_resets() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# Without it, each flask run case gets a fresh server, and a peak may be its start-up's.
PEAK_RESETS = _peak_resets()


def past_memory_limit(pid: int) -> bool:
    try:
        return memory_kb(pid, "VmRSS") > MEMORY_LIMIT_MB * 1024
    except (OSError, KeyError):
        return False


def spent_so_far(pid: int, cpu_before_s: float, rss_before_kb: int) -> dict[str, Any]:
    """The CPU and extra peak memory of a process about to be ended: lower bounds."""
    try:
        return {
            "cpu_ms": (cpu_seconds(pid) - cpu_before_s) * 1000,
            "extra_rss_bytes": (memory_kb(pid, "VmHWM") - rss_before_kb) * 1024,
        }
    except (OSError, KeyError):
        return {}


@dataclass
class Measured:
    """One case through one way in."""

    outcome: str  # answered, timeout, killed (past the memory), died
    status: int | None = None
    answer_bytes: int | None = None
    payload_bytes: int | None = None  # the handler's Lambda response, as JSON
    cpu_ms: float | None = None
    predict_ms: float | None = None  # measured by the handler only
    extra_rss_bytes: int | None = None
    wall_s: float = 0.0
    excerpt: str = ""


def excerpt(data: bytes) -> str:
    return data[:160].decode("utf-8", errors="replace")


def environment(model: Model) -> dict[str, str]:
    return {
        **os.environ,
        "MODEL_URI": str(model.artifact),
        # As the deployed function runs: one BLAS thread.
        "OPENBLAS_NUM_THREADS": "1",
        # One malloc arena, as a single-threaded handler has: glibc's malloc_trim gives
        # back the top of the main arena only, and flask run serves each request in a
        # thread of its own, which would otherwise keep what it freed for the next one.
        "MALLOC_ARENA_MAX": "1",
    }


def log_file(way: str, model: Model) -> Any:
    return (WORK / f"{way.replace(' ', '-')}-{model.key}.log").open("ab")


# ---------------------------------------------------------------------------------------
# The handler: a warm process that forks a copy of itself for each case
# ---------------------------------------------------------------------------------------


def worker_main(timeout: float) -> None:
    """Serve cases from stdin through handler.handler, one JSON line of figures each: a
    warm-up in this process, a measured case in a fork of it, so that every case starts
    from the same warm process and its memory is its own."""
    results = os.fdopen(os.dup(1), "w", buffering=1)
    # The request lines go where Lambda's would, without a terminal to slow them.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.path.insert(0, str(ROOT / "tests"))
    from support.event_payloads import LambdaContext, event_for

    import handler
    from app.core.predictor import Predictor

    spent = [0.0]
    run = Predictor.run

    def timed_run(self: Predictor, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return run(self, *args, **kwargs)
        finally:
            spent[0] += time.process_time() - started

    Predictor.run = timed_run  # type: ignore[method-assign]
    context = LambdaContext()

    def serve(case: Case) -> Measured:
        try:
            body: str | bytes = case.body.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            body, binary = case.body, True
        headers = {k: v for k, v in case.headers if k.lower() != "content-type"}
        content_type = case.header("Content-Type")
        event = event_for(
            "rest-api.json", case.method, case.path, body or None, content_type, binary, headers
        )
        del body
        gc.collect()
        spent[0] = 0.0
        reset_peak("self")
        before = memory_kb("self", "VmRSS")
        started, wall = time.process_time(), time.perf_counter()
        response = handler.handler(event, context)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
        peak = memory_kb("self", "VmHWM")
        answer = response.get("body") or ""
        data = base64.b64decode(answer) if response.get("isBase64Encoded") else answer.encode()
        return Measured(
            "answered",
            response["statusCode"],
            len(data),
            len(json.dumps(response)),
            cpu * 1000,
            spent[0] * 1000,
            (peak - before) * 1024,
            wall,
            excerpt(data),
        )

    source = sys.stdin.buffer
    mapped: list[tuple[int, int]] | None = None
    while size := source.read(8):
        warm_up, case = pickle.loads(source.read(int.from_bytes(size, "little")))
        if warm_up:
            figures = serve(case)
        else:
            if mapped is None:
                # Warm now: what the warm-up freed goes back to the system, so that a fork
                # does not find it free to use, and the pages of the code and data files
                # read so far are the ones each fork needs mapped.
                gc.collect()
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                mapped = resident_file_pages()
            figures = _in_a_fork(serve, case, timeout, mapped)
        results.write(json.dumps(asdict(figures)) + "\n")


PAGE = os.sysconf("SC_PAGE_SIZE")
MADV_POPULATE_READ = 22  # Linux 5.14


def resident_file_pages() -> list[tuple[int, int]]:
    """(address, length) of the runs of resident pages in this process's file mappings:
    its shared libraries and the files it has mapped."""
    import numpy as np

    runs: list[tuple[int, int]] = []
    with open("/proc/self/pagemap", "rb") as pagemap:
        for line in Path("/proc/self/maps").read_text().splitlines():
            parts = line.split()
            if len(parts) < 6 or not parts[5].startswith("/") or "r" not in parts[1]:
                continue
            start, end = (int(bound, 16) for bound in parts[0].split("-"))
            pagemap.seek(start // PAGE * 8)
            entries = np.frombuffer(pagemap.read((end - start) // PAGE * 8), dtype="<u8")
            present = ((entries >> np.uint64(63)) & np.uint64(1)).astype(np.int8)
            edges = np.diff(np.concatenate(([0], present, [0])))
            for first, last in zip(
                np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True
            ):
                runs.append((start + int(first) * PAGE, int(last - first) * PAGE))
    return runs


def map_again(runs: list[tuple[int, int]]) -> None:
    """Map the parent's resident file pages into this fork: a fork copies the page tables
    of anonymous memory only, and each file page touched again would count as growth."""
    madvise = ctypes.CDLL("libc.so.6").madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for address, length in runs:
        madvise(address, length, MADV_POPULATE_READ)


def _in_a_fork(
    serve: Callable[[Case], Measured], case: Case, timeout: float, mapped: list[tuple[int, int]]
) -> Measured:
    """serve(case) in a fork of this warm process, watched: killed past the function's
    memory or the timeout, as Lambda would end it."""
    readable, writable = os.pipe()
    started = time.perf_counter()
    child = os.fork()
    if child == 0:
        # The child never returns into the parent's loop, whatever happens.
        try:
            os.close(readable)
            map_again(mapped)
            figures = serve(case)
            os.write(writable, json.dumps(asdict(figures)).encode())
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(writable)
    outcome, spent = "", {}
    baseline = memory_kb("self", "VmRSS")
    while not select.select([readable], [], [], 0.01)[0]:
        if past_memory_limit(child):
            outcome = "killed"
        elif time.perf_counter() - started > timeout:
            outcome = "timeout"
        if outcome:
            spent = spent_so_far(child, 0.0, baseline)
            os.kill(child, signal.SIGKILL)
            break
    chunks = []
    while chunk := os.read(readable, 1 << 16):
        chunks.append(chunk)
    os.close(readable)
    os.waitpid(child, 0)
    if not chunks:
        return Measured(outcome or "died", wall_s=time.perf_counter() - started, **spent)
    return Measured(**json.loads(b"".join(chunks)))


class HandlerWay:
    name = "handler"

    def __init__(self, model: Model, timeout: float) -> None:
        self.model, self.timeout = model, timeout
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(self.timeout)],
            cwd=ROOT,
            env=environment(self.model),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file(self.name, self.model),
        )
        for case in warm_up_cases(Requests(self.model)):
            if self._exchange(True, case, 120).outcome != "answered":
                raise RuntimeError(f"the handler for {self.model.key}: warm-up {case.name} failed")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def measure(self, case: Case) -> Measured:
        if self.process is None:
            self.start()
        # The worker itself ends a case at the timeout: a little longer here.
        measured = self._exchange(False, case, self.timeout + 30)
        if measured.outcome == "lost":
            self.stop()
            measured.outcome = "died"
        return measured

    def _exchange(self, warm_up: bool, case: Case, timeout: float) -> Measured:
        assert self.process and self.process.stdin and self.process.stdout
        message = pickle.dumps((warm_up, case))
        started = time.perf_counter()
        try:
            self.process.stdin.write(len(message).to_bytes(8, "little") + message)
            self.process.stdin.flush()
        except BrokenPipeError:
            return Measured("lost")
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            return Measured("lost", wall_s=time.perf_counter() - started)
        return Measured(**json.loads(line))


# ---------------------------------------------------------------------------------------
# flask run: a server, started again when a case leaves it holding memory
# ---------------------------------------------------------------------------------------

# `flask --app app.factory run`: flask's CLI called as its console script calls it, once a handler
# for SIGUSR1 is set, the harness's signal to collect garbage and trim the heap before a
# case; it writes a byte to the harness's pipe when done.
FLASK_RUN = """
import ctypes, gc, os, signal, sys
done = int(sys.argv.pop(1))
def trim(*_):
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    os.write(done, b"t")
signal.signal(signal.SIGUSR1, trim)
sys.argv[0] = "flask"
from flask.cli import main
main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FlaskServer:
    """One `flask run` process, warmed up: every route answered once."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.port = free_port()
        self._trimmed, done = os.pipe()
        arguments = ["--app", "app.factory", "run", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", FLASK_RUN, str(done), *arguments],
            cwd=ROOT,
            env=environment(model),
            stdout=subprocess.DEVNULL,
            stderr=log_file("flask run", model),
            pass_fds=(done,),
        )
        os.close(done)
        self.pid = self.process.pid
        self._wait_until_up()
        for case in warm_up_cases(Requests(model)):
            self.request(case, 60)
        self.trim()
        self.baseline_kb = memory_kb(self.pid, "VmRSS")

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 120
        while self.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request(Case("health", "", "", "", "GET", "/health"), 5)[0] == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"flask run for {self.model.key} did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._trimmed)

    def trim(self) -> None:
        """Have the server collect garbage and hand its free heap back; wait until done."""
        self.process.send_signal(signal.SIGUSR1)
        if not select.select([self._trimmed], [], [], 30)[0]:
            raise RuntimeError(f"flask run for {self.model.key} did not trim")
        os.read(self._trimmed, 1)

    def holds_more_than_at_start(self) -> bool:
        self.trim()
        return memory_kb(self.pid, "VmRSS") > self.baseline_kb + RESTART_SLACK_KB

    def request(self, case: Case, timeout: float) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {**dict(case.headers), "Connection": "close"}
            connection.request(case.method, case.path, body=case.body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


class FlaskWay:
    """A server per model; when a case leaves it holding more than its warm-up did, the
    next case goes to a fresh one, started beforehand while other cases ran."""

    name = "flask run"

    def __init__(self, model: Model, timeout: float) -> None:
        self.model, self.timeout = model, timeout
        self.server: FlaskServer | None = None
        self._spare: list[FlaskServer | BaseException] = []
        self._spare_thread: threading.Thread | None = None

    def _start_spare(self) -> None:
        def start() -> None:
            try:
                self._spare.append(FlaskServer(self.model))
            except BaseException as error:  # raised when the spare is taken
                self._spare.append(error)

        self._spare_thread = threading.Thread(target=start, daemon=True)
        self._spare_thread.start()

    def _take_spare(self) -> FlaskServer:
        if self._spare_thread is None:
            self._start_spare()
        assert self._spare_thread is not None
        self._spare_thread.join()
        spare = self._spare.pop()
        if isinstance(spare, BaseException):
            raise spare
        self._start_spare()
        return spare

    def start(self) -> None:
        self.server = self._take_spare()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._spare_thread is not None:
            self._spare_thread.join()
            for spare in self._spare:
                if isinstance(spare, FlaskServer):
                    spare.stop()
            self._spare, self._spare_thread = [], None

    def measure(self, case: Case) -> Measured:
        if self.server is not None and (not PEAK_RESETS or self.server.holds_more_than_at_start()):
            self.server.stop()
            self.server = None
        if self.server is None:
            self.server = self._take_spare()
        server, pid = self.server, self.server.pid
        threads = len(os.listdir(f"/proc/{pid}/task"))
        cpu = cpu_seconds(pid)
        reset_peak(pid)
        before = memory_kb(pid, "VmRSS")
        done, spent = threading.Event(), {}
        watch = threading.Thread(
            target=self._watch,
            args=(pid, done, lambda: spent.update(spent_so_far(pid, cpu, before))),
        )
        watch.start()
        started = time.perf_counter()
        try:
            status, data = server.request(case, self.timeout)
        except (OSError, http.client.HTTPException) as error:
            done.set()
            watch.join()
            outcome = "timeout" if isinstance(error, TimeoutError) else "died"
            if spent:
                outcome = "killed"
            else:
                spent.update(spent_so_far(pid, cpu, before))
            server.stop()
            self.server = None
            return Measured(outcome, wall_s=time.perf_counter() - started, **spent)
        done.set()
        watch.join()
        wall = time.perf_counter() - started
        # The request's thread ends just after its answer is sent: its CPU counts too.
        deadline = time.monotonic() + 5
        while len(os.listdir(f"/proc/{pid}/task")) > threads and time.monotonic() < deadline:
            time.sleep(0.001)
        return Measured(
            "answered",
            status,
            len(data),
            None,
            (cpu_seconds(pid) - cpu) * 1000,
            None,
            (memory_kb(pid, "VmHWM") - before) * 1024,
            wall,
            excerpt(data),
        )

    @staticmethod
    def _watch(pid: int, done: threading.Event, before_kill: Callable[[], None]) -> None:
        """Kill the server if its RSS passes the function's memory, as Lambda would."""
        while not done.wait(0.01):
            if past_memory_limit(pid):
                before_kill()
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                return


Way = FlaskWay | HandlerWay


# ---------------------------------------------------------------------------------------
# Judging and reporting
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    case: Case
    way: str
    measured: Measured
    predict_ms: float | None  # the handler's for the same case
    judged: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m, body = self.measured, len(self.case.body)
        allowance = BUDGET_MEMORY_X * max(body, MEMORY_FLOOR_BYTES)
        beyond = None if m.cpu_ms is None else m.cpu_ms - (self.predict_ms or 0.0)
        if m.outcome == "answered" and beyond is not None and m.extra_rss_bytes is not None:
            x_budget = max(beyond / BUDGET_CPU_MS, m.extra_rss_bytes / allowance)
        else:
            x_budget = float("inf")
        failures = []
        if m.outcome == "killed":
            failures.append(f"RSS past the function's {MEMORY_LIMIT_MB:,} MB")
        elif m.outcome != "answered":
            failures.append(f"{m.outcome} after {m.wall_s:.0f} s")
        if m.status is not None and m.status >= 500:
            failures.append(f"a {m.status}")
        returned = m.payload_bytes if m.payload_bytes is not None else m.answer_bytes
        if returned is not None and returned > LAMBDA_PAYLOAD_LIMIT:
            failures.append("past Lambda's 6 MB response")
        self.judged = {
            "cpu_beyond_predict_ms": beyond,
            "allowance_bytes": allowance,
            "x_body": None if m.extra_rss_bytes is None or not body else m.extra_rss_bytes / body,
            "x_budget": x_budget,
            "holds_budget": x_budget <= 1,
            "failures": failures,
            "ok": x_budget <= 1 and not failures,
        }

    def document(self) -> dict[str, Any]:
        c = self.case
        return {
            "case": c.name,
            "family": c.family,
            "protocol": c.protocol,
            "model": c.model,
            "method": c.method,
            "path": c.path,
            "body_bytes": len(c.body),
            "way": self.way,
            **asdict(self.measured),
            "predict_ms": self.predict_ms,
            **self.judged,
        }


def run_model(model: Model, cases: list[Case], timeout: float) -> list[Row]:
    """Every case of one model, through both ways in at once."""
    ways: list[Way] = [FlaskWay(model, timeout), HandlerWay(model, timeout)]
    rows: list[Row] = []
    try:
        for case in cases:
            flask, handler = _each(ways, lambda way, case=case: way.measure(case))
            for way, measured in (("flask run", flask), ("handler", handler)):
                rows.append(Row(case, way, measured, handler.predict_ms))
                print(table_line(rows[-1]), flush=True)
    finally:
        for way in ways:
            way.stop()
    return rows


def _each(ways: Sequence[Way], action: Callable[[Way], Measured]) -> list[Measured]:
    """`action` on every way at once, each in a thread; the results in the ways' order."""
    results: list[Measured | BaseException] = [Measured("died")] * len(ways)

    def one(index: int) -> None:
        try:
            results[index] = action(ways[index])
        except BaseException as error:  # raised again in the caller's thread
            results[index] = error

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(ways))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if isinstance(result, Measured)]


TABLE_HEADER = (
    f"{'case':<70} {'way':<9} {'status':>7} {'answer B':>11} {'Lambda B':>11} {'CPU ms':>7} "
    f"{'predict':>7} {'+RSS MB':>8} {'x body':>7} {'x budget':>8}  verdict"
)


def table_line(row: Row) -> str:
    m, j = row.measured, row.judged

    def number(value: float | None, spec: str) -> str:
        return "" if value is None else format(value, spec)

    answered = m.outcome == "answered"
    status = str(m.status) if answered else m.outcome
    verdict = "holds" if j["holds_budget"] else "OVER"
    rss_mb = None if m.extra_rss_bytes is None else m.extra_rss_bytes / 2**20
    # An ended process's figures are what it had spent by then: at least that much.
    cpu, rss = number(m.cpu_ms, ",.0f"), number(rss_mb, ",.1f")
    if not answered:
        cpu, rss = (f">{figure}" if figure else "" for figure in (cpu, rss))
    return (
        f"{row.case.label[:70]:<70} {row.way:<9} {status:>7} {number(m.answer_bytes, ',d'):>11} "
        f"{number(m.payload_bytes, ',d'):>11} {cpu:>7} "
        f"{number(row.predict_ms, ',.0f'):>7} {rss:>8} "
        f"{number(j['x_body'], ',.1f'):>7} {number(j['x_budget'], ',.2f'):>8}  "
        + "; ".join([verdict, *j["failures"]])
    )


def worst_first(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: (row.judged["ok"], -row.judged["x_budget"]))


def worst_generated(rows: list[Row]) -> dict[str, Row]:
    """Per protocol, the generator's worst row."""
    worst: dict[str, Row] = {}
    for row in worst_first(rows):
        if row.case.family not in ("control", "probe"):
            worst.setdefault(row.case.protocol, row)
    return worst


def describe(row: Row) -> list[str]:
    """What the row cost, in words: for the summaries."""
    m, j = row.measured, row.judged
    if m.outcome != "answered":
        return [*j["failures"]]
    return [
        f"{m.status}",
        f"{m.cpu_ms:,.0f} ms CPU",
        f"+{(m.extra_rss_bytes or 0) / 2**20:,.1f} MB",
        f"x{j['x_budget']:,.1f} the budget",
        *j["failures"],
    ]


def results_document(models: dict[str, Model], rows: list[Row], seconds: float) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "seconds": round(seconds, 1),
        "peak_resets": PEAK_RESETS,
        "budget": {
            "cpu_ms_beyond_predict": BUDGET_CPU_MS,
            "memory_x_body": BUDGET_MEMORY_X,
            "memory_floor_body_bytes": MEMORY_FLOOR_BYTES,
            "lambda_payload_limit_bytes": LAMBDA_PAYLOAD_LIMIT,
            "memory_limit_mb": MEMORY_LIMIT_MB,
        },
        "limits": {
            "max_content_length": MAX_BODY,
            "max_batch_rows": MAX_ROWS,
            "max_json_depth": MAX_DEPTH,
            "max_details": MAX_DETAILS,
        },
        "models": {
            key: {
                "name": model.name,
                "features": len(model.features),
                "artifact": str(model.artifact.relative_to(ROOT)),
            }
            for key, model in models.items()
        },
        "worst_generated_by_protocol": {
            protocol: {"model": row.case.model, "case": row.case.name, "way": row.way}
            for protocol, row in worst_generated(rows).items()
        },
        "rows": [row.document() for row in worst_first(rows)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", nargs="+", default=[], help="cases whose label holds one")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--worker", type=float, help=argparse.SUPPRESS)  # its timeout
    args = parser.parse_args()
    if args.worker is not None:
        worker_main(args.worker)
        return
    started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    models = prepare_models()
    cases = [
        *(case for key in ("iris", "churn") for case in control_cases(Requests(models[key]))),
        *probe_cases(models),
        *generated_cases(models),
    ]
    cases = [
        c for c in cases if not args.only or any(t in f"{c.label} {c.family}" for t in args.only)
    ]
    for case in cases:
        assert len(case.body) <= MAX_BODY, (case.label, len(case.body))
    if not PEAK_RESETS:
        print(
            "/proc/PID/clear_refs cannot be written here: each flask run case gets a fresh "
            "server, and an extra peak may be the process's own since it started.",
            flush=True,
        )
    print(
        f"{len(cases)} cases, made in {time.monotonic() - started:.0f} s\n{TABLE_HEADER}",
        flush=True,
    )
    rows: list[Row] = []
    for key, model in models.items():
        mine = [case for case in cases if case.model == key]
        if mine:
            rows += run_model(model, mine, args.timeout)
    seconds = time.monotonic() - started
    print(f"\nWorst first ({seconds:.0f} s in all):\n{TABLE_HEADER}")
    for row in worst_first(rows):
        print(table_line(row))
    print("\nThe worst generated body of each protocol:")
    for protocol, row in worst_generated(rows).items():
        print(f"  {protocol:<11} {row.case.model}: {row.case.name}: {'; '.join(describe(row))}")
    held = sum(row.judged["holds_budget"] for row in rows)
    ok = sum(row.judged["ok"] for row in rows)
    print(
        f"\n{held} of {len(rows)} held the budget (at most {BUDGET_CPU_MS:.0f} ms of CPU beyond "
        f"predict, extra peak RSS at most {BUDGET_MEMORY_X}x the body, 1 MiB at least); "
        f"{ok} of them also answered without a 5xx and within Lambda's 6 MB."
    )
    if args.json:
        args.json.write_text(json.dumps(results_document(models, rows, seconds), indent=1))


if __name__ == "__main__":
    main()
