"""Rows read straight from a body's bytes by a type made from the model's schema.

The common request is valid, and for it parsing and validating are one pass in C:
msgspec decodes a body against a type that allows exactly the rows the schema's
validator accepts without a word (a row as an array of the features' values in order,
or as an object keyed by their names, each value of its feature's type), and the rows
become the same matrix or columns app.core.validation would build. Whatever that type
refuses (a bad value, a row of another shape, NaN, a float written for an integer, a
feature this type cannot express) is read again by the general path, which says where
and why; so refusals, places and messages are the general path's own.

A decoded value never nests deeper than the type (three levels for a batch), within
every allowed depth bound, and each of its arrays and objects holds a value: no body
this type accepts is one the nesting or density bounds refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from app.core.decoding import msgspec_reads_exactly
from app.core.schema import INT64_MAX, INT64_MIN, Feature, Schema
from app.core.validation import Rows

_INT64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
_PLAIN_TYPES: dict[str, Any] = {"number": float, "integer": _INT64, "boolean": bool, "string": str}
# How the checked values of a column become what the general path hands the model.
_ARRAY_DTYPES = {"number": np.float64, "integer": np.int64, "boolean": np.bool_}


@dataclass(frozen=True)
class RowType:
    """The msgspec type of one valid row, and how decoded rows become `Rows`."""

    array: Any  # a row as an array of the values in feature order
    named: Any  # a row as an object keyed by feature name
    schema: Schema
    # Per feature, its value in a named row and in an array row; a named row's values
    # as a tuple.
    _named_value: tuple[Callable[[Any], Any], ...]
    _array_value: tuple[Callable[[Any], Any], ...]
    _values_of: Callable[[Any], tuple[Any, ...]]

    @property
    def row(self) -> Any:
        """A row as either."""
        return self.array | self.named

    def rows(self, decoded: Sequence[Any]) -> Rows:
        """The decoded rows as validate_rows would return them."""
        count, width = len(decoded), len(self.schema.features)
        kinds = set(map(type, decoded))
        named = kinds == {self.named}  # each column then read straight from the rows
        if not named and kinds != {tuple}:  # arrays and objects mixed: all as arrays
            decoded = [row if type(row) is tuple else self._values_of(row) for row in decoded]
        if self.schema.all_numeric:
            tuples = map(self._values_of, decoded) if named else decoded
            flat = np.fromiter(chain.from_iterable(tuples), dtype=np.float64, count=count * width)
            return Rows(count, matrix=flat.reshape(count, width))
        readers = self._named_value if named else self._array_value
        return Rows(
            count,
            columns=tuple(
                _column(map(read, decoded), count, feature)
                for read, feature in zip(readers, self.schema.features, strict=True)
            ),
        )


def _column(values: Iterator[Any], count: int, feature: Feature) -> Any:
    """A column of values of the feature's type as the general path's whole-column check
    builds it: numbers as float64 (null as NaN), integers and booleans with none missing
    as int64 and bool arrays, anything else a list of the values themselves."""
    dtype = _ARRAY_DTYPES.get(feature.type)
    if dtype is None:
        return list(values)
    if not feature.nullable:
        return np.fromiter(values, dtype=dtype, count=count)
    listed = list(values)
    if feature.type == "number":
        # msgspec refuses NaN, Infinity and numbers beyond float64: NaN here is a null,
        # read by the model as missing, as on the general path.
        return np.array(listed, dtype=np.float64)
    return listed if None in listed else np.array(listed, dtype=dtype)


def decode_typed(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any | None:
    """The body read by `decoder`, or None where the general path must read it: it is
    not of the decoder's type, or holds a number msgspec might read otherwise."""
    if not msgspec_reads_exactly(body):
        return None
    try:
        return decoder.decode(body)
    except msgspec.DecodeError:  # not JSON, or not of the type (ValidationError)
        return None


@dataclass(frozen=True)
class TypedBody:
    """A protocol's body type for one schema, and the schema's row type."""

    rows_of: RowType
    decoder: msgspec.json.Decoder[Any]

    def read(self, body: bytes) -> Any | None:
        return decode_typed(self.decoder, body)


def typed_body(
    schema: Schema, name: str, members: Callable[[RowType], list[tuple[str, Any, Any]]]
) -> TypedBody | None:
    """A protocol's body as an object named `name` whose members `members(row type)`
    lists as (name, type, default), any other member refused. None where the schema's
    rows cannot be typed."""
    rows_of = row_type(schema)
    if rows_of is None:
        return None
    body = msgspec.defstruct(name, members(rows_of), forbid_unknown_fields=True)
    return TypedBody(rows_of, msgspec.json.Decoder(body))


# A member a body may leave out: typed `... | Omitted`, UNSET when it does.
UNSET = msgspec.UNSET
Omitted = msgspec.UnsetType


@lru_cache(maxsize=8)
def row_type(schema: Schema) -> RowType | None:
    """The type of a valid row of `schema`, or None where the general path alone can
    check one (date-times, a text model's bare string, categories of numbers)."""
    if schema.model_input == "text":
        return None
    types = [_value_type(feature) for feature in schema.features]
    if any(kind is None for kind in types):
        return None
    fields = [f"f{position}" for position in range(len(types))]
    try:
        named = msgspec.defstruct(
            "NamedRow",
            list(zip(fields, types, strict=True)),
            rename=dict(zip(fields, schema.names, strict=True)),
            forbid_unknown_fields=True,
            # Scalars alone, so never in a cycle: untracked by the collector, which a
            # thousand rows would otherwise wake several times per request.
            gc=False,
        )
    except ValueError:  # a name msgspec cannot match (a quote, a backslash, a control)
        return None
    named_value = tuple(attrgetter(field) for field in fields)
    array_value = tuple(itemgetter(position) for position in range(len(fields)))
    values_of = attrgetter(*fields) if len(fields) > 1 else _one_value(fields[0])
    return RowType(
        tuple[tuple(types)],  # type: ignore[misc]
        named,
        schema,
        named_value,
        array_value,
        values_of,
    )


def _one_value(field: str) -> Any:
    read = attrgetter(field)
    return lambda row: (read(row),)


def _value_type(feature: Feature) -> Any:
    """The msgspec type of the feature's values, or None if it cannot say all the
    validator checks."""
    if feature.type not in _PLAIN_TYPES:
        return None
    kind = _PLAIN_TYPES[feature.type]
    if feature.closed:
        known = feature.categories or ()
        if feature.type != "string" or not known or not all(map(_utf8, known)):
            return None
        kind = Literal[tuple(known)]
    return kind | None if feature.nullable else kind


def _utf8(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no Literal can hold it
        return False
    return True
