"""A shadow model answers the live model's validated rows after the live answer is built:
its answer never reaches the client, its failure never changes the live answer, and the
request's line carries how the two compared."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from flask import Flask
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from support.alarms import check_metric_math_alarm
from support.emf_spec import emf_problems
from support.event_payloads import LambdaAnswer, LambdaContext, event_for
from support.iris import IRIS_FEATURES
from support.shadows import (
    iris_data,
    iris_failing,
    iris_regressor,
    iris_tree,
    iris_with_extra_feature,
)

import handler
from app.core.errors import ConfigError
from app.core.schema import Feature, Schema
from app.core.shadow import schema_misfit
from app.http.components import install, part_of
from app.http.shadow import ShadowRuns
from app.service.settings import Settings
from model.export import Description, save_model

ROOT = Path(__file__).parents[2]
BUNDLED = ROOT / "model" / "model.joblib"
CHURN = ROOT / "model" / "examples" / "churn.joblib"
CHURN_RETRAINED = ROOT / "model" / "examples" / "churn_retrained.joblib"
X, _ = iris_data()
# Every third flower: the tree and the bundled model differ on one of them.
FLOWERS = X[::3].tolist()


def output(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The request lines and the capture records written since the last read."""
    parsed = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    lines = [item for item in parsed if "_aws" in item]
    records = [item for item in parsed if item.get("record") == "capture"]
    return lines, records


def predictions_of(artifact: Path, rows: Any) -> np.ndarray:
    return np.asarray(joblib.load(artifact).predict(np.asarray(rows, dtype=float)))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shadows")


@pytest.fixture(scope="module")
def tree(models: Path) -> Path:
    return iris_tree(models)


