"""The model's typed input schema: its features, their types, and what the model is handed.

One definition, read and written here: the metadata file stores it, the validator
checks requests against it, the converter builds the model's input from it, and the
OpenAPI document describes it. Metadata written before types existed lists features
as plain names; those read as all-number features of a float64 array. A datetime
feature's values are ISO 8601 strings (app/core/datetimes.py); only a model handed a
DataFrame takes one, as a datetime64 column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from app.core.datetimes import DatetimeColumn, is_iso_datetime

FeatureType = Literal["number", "integer", "boolean", "string", "datetime"]
FEATURE_TYPES: tuple[FeatureType, ...] = ("number", "integer", "boolean", "string", "datetime")

# What the model's predict() is handed.
ModelInput = Literal["float64_array", "object_array", "dataframe", "text"]
MODEL_INPUTS: tuple[ModelInput, ...] = ("float64_array", "object_array", "dataframe", "text")
DEFAULT_MODEL_INPUT: ModelInput = "float64_array"

# The dtype a DataFrame column gets when its training dtype is not recorded.
DEFAULT_DTYPES: dict[str, str] = {
    "number": "float64",
    "integer": "int64",
    "boolean": "bool",
    "string": "object",
    "datetime": "datetime64[ns]",
}

# Integer features travel as int64 (a DataFrame column, or exactly in a float64).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class SchemaError(ValueError):
    """A schema that cannot be served; the message says which feature and why."""


@dataclass(frozen=True)
class Feature:
    """One input column.

    `categories` are the values the model knows, when it records them; with
    `accepts_unknown` false any other value is refused at the edge, since the model
    would fail on it. `dtype` is the pandas dtype the column had in training (for a
    model handed a DataFrame): "float64", "int64", "bool", "str", "object", "category"...
    """

    name: str
    type: FeatureType = "number"
    nullable: bool = False
    categories: tuple[Any, ...] | None = None
    accepts_unknown: bool = True
    dtype: str | None = None
    # Derived once, not per request: only the listed categories are valid, and which.
    closed: bool = field(init=False, repr=False, compare=False)
    known: frozenset[Any] = field(init=False, repr=False, compare=False)
    time: DatetimeColumn | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "closed", self.categories is not None and not self.accepts_unknown)
        object.__setattr__(self, "known", frozenset(self.categories or ()))
        object.__setattr__(self, "time", None)
        if self.type == "datetime":
            if self.categories is not None:
                raise SchemaError("a datetime feature takes no categories")
            try:
                column = DatetimeColumn.of(self.dtype or DEFAULT_DTYPES["datetime"])
            except ValueError as error:
                raise SchemaError(str(error)) from None
            object.__setattr__(self, "time", column)
        elif self.dtype is not None and self.dtype.startswith("datetime64"):
            raise SchemaError(f"dtype {self.dtype} is a datetime feature's, not a {self.type}'s")

    def placeholder(self) -> Any:
        if self.categories:
            return self.categories[0]
        if self.time is not None:
            return self.time.placeholder()
        return {"number": 0.0, "integer": 0, "boolean": False, "string": ""}[self.type]

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            document["categories"] = list(self.categories)
            document["accepts_unknown"] = self.accepts_unknown
        if self.dtype is not None:
            document["dtype"] = self.dtype
        return document

    @classmethod
    def from_document(cls, document: Any, where: str) -> Feature:
        if isinstance(document, str):  # metadata from before typed schemas
            if not document:
                raise SchemaError(f"{where}: a feature name must not be empty")
            return cls(name=document)
        if not isinstance(document, dict):
            raise SchemaError(f"{where}: expected a feature name or an object")
        name = document.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"{where}: 'name' must be a non-empty string")
        kind = document.get("type", "number")
        if kind not in FEATURE_TYPES:
            raise SchemaError(f"{where} ({name}): 'type' must be one of {', '.join(FEATURE_TYPES)}")
        nullable = document.get("nullable", False)
        accepts_unknown = document.get("accepts_unknown", True)
        if not isinstance(nullable, bool) or not isinstance(accepts_unknown, bool):
            raise SchemaError(f"{where} ({name}): 'nullable' and 'accepts_unknown' are booleans")
        categories = document.get("categories")
        if categories is not None:
            if not isinstance(categories, list) or not categories:
                raise SchemaError(f"{where} ({name}): 'categories' must be a non-empty list")
            for value in categories:
                if not value_has_type(value, kind):
                    raise SchemaError(f"{where} ({name}): category {value!r} is not a {kind}")
            categories = tuple(categories)
        dtype = document.get("dtype")
        if dtype is not None and not isinstance(dtype, str):
            raise SchemaError(f"{where} ({name}): 'dtype' must be a string")
        try:
            return cls(
                name=name,
                type=cast(FeatureType, kind),
                nullable=nullable,
                categories=categories,
                accepts_unknown=accepts_unknown,
                dtype=dtype,
            )
        except SchemaError as error:
            raise SchemaError(f"{where} ({name}): {error}") from None


@dataclass(frozen=True)
class Schema:
    features: tuple[Feature, ...]
    model_input: ModelInput = DEFAULT_MODEL_INPUT
    names: tuple[str, ...] = field(init=False)
    # Every value is a number that no category list restricts: the fast path's case.
    all_numeric: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(feature.name for feature in self.features)
        object.__setattr__(self, "names", names)
        object.__setattr__(
            self,
            "all_numeric",
            self.model_input == "float64_array"
            and all(f.type == "number" and not f.closed for f in self.features),
        )
        if not names:
            raise SchemaError("a model needs at least one feature")
        if len(set(names)) != len(names):
            raise SchemaError(f"feature names must be distinct, got {list(names)}")
        if self.model_input not in MODEL_INPUTS:
            raise SchemaError(f"'model_input' must be one of {', '.join(MODEL_INPUTS)}")
        dated = [f.name for f in self.features if f.type == "datetime"]
        if dated and self.model_input != "dataframe":
            # Only a DataFrame column carries a datetime64 dtype through a pipeline.
            raise SchemaError(
                f"datetime features ({', '.join(dated)}) need a model handed a pandas "
                "DataFrame: fit it on a DataFrame whose column has a datetime64 dtype"
            )
        if self.model_input == "float64_array":
            typed = [f.name for f in self.features if f.type not in ("number", "integer")]
            if typed:
                raise SchemaError(f"a float64 array holds numbers only, not {', '.join(typed)}")
        if self.model_input == "text" and (len(names) != 1 or self.features[0].type != "string"):
            raise SchemaError("a text model takes exactly one string feature")

    def to_document(self) -> list[dict[str, Any]]:
        return [feature.to_document() for feature in self.features]

    def placeholder_row(self) -> dict[str, Any]:
        """One valid row, for a model whose metadata stores no example of its own."""
        return {feature.name: feature.placeholder() for feature in self.features}

    @classmethod
    def from_document(cls, features: Any, model_input: Any) -> Schema:
        if not isinstance(features, list) or not features:
            raise SchemaError("'features' must be a non-empty list")
        parsed = tuple(
            Feature.from_document(item, f"features[{index}]") for index, item in enumerate(features)
        )
        chosen = DEFAULT_MODEL_INPUT if model_input is None else model_input
        if chosen not in MODEL_INPUTS:
            raise SchemaError(f"'model_input' must be one of {', '.join(MODEL_INPUTS)}")
        return cls(parsed, cast(ModelInput, chosen))

    @classmethod
    def numeric(cls, names: Sequence[str]) -> Schema:
        return cls(tuple(Feature(name) for name in names))


def value_has_type(value: Any, kind: str) -> bool:
    """Whether a plain JSON value is of a feature type (bool is never a number)."""
    if kind == "string":
        return type(value) is str
    if kind == "boolean":
        return type(value) is bool
    if kind == "integer":
        return type(value) is int and INT64_MIN <= value <= INT64_MAX
    if kind == "number":
        return type(value) in (int, float) and math.isfinite(value)
    if kind == "datetime":
        return is_iso_datetime(value)
    return False
