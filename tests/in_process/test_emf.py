"""Each request's log line is a valid CloudWatch Embedded Metric Format document."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.emf_spec import emf_problems
from support.iris import SETOSA, VIRGINICA

from app.core.errors import ConfigError
from app.http.starts import note_restore
from app.service.settings import Settings


def served_lines(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], *calls: Callable
) -> list[str]:
    capsys.readouterr()
    for call in calls:
        call(client)
    return capsys.readouterr().out.splitlines()


def metrics_of(line: dict) -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, str]]:
    """What CloudWatch extracts: (metric, dimensions) -> (value, unit)."""
    extracted = {}
    for directive in line["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            dimensions = tuple((name, line[name]) for name in dimension_set)
            for metric in directive["Metrics"]:
                extracted[(metric["Name"], dimensions)] = (line[metric["Name"]], metric["Unit"])
    return extracted


ERRORS = [
    lambda c: c.post("/predict", json={"features": [1]}),
    lambda c: c.post("/predict", data="features=1"),
    lambda c: c.post("/predict", data="{", content_type="application/json"),
    lambda c: c.get("/nowhere"),
    lambda c: c.put("/health"),
]
SUCCESSES = [
    lambda c: c.post("/predict", json={"features": SETOSA}),
    lambda c: c.post("/predict", json={"instances": [SETOSA, VIRGINICA]}),
    lambda c: c.get("/health"),
    lambda c: c.get("/model"),
    lambda c: c.get("/openapi.json"),
]


def test_every_line_is_a_valid_emf_document(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    before = time.time_ns() // 1_000_000
    lines = served_lines(client, capsys, *SUCCESSES, *ERRORS)
    after = time.time_ns() // 1_000_000
    assert len(lines) == len(SUCCESSES) + len(ERRORS)
    assert {line: emf_problems(line) for line in lines} == {line: [] for line in lines}
    for line in map(json.loads, lines):
        assert before <= line["_aws"]["Timestamp"] <= after  # milliseconds, when it happened
        assert {d["Namespace"] for d in line["_aws"]["CloudWatchMetrics"]} == {"ModelPredictionApi"}


def test_a_prediction_counts_one_request_its_rows_and_its_latency(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    (raw,) = served_lines(
        client, capsys, lambda c: c.post("/predict", json={"instances": [SETOSA] * 3})
    )
    line = json.loads(raw)
    service = (("service", "model-prediction-api"),)
    native = (*service, ("protocol", "native"))
    assert metrics_of(line) == {
        **{
            (name, dimensions): value
            for dimensions in (service, native)
            for name, value in (
                ("requests", (1, "Count")),
                ("errors", (0, "Count")),
                ("latency_ms", (line["latency_ms"], "Milliseconds")),
                ("rows", (3, "Count")),
            )
        },
        # The app's first request: its cold start, counted by service alone.
        ("cold_starts", service): (1, "Count"),
    }
    assert line["latency_ms"] > 0


def test_an_error_also_counts_under_its_code(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    (raw,) = served_lines(client, capsys, lambda c: c.post("/predict", json={"features": [1]}))
    line = json.loads(raw)
    service = (("service", "model-prediction-api"),)
    native = (*service, ("protocol", "native"))
    by_code = (*service, ("error_code", "invalid_input"))
    assert metrics_of(line) == {
        **{
            (name, dimensions): value
            for dimensions in (service, native)
            for name, value in (
                ("requests", (1, "Count")),
                ("errors", (1, "Count")),
                ("latency_ms", (line["latency_ms"], "Milliseconds")),
                ("rows", (0, "Count")),
            )
        },
        ("errors", by_code): (1, "Count"),
        ("cold_starts", service): (1, "Count"),
    }


def test_dimensions_stay_few_whatever_the_requests(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each distinct set of dimension values is a custom metric, billed monthly:
    # request ids, paths and client input must never become one.
    calls = [
        *SUCCESSES,
        *ERRORS,
        lambda c: c.get("/x1"),
        lambda c: c.get("/x2?q=1", headers={"X-Request-Id": "abc"}),
        lambda c: c.post("/predict", json={"instances": [[1, 2, 3, 4]] * 7}),
        # Every protocol, on its routes and off them: the protocol dimension has 3 values.
        lambda c: c.post("/invocations", json={"instances": [SETOSA]}),
        lambda c: c.post("/invocations", data="a,b\n1,2", content_type="text/csv"),
        lambda c: c.get("/ping"),
        lambda c: c.get("/v2/health/ready"),
        lambda c: c.get("/v2/models/unknown-model"),
        lambda c: c.get("/v2/x3/y"),
        lambda c: c.delete("/invocations"),
    ]
    extracted = set()
    for raw in served_lines(client, capsys, *calls * 3):
        extracted |= set(metrics_of(json.loads(raw)))
    codes = {"invalid_input", "unsupported_media_type", "invalid_json", "not_found"}
    codes.add("method_not_allowed")
    service = ("service", "model-prediction-api")
    names = ("requests", "errors", "latency_ms", "rows")
    expected = (
        {(name, (service,)) for name in names}
        | {
            (name, (service, ("protocol", protocol)))
            for name in names
            for protocol in ("native", "mlflow", "v2")
        }
        | {("errors", (service, ("error_code", code))) for code in codes}
        # The first line's cold start; never restored, so no restore metric.
        | {("cold_starts", (service,))}
    )
    assert extracted == expected


def health(client: FlaskClient) -> object:
    return client.get("/health")


def test_only_the_first_line_after_a_start_or_a_restore_counts_it(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = served_lines(client, capsys, health, health)
    note_restore(client.application)
    lines += served_lines(client, capsys, health, health)
    note_restore(client.application)
    lines += served_lines(client, capsys, lambda c: c.get("/nowhere"), health)
    assert {line: emf_problems(line) for line in lines} == {line: [] for line in lines}
    parsed = [json.loads(line) for line in lines]
    assert [(line["cold_start"], line["restore"]) for line in parsed] == [
        (True, False), (False, False), (False, True), (False, False), (False, True),
        (False, False),
    ]  # fmt: skip
    service = (("service", "model-prediction-api"),)
    counted = [
        {name for name in ("cold_starts", "restores") if (name, service) in metrics_of(line)}
        for line in parsed
    ]
    assert counted == [{"cold_starts"}, set(), {"restores"}, set(), {"restores"}, set()]
    assert metrics_of(parsed[2])[("restores", service)] == (1, "Count")
    # A restore's line that is an error still counts the error by its code.
    assert ("errors", (*service, ("error_code", "not_found"))) in metrics_of(parsed[4])


def test_namespace_and_service_come_from_the_environment(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(METRICS_NAMESPACE="Team/Models", AWS_LAMBDA_FUNCTION_NAME="api-prod-api")
    (raw,) = served_lines(app.test_client(), capsys, lambda c: c.get("/nowhere"))
    assert emf_problems(raw) == []
    line = json.loads(raw)
    assert line["service"] == "api-prod-api"
    assert {d["Namespace"] for d in line["_aws"]["CloudWatchMetrics"]} == {"Team/Models"}


def test_namespace_default_and_rules() -> None:
    assert Settings.from_environ({}).metrics_namespace == "ModelPredictionApi"
    assert Settings.from_environ({}).service == "model-prediction-api"
    assert Settings.from_environ({"METRICS_NAMESPACE": "ml/iris api#1"}).metrics_namespace == (
        "ml/iris api#1"
    )
    for bad in ("AWS/Lambda", "aws/custom", "é", "x" * 256, "tab\there"):
        with pytest.raises(ConfigError, match="METRICS_NAMESPACE"):
            Settings.from_environ({"METRICS_NAMESPACE": bad})


VALID = {
    "_aws": {
        "Timestamp": 1_700_000_000_000,
        "CloudWatchMetrics": [
            {
                "Namespace": "Ns",
                "Dimensions": [["service"]],
                "Metrics": [{"Name": "latency_ms", "Unit": "Milliseconds"}],
            }
        ],
    },
    "service": "api",
    "latency_ms": 1.5,
}


def broken(change: Callable[[dict], None]) -> str:
    document = json.loads(json.dumps(VALID))
    change(document)
    return json.dumps(document)


def _directive(document: dict) -> dict:
    return document["_aws"]["CloudWatchMetrics"][0]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        # What Lambda's text formatter would make of a line sent through the root logger.
        ("[INFO]\t2026-01-01T00:00:00Z\tid\t" + json.dumps(VALID), "not one JSON object"),
        (json.dumps(VALID, indent=1), "more than one line"),
        (broken(lambda d: d.pop("_aws")), "no _aws"),
        (broken(lambda d: d["_aws"].update(Timestamp=1_700_000_000)), "milliseconds"),
        (broken(lambda d: d["_aws"].update(Timestamp=1.7e12)), "milliseconds"),
        (broken(lambda d: d["_aws"].update(Extra=1)), "does not define"),
        (broken(lambda d: d["_aws"].update(CloudWatchMetrics=[])), "non-empty array"),
        (broken(lambda d: d.pop("service")), "dimension 'service' is not a member"),
        (broken(lambda d: d.update(service=None)), "not a string"),
        (broken(lambda d: d.update(service="")), "not a string"),
        (broken(lambda d: d.update(service="x" * 1025)), "not a string"),
        (broken(lambda d: _directive(d).update(Dimensions=[[f"d{i}" for i in range(31)]])),
         "dimension set of 31 keys"),
        (broken(lambda d: _directive(d).update(Dimensions=[])), "Dimensions"),
        (broken(lambda d: d.pop("latency_ms")), "metric 'latency_ms' is not a member"),
        (broken(lambda d: d.update(latency_ms="1.5")), "not a number"),
        (broken(lambda d: d.update(latency_ms=True)), "not a number"),
        (broken(lambda d: d.update(latency_ms=[1.0] * 101)), "not a number"),
        (broken(lambda d: _directive(d)["Metrics"][0].update(Unit="ms")), "not a CloudWatch unit"),
        (broken(lambda d: _directive(d)["Metrics"][0].update(StorageResolution=5)),
         "storage resolution"),
        (broken(lambda d: _directive(d)["Metrics"][0].update(Name="service")),
         "both a metric and a dimension"),
        (broken(lambda d: _directive(d)["Metrics"].extend([{"Name": "latency_ms"}] * 100)),
         "101 metric definitions"),
        (broken(lambda d: _directive(d).update(Namespace="AWS/Lambda")), "Namespace"),
        (broken(lambda d: _directive(d).update(Extra=1)), "members"),
    ],
)  # fmt: skip
def test_the_checker_catches_each_broken_rule(message: str, problem: str) -> None:
    assert emf_problems(json.dumps(VALID)) == []
    problems = emf_problems(message)
    assert any(problem in p for p in problems), problems
