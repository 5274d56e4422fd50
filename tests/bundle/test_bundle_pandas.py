"""pandas goes into the bundle exactly when the served model needs a DataFrame.

scikit-learn imports pandas at import time whenever it is there, about 0.35 s of every
cold start, so only a model whose metadata says "model_input": "dataframe" gets it,
unless the `pandas` deploy parameter forces it either way. tests/test_bundle.py checks
the default package: no pandas, and none imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.bundles import (
    PANDAS_TOP_LEVEL,
    names_in,
    run_in_bundle,
    top_level_names,
    unzipped_read_only,
    unzipped_size,
)
from support.event_payloads import LambdaAnswer, event_for
from support.packages import Package, run_package
from support.paths import CHURN_MODEL
from support.v2_tensors import (
    CHURN,
    CHURN_CLASSES,
    CHURN_DATATYPES,
    binary_body,
    binary_input,
    churn_rows,
    column,
    expected_outputs,
    infer_path,
    outputs_by_name,
    read_answer,
)

# 90% of Lambda's 262,144,000 unzipped bytes.
PANDAS_BUNDLE_GOAL = 236_000_000
# Slimmed out of pandas: never used when serving (serverless.yml, slimPatterns).
PANDAS_NEVER_SERVED = (
    "pandas/plotting/_matplotlib/",
    "pandas/core/_numba/kernels/",
    "pandas/io/clipboard/",
    "pandas/io/formats/templates/",
    "pandas/io/formats/style.py",
    "pandas/io/formats/style_render.py",
    "pandas/pyproject.toml",
    "pandas/io/sas/sas7bdat.py",
    "pandas/io/sas/sas_xport.py",
    "pandas/io/sas/sas_constants.py",
    "pandas/_libs/sas.",
)
CHURN_ROW = {
    "features": {
        "tenure_months": 3,
        "monthly_charges": 70.5,
        "contract": "month-to-month",
        "payment_method": "electronic-check",
        "has_partner": False,
        "support_calls": 4,
    }
}


def model_files(package: Package) -> set[str]:
    return {n for n in names_in(package.zip) if n.startswith("model/") and not n.endswith("/")}


def assert_carries_slim_pandas(package: Package) -> None:
    names = names_in(package.zip)
    assert top_level_names(package.zip) >= PANDAS_TOP_LEVEL
    assert "pandas/__init__.py" in names
    assert not [n for n in names if n.startswith("pandas/") and "/tests/" in n]
    assert not [n for n in names if n.startswith(PANDAS_NEVER_SERVED)]
    assert unzipped_size(package.zip) <= PANDAS_BUNDLE_GOAL


@pytest.fixture(scope="module")
def dataframe_bundle(
    dataframe_package: Package, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    with unzipped_read_only(dataframe_package.zip, tmp_path_factory.mktemp("task")) as folder:
        yield folder


def test_dataframe_model_bundle_carries_pandas_within_its_size_goal(
    dataframe_package: Package,
) -> None:
    assert_carries_slim_pandas(dataframe_package)


def test_dataframe_model_bundle_ships_that_model_only(dataframe_package: Package) -> None:
    assert model_files(dataframe_package) == {CHURN_MODEL, "model/examples/churn.json"}
    variables = dataframe_package.function()["Environment"]["Variables"]
    assert variables["MODEL_URI"] == CHURN_MODEL  # relative: Lambda's cwd is the bundle


def v2_binary_event(rows: list[dict]) -> dict:
    """The rows as V2 binary tensors, one per feature (INT64, FP64 with NaN, BYTES, BOOL)."""
    inputs = [
        binary_input(name, datatype, [len(rows)], column(rows, name))
        for name, datatype in CHURN_DATATYPES.items()
    ]
    outputs = [{"name": "predict"}, {"name": "predict_proba"}]
    body, headers = binary_body(
        {"parameters": {"binary_data_output": True}, "outputs": outputs}, inputs
    )
    return event_for(
        "rest-api.json", "POST", infer_path(CHURN), body, None, base64_body=True, headers=headers
    )


def test_dataframe_model_answers_from_the_bundle(
    dataframe_bundle: Path, dataframe_package: Package
) -> None:
    rows = churn_rows(4)
    batch = {"instances": rows, "return_probabilities": True}
    events = [
        event_for("rest-api.json", "POST", "/predict", json.dumps(CHURN_ROW)),
        event_for("rest-api.json", "POST", "/predict", json.dumps(batch)),
        v2_binary_event(rows),
    ]
    report = run_in_bundle(dataframe_bundle, dataframe_package, events)
    # The slimmed pandas imports in a bare interpreter, from its bytecode.
    assert {"pandas", "dateutil"} <= set(report["imported_packages"])
    assert report["compiled_from_source"] == []
    # The lazy imports hold with pandas in the bundle too.
    assert {"scipy.stats", "scipy.optimize", "scipy.interpolate"} <= set(report["deferred_modules"])
    answer, native, v2 = [LambdaAnswer.of(answer) for answer in report["answers"]]
    assert answer.status == 200, answer.body
    assert "prediction" in answer.json()
    assert (v2.status, v2.base64_encoded) == (200, True)
    outputs = outputs_by_name(read_answer(v2.data, v2.headers))
    assert outputs == expected_outputs(native.json(), CHURN_CLASSES)


def test_pandas_true_bundles_it_with_the_numeric_model(keyed_package: Package) -> None:
    # keyed_package is the bundled iris model's, with pandas=true among its parameters.
    assert_carries_slim_pandas(keyed_package)
    assert model_files(keyed_package) == {"model/model.joblib", "model/model.json"}
    assert keyed_package.function()["Environment"]["Variables"]["MODEL_URI"] == ""


def test_a_bad_pandas_value_stops_the_package(tmp_path: Path) -> None:
    result = run_package(tmp_path / "package", "pandas=maybe")
    assert result.returncode != 0
    assert 'The pandas parameter must be auto, true or false, got "maybe"' in result.stdout


def test_packaging_an_s3_model_needs_aws_to_read_its_metadata(tmp_path: Path) -> None:
    # Fake credentials and an endpoint where nothing listens: nothing leaves the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SLS_AWS_REQUEST_MAX_RETRIES": "0",
    }
    result = run_package(
        tmp_path / "package", "modelUri=s3://team-models/churn/2.0.0.joblib", env=env
    )
    assert result.returncode != 0
    output = " ".join(result.stdout.split())  # the message may be wrapped
    assert "s3://team-models/churn/2.0.0.json" in output
    assert "Packaging a model on S3 needs read access to it" in output
    assert not (tmp_path / "package").exists()
