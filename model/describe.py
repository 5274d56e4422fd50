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

# Run as a file or from another folder, the project's packages still import.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import joblib

from app.artifact import metadata_path_for
from model.export import Description, ExportError, write_metadata
from model.inference import InferenceError, read_example_file

DEFAULT_VERSION = "1.0.0"


def describe(
    artifact: Path,
    *,
    features: Sequence[str] | None = None,
    example: Any = None,
    name: str | None = None,
    version: str = DEFAULT_VERSION,
    metrics: dict[str, float] | None = None,
    outputs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """`example`: a DataFrame, a 2-D array, or a list of row objects (see --example)."""
    estimator = joblib.load(artifact)
    description = Description(
        name=name or artifact.stem,
        version=version,
        features=features,
        metrics=metrics or {},
        outputs=outputs,
    )
    return write_metadata(estimator, artifact, description, example)


def _metric(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def add_description_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example",
        type=Path,
        help="JSON array of example rows keyed by feature name (their kinds give the types)",
    )
    parser.add_argument("--features", help="comma-separated feature names, in column order")
    parser.add_argument("--outputs", help="comma-separated names of a multi-output model's targets")
    parser.add_argument("--name", help="model name (default: the file name)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="model version (semver)")
    parser.add_argument(
        "--metric", type=_metric, action="append", default=[], help="NAME=NUMBER, repeatable"
    )


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",")] if text else None


def describe_from_args(artifact: Path, args: argparse.Namespace) -> dict[str, Any]:
    try:
        example = read_example_file(args.example) if args.example else None
    except InferenceError as error:
        raise ExportError(str(error)) from None
    return describe(
        artifact,
        features=_names(args.features),
        example=example,
        name=args.name,
        version=args.version,
        metrics=dict(args.metric),
        outputs=_names(args.outputs),
    )


_HANDED = {
    "float64_array": "a float64 array",
    "object_array": "an object array",
    "dataframe": "a pandas DataFrame (serving needs pandas)",
    "text": "a 1-D array of strings",
}


def summary(metadata: dict[str, Any]) -> str:
    """What a person checks after describing: the task, the input, each feature's type."""
    lines = [
        f"{metadata['name']} {metadata['version']}: {metadata['task'].replace('_', ' ')}, "
        f"handed {_HANDED[metadata['model_input']]}, proven on "
        f"{len(metadata['example'])} example row(s)"
    ]
    width = max(len(feature["name"]) for feature in metadata["features"])
    for feature in metadata["features"]:
        notes = [feature["type"]]
        if feature["nullable"]:
            notes.append("may be null")
        if "categories" in feature:
            shown = ", ".join(json.dumps(c) for c in feature["categories"][:8])
            more = ", ..." if len(feature["categories"]) > 8 else ""
            rule = "others accepted" if feature["accepts_unknown"] else "others refused"
            notes.append(f"categories {shown}{more} ({rule})")
        lines.append(f"  {feature['name']:<{width}}  {'; '.join(notes)}")
    return "\n".join(lines)


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
    print(summary(metadata))


if __name__ == "__main__":
    main()
