"""With API keys on, /openapi.json says which operations need one; off, it is unchanged."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from openapi_spec_validator import validate
from support.iris import SETOSA
from test_openapi import (
    INFER,
    IRIS,
    MATRIX,
    STATUSES,
    call,
    check_response,
    document,
    openapi,
    operations,
    request_is_valid,
)

from app.auth.open_routes import OPEN_ROUTES

KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
SCHEME = {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}


def test_keys_off_document_has_no_trace_of_keys(make_app: Callable[..., Flask]) -> None:
    doc = document(make_app().test_client())
    assert "securitySchemes" not in doc["components"] and "security" not in doc
    for operation in operations(doc).values():
        assert "security" not in operation and "401" not in operation["responses"]


def test_keys_on_only_adds_to_the_document(make_app: Callable[..., Flask]) -> None:
    plain = document(make_app().test_client())
    keyed = document(make_app(API_KEYS=KEY).test_client())
    del keyed["components"]["securitySchemes"]
    for operation in operations(keyed).values():
        operation.pop("security", None)
        operation["responses"].pop("401", None)
    assert keyed == plain


def test_keys_on_describes_the_scheme_and_where_it_applies(make_app: Callable[..., Flask]) -> None:
    doc = document(make_app(API_KEYS=KEY).test_client())
    validate(doc)
    assert doc["components"]["securitySchemes"] == SCHEME
    described = operations(doc)
    open_operations = {f"{method} {path}" for method, path in OPEN_ROUTES}
    # Every open route is an operation of the document: a typo in the list would not be.
    assert open_operations <= set(described)
    # Fail closed: every operation the open routes do not list needs a key.
    keyed = {name for name, op in described.items() if "security" in op}
    assert keyed == set(described) - open_operations
    assert {"POST /predict", "POST /invocations", "POST /v2/models/{name}/infer"} <= keyed
    for name in keyed:
        operation = described[name]
        assert operation["security"] == [{"ApiKey": []}]
        # In the shape of the operation's own protocol.
        schema = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{STATUSES[name][1]}"}, name
    for name in open_operations:
        assert "401" not in described[name]["responses"], name


def test_answers_with_and_without_a_key_conform(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEYS=KEY).test_client()
    spec = openapi(document(client))
    with_key = {"x-api-key": KEY}
    wrong_key = {"x-api-key": "x" * 20}
    requests = [
        ("POST", "/predict", {"json": {"features": SETOSA}}),
        ("GET", "/model", {}),
        ("POST", "/invocations", {"json": {"instances": [SETOSA]}}),
        ("GET", "/version", {}),
        ("POST", INFER, {"json": {"inputs": [MATRIX]}}),
        ("GET", f"/v2/models/{IRIS}", {}),
        ("GET", "/v2", {}),
    ]
    for method, path, options in requests:
        exchanges = [
            call(client, method, path, **options),
            call(client, method, path, headers=wrong_key, **options),
            call(client, method, path, headers=with_key, **options),
        ]
        assert [e.response.status_code for e in exchanges] == [401, 401, 200], path
        for exchange in exchanges:
            check_response(spec, exchange)
        # The document itself tells a client that the first needs a key.
        assert [request_is_valid(spec, e) for e in exchanges] == [False, True, True], path
    for path in ("/health", "/ping", "/v2/health/live", f"/v2/models/{IRIS}/ready"):
        exchange = call(client, "GET", path)
        assert exchange.response.status_code == 200, path
        assert request_is_valid(spec, exchange), path
        check_response(spec, exchange)
