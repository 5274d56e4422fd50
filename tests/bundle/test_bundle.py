"""The deployment zip is the product: unzip it and serve from it as Lambda would.

A bare python3.12 that sees only the bundle and the standard library (no
site-packages, no bytecode writing, a read-only folder) imports the handler and
answers real events exactly as the source tree does.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.bundles import (
    PANDAS_TOP_LEVEL,
    names_in,
    run_in_bundle,
    top_level_names,
    unzipped_read_only,
    unzipped_size,
)
from support.emf_spec import emf_problems
from support.event_payloads import LambdaAnswer, LambdaContext, event_for
from support.packages import Package
from support.v2_tensors import (
    IRIS,
    IRIS_CLASSES,
    IRIS_FEATURES,
    IRIS_ROWS,
    OCTET_STREAM,
    binary_body,
    binary_input,
    infer_path,
    json_input,
    outputs_by_name,
    read_answer,
)

import handler

LAMBDA_UNZIPPED_LIMIT = 262_144_000
# The bundle of a model that takes numbers, with the default parameters: well under
# Lambda's limit, with room for the app to grow.
NUMERIC_BUNDLE_GOAL = 200_000_000
# Slimmed out (serverless.yml, slimPatterns): importing the handler and predicting
# reads none of it.
NEVER_SERVED = (
    "joblib/test/",
    "sklearn/datasets/data/",
    "sklearn/datasets/descr/",
    "sklearn/datasets/images/",
    "numpy/random/_examples/",
    "narwhals/testing/",
    "werkzeug/debug/shared/",
    "scipy/stats/_sobol_direction_numbers.npz",
)
SETOSA = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]})
# The import names of requirements.txt's packages (and their compiled libraries).
RUNTIME_TOP_LEVEL = {
    "blinker", "click", "cloudpickle", "flask", "flask_cors", "itsdangerous", "jinja2", "joblib",
    "markupsafe", "msgspec", "narwhals", "numpy", "numpy.libs", "scipy", "scipy.libs", "sklearn",
    "scikit_learn.libs", "serverless_wsgi.py", "threadpoolctl.py", "werkzeug",
}  # fmt: skip
OWN_TOP_LEVEL = {"handler.py", "app", "model", "__pycache__"}
# Left by serverless-python-requirements: a copy of the requirements, 250 bytes.
PLUGIN_TOP_LEVEL = {"requirements.txt"}
DEV_ONLY = {
    "pytest", "_pytest", "ruff", "openapi_core", "openapi_spec_validator", "jsonschema",
    "moto", "boto3", "botocore", "s3transfer", "pip", "setuptools", "node_modules",
    ".venv", "tests", "bench",
}  # fmt: skip
# One request of each other protocol: MLflow's, V2 in JSON and V2 in binary both ways.
FLAT_ROWS = [value for row in IRIS_ROWS for value in row]
MLFLOW = json.dumps({"dataframe_split": {"columns": IRIS_FEATURES, "data": IRIS_ROWS}})
V2_OUTPUTS = [{"name": "predict"}, {"name": "predict_proba"}]
V2_JSON = json.dumps(
    {"inputs": [json_input("input-0", "FP64", [3, 4], FLAT_ROWS)], "outputs": V2_OUTPUTS}
)
V2_BINARY, V2_BINARY_HEADERS = binary_body(
    {"parameters": {"binary_data_output": True}, "outputs": V2_OUTPUTS},
    [binary_input("input-0", "FP64", [3, 4], FLAT_ROWS)],
)
IRIS_PREDICTIONS = ["setosa", "virginica", "versicolor"]
REQUESTS: list[tuple[str, str, str, str | bytes | None]] = [
    ("rest-api.json", "POST", "/predict", SETOSA),
    ("rest-api.json", "GET", "/health", None),
    ("rest-api.json", "GET", "/model", None),
    ("rest-api.json", "POST", "/predict", '{"instances": [[1, 2, 3], {"petal_width": "x"}]}'),
    ("rest-api.json", "POST", "/predict", "{not json"),
    ("rest-api.json", "GET", "/nowhere", None),
    ("http-api-default-stage.json", "POST", "/predict", SETOSA),
    ("alb-multi-value-headers.json", "POST", "/predict", SETOSA),
    ("rest-api.json", "POST", "/invocations", MLFLOW),
    ("http-api-default-stage.json", "POST", infer_path(IRIS), V2_JSON),
    ("rest-api.json", "POST", infer_path(IRIS), V2_BINARY),
]
STATUSES = [200, 200, 200, 422, 400, 404, 200, 200, 200, 200, 200]
PROTOCOLS = ["native"] * 8 + ["mlflow", "v2", "v2"]


@pytest.fixture(scope="module")
def bundle(package: Package, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The zip, unzipped and made read-only, like /var/task."""
    with unzipped_read_only(package.zip, tmp_path_factory.mktemp("task")) as folder:
        yield folder


