"""schemathesis against the app's own /openapi.json, in process over WSGI.

Every check schemathesis has, on every operation, with a fixed seed and a bounded
number of generated requests, through every phase that applies: examples, coverage
(including methods the document does not list, and invalid bodies that must be
refused) and fuzzing; the stateful phase has no links to follow here.

It drives schemathesis's engine, the one `schemathesis run` drives, rather than its
pytest plugin: that runs every phase, reports how many cases each operation got, and
takes an app built from this suite's fixtures (the plugin's fixture loader does not
work with pytest 9).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import StopReason, events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from werkzeug.serving import make_server

from app.serving import MODEL_OVERFLOW

CHURN_MODEL = Path(__file__).resolve().parent.parent / "model" / "examples" / "churn.joblib"

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
OPERATIONS = ("POST /predict", "GET /health", "GET /model", "GET /openapi.json")


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
            "checks": {"enabled": True},
        }
    )
    if base_url is None:
        schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    else:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    # The document's own endpoint is left out unless asked for by name.
    schema = schema.include(operation_id=["predict", "health", "model", "openapi"])
    schema.hook("filter_failure")(_keep_unless_model_overflow)

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
    """Excuse exactly one documented answer: 422 for values the model overflows on.

    No schema can say which finite numbers a given model overflows on (1e308 overflows
    the bundled pipeline's scaler, 1e300 does not), so a schema-valid row may still be
    refused with this 422. Any other refusal of valid data is kept as a failure.
    """
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    details = json.loads(response.content)["error"].get("details", [])
    return not details or any(detail["msg"] != MODEL_OVERFLOW for detail in details)


def check_run(run: Run) -> None:
    assert run.problems == [], "\n\n".join(run.problems)
    assert run.stop_reason is StopReason.COMPLETED
    assert run.checks == ALL_CHECKS
    assert set(run.cases) == set(OPERATIONS)
    # Fuzzing reached its bound on /predict; with the coverage cases, each run (one per
    # model) sends at least 300 requests, so the two add up to well over 500.
    assert run.cases["POST /predict"] > MAX_EXAMPLES
    assert sum(run.cases.values()) >= 300


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
    # ignored_auth checks that /predict and /model refuse requests without one. Over
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
