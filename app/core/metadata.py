"""The model metadata format: one definition, read by the server and written by model/.

A metadata file sits beside its artifact (model.joblib -> model.json) and says what the
artifact is (name, version, sha256, format, task, classes or outputs), what it takes (the
typed schema, and the example rows the model was proven on with the answers it gave),
what made it (library versions, scikit-learn's read from the artifact itself), what it
needs to load (the modules and names its pickle references, the distributions that
provide them, the user's own code archive, and for skops the types the user trusted),
and, when describe was given them, statistics of the rows it learned from
(app.core.reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from app.core.artifact import ARTIFACT_FORMATS, CODE_SUFFIX, SHA256_HEX, ArtifactFormat
from app.core.reference import InvalidReference, Reference
from app.core.schema import Schema, SchemaError

Task = Literal["classification", "regression", "clustering", "outlier_detection"]
TASKS: tuple[Task, ...] = ("classification", "regression", "clustering", "outlier_detection")
# An outlier detector answers 1 for an inlier and -1 for an outlier, as scikit-learn's do.
OUTLIER_LABELS = (-1, 1)
# Every metadata document has these keys, in this order; GET /model adds "serving_with".
METADATA_KEYS = (
    "name",
    "version",
    "sha256",
    "format",
    "created_at",
    "task",
    "features",
    "model_input",
    "classes",
    "outputs",
    "example",
    "example_predictions",
    "trained_with",
    "references",
    "distributions",
    "code",
    "trusted",
    "metrics",
    "reference",
)
# A reference is "module:qualified.name", as a pickle's GLOBAL names it.
REFERENCE_SEPARATOR = ":"
# Example rows kept in the metadata: enough to prove the model, small enough to read.
MAX_EXAMPLE_ROWS = 20


class MetadataError(ValueError):
    """Metadata that cannot describe a servable model; the message says why."""


@dataclass(frozen=True)
class Output:
    """One target of a multi-output model; `classes` only for a classifier's."""

    name: str
    classes: tuple[Any, ...] = ()


