"""Triton's HTTP client against `flask run`: what a tritonclient user gets from our V2
routes, for the all-number iris model and the mixed-type churn model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as triton
from servers import flask_server
from triton_checks import (
    MODES,
    Native,
    check_churn,
    check_churn_error,
    check_health_and_metadata,
    check_iris,
    client_for,
    native_over_http,
)
from v2_tensors import CHURN, IRIS

ROOT = Path(__file__).resolve().parent.parent
CHURN_MODEL = ROOT / "model" / "examples" / "churn.joblib"


@pytest.fixture(scope="module")
def iris_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with flask_server(tmp_path_factory.mktemp("iris") / "flask.log") as base:
        yield base


@pytest.fixture(scope="module")
def churn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("churn") / "flask.log"
    with flask_server(log, MODEL_URI=str(CHURN_MODEL)) as base:
        yield base


def connected(base: str) -> Iterator[tuple[triton.InferenceServerClient, Native]]:
    client = client_for(base)
    try:
        yield client, native_over_http(base)
    finally:
        client.close()


@pytest.fixture
def iris(iris_server: str) -> Iterator[tuple[triton.InferenceServerClient, Native]]:
    yield from connected(iris_server)


@pytest.fixture
def churn(churn_server: str) -> Iterator[tuple[triton.InferenceServerClient, Native]]:
    yield from connected(churn_server)


def test_iris_health_and_metadata(iris: tuple[triton.InferenceServerClient, Native]) -> None:
    check_health_and_metadata(iris[0], IRIS)


def test_churn_health_and_metadata(churn: tuple[triton.InferenceServerClient, Native]) -> None:
    check_health_and_metadata(churn[0], CHURN)


@pytest.mark.parametrize(("binary_in", "binary_out", "named_outputs"), MODES)
def test_iris_infer(
    iris: tuple[triton.InferenceServerClient, Native],
    binary_in: bool,
    binary_out: bool,
    named_outputs: bool,
) -> None:
    check_iris(*iris, binary_in, binary_out, named_outputs)


@pytest.mark.parametrize(("binary_in", "binary_out", "named_outputs"), MODES)
def test_churn_infer(
    churn: tuple[triton.InferenceServerClient, Native],
    binary_in: bool,
    binary_out: bool,
    named_outputs: bool,
) -> None:
    check_churn(*churn, binary_in, binary_out, named_outputs)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_refused_value_reaches_the_client_with_its_place(
    churn: tuple[triton.InferenceServerClient, Native], binary: bool
) -> None:
    check_churn_error(churn[0], binary)
