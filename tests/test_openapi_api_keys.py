"""With API keys on, /openapi.json says which operations need one; off, it is unchanged."""

from __future__ import annotations

from collections.abc import Callable

from conftest import SETOSA
from flask import Flask
from openapi_core import OpenAPI
from openapi_spec_validator import validate
from test_openapi import call, check_response, document, request_is_valid

KEY = "alpha-7f3c9e1d2b4a6f8e0c1d"
SCHEME = {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}


def operations(doc: dict) -> dict[str, dict]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


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
    keyed = {name for name, op in operations(doc).items() if "security" in op}
    assert keyed == {"POST /predict", "GET /model"}
    for name in keyed:
        operation = operations(doc)[name]
        assert operation["security"] == [{"ApiKey": []}]
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "401" not in operations(doc)["GET /health"]["responses"]


def test_answers_with_and_without_a_key_conform(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEYS=KEY).test_client()
    spec = OpenAPI.from_dict(document(client))
    with_key = {"x-api-key": KEY}
    wrong_key = {"x-api-key": "x" * 20}
    exchanges = [
        call(client, "POST", "/predict", json={"features": SETOSA}),
        call(client, "POST", "/predict", json={"features": SETOSA}, headers=wrong_key),
        call(client, "GET", "/model"),
        call(client, "POST", "/predict", json={"features": SETOSA}, headers=with_key),
        call(client, "GET", "/model", headers=with_key),
        call(client, "GET", "/health"),
    ]
    assert [e.response.status_code for e in exchanges] == [401, 401, 401, 200, 200, 200]
    for exchange in exchanges:
        check_response(spec, exchange)
    # The document itself tells a client that the first and third need a key.
    assert [request_is_valid(spec, e) for e in exchanges] == [False, True, False, True, True, True]
