"""Write the metadata file for a scikit-learn estimator or pipeline saved with joblib.

    python -m model.describe PATH [--features a,b,c] [--name NAME] [--version 1.0.0]
                                  [--metric accuracy=0.97 ...]

Feature names come from the estimator's `feature_names_in_` (set when it was fitted on
a DataFrame) or from --features; classes from `classes_`; the task from the estimator's
type. The metadata lands beside the artifact: model.joblib -> model.json.

Loading a joblib file runs code: describe only artifacts you trust.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from app.artifact import metadata_path_for
from model.export import Description, ExportError, write_metadata

DEFAULT_VERSION = "1.0.0"


def feature_names(estimator: Any, given: Sequence[str] | None) -> list[str]:
    fitted = getattr(estimator, "feature_names_in_", None)
    fitted = None if fitted is None else [str(name) for name in np.asarray(fitted).tolist()]
    if given and fitted and list(given) != fitted:
        raise ExportError(f"--features {list(given)} differ from the estimator's own {fitted}")
    names = list(given or fitted or [])
    if not names:
        count = getattr(estimator, "n_features_in_", "its")
        raise ExportError(
            f"the estimator records no feature names: pass --features with {count} names"
        )
    if len(set(names)) != len(names):
        raise ExportError(f"feature names must be distinct, got {names}")
    return names


def describe(
    artifact: Path,
    *,
    features: Sequence[str] | None = None,
    name: str | None = None,
    version: str = DEFAULT_VERSION,
    metrics: dict[str, float] | None = None,
) -> dict[str, Any]:
    estimator = joblib.load(artifact)
    description = Description(
        name=name or artifact.stem,
        version=version,
        features=feature_names(estimator, features),
        metrics=metrics or {},
    )
    return write_metadata(estimator, artifact, description)


def _metric(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def add_description_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", help="comma-separated feature names, in column order")
    parser.add_argument("--name", help="model name (default: the file name)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="model version (semver)")
    parser.add_argument(
        "--metric", type=_metric, action="append", default=[], help="NAME=NUMBER, repeatable"
    )


def describe_from_args(artifact: Path, args: argparse.Namespace) -> dict[str, Any]:
    features = [f.strip() for f in args.features.split(",")] if args.features else None
    return describe(
        artifact, features=features, name=args.name, version=args.version, metrics=dict(args.metric)
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model.describe", description=__doc__.splitlines()[0]
    )
    parser.add_argument("path", type=Path, help="the joblib artifact")
    add_description_options(parser)
    args = parser.parse_args(argv)
    try:
        metadata = describe_from_args(args.path, args)
    except (ExportError, OSError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {metadata_path_for(args.path)}")
    print(json.dumps(metadata, indent=2))


if __name__ == "__main__":
    main()
