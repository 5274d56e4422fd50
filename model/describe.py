"""Write the metadata file for a scikit-learn estimator or pipeline saved with joblib,
pickle or skops.

    python -m model.describe PATH [--example rows.json] [--code myfeatures.py ...]
                                  [--trust module.Type ...] [--features a,b,c]
                                  [--name NAME] [--version 1.0.0] [--metric accuracy=0.97 ...]
                                  [--reference train.parquet]

Feature names come from the estimator's `feature_names_in_` (set when it was fitted on
a DataFrame) or from --features; classes from `classes_`; the task from the estimator's
type; what the artifact needs (modules, distributions, scikit-learn's version) from its
file, read before it is loaded. The metadata lands beside the artifact: model.joblib ->
model.json, and with --code the user's modules in model.code.zip. With --reference, the
metadata also summarises the rows the model learned from (model/reference_stats.py).

Loading a joblib or pickle file runs code: describe only artifacts you trust.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Run as a file from another folder, the project's packages import (in place of this
# file's own folder, whose modules would shadow the user's), and so do the user's, from
# the current folder, as `python -m` would.
if __name__ == "__main__" and not __package__:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    sys.path.insert(1, os.getcwd())

import sklearn

from app.core.artifact import code_path_for, metadata_path_for
from app.core.schema import Feature
from model.export import Description, ExportError, write_metadata
from model.inference import InferenceError, read_example_file

if TYPE_CHECKING:
    from model.reference_stats import ReferenceData

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
    code: Sequence[Path] = (),
    trust: Sequence[str] = (),
    reference: ReferenceData | None = None,
) -> dict[str, Any]:
    """`example`: a DataFrame, a 2-D array, or a list of row objects (see --example);
    `code`: the user's modules the artifact needs; `trust`: skops types to load;
    `reference`: the rows it learned from, a DataFrame or a list of row objects (or a
    file read by model.reference_stats.read_reference_file), summarised in the metadata."""
    description = Description(
        name=name or artifact.stem,
        version=version,
        features=features,
        metrics=metrics or {},
        outputs=outputs,
    )
    return write_metadata(
        artifact, description, example, code=code, trust=trust, reference=reference
    )


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
        help=(
            "JSON array of example rows, objects keyed by feature name (their kinds give the "
            "types), or arrays in feature order (names from --features, else x0, x1, ...)"
        ),
    )
    parser.add_argument("--features", help="comma-separated feature names, in column order")
    parser.add_argument("--outputs", help="comma-separated names of a multi-output model's targets")
    parser.add_argument("--name", help="model name (default: the file name)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="model version (semver)")
    parser.add_argument(
        "--metric", type=_metric, action="append", default=[], help="NAME=NUMBER, repeatable"
    )
    parser.add_argument(
        "--code",
        type=Path,
        action="append",
        default=[],
        help="your own module file or package folder the model needs, repeatable",
    )
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        help="a type in a skops file to load beyond skops' defaults (module.Name), repeatable",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="FILE",
        help=(
            "the rows the model learned from (.csv, .parquet, .json array of row objects, or "
            ".jsonl), summarised in the metadata: each feature's range, deciles or most "
            "frequent values, and the model's answers on them"
        ),
    )


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",")] if text else None


def describe_from_args(artifact: Path, args: argparse.Namespace) -> dict[str, Any]:
    try:
        example = read_example_file(args.example) if args.example else None
    except InferenceError as error:
        raise ExportError(str(error)) from None
    reference = None
    if args.reference is not None:
        # Imported here: only --reference needs pandas, and a numeric model's describe does not.
        from model.reference_stats import ReferenceDataError, read_reference_file

        try:
            reference = read_reference_file(args.reference)
        except ReferenceDataError as error:
            raise ExportError(str(error)) from None
    return describe(
        artifact,
        features=_names(args.features),
        example=example,
        name=args.name,
        version=args.version,
        metrics=dict(args.metric),
        outputs=_names(args.outputs),
        code=args.code,
        trust=args.trust,
        reference=reference,
    )


# Distributions every bundle carries; any other that a model needs is installed for it.
_ALWAYS_SERVED = frozenset({"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"})

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
        notes = [_shown_type(feature)]
        if feature["nullable"]:
            notes.append("may be null")
        if "categories" in feature:
            shown = ", ".join(json.dumps(c) for c in feature["categories"][:8])
            more = ", ..." if len(feature["categories"]) > 8 else ""
            rule = "others accepted" if feature["accepts_unknown"] else "others refused"
            notes.append(f"categories {shown}{more} ({rule})")
        lines.append(f"  {feature['name']:<{width}}  {'; '.join(notes)}")
    extra = {
        name: version
        for name, version in metadata["distributions"].items()
        if name not in _ALWAYS_SERVED
    }
    if extra:
        shown = ", ".join(f"{name} {version}" for name, version in extra.items())
        lines.append(f"needs {shown} (installed into the Lambda bundle when it is packaged)")
    if metadata["code"]:
        code = metadata["code"]
        lines.append(f"ships your code: {', '.join(code['modules'])} in {code['file']}")
    if metadata["trusted"]:
        lines.append(f"skops loads it trusting {', '.join(metadata['trusted'])}")
    if metadata.get("reference") is not None:
        added = _written_size(metadata) - _written_size({**metadata, "reference": None})
        lines.append(
            f"reference statistics of {metadata['reference']['rows']} row(s), adding "
            f"{added} bytes to the metadata"
        )
    trained = metadata["trained_with"].get("scikit-learn")
    if trained and trained != sklearn.__version__:
        lines.append(
            f"note: the artifact was fitted with scikit-learn {trained}, this environment has "
            f"{sklearn.__version__}: the server refuses a model from another version (set "
            f"ALLOW_VERSION_MISMATCH=1 to load it anyway); retrain with {sklearn.__version__}"
        )
    return "\n".join(lines)


def _written_size(metadata: dict[str, Any]) -> int:
    """The metadata file's size in bytes: JSON's escapes keep it ASCII, a byte a character."""
    return len(json.dumps(metadata, indent=2, allow_nan=False))


def _shown_type(feature: dict[str, Any]) -> str:
    """The type, and for a date-time its time zone when it has one: `datetime (UTC)`."""
    if feature["type"] != "datetime":
        return str(feature["type"])
    time = Feature.from_document(feature, feature["name"]).time
    return f"datetime ({time.zone})" if time is not None and time.zone else "datetime"


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
    if metadata["code"]:
        print(f"wrote {code_path_for(args.path)}")
    print(f"wrote {metadata_path_for(args.path)}")
    print(summary(metadata))


if __name__ == "__main__":
    main()
