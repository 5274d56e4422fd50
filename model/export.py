"""Save a fitted estimator as an artifact plus the metadata the server verifies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import is_classifier, is_regressor

from app.artifact import library_versions, metadata_path_for, sha256_of


class ExportError(ValueError):
    """The estimator or its description cannot make a servable model."""


@dataclass(frozen=True)
class Description:
    """What a person says about a model; the rest of the metadata is read off it."""

    name: str
    version: str
    features: Sequence[str]
    metrics: dict[str, float] = field(default_factory=dict)


def save_model(estimator: Any, artifact_path: Path, description: Description) -> dict[str, Any]:
    """Write the artifact and its metadata (`.json` beside it); return the metadata."""
    artifact_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, artifact_path)
    return write_metadata(estimator, artifact_path, description)


def write_metadata(estimator: Any, artifact_path: Path, description: Description) -> dict[str, Any]:
    """Describe an artifact already on disk, for the server to verify and serve it."""
    features = list(description.features)
    if is_classifier(estimator):
        task = "classification"
        classes = np.asarray(estimator.classes_).tolist()
    elif is_regressor(estimator):
        task, classes = "regression", []
    else:
        raise ExportError(
            f"{type(estimator).__name__} is neither a classifier nor a regressor; "
            "only those can be served"
        )
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and expected != len(features):
        raise ExportError(f"the estimator takes {expected} features, {len(features)} were named")
    metadata = {
        "name": description.name,
        "version": description.version,
        "sha256": sha256_of(artifact_path),
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "task": task,
        "features": features,
        "classes": classes,
        "trained_with": library_versions(),
        "metrics": description.metrics,
    }
    metadata_path_for(artifact_path).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata
