"""Input health: a model with reference statistics counts, per request, rows outside the
training range, values training never showed, missing values and its predictions, in
the request's metrics document; the counts per feature go into the capture record."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from flask import Flask
from moto import mock_aws
from support.alarms import check_metric_math_alarm
from support.emf_spec import emf_problems
from support.iris import IRIS_FEATURES

from app.core.input_health import COUNTS, MAX_NAMED_CLASSES, OTHER_CLASSES, HealthCheck
from app.core.reference import FeatureReference, PredictionReference, Reference, Shares
from app.core.schema import Feature, Schema
from app.core.validation import Rows

ROOT = Path(__file__).parents[2]
DECILES = [float(q) for q in range(0, 110, 10)]


def ranged(low: float, high: float, missing: float = 0.0) -> dict[str, Any]:
    step = (high - low) / 10
    return {
        "missing": missing,
        "range": [low, high],
        "quantiles": [low + step * i for i in range(11)],
    }


IRIS_REFERENCE = {
    "rows": 150,
    "features": {
        "sepal_length": ranged(4.3, 7.9),
        "sepal_width": ranged(2.0, 4.4),
        "petal_length": ranged(1.0, 6.9),
        "petal_width": ranged(0.1, 2.5),
    },
    "predictions": {"classes": {"setosa": 0.34, "versicolor": 0.33, "virginica": 0.33}, "other": 0},
}
CHURN_REFERENCE = {
    "rows": 1500,
    "features": {
        "tenure_months": ranged(0, 72),
        "monthly_charges": ranged(18.0, 120.0),
        # Complete: every training value recorded.
        "contract": {
            "missing": 0.0,
            "values": {"month-to-month": 0.5, "one-year": 0.3, "two-year": 0.2},
            "other": 0.0,
        },
        # Not complete: a value outside the recorded ones may have been seen in training.
        "payment_method": {
            "missing": 0.1,
            "values": {"bank-transfer": 0.5, "credit-card": 0.3},
            "other": 0.2,
        },
        "has_partner": {"missing": 0.0, "values": {"false": 0.6, "true": 0.4}, "other": 0.0},
        "support_calls": ranged(0, 9, missing=0.05),
    },
    "predictions": {"classes": {"no": 0.73, "yes": 0.27}, "other": 0.0},
}


def with_reference(tmp_path: Path, artifact: Path, reference: dict[str, Any]) -> Path:
    """A copy of `artifact` whose metadata carries `reference`."""
    copy = tmp_path / artifact.name
    shutil.copyfile(artifact, copy)
    metadata = json.loads(artifact.with_suffix(".json").read_text())
    metadata["reference"] = reference
    copy.with_suffix(".json").write_text(json.dumps(metadata))
    return copy


def request_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [line for line in lines if "_aws" in line]


@pytest.fixture
def iris_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    model = with_reference(tmp_path, ROOT / "model" / "model.joblib", IRIS_REFERENCE)
    return make_app(MODEL_URI=str(model), CAPTURE_SAMPLE_RATE="1")


def test_a_request_counts_rows_out_of_range_and_its_predictions(
    iris_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    client = iris_app.test_client()
    capsys.readouterr()
    rows = [[5.1, 3.5, 1.4, 0.2], [5.1, 3.5, 40.0, 0.2], [9.0, 1.0, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    answer = client.post("/predict", json={"instances": rows})
    assert answer.status_code == 200
    predicted = answer.get_json()["predictions"]
    out = capsys.readouterr().out.splitlines()
    (line,) = [json.loads(text) for text in out if '"_aws"' in text]
    assert line["rows_out_of_range"] == 2
    assert line["rows_unseen_category"] == 0
    assert line["missing_values"] == 0
    for label in ("setosa", "versicolor", "virginica"):
        assert line[f"predicted.{label}"] == predicted.count(label)
    assert OTHER_CLASSES not in line  # three classes, each named
    health = line["_aws"]["CloudWatchMetrics"][-1]
    assert health["Dimensions"] == [["service"]]
    assert [m["Name"] for m in health["Metrics"]] == [
        *COUNTS,
        "predicted.setosa",
        "predicted.versicolor",
        "predicted.virginica",
    ]
    assert emf_problems(json.dumps(line)) == []
    # Per feature, in the capture record only: no metric series per feature.
    (record,) = [
        json.loads(t) for t in out if '"record": "capture"' in t or '"record":"capture"' in t
    ]
    assert record["input_health"] == {
        "out_of_range": {"petal_length": 1, "sepal_length": 1, "sepal_width": 1}
    }
    assert not [name for name in line if name in IRIS_FEATURES]


def test_every_line_names_the_same_metrics_and_a_refused_request_adds_none(
    iris_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    client = iris_app.test_client()
    capsys.readouterr()
    client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    client.post("/predict", json={"features": [7.9, 4.4, 6.9, 2.5]})
    client.post("/predict", json={"features": [5.1, "wide", 1.4, 0.2]})
    first, second, refused = request_lines(capsys)
    assert first["_aws"]["CloudWatchMetrics"][-1] == second["_aws"]["CloudWatchMetrics"][-1]
    assert first["rows_out_of_range"] == second["rows_out_of_range"] == 0  # the range is closed
    assert "rows_out_of_range" not in refused
    assert all(
        "predicted" not in d["Metrics"][0]["Name"] for d in refused["_aws"]["CloudWatchMetrics"]
    )


def test_a_model_without_reference_writes_the_line_as_before(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app().test_client()
    capsys.readouterr()
    client.post("/predict", json={"features": [5.1, 3.5, 40.0, 0.2]})
    (line,) = request_lines(capsys)
    assert not {"rows_out_of_range", "missing_values"} & set(line)
    names = [m["Name"] for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert not [name for name in names if name in COUNTS or name.startswith("predicted.")]


def test_unseen_categories_only_where_training_values_are_all_known_and_missing_counted(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = with_reference(tmp_path, ROOT / "model" / "examples" / "churn.joblib", CHURN_REFERENCE)
    client = make_app(
        MODEL_URI=str(model), CAPTURE_SAMPLE_RATE="1", CAPTURE_EXCLUDE="support_calls"
    ).test_client()
    capsys.readouterr()
    base = {
        "tenure_months": 12,
        "monthly_charges": 70.0,
        "contract": "one-year",
        "payment_method": "credit-card",
        "has_partner": True,
        "support_calls": 1,
    }
    rows = [
        base,
        # payment_method's recorded values are not all of training's: not counted.
        {**base, "payment_method": "crypto"},
        {**base, "support_calls": None, "payment_method": None},
        {**base, "tenure_months": 400, "monthly_charges": 500.0},
    ]
    answer = client.post("/predict", json={"instances": rows})
    assert answer.status_code == 200, answer.get_json()
    out = capsys.readouterr().out.splitlines()
    (line,) = [json.loads(t) for t in out if '"_aws"' in t]
    assert line["rows_unseen_category"] == 0
    assert line["missing_values"] == 2
    assert line["rows_out_of_range"] == 1
    assert line["predicted.no"] + line["predicted.yes"] == 4
    (text,) = [t for t in out if "input_health" in t]
    # The excluded feature's missing value is counted in the metrics, and its name is
    # nowhere in the record.
    assert json.loads(text)["input_health"] == {
        "out_of_range": {"tenure_months": 1, "monthly_charges": 1},
        "missing": {"payment_method": 1},
    }
    assert "support_calls" not in text
    assert emf_problems(json.dumps(line)) == []


# HealthCheck on its own: the counting rules, on rows as validation hands them over.


def schema(*features: Feature) -> Schema:
    return Schema(features=tuple(features), model_input="object_array")


def test_an_unseen_value_of_a_complete_feature_counts_once_per_row() -> None:
    check = HealthCheck(
        Reference(
            3,
            {
                "colour": FeatureReference(0.0, shares=Shares({"red": 0.5, "blue": 0.5}, 0.0)),
                "size": FeatureReference(0.0, shares=Shares({"s": 0.5, "m": 0.5}, 0.0)),
            },
        ),
        schema(Feature("colour", "string"), Feature("size", "string", nullable=True)),
    )
    rows = Rows(count=3, columns=(["red", "green", "pink"], ["s", "xl", None]))
    health = check.measure(rows, np.array([0, 0, 0]))
    assert health.metrics == {
        "rows_out_of_range": 0,
        "rows_unseen_category": 2,
        "missing_values": 1,
    }
    assert health.features == {"unseen": {"colour": 2, "size": 1}, "missing": {"size": 1}}


def test_many_classes_name_the_most_frequent_and_count_the_rest_as_other() -> None:
    classes = {f"c{i}": round(1 / 15, 6) for i in range(15)}
    check = HealthCheck(
        Reference(
            15,
            {"x": FeatureReference(0.0, 0.0, 1.0, tuple(np.linspace(0, 1, 11)))},
            PredictionReference(shares=Shares(classes, 0.0)),
        ),
        schema(Feature("x")),
    )
    health = check.measure(
        Rows(count=4, matrix=np.zeros((4, 1))), np.array(["c0", "c0", "c12", "x"])
    )
    named = [f"predicted.c{i}" for i in range(MAX_NAMED_CLASSES)]
    assert list(health.metrics) == [*COUNTS, *named, OTHER_CLASSES]
    assert health.metrics["predicted.c0"] == 2
    assert health.metrics[OTHER_CLASSES] == 2


def test_a_regressor_counts_answers_per_training_decile() -> None:
    check = HealthCheck(
        Reference(
            100,
            {"x": FeatureReference(0.0, 0.0, 1.0, tuple(np.linspace(0, 1, 11)))},
            PredictionReference(quantiles=tuple(DECILES)),
        ),
        schema(Feature("x")),
    )
    answers = np.array([-5.0, 5.0, 15.0, 15.0, 95.0, 100.0, 1000.0])
    health = check.measure(Rows(count=7, matrix=np.zeros((7, 1))), answers)
    deciles = [health.metrics[f"predicted.decile_{d}"] for d in range(1, 11)]
    assert deciles == [2, 2, 0, 0, 0, 0, 0, 0, 0, 3]
    assert sum(deciles) == len(answers)


@pytest.mark.parametrize("few_rows", [16, 0], ids=["python", "numpy"])
def test_numbers_missing_and_out_of_range_in_columns_and_in_the_matrix_agree(
    few_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.core.input_health.FEW_ROWS", few_rows)
    reference = Reference(
        10,
        {
            "a": FeatureReference(0.0, 0.0, 10.0, tuple(float(i) for i in range(11))),
            "b": FeatureReference(0.0, -1.0, 1.0, tuple(np.linspace(-1, 1, 11))),
        },
    )
    features = (Feature("a", nullable=True), Feature("b", nullable=True))
    matrix = np.array([[5.0, 0.0], [11.0, np.nan], [np.nan, 2.0], [-0.5, -2.0]])
    from_matrix = HealthCheck(reference, schema(*features)).measure(
        Rows(count=4, matrix=matrix), np.zeros(4)
    )
    columns = Rows(count=4, columns=([5.0, 11.0, None, -0.5], matrix[:, 1].copy()))
    from_columns = HealthCheck(reference, schema(*features)).measure(columns, np.zeros(4))
    assert from_matrix == from_columns
    assert from_matrix.metrics == {
        "rows_out_of_range": 3,
        "rows_unseen_category": 0,
        "missing_values": 2,
    }
    assert from_matrix.features["out_of_range"] == {"a": 2, "b": 2}


def test_the_guide_s_alarm_watches_metrics_the_service_writes(
    iris_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/monitoring.md's alarm: its metrics are ones a line carries, by the dimension
    the line gives them, and CloudWatch's API (moto's) takes the alarm as written."""
    guide = (ROOT / "docs" / "monitoring.md").read_text()
    iris_app.test_client().post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    (line,) = request_lines(capsys)
    alarm = check_metric_math_alarm(guide, line)
    assert alarm["AlarmName"] == "churn-unseen-categories"
    assert [m["Id"] for m in alarm["Metrics"]] == ["unseen", "rows", "share"]


