"""API Gateway's own API key: off by default; on, a key, a usage plan and keyed methods,
but for the app's open routes, which stay open at the edge too.

The plugin is run on a stand-in service here; the packaged CloudFormation template,
off and on, is checked in test_package_security.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from support.paths import ROOT
from support.plugin_harness import run_hook

EVENTS = [
    {"http": {"path": "/", "method": "any"}},
    {"http": {"path": "/{proxy+}", "method": "any"}},
]
EDGE = {
    "required": "true",
    "throttle": {"rateLimit": "20", "burstLimit": "40"},
    "quota": {"limit": "50000", "period": "DAY"},
}


def apply(edge: dict[str, Any], events: list[dict] | None = None) -> dict[str, Any]:
    service = {
        "service": "model-prediction-api",
        "provider": {"name": "aws"},
        "custom": {"edgeApiKey": edge},
        "functions": {"api": {"handler": "handler.handler", "events": events or EVENTS}},
    }
    return run_hook("edge-api-key", "initialize", copy.deepcopy(service), stage="prod")


@pytest.mark.parametrize("required", [False, "false", "", None])
def test_off_changes_nothing(required: object) -> None:
    result = apply({**EDGE, "required": required})
    assert "apiGateway" not in result["service"]["provider"]
    assert result["service"]["functions"]["api"]["events"] == EVENTS


@pytest.mark.parametrize("required", [True, "true"])
def test_on_adds_a_key_and_a_usage_plan(required: object) -> None:
    provider = apply({**EDGE, "required": required})["service"]["provider"]
    assert provider["apiGateway"] == {
        "apiKeys": [{"name": "model-prediction-api-prod"}],
        "usagePlan": {
            "throttle": {"rateLimit": 20, "burstLimit": 40},
            "quota": {"limit": 50000, "period": "DAY"},
        },
    }


OPEN = json.loads((ROOT / "app" / "auth" / "open_routes.json").read_text())["open_routes"]


def test_on_keys_every_method_but_the_open_routes_and_the_preflights() -> None:
    events = apply(EDGE)["service"]["functions"]["api"]["events"]
    open_events = [{"http": {"path": r["path"], "method": r["method"].lower()}} for r in OPEN]
    # One preflight per path: "/" is both the catch-all's root and an open route.
    preflights = [
        {"http": {"path": path, "method": "options"}}
        for path in dict.fromkeys(["/", "/{proxy+}", *[r["path"] for r in OPEN]])
    ]
    assert events == [
        {"http": {"path": "/", "method": "any", "private": True}},
        {"http": {"path": "/{proxy+}", "method": "any", "private": True}},
        *open_events,
        *preflights,
    ]
    # The app's own list: each protocol's liveness and readiness, and the document.
    assert {"/health", "/ping", "/v2/health/live", "/v2/health/ready", "/openapi.json"} <= {
        r["path"] for r in OPEN
    }


def test_existing_preflight_methods_and_shorthand_events() -> None:
    events = apply(
        EDGE, [{"http": "POST /predict"}, {"http": {"path": "/predict", "method": "OPTIONS"}}]
    )["service"]["functions"]["api"]["events"]
    assert events[:2] == [
        {"http": {"method": "POST", "path": "/predict", "private": True}},
        {"http": {"path": "/predict", "method": "OPTIONS"}},
    ]
    assert {"http": {"path": "/predict", "method": "options"}} not in events


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"required": "yes"}, "required must be true or false, got yes"),
        ({"throttle": {"rateLimit": "0", "burstLimit": "40"}}, "throttle.rateLimit must be"),
        ({"throttle": {"rateLimit": "20", "burstLimit": "many"}}, "throttle.burstLimit must be"),
        ({"throttle": {"rateLimit": "2.5", "burstLimit": "40"}}, "throttle.rateLimit must be"),
        ({"quota": {"limit": "", "period": "DAY"}}, "quota.limit must be a positive integer"),
        ({"quota": {"limit": "100", "period": "YEAR"}}, "quota.period must be one of DAY, WEEK"),
    ],
)
def test_bad_settings_stop_the_deploy(change: dict[str, Any], fragment: str) -> None:
    result = apply({**EDGE, **change})
    assert result["error"].startswith("custom.edgeApiKey: ")
    assert fragment in result["error"]


def test_period_is_case_insensitive() -> None:
    plan = apply({**EDGE, "quota": {"limit": 10, "period": "week"}})["service"]["provider"]
    assert plan["apiGateway"]["usagePlan"]["quota"] == {"limit": 10, "period": "WEEK"}