def test_a_shadow_answers_after_the_live_model_and_its_metrics_go_on_the_line(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = make_app().test_client().post("/predict", json={"instances": FLOWERS})
    shadowed = make_app(SHADOW_MODEL_URI=str(tree)).test_client()
    capsys.readouterr()
    answer = shadowed.post("/predict", json={"instances": FLOWERS})
    # The client sees the live answer, byte for byte, and nothing of the shadow's.
    assert answer.status_code == 200
    assert answer.data == plain.data
    (line,), _ = output(capsys)
    live = np.asarray(answer.get_json()["predictions"])
    agreeing = int((live == predictions_of(tree, FLOWERS)).sum())
    assert 0 < agreeing < len(FLOWERS)  # the two models differ on some flowers
    assert line["shadow_requests"] == 1
    assert line["shadow_errors"] == 0
    assert line["shadow_rows"] == len(FLOWERS)
    assert line["shadow_rows_agreeing"] == agreeing
    assert line["shadow_latency_ms"] > 0
    directive = line["_aws"]["CloudWatchMetrics"][-1]
    assert directive["Dimensions"] == [["service"]]
    assert [(m["Name"], m["Unit"]) for m in directive["Metrics"]] == [
        ("shadow_requests", "Count"),
        ("shadow_errors", "Count"),
        ("shadow_rows", "Count"),
        ("shadow_rows_agreeing", "Count"),
        ("shadow_latency_ms", "Milliseconds"),
    ]
    assert emf_problems(json.dumps(line)) == []


def test_get_model_names_the_shadow_only_when_there_is_one(
    make_app: Callable[..., Flask], tree: Path
) -> None:
    assert "shadow" not in make_app().test_client().get("/model").get_json()
    described = make_app(SHADOW_MODEL_URI=str(tree), SHADOW_SAMPLE_RATE="0.25")
    assert described.test_client().get("/model").get_json()["shadow"] == {
        "loaded": True,
        "name": "iris-tree",
        "version": "2.0.0",
        "sample_rate": 0.25,
    }


def test_refused_requests_and_other_routes_never_reach_the_shadow(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(SHADOW_MODEL_URI=str(tree)).test_client()
    capsys.readouterr()
    assert client.post("/predict", json={"instances": [[1, 2, 3]]}).status_code == 422
    assert client.get("/health").status_code == 200
    lines, _ = output(capsys)
    assert len(lines) == 2
    assert not [name for line in lines for name in line if name.startswith("shadow")]


def test_every_protocol_s_predictions_are_shadowed(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(SHADOW_MODEL_URI=str(tree)).test_client()
    capsys.readouterr()
    inputs = [
        {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": X[:2].ravel().tolist()}
    ]
    assert (
        client.post(
            "/v2/models/iris-logistic-regression/infer", json={"inputs": inputs}
        ).status_code
        == 200
    )
    split = {"columns": IRIS_FEATURES, "data": X[:3].tolist()}
    assert client.post("/invocations", json={"dataframe_split": split}).status_code == 200
    lines, _ = output(capsys)
    assert [line["shadow_rows"] for line in lines] == [2, 3]


def test_the_sample_rate_picks_which_predictions_the_shadow_answers(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(SHADOW_MODEL_URI=str(tree), SHADOW_SAMPLE_RATE="0.5")
    slot = part_of(ShadowRuns, app).slot
    draws = itertools.cycle([0.1, 0.7, 0.49, 0.5])  # taken, skipped, taken, skipped
    install(app, ShadowRuns(slot, lambda: next(draws)))
    client = app.test_client()
    capsys.readouterr()
    for _ in range(8):
        assert client.post("/predict", json={"instances": FLOWERS}).status_code == 200
    lines, _ = output(capsys)
    assert [line.get("shadow_requests", 0) for line in lines] == [1, 0, 1, 0] * 2
    # A line without the shadow names none of its metrics, in its body or its directives.
    skipped = lines[1]
    assert not [name for name in skipped if name.startswith("shadow")]
    assert emf_problems(json.dumps(skipped)) == []


def test_a_rate_of_zero_loads_the_shadow_but_never_asks_it(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(SHADOW_MODEL_URI=str(tree), SHADOW_SAMPLE_RATE="0").test_client()
    assert client.get("/model").get_json()["shadow"]["loaded"] is True
    capsys.readouterr()
    client.post("/predict", json={"instances": FLOWERS})
    (line,), _ = output(capsys)
    assert "shadow_requests" not in line


@pytest.mark.parametrize(
    "fail", ["refuse", "break"], ids=["refuses-the-values", "raises-its-own-fault"]
)
def test_a_failing_shadow_never_changes_the_live_answer(
    make_app: Callable[..., Flask],
    models: Path,
    fail: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = iris_failing(
        models, f"{fail}_on_long_petals" if fail == "break" else "refuse_long_petals"
    )
    plain = make_app().test_client()
    client = make_app(SHADOW_MODEL_URI=str(failing)).test_client()
    long_petals = [row for row in X.tolist() if row[2] > 6.0]
    short_petals = [row for row in X.tolist() if row[2] <= 6.0][:20]
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="app.http.shadow"):
        answers = [
            client.post("/predict", json={"instances": rows})
            for rows in (long_petals, short_petals)
        ]
    for answer, rows in zip(answers, (long_petals, short_petals), strict=True):
        expected = plain.post("/predict", json={"instances": rows})
        assert (answer.status_code, answer.data) == (200, expected.data)
    lines, _ = output(capsys)
    failed, answered = lines[:2]  # the shadowed app's; the plain one's follow
    assert failed["status"] == 200
    assert (failed["shadow_errors"], failed["shadow_rows"]) == (1, 0)
    assert "shadow_rows_agreeing" not in failed
    assert [m["Name"] for m in failed["_aws"]["CloudWatchMetrics"][-1]["Metrics"]] == [
        "shadow_requests",
        "shadow_errors",
        "shadow_rows",
        "shadow_latency_ms",
    ]
    assert emf_problems(json.dumps(failed)) == []
    assert (answered["shadow_errors"], answered["shadow_rows"]) == (0, len(short_petals))
    expected_error = "RowsRefused" if fail == "refuse" else "RuntimeError"
    assert [r.getMessage() for r in caplog.records if r.name == "app.http.shadow"] == [
        f"the shadow model failed on {len(long_petals)} row(s): {expected_error}"
    ]
    # Never the values, nor the model's own message, in the log.
    assert "never seen" not in caplog.text and "own fault" not in caplog.text


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (iris_regressor, "the shadow is a regression model, the live one a classification one"),
        (
            iris_with_extra_feature,
            "the shadow takes feature 'petal_area', which the live model's rows lack",
        ),
    ],
    ids=["another-task", "a-feature-the-live-rows-lack"],
)
def test_a_shadow_that_does_not_fit_is_refused_with_the_reason_and_the_live_model_serves(
    make_app: Callable[..., Flask],
    models: Path,
    build: Callable[[Path], Path],
    reason: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        app = make_app(SHADOW_MODEL_URI=str(build(models)))
    assert (
        f"shadow model unavailable: it does not accept every row the live model accepts: {reason}"
        in caplog.text
    )
    client = app.test_client()
    shadow = client.get("/model").get_json()["shadow"]
    assert shadow == {
        "loaded": False,
        "reason": f"it does not accept every row the live model accepts: {reason}",
        "sample_rate": 1.0,
    }
    capsys.readouterr()
    answer = client.post("/predict", json={"instances": FLOWERS})
    assert answer.status_code == 200
    (line,), _ = output(capsys)
    # Counted as failing, so an alarm on shadow errors sees a shadow that never loaded.
    assert (line["shadow_requests"], line["shadow_errors"]) == (1, 1)


def test_a_shadow_may_take_fewer_features_in_another_order(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    petals = ["petal_width", "petal_length"]
    shadow = iris_tree(tmp_path, petals)
    client = make_app(SHADOW_MODEL_URI=str(shadow)).test_client()
    capsys.readouterr()
    answer = client.post("/predict", json={"instances": FLOWERS})
    (line,), _ = output(capsys)
    petal_rows = np.asarray(FLOWERS)[:, [3, 2]]
    theirs = joblib.load(shadow).predict(petal_rows)
    assert line["shadow_rows_agreeing"] == int(
        (np.asarray(answer.get_json()["predictions"]) == theirs).sum()
    )


def feature(name: str, kind: str = "string", **options: Any) -> Feature:
    return Feature(name, kind, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("live", "shadow", "reason"),
    [
        (
            [feature("plan")],
            [feature("plan", "integer")],
            "feature 'plan': the shadow takes a integer, the live model a string",
        ),
        (
            [feature("plan", nullable=True)],
            [feature("plan")],
            "feature 'plan': the live model accepts a missing value, the shadow does not",
        ),
        (
            [feature("plan")],
            [feature("plan", categories=("a", "b"), accepts_unknown=False)],
            "feature 'plan': the shadow accepts only its listed categories, the live model any "
            "value; describe the shadow so it accepts unknown values",
        ),
        (
            [feature("plan", categories=("a", "b", "c"), accepts_unknown=False)],
            [feature("plan", categories=("a", "b"), accepts_unknown=False)],
            "feature 'plan': the shadow refuses categories the live model accepts: ['c']",
        ),
        (
            [feature("seen", "datetime", dtype="datetime64[ns]")],
            [feature("seen", "datetime", dtype="datetime64[ns, UTC]")],
            "feature 'seen': the shadow takes datetime64[ns, UTC], the live model datetime64[ns]",
        ),
    ],
    ids=["type", "missing-values", "closed-categories", "fewer-categories", "time-zone"],
)
def test_a_schema_that_would_refuse_a_live_row_is_named(
    live: list[Feature], shadow: list[Feature], reason: str
) -> None:
    assert (
        schema_misfit(Schema(tuple(live), "dataframe"), Schema(tuple(shadow), "dataframe"))
        == reason
    )


@pytest.mark.parametrize(
    ("live", "shadow"),
    [
        ([feature("plan")], [feature("plan", nullable=True)]),
        (
            [feature("plan", categories=("a",), accepts_unknown=False)],
            [feature("plan", categories=("a", "b"), accepts_unknown=False)],
        ),
        ([feature("plan", categories=("a",), accepts_unknown=False)], [feature("plan")]),
        ([feature("plan"), feature("age", "integer")], [feature("age", "integer")]),
    ],
    ids=["accepts-missing-too", "more-categories", "any-value", "fewer-features"],
)
def test_a_schema_that_accepts_more_fits(live: list[Feature], shadow: list[Feature]) -> None:
    assert (
        schema_misfit(Schema(tuple(live), "dataframe"), Schema(tuple(shadow), "dataframe")) is None
    )


def test_a_retrained_churn_model_shadows_the_churn_model(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    from model.examples.churn import customers

    frame, _ = customers(300, 99)
    rows = json.loads(frame.to_json(orient="records"))
    client = make_app(MODEL_URI=str(CHURN), SHADOW_MODEL_URI=str(CHURN_RETRAINED)).test_client()
    capsys.readouterr()
    answer = client.post("/predict", json={"instances": rows})
    assert answer.status_code == 200
    (line,), _ = output(capsys)
    live = np.asarray(answer.get_json()["predictions"])
    retrained = joblib.load(CHURN_RETRAINED).predict(
        frame.astype({"contract": "str", "payment_method": "str"})
    )
    assert line["shadow_rows"] == 300
    assert line["shadow_rows_agreeing"] == int((live == retrained).sum())
    assert 0 < line["shadow_rows_agreeing"] < 300
    # Both carry reference statistics: input health and the shadow, each its directive.
    names = [d["Metrics"][0]["Name"] for d in line["_aws"]["CloudWatchMetrics"]]
    assert names[-1] == "shadow_requests" and "rows_out_of_range" in names
    assert emf_problems(json.dumps(line)) == []


@pytest.fixture(scope="module")
def gentler_ridge(models: Path) -> Path:
    """The diabetes regressor's shape, regularised ten times as hard."""
    data = load_diabetes()
    estimator = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(data.data, data.target)
    artifact = models / "diabetes-gentler.joblib"
    save_model(estimator, artifact, Description("diabetes-ridge", "2.2.0", data.feature_names))
    return artifact


def test_a_regressor_s_shadow_reports_the_mean_difference_and_rows_within_tolerance(
    make_app: Callable[..., Flask],
    regressor_artifact: Path,
    gentler_ridge: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = load_diabetes().data[:40]
    ours = joblib.load(regressor_artifact).predict(rows)
    theirs = joblib.load(gentler_ridge).predict(rows)
    gap = np.abs(ours - theirs)
    tolerance = float(np.median(gap))
    app = make_app(
        MODEL_PATH=str(regressor_artifact),
        SHADOW_MODEL_URI=str(gentler_ridge),
        SHADOW_TOLERANCE=str(tolerance),
    )
    client = app.test_client()
    assert client.get("/model").get_json()["shadow"]["tolerance"] == tolerance
    capsys.readouterr()
    assert client.post("/predict", json={"instances": rows.tolist()}).status_code == 200
    (line,), _ = output(capsys)
    assert line["shadow_rows_within_tolerance"] == int((gap <= tolerance).sum())
    assert line["shadow_mean_abs_difference"] == pytest.approx(gap.mean(), abs=1e-6)
    assert "shadow_rows_agreeing" not in line
    units = {m["Name"]: m["Unit"] for m in line["_aws"]["CloudWatchMetrics"][-1]["Metrics"]}
    assert units["shadow_mean_abs_difference"] == "None"
    assert emf_problems(json.dumps(line)) == []


def test_capture_keeps_the_rows_the_shadow_disagreed_on_masked(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(
        SHADOW_MODEL_URI=str(tree),
        CAPTURE_SAMPLE_RATE="1",
        CAPTURE_EXCLUDE="sepal_width",
        CAPTURE_MAX_ROWS="2",
    ).test_client()
    capsys.readouterr()
    answer = client.post("/predict", json={"instances": X.tolist()})
    _, (record,) = output(capsys)
    live = np.asarray(answer.get_json()["predictions"])
    theirs = predictions_of(tree, X)
    differ = np.flatnonzero(live != theirs)
    assert len(differ) > 2
    shadow = record["shadow"]
    assert shadow["model_version"] == "2.0.0"
    assert shadow["rows_disagreeing"] == len(differ)
    # As many as the record's rows: CAPTURE_MAX_ROWS bounds both.
    assert [entry["row"] for entry in shadow["disagreeing"]] == differ[:2].tolist()
    for entry in shadow["disagreeing"]:
        row = X[entry["row"]]
        assert entry["values"] == {
            "sepal_length": row[0],
            "petal_length": row[2],
            "petal_width": row[3],
        }
        assert (entry["live"], entry["shadow"]) == (live[entry["row"]], theirs[entry["row"]])


def test_capture_says_why_the_shadow_did_not_answer(
    make_app: Callable[..., Flask], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(
        SHADOW_MODEL_URI=str(iris_failing(models)), CAPTURE_SAMPLE_RATE="1"
    ).test_client()
    capsys.readouterr()
    client.post("/predict", json={"instances": X.tolist()})
    _, (record,) = output(capsys)
    assert record["shadow"] == {"model_version": "0.1.0", "error": "RowsRefused"}


def test_the_guide_s_line_and_alarm_are_what_the_service_writes(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/safe-changes.md: its example line has the members and directives a churn line
    with the retrained shadow has, and its agreement alarm watches two of them."""
    from model.examples.churn import customers

    guide = (ROOT / "docs" / "safe-changes.md").read_text()
    (shown,) = [
        json.loads(block)
        for block in re.findall(r"```json\n(.*?)\n```", guide, flags=re.DOTALL)
        if block.startswith("{") and "shadow_requests" in block
    ]
    client = make_app(MODEL_URI=str(CHURN), SHADOW_MODEL_URI=str(CHURN_RETRAINED)).test_client()
    frame, _ = customers(50, 5)
    client.post("/predict", json={"instances": json.loads(frame.to_json(orient="records"))})
    capsys.readouterr()  # the first request's line is a cold start's; the guide shows a later one
    client.post("/predict", json={"instances": json.loads(frame.to_json(orient="records"))})
    (line,), _ = output(capsys)
    assert list(shown) == list(line)
    assert shown["_aws"]["CloudWatchMetrics"] == line["_aws"]["CloudWatchMetrics"]
    assert (shown["shadow_rows"], shown["shadow_rows_agreeing"]) == (
        line["shadow_rows"],
        line["shadow_rows_agreeing"],
    )
    alarm = check_metric_math_alarm(guide, line)
    assert [m["Id"] for m in alarm["Metrics"]] == ["agreeing", "answered", "agreement"]


def test_through_the_lambda_handler(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.factory import create_app

    monkeypatch.setattr(handler, "app", create_app({"SHADOW_MODEL_URI": str(tree)}))
    capsys.readouterr()
    event = event_for("rest-api.json", "POST", "/predict", json.dumps({"instances": FLOWERS}))
    answer = LambdaAnswer.of(handler.handler(event, LambdaContext()))
    assert answer.status == 200
    assert "shadow" not in answer.body
    (line,), _ = output(capsys)
    assert line["shadow_rows"] == len(FLOWERS)


def test_during_a_rollout_the_metrics_also_go_by_function_version(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(
        SHADOW_MODEL_URI=str(tree),
        METRICS_BY_FUNCTION_VERSION="true",
        AWS_LAMBDA_FUNCTION_VERSION="7",
    ).test_client()
    capsys.readouterr()
    client.post("/predict", json={"instances": FLOWERS})
    client.post("/predict", data="{", content_type="application/json")
    ok, refused = output(capsys)[0]
    for line, server_errors in ((ok, 0), (refused, 0)):
        assert line["function_version"] == "7"
        assert line["server_errors"] == server_errors
        assert emf_problems(json.dumps(line)) == []
    by_version = [
        d
        for d in ok["_aws"]["CloudWatchMetrics"]
        if ["service", "function_version"] in d["Dimensions"]
    ]
    assert [[m["Name"] for m in d["Metrics"]] for d in by_version] == [
        ["requests", "server_errors", "latency_ms", "rows"],
        [
            "shadow_requests",
            "shadow_errors",
            "shadow_rows",
            "shadow_rows_agreeing",
            "shadow_latency_ms",
        ],
    ]


def version_query(page: str) -> str:
    """The Logs Insights query on a page: the text block after "Logs Insights"."""
    text = (ROOT / page).read_text()
    return text.split("Logs Insights", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]


def test_the_version_query_reads_fields_a_rollout_line_has(
    make_app: Callable[..., Flask], tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = version_query("README.md")
    assert version_query("docs/safe-changes.md") == query
    fields = set(re.findall(r"(?:ispresent|sum|pct)\((\w+)", query))
    fields |= set(re.findall(r"\bby (\w+)", query)) | set(re.findall(r"and (\w+) not like", query))
    assert fields == {
        "function_version",
        "server_errors",
        "latency_ms",
        "shadow_rows_agreeing",
        "shadow_rows",
        "path",
    }
    client = make_app(
        SHADOW_MODEL_URI=str(tree),
        METRICS_BY_FUNCTION_VERSION="true",
        AWS_LAMBDA_FUNCTION_VERSION="12",
    ).test_client()
    capsys.readouterr()
    client.post("/predict", json={"instances": FLOWERS})
    (line,), _ = output(capsys)
    assert fields <= set(line)


def test_without_a_rollout_no_line_names_a_version(
    make_app: Callable[..., Flask],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_app(AWS_LAMBDA_FUNCTION_VERSION="7").test_client()
    capsys.readouterr()
    client.post("/predict", json={"instances": FLOWERS})
    (line,), _ = output(capsys)
    assert "function_version" not in line and "server_errors" not in line


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SHADOW_SAMPLE_RATE": "0.5"}, "SHADOW_SAMPLE_RATE set, but SHADOW_MODEL_URI is not"),
        (
            {"SHADOW_MODEL_SHA256": "a" * 64, "SHADOW_TOLERANCE": "1"},
            "SHADOW_TOLERANCE, SHADOW_MODEL_SHA256 set, but SHADOW_MODEL_URI is not",
        ),
        (
            {"SHADOW_MODEL_URI": "https://example.com/m.joblib"},
            "SHADOW_MODEL_URI must be a local path or an s3:// URI, got 'https://example.com/m.joblib'",
        ),
        (
            {"SHADOW_MODEL_URI": "s3://bucket-only"},
            "SHADOW_MODEL_URI must look like s3://bucket/key.joblib, got 's3://bucket-only'",
        ),
        (
            {"SHADOW_MODEL_URI": "m.joblib", "SHADOW_SAMPLE_RATE": "2"},
            "SHADOW_SAMPLE_RATE must be a number from 0 to 1, got '2'",
        ),
        (
            {"SHADOW_MODEL_URI": "m.joblib", "SHADOW_TOLERANCE": "-0.1"},
            "SHADOW_TOLERANCE must be a finite number of at least 0, got '-0.1'",
        ),
        (
            {"SHADOW_MODEL_URI": "m.joblib", "SHADOW_TOLERANCE": "inf"},
            "SHADOW_TOLERANCE must be a finite number of at least 0, got 'inf'",
        ),
        (
            {"SHADOW_MODEL_URI": "m.joblib", "SHADOW_MODEL_CODE_SHA256": "xyz"},
            "SHADOW_MODEL_CODE_SHA256 must be 64 hex digits, got 'xyz'",
        ),
        (
            {"METRICS_BY_FUNCTION_VERSION": "true"},
            "METRICS_BY_FUNCTION_VERSION is on, but AWS_LAMBDA_FUNCTION_VERSION is unset: set "
            "by Lambda, it must be a version number or $LATEST",
        ),
    ],
)
def test_shadow_settings_are_checked_at_start_up(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_environ(environ)
    assert str(refused.value) == message


def test_a_shadow_pin_names_the_shadow_s_setting(
    make_app: Callable[..., Flask], tree: Path
) -> None:
    client = make_app(SHADOW_MODEL_URI=str(tree), SHADOW_MODEL_SHA256="0" * 64).test_client()
    reason = client.get("/model").get_json()["shadow"]["reason"]
    assert reason.startswith(f"SHADOW_MODEL_SHA256 is {'0' * 64}, but the model metadata describes")


def test_a_shadow_that_cannot_load_leaves_the_live_model_serving(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    client = make_app(SHADOW_MODEL_URI=str(tmp_path / "absent.joblib")).test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/model").get_json()["shadow"] == {
        "loaded": False,
        "reason": "model metadata not found: absent.json",
        "sample_rate": 1.0,
    }
    assert client.post("/predict", json={"instances": FLOWERS}).status_code == 200


@pytest.fixture(autouse=True)
def _no_stray_handler_app() -> Iterator[None]:
    """The handler's app is the bundled model's again after a test that swaps it."""
    before = handler.app
    yield
    handler.app = before


def test_make_serve_refuses_a_bad_shadow_setting_in_one_line() -> None:
    """app.local_server, as `make serve` runs it: a bad setting is one line naming it."""
    result = subprocess.run(
        [sys.executable, "-m", "app.local_server", "--port", "9"],
        cwd=ROOT,
        env={**os.environ, "SHADOW_MODEL_URI": "m.joblib", "SHADOW_SAMPLE_RATE": "2"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: SHADOW_SAMPLE_RATE must be a number from 0 to 1, got '2'"
    )
    assert "Traceback" not in result.stderr


def test_a_shadow_on_s3_without_boto3_is_absent_with_the_reason(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under `make serve`, whose environment has no boto3: the live model serves on.
    monkeypatch.setitem(sys.modules, "boto3", None)
    client = make_app(SHADOW_MODEL_URI="s3://team-models/churn/1.1.0.joblib").test_client()
    assert client.post("/predict", json={"instances": FLOWERS}).status_code == 200
    assert client.get("/model").get_json()["shadow"]["reason"] == (
        "reading s3://team-models/churn/1.1.0.joblib needs boto3, which Lambda's runtime "
        "provides and this environment lacks: install it (requirements-dev.txt pins it), or "
        "serve a local copy of the model"
    )
