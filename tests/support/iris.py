"""The bundled iris model's features, and a flower of each end of its range."""

from __future__ import annotations

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]