def test_the_readme_s_alarm_watches_a_metric_the_service_writes(
    iris_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (ROOT / "README.md").read_text()
    command = readme.split("aws cloudwatch put-metric-alarm", 1)[1].split("```", 1)[0]
    options = dict(re.findall(r"--([a-z-]+) ([^\s\\]+)", command))
    iris_app.test_client().post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    (line,) = request_lines(capsys)
    (dimension,) = re.findall(r"Name=([^,]+),Value=", options["dimensions"])
    assert any(
        directive["Namespace"] == options["namespace"]
        and [dimension] in directive["Dimensions"]
        and options["metric-name"] in [m["Name"] for m in directive["Metrics"]]
        for directive in line["_aws"]["CloudWatchMetrics"]
    )
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        cloudwatch.put_metric_alarm(
            AlarmName=options["alarm-name"],
            Namespace=options["namespace"],
            MetricName=options["metric-name"],
            Dimensions=[{"Name": dimension, "Value": "model-prediction-api-prod-api"}],
            Statistic=options["statistic"],
            Period=int(options["period"]),
            EvaluationPeriods=int(options["evaluation-periods"]),
            Threshold=float(options["threshold"]),
            ComparisonOperator=options["comparison-operator"],
            TreatMissingData=options["treat-missing-data"],
        )
        assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 1


@pytest.mark.parametrize("seed", range(5))
def test_a_few_rows_counted_in_python_match_numpy_s_counts(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    reference = Reference(
        10,
        {
            "a": FeatureReference(0.0, 0.0, 10.0, tuple(float(i) for i in range(11))),
            "colour": FeatureReference(0.0, shares=Shares({"red": 0.5, "blue": 0.5}, 0.0)),
            "flag": FeatureReference(0.0, shares=Shares({"true": 1.0}, 0.0)),
            "n": FeatureReference(0.1, 0, 5, (0, 0, 0, 1, 1, 2, 2, 3, 4, 5, 5)),
        },
        PredictionReference(shares=Shares({"x": 0.5, "y": 0.5}, 0.0)),
    )
    check = HealthCheck(
        reference,
        schema(
            Feature("a", nullable=True),
            Feature("colour", "string", nullable=True),
            Feature("flag", "boolean", nullable=True),
            Feature("n", "integer", nullable=True),
        ),
        ("x", "y"),
    )
    count = 12
    a = rng.uniform(-5, 15, count)
    a[rng.random(count) < 0.2] = np.nan
    columns = (
        a,
        [rng.choice(["red", "blue", "green", None]) for _ in range(count)],
        [rng.choice([True, False, None]) for _ in range(count)],
        [None if rng.random() < 0.2 else int(rng.integers(-2, 8)) for _ in range(count)],
    )
    rows = Rows(count=count, columns=columns)
    labels = rng.choice(["x", "y"], count)
    few = check.measure(rows, labels)
    monkeypatch.setattr("app.core.input_health.FEW_ROWS", 0)
    assert check.measure(rows, labels) == few
    assert few.metrics["rows_out_of_range"] + few.metrics["rows_unseen_category"] > 0


@pytest.mark.parametrize("labels_dtype", [object, str], ids=["objects", "unicode"])
def test_many_labels_are_counted_alike_as_objects_and_as_unicode(labels_dtype: type) -> None:
    # A pipeline fitted on object labels predicts objects, one on strings unicode: both
    # take the counting for many labels, each its own way, to the same counts.
    check = HealthCheck(
        Reference(
            10,
            {"x": FeatureReference(0.0, 0.0, 1.0, tuple(np.linspace(0, 1, 11)))},
            PredictionReference(shares=Shares({"no": 0.7, "yes": 0.3}, 0.0)),
        ),
        schema(Feature("x")),
        ("no", "yes"),
    )
    labels = np.array(["yes"] * 37 + ["no"] * 63, dtype=labels_dtype)
    health = check.measure(Rows(count=100, matrix=np.zeros((100, 1))), labels)
    assert health.metrics["predicted.yes"] == 37
    assert health.metrics["predicted.no"] == 63
