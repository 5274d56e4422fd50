"""What MLflow's users send: the rows as pandas DataFrames (the iris data set, and
customers from the churn model's own generator), and what the server tells them."""

from __future__ import annotations

import tomllib
from typing import Any

import pandas as pd
from sklearn.datasets import load_iris

from model.examples.churn import customers
from support.iris import IRIS_FEATURES
from support.paths import ROOT

UNKNOWN_CONTRACT = (
    'unknown category "weekly"; the model knows "month-to-month", "one-year", "two-year"'
)


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def iris_frame() -> pd.DataFrame:
    """Every seventh iris flower, all three species, keeping the data set's index."""
    data = load_iris(as_frame=True).frame.drop(columns="target")
    return data.set_axis(IRIS_FEATURES, axis=1).iloc[::7]


def churn_frame() -> pd.DataFrame:
    """Customers as the churn model's generator makes them: some support_calls are NaN
    (never counted); one payment method is made missing too, the nullable string."""
    frame, _ = customers(rows=40)
    frame.loc[5, "payment_method"] = None
    assert frame["support_calls"].isna().sum() >= 2 and frame["payment_method"].isna().sum() == 1
    return frame


def plain_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as /predict takes them: plain values, null where pandas has NaN."""
    return [
        {name: None if pd.isna(value) else value for name, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]