def events() -> list[dict[str, Any]]:
    built = []
    for shape, method, path, body in REQUESTS:
        if isinstance(body, bytes):  # as tritonclient sends it, through binaryMediaTypes
            event = event_for(shape, method, path, body, None, True, V2_BINARY_HEADERS)
        else:
            event = event_for(shape, method, path, body)
        built.append(event)
    return built


@pytest.fixture(scope="module")
def report(bundle: Path, package: Package) -> dict[str, Any]:
    return run_in_bundle(bundle, package, events())


def test_runs_on_the_lambda_runtime_python(report: dict[str, Any]) -> None:
    assert report["python"] == [3, 12]


def test_sees_only_the_bundle_and_the_standard_library(
    report: dict[str, Any], bundle: Path
) -> None:
    assert report["sys_path"][0] == str(bundle)
    assert not [p for p in report["sys_path"] if "site-packages" in p or ".venv" in p]


def test_answers_exactly_as_the_source_tree(report: dict[str, Any]) -> None:
    # A prediction also proves numpy's OpenBLAS loads: slim's `strip` breaks it.
    # The runner gives each invocation its own id, as Lambda does.
    expected = [
        LambdaAnswer.of(handler.handler(event, LambdaContext(aws_request_id=f"bundle-request-{i}")))
        for i, event in enumerate(events())
    ]
    answers = [LambdaAnswer.of(answer) for answer in report["answers"]]
    assert [a.status for a in answers] == STATUSES
    # Every answer carries its own time: the header is there, its value is the run's.
    assert all(re.fullmatch(r"app;dur=[0-9.]+", a.headers["server-timing"]) for a in answers)
    assert [untimed(a) for a in answers] == [untimed(a) for a in expected]
    assert answers[0].json() == {"prediction": "setosa", "model_version": "1.0.0"}


def untimed(answer: LambdaAnswer) -> LambdaAnswer:
    headers = {k: v for k, v in answer.headers.items() if k != "server-timing"}
    return dataclasses.replace(answer, headers=headers)


def test_answers_every_protocol(report: dict[str, Any]) -> None:
    answers = [LambdaAnswer.of(answer) for answer in report["answers"]]
    native, (mlflow, v2_json, v2_binary) = answers[0], answers[-3:]
    assert native.json()["prediction"] == "setosa"
    assert mlflow.json() == {"predictions": IRIS_PREDICTIONS}
    assert not mlflow.base64_encoded and not v2_json.base64_encoded
    json_outputs = outputs_by_name(v2_json.json())
    assert json_outputs["predict"] == IRIS_PREDICTIONS
    assert len(json_outputs["predict_proba"]) == len(IRIS_ROWS) * len(IRIS_CLASSES)
    # The binary answer: base64-encoded by the bundle's serverless-wsgi, the same tensors.
    assert v2_binary.base64_encoded
    assert v2_binary.headers["content-type"] == OCTET_STREAM
    assert outputs_by_name(read_answer(v2_binary.data, v2_binary.headers)) == json_outputs


def test_logs_one_metric_document_per_request(report: dict[str, Any], package: Package) -> None:
    lines = report["log_lines"]
    assert {line: emf_problems(line) for line in lines} == {line: [] for line in lines}
    parsed = [json.loads(line) for line in lines]
    assert [line["status"] for line in parsed] == STATUSES
    assert [line["protocol"] for line in parsed] == PROTOCOLS
    assert [line["cold_start"] for line in parsed] == [True] + [False] * (len(STATUSES) - 1)
    assert {line["service"] for line in parsed} == {package.function()["FunctionName"]}
    # Each invocation's own id, as Lambda gives it.
    assert [line["request_id"] for line in parsed] == [
        f"bundle-request-{i}" for i in range(len(STATUSES))
    ]


def test_serves_as_a_snapstart_function_would_start(
    report: dict[str, Any], package: Package
) -> None:
    # Lambda gives a SnapStart function no log group or stream variables, and this run
    # has none either: the handler served every event without them.
    assert not {"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"} & set(
        report["environment"]
    )
    assert len(report["answers"]) == len(STATUSES)
    # SnapStart's hooks module comes with Lambda's runtime, never in the bundle: here,
    # without it, the handler imports and registers nothing.
    assert "snapshot_restore_py.py" not in top_level_names(package.zip)
    assert "snapshot_restore_py" not in report["imported_packages"]
    assert "app" in report["imported_packages"]


