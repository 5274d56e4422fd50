"""The error table of docs/protocols.md is what the app answers: the same codes with the same
statuses, and for each row a request that gets exactly that status and code."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.iris import SETOSA
from support.paths import ROOT
from werkzeug.test import TestResponse

from app.core.errors import ERROR_CODES
from app.http.components import part_of
from app.service.model_slot import ModelSlot

_ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.MULTILINE)
KEY = "k" * 24


def documented_error_table() -> dict[str, int]:
    text = (ROOT / "docs" / "protocols.md").read_text()
    start = text.index("\n## Errors\n")
    following = text.find("\n## ", start + 1)
    table = text[start : following if following != -1 else len(text)]
    rows = _ROW.findall(table)
    codes = {code: int(status) for status, code in rows}
    assert len(codes) == len(rows), "a code is listed twice"
    return codes


def test_the_table_lists_every_code_with_its_status() -> None:
    assert documented_error_table() == ERROR_CODES


class Exploding:
    def predict(self, rows: object) -> None:
        raise RuntimeError("boom")


def _internal_error(client: FlaskClient) -> TestResponse:
    part_of(ModelSlot, client.application).predictor.estimator = Exploding()
    return client.post("/predict", json={"features": SETOSA})


# One request per code, as a client would meet it.
REQUESTS: dict[str, tuple[dict[str, str], Callable[[FlaskClient], TestResponse]]] = {
    "bad_request": (
        {},
        lambda c: c.post("/invocations", data='a,"b\n1,2', content_type="text/csv"),
    ),
    "invalid_json": ({}, lambda c: c.post("/predict", data="{", content_type="application/json")),
    "unauthorized": ({"API_KEYS": KEY}, lambda c: c.post("/predict", json={"features": SETOSA})),
    "not_found": ({}, lambda c: c.get("/nowhere")),
    "method_not_allowed": ({}, lambda c: c.get("/predict")),
    "payload_too_large": (
        {"MAX_CONTENT_LENGTH": "64"},
        lambda c: c.post("/predict", json={"instances": [SETOSA] * 5}),
    ),
    "too_many_rows": ({}, lambda c: c.post("/predict", json={"instances": [SETOSA] * 1001})),
    "unsupported_media_type": (
        {},
        lambda c: c.post("/predict", data="{}", content_type="text/plain"),
    ),
    "invalid_input": ({}, lambda c: c.post("/predict", json={"features": [1]})),
    "internal_error": ({}, _internal_error),
    "model_unavailable": (
        {"MODEL_URI": "/nonexistent/model.joblib"},
        lambda c: c.post("/predict", json={"features": SETOSA}),
    ),
}


def test_every_code_has_a_request() -> None:
    assert set(REQUESTS) == set(ERROR_CODES)


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_each_row_is_answered_as_the_table_says(
    code: str, make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, send = REQUESTS[code]
    response = send(make_app(**settings).test_client())
    assert response.status_code == documented_error_table()[code]
    # The native shape names the code; the request log line names it for every protocol.
    lines = [line for line in capsys.readouterr().out.splitlines() if '"error_code"' in line]
    assert f'"error_code":"{code}"' in lines[-1]
