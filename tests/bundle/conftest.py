"""The deployment packages the bundle tier reads, each built once per run when first used."""

from __future__ import annotations

import pytest
from support.packages import CAPTURE_PARAMS, KEYED_PARAMS, Package, build_package
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
