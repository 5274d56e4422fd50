"""The deployment packages the bundle tier reads, each built once per run when first used."""

from __future__ import annotations

import pytest
from support.packages import (
    CANARY_PARAMS,
    CAPTURE_PARAMS,
    KEYED_PARAMS,
    LINEAR_PARAMS,
    Package,
    build_package,
)
from support.paths import CHURN_MODEL


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The deployment package with the default parameters."""
    return build_package(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="session")
def dataframe_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package that serves the example DataFrame model instead: pandas=auto bundles
    pandas for it."""
    return build_package(tmp_path_factory.mktemp("dataframe-package"), f"modelUri={CHURN_MODEL}")


@pytest.fixture(scope="session")
def keyed_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with KEYED_PARAMS (support/packages.py)."""
    return build_package(tmp_path_factory.mktemp("keyed-package"), *KEYED_PARAMS)


@pytest.fixture(scope="session")
def snapstart_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with SnapStart on (snapStart=true)."""
    return build_package(tmp_path_factory.mktemp("snapstart-package"), "snapStart=true")


@pytest.fixture(scope="session")
def provisioned_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with two environments of provisioned concurrency."""
    return build_package(tmp_path_factory.mktemp("provisioned-package"), "provisionedConcurrency=2")


@pytest.fixture(scope="session")
def capture_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with CAPTURE_PARAMS: capture on, masked, delivered to a bucket."""
    return build_package(tmp_path_factory.mktemp("capture-package"), *CAPTURE_PARAMS)


@pytest.fixture(scope="session")
def canary_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with a canary rollout, the bundled model and default alarm limits."""
    return build_package(tmp_path_factory.mktemp("canary-package"), *CANARY_PARAMS)


@pytest.fixture(scope="session")
def linear_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The package with LINEAR_PARAMS: a linear rollout of the churn model (which has
    reference statistics), with a shadow and every alarm limit set."""
    return build_package(tmp_path_factory.mktemp("linear-package"), *LINEAR_PARAMS)


@pytest.fixture(scope="session")
def canary_snapstart_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """A canary rollout with SnapStart."""
    return build_package(
        tmp_path_factory.mktemp("canary-snapstart-package"), *CANARY_PARAMS, "snapStart=true"
    )


@pytest.fixture(scope="session")
def canary_provisioned_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """A canary rollout with two environments of provisioned concurrency."""
    return build_package(
        tmp_path_factory.mktemp("canary-provisioned-package"),
        *CANARY_PARAMS,
        "provisionedConcurrency=2",
    )