@dataclass(frozen=True)
class CodeArchive:
    """The user's own modules, zipped beside the artifact (NAME.code.zip), importable as
    it is; `modules` are the top-level names it holds."""

    file: str
    sha256: str
    modules: tuple[str, ...]

    def to_document(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "modules": list(self.modules)}


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    sha256: str
    task: Task
    schema: Schema
    classes: tuple[Any, ...] = ()
    # None for one target; one entry per target for a multi-output model.
    outputs: tuple[Output, ...] | None = None
    example: tuple[dict[str, Any], ...] = ()
    created_at: str = ""
    trained_with: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format: ArtifactFormat = "joblib"
    # What the model answered for `example`, as /predict's "predictions" has them; None
    # in metadata written before they were recorded.
    example_predictions: tuple[Any, ...] | None = None
    # "module:name" of every class and function the artifact references.
    references: tuple[str, ...] = ()
    # Installed distribution -> version, for each one that provides a referenced module.
    distributions: dict[str, str] = field(default_factory=dict)
    code: CodeArchive | None = None
    # skops only: the types beyond skops' defaults that the user trusted at describe.
    trusted: tuple[str, ...] = ()
    # Statistics of the training rows, when describe was given them (--reference).
    reference: Reference | None = None

    @property
    def referenced_modules(self) -> tuple[str, ...]:
        """The modules the artifact's references live in, each once, in order."""
        modules = (ref.partition(REFERENCE_SEPARATOR)[0] for ref in self.references)
        return tuple(dict.fromkeys(modules))

    @property
    def features(self) -> tuple[str, ...]:
        return self.schema.names

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "format": self.format,
            "created_at": self.created_at,
            "task": self.task,
            "features": self.schema.to_document(),
            "model_input": self.schema.model_input,
            "classes": list(self.classes),
            "outputs": None
            if self.outputs is None
            else [{"name": o.name, "classes": list(o.classes)} for o in self.outputs],
            "example": list(self.example),
            "example_predictions": None
            if self.example_predictions is None
            else list(self.example_predictions),
            "trained_with": dict(self.trained_with),
            "references": list(self.references),
            "distributions": dict(self.distributions),
            "code": None if self.code is None else self.code.to_document(),
            "trusted": list(self.trusted),
            "metrics": dict(self.metrics),
            "reference": None if self.reference is None else self.reference.to_document(),
        }

    def write(self, path: Path) -> None:
        # allow_nan=False: a metadata file is JSON that every reader can parse.
        path.write_text(json.dumps(self.to_document(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def read(cls, path: Path) -> ModelMetadata:
        """Raises OSError when the file cannot be read, MetadataError when it is invalid."""
        return cls.parse(path.read_bytes(), source=str(path))

    @classmethod
    def parse(cls, text: bytes, source: str) -> ModelMetadata:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise MetadataError(f"model metadata unreadable: {source}: {error}") from None
        return cls.from_document(document, source=source)

    @classmethod
    def from_document(cls, document: Any, source: str) -> ModelMetadata:
        def bad(why: str) -> MetadataError:
            return MetadataError(f"model metadata invalid ({source}): {why}")

        if not isinstance(document, dict):
            raise bad("expected a JSON object")
        for key in ("name", "version", "sha256", "task"):
            if not isinstance(document.get(key), str):
                raise bad(f"'{key}' must be a string")
        if not SHA256_HEX.match(document["sha256"]):
            raise bad("'sha256' must be 64 lowercase hex digits")
        if document["task"] not in TASKS:
            raise bad(f"'task' must be one of {', '.join(TASKS)}")
        try:
            schema = Schema.from_document(document.get("features"), document.get("model_input"))
        except SchemaError as error:
            raise bad(str(error)) from None
        classes = document.get("classes", [])
        if not isinstance(classes, list):
            raise bad("'classes' must be a list")
        trained_with = document.get("trained_with")
        if not isinstance(trained_with, dict):
            raise bad("'trained_with' must be an object of library versions")
        metrics = document.get("metrics", {})
        if not isinstance(metrics, dict):
            raise bad("'metrics' must be an object")
        example = document.get("example", [])
        if not isinstance(example, list) or not all(isinstance(row, dict) for row in example):
            raise bad("'example' must be a list of rows, each an object keyed by feature name")
        created_at = document.get("created_at", "")
        if not isinstance(created_at, str):
            raise bad("'created_at' must be a string")
        artifact_format = document.get("format", "joblib")
        if artifact_format not in ARTIFACT_FORMATS:
            raise bad(f"'format' must be one of {', '.join(ARTIFACT_FORMATS)}")
        predictions = document.get("example_predictions")
        if predictions is not None and (
            not isinstance(predictions, list) or len(predictions) != len(example)
        ):
            raise bad("'example_predictions' must be null or one prediction per example row")
        references = _strings(document.get("references", []), "references", bad)
        if not all(REFERENCE_SEPARATOR in ref for ref in references):
            raise bad("each of 'references' must be module:name")
        distributions = document.get("distributions", {})
        if not isinstance(distributions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in distributions.items()
        ):
            raise bad("'distributions' must be an object of distribution versions")
        try:
            reference = (
                None
                if document.get("reference") is None
                else Reference.from_document(
                    document["reference"], schema, document["task"] == "classification"
                )
            )
        except InvalidReference as error:
            raise bad(str(error)) from None
        return cls(
            name=document["name"],
            version=document["version"],
            sha256=document["sha256"],
            task=cast(Task, document["task"]),
            schema=schema,
            classes=tuple(classes),
            outputs=_outputs(document.get("outputs"), bad),
            example=tuple(example),
            created_at=created_at,
            trained_with=trained_with,
            metrics=metrics,
            format=cast(ArtifactFormat, artifact_format),
            example_predictions=None if predictions is None else tuple(predictions),
            references=references,
            distributions=distributions,
            code=_code(document.get("code"), bad),
            trusted=_strings(document.get("trusted", []), "trusted", bad),
            reference=reference,
        )


def _strings(value: Any, key: str, bad: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise bad(f"'{key}' must be a list of non-empty strings")
    return tuple(value)


def _code(value: Any, bad: Any) -> CodeArchive | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("'code' must be null or an object")
    file, sha256 = value.get("file"), value.get("sha256")
    # A plain file name beside the artifact, never a path elsewhere.
    if not isinstance(file, str) or not file.endswith(CODE_SUFFIX) or "/" in file or "\\" in file:
        raise bad(f"'code.file' must be a file name ending in {CODE_SUFFIX}")
    if not isinstance(sha256, str) or not SHA256_HEX.match(sha256):
        raise bad("'code.sha256' must be 64 lowercase hex digits")
    modules = _strings(value.get("modules", []), "code.modules", bad)
    return CodeArchive(file, sha256, modules)


def _outputs(value: Any, bad: Any) -> tuple[Output, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) < 2:
        raise bad("'outputs' must be null, or a list of two or more targets")
    outputs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise bad("each of 'outputs' must be an object with a non-empty 'name'")
        classes = item.get("classes", [])
        if not isinstance(classes, list):
            raise bad(f"'outputs' {item['name']}: 'classes' must be a list")
        outputs.append(Output(item["name"], tuple(classes)))
    if len({o.name for o in outputs}) != len(outputs):
        raise bad("the names of 'outputs' must be distinct")
    return tuple(outputs)
