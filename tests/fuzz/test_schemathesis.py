"""schemathesis against the app's own /openapi.json, in process over WSGI.

Every check schemathesis has, on every operation of all three protocols (native, MLflow's
scoring protocol, the Open Inference Protocol V2), with a fixed seed and a bounded
number of generated requests, through every phase that applies: examples, coverage
(including methods the document does not list, and invalid bodies that must be
refused) and fuzzing; the stateful phase has no links to follow here.

It drives schemathesis's engine, the one `schemathesis run` drives, rather than its
pytest plugin: that runs every phase, reports how many cases each operation got, and
takes an app built from this suite's fixtures (the plugin's fixture loader does not
work with pytest 9).
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import StopReason, events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from support.paths import ROOT
from werkzeug.serving import make_server

from app.core.errors import ApiError
from app.http.serving import MODEL_OVERFLOW
from app.protocols import protocol_for_path

CHURN_MODEL = ROOT / "model" / "examples" / "churn.joblib"

SEED = 20261127
# Fuzzing examples per operation; the coverage phase adds its own cases on top.
MAX_EXAMPLES = 200
# Every check schemathesis 4.32.5 has. Kept by name so that a new version's checks
# are noticed here instead of being silently left out.
ALL_CHECKS = frozenset(
    {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "object_level_authorization",
    }
)
NEGATIVE_DATA_STATUSES = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
]  # fmt: skip
OPERATIONS = (
    "POST /predict",
    "GET /health",
    "GET /model",
    "GET /openapi.json",
    "GET /",
    "GET /try-it/{asset}",
    "POST /invocations",
    "GET /ping",
    "GET /version",
    "GET /v2",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/ready",
    "POST /v2/models/{name}/infer",
    "GET /v2/models/{name}/versions/{version}",
    "GET /v2/models/{name}/versions/{version}/ready",
    "POST /v2/models/{name}/versions/{version}/infer",
)


@dataclass
class Run:
    """What one schemathesis run did: cases per operation, checks run, problems found."""

    cases: Counter[str] = field(default_factory=Counter)
    checks: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    excused: int = 0
    stop_reason: StopReason | None = None


def run_schemathesis(
    app: Flask, headers: dict[str, str] | None = None, base_url: str | None = None
) -> Run:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # Sent with every request; ignored_auth then also tries without them.
            "headers": headers or {},
            "continue-on-failure": True,
            # Nothing is read from or written to disk: every run is the same run.
            "cache": {"enabled": False},
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "checks": {
                "enabled": True,
                # schemathesis's own list, and 413: a batch over the document's maxItems is
                # refused as too many rows, the way a body over its size is.
                "negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_STATUSES},
            },
        }
    )
    if base_url is None:
        schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    else:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    # The document's own endpoint is left out unless asked for by name: all are.
    paths = schema.raw_schema["paths"].values()
    schema = schema.include(
        operation_id=[op["operationId"] for item in paths for op in item.values()]
    )
    schema.hook("filter_failure")(_keep_unless_model_overflow)
    schema.hook("map_case")(_as_a_client_sends)

    run = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(run, event)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.problems.append(f"error: {event!r}")
        elif isinstance(event, events.EngineFinished):
            run.stop_reason = event.stop_reason
            run.problems += [f"{failure.title}: {failure.message}" for failure in event.failures]
    return run


def _record(run: Run, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    run.excused += sum(recorder.filtered_failures.values())
    for node in recorder.cases.values():
        run.cases[node.value.operation.label] += 1
    for checks in recorder.checks.values():
        for check in checks:
            run.checks.add(check.name)
            if check.failure_info is not None:
                failure = check.failure_info.failure
                run.problems.append(
                    f"{check.name}: {failure.title}\n{failure.message}\n"
                    f"{check.failure_info.code_sample}"
                )


def _keep_unless_model_overflow(
    context: schemathesis.HookContext,
    failure: Exception,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    """Excuse exactly one documented answer: the refusal of values the model overflows on.

    No schema can say which finite numbers a given model overflows on (1e308 overflows
    the bundled pipeline's scaler, 1e300 does not), so a schema-valid row may still be
    refused, with the status and in the shape each protocol refuses invalid input with
    (native 422, MLflow and V2 400), naming only this. Any other refusal of valid data is
    kept as a failure.
    """
    if not isinstance(failure, RejectedPositiveData):
        return True
    _, status = protocol_for_path(case.path).error_shape(ApiError("invalid_input", ""))
    if response.status_code != status:
        return True
    body = json.loads(response.content)
    error = body.get("error")
    details = error.get("details", []) if isinstance(error, dict) else body.get("details", [])
    return not details or any(detail["msg"] != MODEL_OVERFLOW for detail in details)


def _as_a_client_sends(
    context: schemathesis.HookContext, case: schemathesis.Case
) -> schemathesis.Case:
    """The case as an HTTP client would send it: its path parameters' `?` and `#`
    percent-encoded, and its rows in agreement (`_rows_agree`)."""
    return _rows_agree(context, _path_characters_encoded(case))


def _path_characters_encoded(case: schemathesis.Case) -> schemathesis.Case:
    """A generated path parameter may hold `?` or `#`, which in a URL end the path: a
    client encodes them. Left as they are, the WSGI client refuses to build the request
    ("Query string is defined in the path and as an argument"), and the case is an error
    of the test run instead of a request the app answers."""
    parameters = case.path_parameters
    if not parameters:
        return case
    encoded = {
        name: value.replace("?", "%3F").replace("#", "%23") if isinstance(value, str) else value
        for name, value in parameters.items()
    }
    if encoded != parameters:
        case.path_parameters = encoded
    return case


def _rows_agree(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """Make a generated valid body keep the two rules the document states in words only.

    JSON Schema cannot say that two arrays are of one length, so a body the schema allows
    may still break one of them: MLflow's columns (`inputs` as an object) hold one value
    per row each, and a V2 tensor's `shape` counts its `data`, every input with the same
    rows. In a body generated as valid (negative ones are left as they are), the longer
    arrays are cut to the shortest and each shape set to what its data then holds: the
    body stays valid, now in every respect. What is sent is checked as before.

    The rows are written as an integer: V2 refuses a shape size of 4.0 (as Triton does),
    though JSON Schema's integer admits it, and no schema can tell the two apart.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if not isinstance(case.body, dict):
        return case
    # A copy: generated cases share their parts, and each case is sent as generated.
    body = copy.deepcopy(case.body)
    if case.operation.path == "/invocations":
        _columns_of_one_length(body.get("inputs"))
    elif case.operation.path.endswith("/infer"):
        _shapes_count_data(body.get("inputs"))
    case.body = body
    return case


def _columns_of_one_length(columns: object) -> None:
    if not isinstance(columns, dict) or not columns:
        return
    if not all(isinstance(values, list) and values for values in columns.values()):
        return
    rows = min(len(values) for values in columns.values())
    for name, values in columns.items():
        columns[name] = values[:rows]


def _shapes_count_data(inputs: object) -> None:
    if not isinstance(inputs, list) or not inputs:
        return
    tensors = [
        tensor
        for tensor in inputs
        if isinstance(tensor, dict)
        and isinstance(tensor.get("shape"), list)
        and tensor["shape"]
        and all(type(size) in (int, float) for size in tensor["shape"])
        and isinstance(tensor.get("data"), list)
    ]
    if len(tensors) != len(inputs):
        return

    def per_row(tensor: dict) -> int:
        return max(int(math.prod(tensor["shape"][1:])), 1)

    def nested(tensor: dict) -> bool:
        return bool(tensor["data"]) and all(isinstance(row, list) for row in tensor["data"])

    rows = min(
        len(tensor["data"]) if nested(tensor) else len(tensor["data"]) // per_row(tensor)
        for tensor in tensors
    )
    if rows == 0:
        return
    for tensor in tensors:
        tensor["data"] = tensor["data"][: rows if nested(tensor) else rows * per_row(tensor)]
        tensor["shape"][0] = rows


def check_run(run: Run) -> None:
    assert run.problems == [], "\n\n".join(run.problems)
    assert run.stop_reason is StopReason.COMPLETED
    assert run.checks == ALL_CHECKS
    assert set(run.cases) == set(OPERATIONS)
    # Fuzzing reached its bound on every operation that takes a body (one per protocol's
    # prediction); with the coverage cases each run sends thousands of requests.
    for operation in OPERATIONS:
        if operation.startswith("POST "):
            assert run.cases[operation] > MAX_EXAMPLES, operation
    assert sum(run.cases.values()) >= 10 * MAX_EXAMPLES


def test_classifier_keeps_to_its_document(make_app) -> None:
    check_run(run_schemathesis(make_app()))


def test_regressor_keeps_to_its_document(make_app, regressor_artifact: Path) -> None:
    check_run(run_schemathesis(make_app(MODEL_PATH=str(regressor_artifact))))


def test_mixed_type_model_keeps_to_its_document(make_app) -> None:
    # Strings with closed and open categories, an integer, a boolean, nullable features,
    # and a DataFrame model behind them.
    check_run(run_schemathesis(make_app(MODEL_URI=str(CHURN_MODEL))))


def test_keys_on_keep_to_the_document(make_app) -> None:
    # The document then declares the x-api-key scheme: requests carry a valid key, and
    # ignored_auth checks that every operation but the open routes refuses requests
    # without one. Over
    # HTTP on the loopback: schemathesis 4.32.5's ignored_auth cannot call a WSGI app
    # (it passes requests' max_redirects to Werkzeug's test client).
    key = "schemathesis-" + "k" * 20
    app = make_app(API_KEYS=key)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        run = run_schemathesis(
            app, headers={"x-api-key": key}, base_url=f"http://127.0.0.1:{server.server_port}"
        )
    finally:
        server.shutdown()
        thread.join()
    check_run(run)
