"""Model outputs (numpy) -> the plain JSON values of an answer.

Numpy stays inside the predictor; this is the edge where its arrays become lists,
strings and numbers that any JSON encoder writes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.metadata import Output


def predictions_json(predictions: np.ndarray, outputs: Sequence[Output] | None) -> list[Any]:
    """One value per row; for a multi-output model an object keyed by output name."""
    values = plain_values(predictions)
    if outputs is None:
        return values
    names = [output.name for output in outputs]
    return [dict(zip(names, row, strict=True)) for row in values]


def probabilities_json(
    matrices: Sequence[np.ndarray],
    keys: Sequence[Sequence[str]],
    outputs: Sequence[Output] | None,
) -> list[Any]:
    """Per row, class label -> probability; for a multi-output model, per output name."""
    per_output = [
        [dict(zip(labels, row, strict=True)) for row in matrix.tolist()]
        for matrix, labels in zip(matrices, keys, strict=True)
    ]
    if outputs is None:
        return per_output[0]
    names = [output.name for output in outputs]
    return [dict(zip(names, rows, strict=True)) for rows in zip(*per_output, strict=True)]


def plain_values(values: np.ndarray) -> list[Any]:
    """A numpy array as plain Python values, numpy scalars inside object arrays included."""
    # tolist() already gives plain values, except inside an object array.
    items: list[Any] = values.tolist()
    if values.dtype == object:
        return [_plain(item) for item in items]
    return items


def _plain(item: Any) -> Any:
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, list):
        return [_plain(value) for value in item]
    return item