def test_cold_start_path_loads_unchecked_hash_bytecode(report: dict[str, Any]) -> None:
    assert report["compiled_from_source"] == []
    modules = report["bundle_modules"]
    assert {"handler", "app", "app.core.predictor", "flask", "sklearn", "numpy"} <= set(modules)
    for name, bytecode in modules.items():
        assert bytecode["pyc"] and "cpython-312" in bytecode["pyc"], name
        assert bytecode["magic_ok"], name
        assert bytecode["flags"] == 0b01, name  # hash-based, unchecked (PEP 552)


def test_every_module_has_bytecode_for_python_3_12(package: Package) -> None:
    with zipfile.ZipFile(package.zip) as archive:
        names = set(archive.namelist())
    sources = [n for n in names if n.endswith(".py")]
    missing = [s for s in sources if importlib.util.cache_from_source(s) not in names]
    assert sources and not missing, missing[:10]


def test_holds_only_what_runs(package: Package) -> None:
    with zipfile.ZipFile(package.zip) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == RUNTIME_TOP_LEVEL | OWN_TOP_LEVEL | PLUGIN_TOP_LEVEL
    parts = {part for name in names for part in name.split("/")[:-1]}
    assert not parts & DEV_ONLY
    assert not [n for n in names if n.endswith(".dist-info/") or "/tests/" in n]
    build_inputs = (".pyi", ".pxd", ".pyx", ".c", ".cpp", ".h", ".a")
    assert not [n for n in names if n.endswith(build_inputs)]
    model_files = {n for n in names if n.startswith("model/") and not n.endswith("/")}
    assert model_files == {"model/model.joblib", "model/model.json"}
    app_sources = {n for n in names if n.startswith("app/") and n.endswith(".py")}
    assert app_sources == {p.as_posix() for p in Path("app").rglob("*.py")}
    assert "app/auth/open_routes.json" in names  # the app reads it at import


def test_carries_the_try_it_page(package: Package) -> None:
    with zipfile.ZipFile(package.zip) as archive:
        names = set(archive.namelist())
    page = {
        p.as_posix() for p in Path("app/front_door").iterdir() if p.suffix != ".py" and p.is_file()
    }
    assert {"app/front_door/page.html", "app/front_door/page.js", "app/front_door/page.css"} <= page
    assert page <= names
    assert package.function()["Environment"]["Variables"]["TRY_IT_PAGE"] == "true"


def test_fits_lambda_unzipped_limit(package: Package) -> None:
    with zipfile.ZipFile(package.zip) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    assert unzipped < LAMBDA_UNZIPPED_LIMIT


def test_numeric_bundle_stays_within_its_size_goal(package: Package) -> None:
    assert unzipped_size(package.zip) <= NUMERIC_BUNDLE_GOAL


def test_numeric_bundle_carries_no_pandas(package: Package) -> None:
    # The bundled iris model takes a float64 array: its metadata has no "model_input".
    assert not top_level_names(package.zip) & PANDAS_TOP_LEVEL
    assert package.function()["Environment"]["Variables"]["MODEL_URI"] == ""
    assert {"model/model.joblib", "model/model.json"} <= set(names_in(package.zip))


def test_the_bundle_defers_what_serving_never_uses(report: dict[str, Any]) -> None:
    # Imported by scikit-learn, never run: the answers above came without them.
    assert {"scipy.stats", "scipy.optimize", "scipy.interpolate", "scipy.integrate"} <= set(
        report["deferred_modules"]
    )


def test_numeric_model_never_imports_pandas(report: dict[str, Any]) -> None:
    # scikit-learn tries `import pandas` at import time: with none in the bundle it
    # fails fast, and the cold start does not pay for pandas.
    assert LambdaAnswer.of(report["answers"][0]).json()["prediction"] == "setosa"
    assert not {"pandas", "dateutil"} & set(report["imported_packages"])
    assert {"handler", "sklearn", "numpy"} <= set(report["imported_packages"])


def test_leaves_out_what_serving_never_reads(package: Package) -> None:
    names = names_in(package.zip)
    assert not [n for n in names if n.startswith(NEVER_SERVED)]
    assert not [n for n in names if n.endswith(("/conftest.py", ".tp", "/meson.build"))]
    # Imported by `from numpy import *` in scipy's array_api_compat: it must stay.
    assert "numpy/f2py/__init__.py" in names


def test_function_configuration(package: Package) -> None:
    function = package.function()
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "handler.handler"
    assert function["Architectures"] == ["x86_64"]
    assert function["Environment"]["Variables"]["MAX_BATCH_ROWS"] == "1000"
