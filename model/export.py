"""Save a fitted estimator as an artifact plus the metadata the server verifies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import is_classifier

from app.artifact import library_versions, metadata_path_for, sha256_of


def save_model(
    estimator: Any,
    artifact_path: Path,
    *,
    name: str,
    version: str,
    features: Sequence[str],
    metrics: dict[str, float],
) -> dict[str, Any]:
    """Write the artifact and its metadata (`.json` beside it); return the metadata."""
    artifact_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, artifact_path)
    classifier = is_classifier(estimator)
    classes = np.asarray(getattr(estimator, "classes_", [])).tolist() if classifier else []
    metadata = {
        "name": name,
        "version": version,
        "sha256": sha256_of(artifact_path),
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "task": "classification" if classifier else "regression",
        "features": list(features),
        "classes": classes,
        "trained_with": library_versions(),
        "metrics": metrics,
    }
    metadata_path_for(artifact_path).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata
