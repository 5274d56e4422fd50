"""The rules of CloudWatch's Embedded Metric Format specification, as a checker.

`emf_problems(message)` lists every rule a log event's message breaks; an empty
list means CloudWatch Logs would extract its metrics. The rules are the
specification's MUSTs ("Specification: Embedded metric format" in the CloudWatch
user guide) and the limits of the CloudWatch API it feeds (MetricDatum, Dimension).
"""

from __future__ import annotations

import json
from typing import Any

# MetricDatum's valid units; a unit outside this list is refused.
CLOUDWATCH_UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds",
        "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count",
        "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
        "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
        "Gigabits/Second", "Terabits/Second", "Count/Second",
        "None",
    }
)  # fmt: skip
MAX_EVENT_BYTES = 1024 * 1024
MAX_DIMENSIONS_PER_SET = 30
MAX_DIMENSION_VALUE_CHARS = 1024
MAX_DIMENSION_NAME_CHARS = 250
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_NAME_CHARS = 255  # namespaces and metric names, as PutMetricData takes them
DIRECTIVE_KEYS = {"Namespace", "Dimensions", "Metrics"}
DEFINITION_KEYS = {"Name", "Unit", "StorageResolution"}


def emf_problems(message: str) -> list[str]:
    """Every way `message`, one CloudWatch log event, fails to be an EMF document."""
    if "\n" in message.rstrip("\n"):
        return ["spans more than one line: each line is a log event of its own"]
    if len(message.encode()) > MAX_EVENT_BYTES:
        return ["larger than a log event may be"]
    try:
        root = json.loads(message)
    except json.JSONDecodeError as error:
        return [f"not one JSON object and nothing else: {error}"]
    if not isinstance(root, dict):
        return ["the root is not a JSON object"]
    metadata = root.get("_aws")
    if not isinstance(metadata, dict):
        return ["no _aws object on the root"]
    problems = []
    if set(metadata) - {"Timestamp", "CloudWatchMetrics"}:
        problems.append(f"_aws has members the specification does not define: {sorted(metadata)}")
    timestamp = metadata.get("Timestamp")
    if not _is_integer(timestamp) or timestamp < 10**12:
        problems.append(f"_aws.Timestamp {timestamp!r} is not milliseconds since the epoch")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics is not a non-empty array"]
    for index, directive in enumerate(directives):
        problems += [f"directive {index}: {p}" for p in _directive_problems(directive, root)]
    return problems


def _directive_problems(directive: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(directive, dict):
        return ["not an object"]
    problems = []
    if set(directive) != DIRECTIVE_KEYS:
        problems.append(f"members {sorted(directive)}, expected {sorted(DIRECTIVE_KEYS)}")
    namespace = directive.get("Namespace")
    if not _is_name(namespace) or namespace.startswith("AWS/"):
        problems.append(f"Namespace {namespace!r} is not a usable custom namespace")
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list) or not dimension_sets:
        problems.append("Dimensions is not a non-empty array of dimension sets")
        dimension_sets = []
    dimension_names = set()
    for dimension_set in dimension_sets:
        if not isinstance(dimension_set, list):
            problems.append(f"dimension set {dimension_set!r} is not an array")
            continue
        if len(dimension_set) > MAX_DIMENSIONS_PER_SET:
            problems.append(f"dimension set of {len(dimension_set)} keys")
        for name in dimension_set:
            dimension_names.add(name)
            problems += _dimension_problems(name, root)
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or not metrics:
        return [*problems, "Metrics is not a non-empty array"]
    if len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        problems.append(f"{len(metrics)} metric definitions")
    for definition in metrics:
        problems += _definition_problems(definition, root, dimension_names)
    return problems


def _dimension_problems(name: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_DIMENSION_NAME_CHARS:
        return [f"dimension key {name!r} is not a string of 1 to 250 characters"]
    if name not in root:
        return [f"dimension {name!r} is not a member of the root"]
    value = root[name]
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_DIMENSION_VALUE_CHARS:
        return [f"dimension {name!r} has value {value!r}, not a string of 1 to 1024 characters"]
    return []


def _definition_problems(definition: Any, root: dict[str, Any], dimensions: set) -> list[str]:
    if not isinstance(definition, dict):
        return [f"metric definition {definition!r} is not an object"]
    name = definition.get("Name")
    problems = []
    if set(definition) - DEFINITION_KEYS:
        problems.append(f"metric definition {name!r} has unknown members")
    if not _is_name(name):
        return [*problems, f"metric name {name!r} is not a string of 1 to 255 characters"]
    if name in dimensions:
        problems.append(f"{name!r} is both a metric and a dimension")
    if name not in root:
        problems.append(f"metric {name!r} is not a member of the root")
    else:
        value = root[name]
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_VALUES_PER_METRIC or not all(map(_is_number, values)):
            problems.append(f"metric {name!r} has value {value!r}, not a number or numbers")
    unit = definition.get("Unit", "None")
    if unit not in CLOUDWATCH_UNITS:
        problems.append(f"metric {name!r} has unit {unit!r}, not a CloudWatch unit")
    if definition.get("StorageResolution", 60) not in (1, 60):
        problems.append(f"metric {name!r} has a storage resolution other than 1 or 60")
    return problems


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_NAME_CHARS


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
