"""Rows that follow a model's reference statistics, for the drift report's tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.core.metadata import ModelMetadata


def following(metadata: ModelMetadata, count: int, seed: int) -> pd.DataFrame:
    """Rows that follow the metadata's reference, feature by feature: a number uniform
    within a decile drawn at random (an integer rounded up, so it stays in its bin), a
    string or boolean drawn by its shares, and each missing by its share; typed as the
    model was trained (the metadata's dtypes)."""
    assert metadata.reference is not None
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for feature in metadata.schema.features:
        stats = metadata.reference.features[feature.name]
        missing = rng.random(count) < stats.missing
        if stats.quantiles is not None:
            edges = np.asarray(stats.quantiles)
            decile = rng.integers(0, len(edges) - 1, count)
            values = rng.uniform(edges[decile], edges[decile + 1])
            if feature.type == "integer":
                values = np.ceil(values)
            column = pd.Series(values).mask(missing)
            columns[feature.name] = column.astype("int64") if feature.type == "integer" else column
        else:
            assert stats.shares is not None
            shares = np.array(list(stats.shares.values.values()))
            drawn = rng.choice(list(stats.shares.values), count, p=shares / shares.sum())
            if feature.type == "boolean":
                columns[feature.name] = pd.Series(drawn == "true")
            else:
                columns[feature.name] = pd.Series(drawn, dtype="str").mask(missing)
    return pd.DataFrame(columns)
