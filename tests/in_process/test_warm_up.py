"""The app answers its model's example once while it is built, unseen by clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from support.access_log import access_lines

from app.core.predictor import Predictor
from app.http.components import part_of
from app.http.warm_up import ENVIRON_KEY
from app.service.model_slot import ModelSlot

CHURN = "model/examples/churn.joblib"


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Each Predictor.run: its row count and whether probabilities were asked for."""
    calls: list[tuple[int, bool]] = []
    real_run = Predictor.run

    def counted(self: Predictor, rows: Any, with_probabilities: bool = False) -> Any:
        calls.append((rows.count, with_probabilities))
        return real_run(self, rows, with_probabilities)

    monkeypatch.setattr(Predictor, "run", counted)
    return calls


@pytest.mark.parametrize("model_uri", ["", CHURN])
def test_building_the_app_answers_the_example_through_predict(
    make_app: Callable[..., Flask], runs: list[tuple[int, bool]], model_uri: str
) -> None:
    app = make_app(MODEL_URI=model_uri)
    example = part_of(ModelSlot, app).predictor.metadata.example
    # Once when the model is proven on load, once more through the whole request path.
    assert runs == [(len(example), True)] * 2


def test_the_warm_up_is_not_logged_and_leaves_the_cold_start_to_the_first_client(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("INFO")
    app = make_app()
    assert access_lines(capsys) == []
    client = app.test_client()
    client.get("/health")
    client.get("/health")
    assert [line["cold_start"] for line in access_lines(capsys)] == [True, False]


def test_the_warm_up_passes_the_key_check_without_a_key(
    make_app: Callable[..., Flask],
    runs: list[tuple[int, bool]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(API_KEYS="k" * 32)
    assert len(runs) == 2
    assert "warm-up request answered" not in caplog.text
    # A client cannot claim to be the warm-up: headers never reach that environ key.
    forged = app.test_client().post(
        "/predict",
        json={"features": [5.1, 3.5, 1.4, 0.2]},
        headers={ENVIRON_KEY: "true", "Model-Api-Warm-Up": "true"},
    )
    assert forged.status_code == 401
    assert len(runs) == 2


def test_the_app_can_still_be_extended_after_its_warm_up(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    app.add_url_rule("/extra", "extra", lambda: "extra")
    assert app.test_client().get("/extra").get_data(as_text=True) == "extra"


def test_without_a_model_there_is_no_warm_up_and_the_app_still_starts(
    make_app: Callable[..., Flask], runs: list[tuple[int, bool]], tmp_path: Any
) -> None:
    app = make_app(MODEL_URI=str(tmp_path / "missing.joblib"))
    assert runs == []
    assert app.test_client().get("/health").status_code == 503
