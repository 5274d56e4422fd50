"""CloudWatch metrics carried by the request log line, in Embedded Metric Format.

CloudWatch Logs extracts the metrics from the line it already receives: no agent, no
API call, nothing to flush. The `_aws` block names which top-level members of the
line are metrics and which are dimensions; the values stay ordinary log fields.

Dimensions decide the bill: every distinct combination of dimension values is one
custom metric. So every line's metrics are by `service` (the Lambda function, fixed per
deployment) and by `service` and `protocol` (one of three), and an error line adds a
second directive that counts `errors` by `error_code`, a code from the API's own short
list (app.errors), never client input. A success line creates no per-code metric, and
latency and rows are not split by code.
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
SERVICE_DIMENSION = "service"
ERROR_CODE_DIMENSION = "error_code"
PROTOCOL_DIMENSION = "protocol"


class EmbeddedMetrics:
    """Turns a request log line into an EMF document, in place."""

    def __init__(self, namespace: str, service: str) -> None:
        self.service = service
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
        # Built once: only the timestamp changes from line to line.
        self._success = [every_request]
        self._error = [every_request, by_error_code]

    def add_to(self, line: dict[str, Any]) -> None:
        """Add the metric members and `_aws` to a line with latency_ms, rows, error_code
        and protocol."""
        failed = line[ERROR_CODE_DIMENSION] is not None
        line[SERVICE_DIMENSION] = self.service
        line["requests"] = 1
        line["errors"] = 1 if failed else 0
        line["_aws"] = {
            "Timestamp": time.time_ns() // 1_000_000,
            "CloudWatchMetrics": self._error if failed else self._success,
        }
