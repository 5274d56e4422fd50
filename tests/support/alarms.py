"""The CloudWatch alarms the docs show, held to the lines the service writes: each metric
an alarm watches is one a line carries, by the dimensions the line gives it, and
CloudWatch's API (moto's) takes the alarm as written."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
from moto import mock_aws


def written_metrics(line: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...]]]:
    """(namespace, metric, dimension names) for every metric a line's EMF document makes."""
    return {
        (directive["Namespace"], metric["Name"], tuple(dimensions))
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
        for dimensions in directive["Dimensions"]
    }


def check_metric_math_alarm(page: str, line: dict[str, Any]) -> dict[str, Any]:
    """The `aws cloudwatch put-metric-alarm ... --metrics '[...]'` command on `page`: its
    metrics are written by `line`, and moto's CloudWatch stores it; returns the alarm."""
    (queries,) = re.findall(r"--metrics '(\[.*?\])'", page, flags=re.DOTALL)
    metrics = json.loads(queries)
    written = written_metrics(line)
    for query in metrics:
        if "MetricStat" not in query:
            continue
        metric = query["MetricStat"]["Metric"]
        dimensions = tuple(d["Name"] for d in metric["Dimensions"])
        assert (metric["Namespace"], metric["MetricName"], dimensions) in written, metric
    options = dict(re.findall(r"--([a-z-]+) ([^\s\\]+)", page.split("put-metric-alarm", 1)[1]))
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        cloudwatch.put_metric_alarm(
            AlarmName=options["alarm-name"],
            ComparisonOperator=options["comparison-operator"],
            Threshold=float(options["threshold"]),
            EvaluationPeriods=int(options["evaluation-periods"]),
            TreatMissingData=options["treat-missing-data"],
            Metrics=metrics,
        )
        (alarm,) = cloudwatch.describe_alarms()["MetricAlarms"]
    return dict(alarm)
