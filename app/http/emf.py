"""CloudWatch metrics carried by the request log line, in Embedded Metric Format.

CloudWatch Logs extracts the metrics from the line it already receives: no agent, no
API call, nothing to flush. The `_aws` block names which top-level members of the
line are metrics and which are dimensions; the values stay ordinary log fields.

Dimensions decide the bill: every distinct combination of dimension values is one
custom metric. So every line's metrics are by `service` (the Lambda function, fixed per
deployment) and by `service` and `protocol` (one of three), and an error line adds a
second directive that counts `errors` by `error_code`, a code from the API's own short
list (app.core.errors), never client input. A success line creates no per-code metric, and
latency and rows are not split by code. Likewise the line of a cold start, or of a
SnapStart restore, adds a directive that counts it by `service` alone (`cold_starts`,
`restores`), and no other line does: a stage that is never restored has no restore
metric. A prediction by a model with reference statistics adds its input health counts
by `service` alone (app.core.input_health: a fixed set of names per model), and one a
shadow model answered too adds the comparison's (app.core.shadow), likewise.

During a rollout (a function version given) two versions serve at once: every line then
also carries `function_version`, and requests, server errors (5xx), latency and rows go
by `service` and `function_version` too, as do the input health and shadow metrics, so
the new version can be held to the old one. Lambda keeps a few versions at most during a
shift, so the dimension stays bounded.
"""

from __future__ import annotations

import time
from typing import Any

# Metric name (a top-level member of the line) -> CloudWatch unit.
METRIC_UNITS = {
    "requests": "Count",
    "errors": "Count",
    "latency_ms": "Milliseconds",
    "rows": "Count",
}
# A boolean field of the line -> the metric that counts the lines on which it is true.
START_COUNTS = {"cold_start": "cold_starts", "restore": "restores"}
SERVICE_DIMENSION = "service"
ERROR_CODE_DIMENSION = "error_code"
PROTOCOL_DIMENSION = "protocol"
VERSION_DIMENSION = "function_version"
# By version, what a rollout's alarms compare: 5xx answers against requests, and latency.
VERSION_METRICS = {
    "requests": "Count",
    "server_errors": "Count",
    "latency_ms": "Milliseconds",
    "rows": "Count",
}
# A group of metrics a line may add (input health, shadow): (name, unit) pairs, in order.
MetricGroup = tuple[tuple[str, str], ...]
# Directive lists kept for lines with groups; past this many, kept afresh.
MAX_GROUPED_LINES = 64


class EmbeddedMetrics:
    """Turns a request log line into an EMF document, in place."""

    def __init__(self, namespace: str, service: str, function_version: str | None = None) -> None:
        self.namespace = namespace
        self.service = service
        self.function_version = function_version
        self._group_dimensions = [[SERVICE_DIMENSION]]
        if function_version is not None:
            self._group_dimensions.append([SERVICE_DIMENSION, VERSION_DIMENSION])
        every_request = {
            "Namespace": namespace,
            "Dimensions": [[SERVICE_DIMENSION], [SERVICE_DIMENSION, PROTOCOL_DIMENSION]],
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRIC_UNITS.items()],
        }
        by_error_code = {
            "Namespace": namespace,
            "Dimensions": [[SERVICE_DIMENSION, ERROR_CODE_DIMENSION]],
            "Metrics": [{"Name": "errors", "Unit": METRIC_UNITS["errors"]}],
        }
        by_version = {
            "Namespace": namespace,
            "Dimensions": [[SERVICE_DIMENSION, VERSION_DIMENSION]],
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in VERSION_METRICS.items()],
        }
        by_start = {
            field: {
                "Namespace": namespace,
                "Dimensions": [[SERVICE_DIMENSION]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }
            for field, metric in START_COUNTS.items()
        }
        # Built once, one list per kind of line: only the timestamp changes.
        self._directives: dict[tuple[bool, str | None], list[dict[str, Any]]] = {}
        self._grouped: dict[
            tuple[bool, str | None, tuple[MetricGroup, ...]], list[dict[str, Any]]
        ] = {}
        for failed in (False, True):
            for start in (None, *START_COUNTS):
                directives = [every_request, *([by_error_code] if failed else [])]
                if function_version is not None:
                    directives.append(by_version)
                if start is not None:
                    directives.append(by_start[start])
                self._directives[(failed, start)] = directives

    def add_to(self, line: dict[str, Any], groups: tuple[MetricGroup, ...] = ()) -> None:
        """Add the metric members and `_aws` to a line with status, latency_ms, rows,
        error_code, protocol, cold_start and restore; `groups`, the metrics it already
        holds beyond those (input health, shadow)."""
        failed = line[ERROR_CODE_DIMENSION] is not None
        start = next((field for field in START_COUNTS if line[field]), None)
        line[SERVICE_DIMENSION] = self.service
        line["requests"] = 1
        line["errors"] = 1 if failed else 0
        if self.function_version is not None:
            line[VERSION_DIMENSION] = self.function_version
            line["server_errors"] = 1 if line["status"] >= 500 else 0
        if start is not None:
            line[START_COUNTS[start]] = 1
        directives = (
            self._with_groups(failed, start, groups)
            if groups
            else self._directives[(failed, start)]
        )
        line["_aws"] = {"Timestamp": time.time_ns() // 1_000_000, "CloudWatchMetrics": directives}

    def _with_groups(
        self, failed: bool, start: str | None, groups: tuple[MetricGroup, ...]
    ) -> list[dict[str, Any]]:
        # Made once per kind of line and set of groups (a few per model served), then
        # reused as it is: the line is encoded at once and never kept.
        key = (failed, start, groups)
        found = self._grouped.get(key)
        if found is None:
            if len(self._grouped) >= MAX_GROUPED_LINES:  # models replaced many times over
                self._grouped.clear()
            found = [*self._directives[(failed, start)], *map(self._group_directive, groups)]
            self._grouped[key] = found
        return found

    def _group_directive(self, group: MetricGroup) -> dict[str, Any]:
        return {
            "Namespace": self.namespace,
            "Dimensions": self._group_dimensions,
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in group],
        }
