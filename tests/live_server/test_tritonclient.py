"""Triton's HTTP client against `flask run`: what a tritonclient user gets from our V2
routes, for the all-number iris model and the mixed-type churn model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import tritonclient.http as triton
from support.paths import CHURN_MODEL
from support.servers import LiveServer
from support.triton_checks import (
    MODES,
    Native,
    check_churn,
    check_churn_error,
    check_health_and_metadata,
    check_iris,
    client_for,
    native_over_http,
)
from support.v2_tensors import CHURN, IRIS


@pytest.fixture(scope="module")
def iris_server(live_server: Callable[..., LiveServer]) -> str:
    return live_server().url


@pytest.fixture(scope="module")
def churn_server(live_server: Callable[..., LiveServer]) -> str:
    return live_server(MODEL_URI=CHURN_MODEL).url


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
