"""A user's step that fails on some rows: for a shadow model that must never change the
live model's answer, whatever it raises."""

from __future__ import annotations

from typing import Any

import numpy as np

# Petal length (cm) above which the steps fail: the longest iris petals.
LONG_PETAL = 6.0


def refuse_long_petals(X: Any) -> Any:
    """Fails the way a model fails on values it cannot take, for long petals only."""
    if (np.asarray(X)[:, 2] > LONG_PETAL).any():
        raise ValueError("a petal this long was never seen")
    return X


def break_on_long_petals(X: Any) -> Any:
    """Fails the way a broken model does (not a refusal of values), for long petals."""
    if (np.asarray(X)[:, 2] > LONG_PETAL).any():
        raise RuntimeError("the model's own fault")
    return X
