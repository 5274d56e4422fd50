"""What a capture record holds of a request's rows: the validated rows keyed by feature
name, masked as configured.

Masking is configuration, applied here and nowhere else. An excluded feature is left
out of every row. A hashed one is written as a keyed hash of its value (HMAC-SHA256 of
the value's text, its first 32 hex digits; a string's text is itself, so a warehouse's
own hmac_sha256 gives the same hash): the same value gives the same hash under the same
key, so captured rows can be joined and counted on it, but the value cannot be read
back, nor guessed and checked, without the key. A missing value stays
null: that it is missing is what input health counts, not the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from app.core.errors import ConfigError
from app.core.schema import Feature, Schema
from app.core.validation import Rows

# The member that tells a capture record from a request line in the same log stream:
# the service writes it, the deploy's subscription filter selects by it, and the
# capture reader keeps only lines that have it.
RECORD_KIND = "capture"
# Hex digits kept of a hash: 128 bits, so no two values share one in practice.
HASH_HEX_DIGITS = 32
# The shortest hash key taken: as many characters as the hash has bits of strength in hex.
MIN_HASH_KEY_LENGTH = 32


class MaskingError(ConfigError):
    """The masking names a feature the model does not have."""


@dataclass(frozen=True)
class Masking:
    exclude: frozenset[str] = frozenset()
    hashed: frozenset[str] = frozenset()
    key: bytes = field(default=b"", repr=False)
    # HMAC-SHA256 keyed once; each value's hash starts from a copy of it.
    _keyed: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keyed", hmac.new(self.key, digestmod=hashlib.sha256))

    def check(self, schema: Schema) -> None:
        """Every masked name must be one of the model's features: a misspelt name would
        leave the feature it meant unmasked in every record."""
        for setting, names in (("CAPTURE_EXCLUDE", self.exclude), ("CAPTURE_HASH", self.hashed)):
            unknown = sorted(names - set(schema.names))
            if unknown:
                # The model's features are not listed: the excluded ones are among them.
                raise MaskingError(
                    f"{setting} names {', '.join(map(repr, unknown))}, which is not one of "
                    f"the model's {len(schema.names)} features"
                )

    def hash_of(self, value: Any) -> str | None:
        """HMAC-SHA256 of the value's text, its first HASH_HEX_DIGITS hex digits: a
        string's text is the string itself, in UTF-8; a number's or a boolean's, its JSON
        as the model is handed it. Never kept: values are the caller's data."""
        if value is None:
            return None
        text = value if type(value) is str else json.dumps(value)
        digest = self._keyed.copy()
        digest.update(text.encode("utf-8", "surrogatepass"))
        return str(digest.hexdigest()[:HASH_HEX_DIGITS])


def row_records(rows: Rows, schema: Schema, masking: Masking, count: int) -> list[dict[str, Any]]:
    """The first `count` rows as objects keyed by feature name, in schema order, masked."""
    count = min(count, rows.count)
    kept: list[tuple[str, list[Any]]] = []
    for position, feature in enumerate(schema.features):
        if feature.name in masking.exclude:
            continue
        if rows.matrix is not None:
            values = _plain(rows.matrix[:count, position])
        else:
            values = _column_values(rows.columns[position], feature, count)
        if feature.name in masking.hashed:
            values = [masking.hash_of(value) for value in values]
        kept.append((feature.name, values))
    if not kept:  # every feature excluded: the rows are there, their values are not
        return [{} for _ in range(count)]
    names = [name for name, _ in kept]
    by_row = zip(*(values for _, values in kept), strict=True)
    return [dict(zip(names, row, strict=True)) for row in by_row]


def _column_values(column: Any, feature: Feature, count: int) -> list[Any]:
    """A checked column's first `count` values as JSON has them: null where missing,
    date-times as ISO 8601 text (with Z where the column is UTC)."""
    if not isinstance(column, np.ndarray):
        return list(column[:count])
    part = column[:count]
    if feature.time is not None:
        # In the column's own unit; a zone-aware column counts UTC, and says so with Z.
        zone: Literal["UTC", "naive"] = "UTC" if feature.time.zone is not None else "naive"
        texts = np.datetime_as_string(part, timezone=zone).tolist()
        return [None if text == "NaT" else text for text in texts]
    return _plain(part)


def _plain(values: np.ndarray) -> list[Any]:
    """Python values of a numeric array, NaN (a missing number) as None."""
    plain: list[Any] = values.tolist()
    if values.dtype.kind == "f":
        return [None if value != value else value for value in plain]
    return plain
