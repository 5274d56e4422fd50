"""ISO 8601 date-times on the wire, read as instants of the datetime64 column a DataFrame
model was trained on.

A value is `YYYY-MM-DD`, optionally followed by `T` (or a space) and `hh:mm[:ss[.f]]`
(up to nine fraction digits), and then optionally `Z` or `+hh:mm`/`-hh:mm`: what Python's
isoformat(), JavaScript's toISOString() and pandas' to_json(date_format="iso") write.

The time-zone rule, the same in every protocol:
- a zone-aware column (`datetime64[ns, UTC]`, `datetime64[us, Europe/Lisbon]`) takes only
  values with an offset, converted to its zone; a value without one is refused, since it
  could mean any zone;
- a naive column (`datetime64[ns]`, `datetime64[us]`) takes a value as written; one with an
  offset is converted to UTC first and the offset dropped (a naive column is read as UTC).

Instants are counted in the column's unit since 1970-01-01T00:00 UTC, as numpy's
datetime64 holds them; a value more precise than the unit, or beyond its range, is
refused rather than rounded or wrapped. Only the standard library is used: numeric
bundles, which have no pandas, import this with the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

# The grammar above, written so that it is also an ECMA-262 pattern (the OpenAPI
# document's `pattern`): groups capture year, month, day, hour, minute, second, fraction
# and the offset.
DATETIME_PATTERN = (
    "([0-9]{4})-([0-9]{2})-([0-9]{2})"
    "(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.]([0-9]{1,9}))?)?"
    "([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
_VALUE = re.compile(DATETIME_PATTERN, re.ASCII)
_DTYPE = re.compile(r"datetime64\[(s|ms|us|ns)(?:, (.+))?\]")
# pandas names a fixed-offset zone UTC+02:00.
_FIXED_ZONE = re.compile(r"UTC[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]")
# Nanoseconds per unit; the units pandas columns use.
UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_UNIT_NAMES = {"s": "whole seconds", "ms": "milliseconds", "us": "microseconds"}
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_NS_PER_DAY = 86_400 * 10**9
# datetime64 is an int64 count; its smallest value is NaT, the missing marker.
NAT = -(2**63)
_INT64_MAX = 2**63 - 1
FORMS = "2024-05-01, 2024-05-01T13:45:00, with Z or +02:00"


@dataclass(frozen=True)
class Written:
    """A date-time as written: its wall time in nanoseconds since 1970-01-01T00:00, and
    its offset from UTC in seconds (None when it has none)."""

    wall: int
    offset: int | None


def read_iso(text: str) -> Written | str:
    """The date-time `text` writes, or why it is not one: a phrase that follows
    "<the value> is"."""
    match = _VALUE.fullmatch(text)
    if match is None:
        return f"not an ISO 8601 date or date-time ({FORMS})"
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        day_number = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
        clock = time(int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as error:  # "month must be in 1..12", "day is out of range for month"
        return f"not a valid date-time: {error}"
    wall = (
        day_number * _NS_PER_DAY
        + ((clock.hour * 60 + clock.minute) * 60 + clock.second) * 10**9
        + int((fraction or "").ljust(9, "0"))
    )
    if offset is None:
        return Written(wall, None)
    if offset in "Zz":
        return Written(wall, 0)
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 23 or minutes > 59:
        return f"not a valid date-time: offset {offset} is beyond ±23:59"
    seconds = (hours * 60 + minutes) * 60
    return Written(wall, -seconds if offset[0] == "-" else seconds)


def is_iso_datetime(value: object) -> bool:
    return isinstance(value, str) and isinstance(read_iso(value), Written)


@dataclass(frozen=True)
class DatetimeColumn:
    """A datetime64 column's pandas dtype: its unit, and its time zone (None: naive)."""

    dtype: str
    unit: str
    zone: str | None

    @classmethod
    def of(cls, dtype: str) -> DatetimeColumn:
        """Raises ValueError, saying why, for a dtype that is not a datetime64 one the
        server can build."""
        match = _DTYPE.fullmatch(dtype)
        if match is None:
            raise ValueError(
                f"dtype {dtype!r} is not a datetime64 dtype (datetime64[ns], "
                "datetime64[us, UTC], ...)"
            )
        unit, zone = match.groups()
        if zone is not None and zone != "UTC" and not _FIXED_ZONE.fullmatch(zone):
            # Here only: zoneinfo costs a numeric model's cold start about 10 ms.
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"dtype {dtype!r}: {zone!r} is not a time zone this server knows (an IANA "
                    "name such as Europe/Lisbon, UTC, or a fixed offset such as UTC+02:00)"
                ) from None
        return cls(dtype, unit, zone)

    def instant(self, text: str) -> int | str:
        """The value `text` stands for in this column, counted in its unit since the epoch
        (UTC for a zone-aware column), or why it is refused: a phrase that follows
        "<the value> is"."""
        written = read_iso(text)
        if isinstance(written, str):
            return written
        if written.offset is None:
            if self.zone is not None:
                return (
                    f"missing an offset (Z or ±hh:mm): this feature's times are in "
                    f"{self.zone}, and a time without one could be in any zone"
                )
            nanoseconds = written.wall
        else:
            nanoseconds = written.wall - written.offset * 10**9
        count, rest = divmod(nanoseconds, UNITS[self.unit])
        if rest:
            return (
                f"more precise than this feature's {self.dtype} column holds "
                f"({_UNIT_NAMES[self.unit]})"
            )
        if not NAT < count <= _INT64_MAX:
            return f"beyond the dates a {self.dtype} column holds (1677-09-21 to 2262-04-11)"
        return count

    def rule(self) -> str:
        """The time-zone rule for this column, in a sentence."""
        if self.zone is None:
            return (
                "The column has no time zone: a value is taken as written; one with an "
                "offset is converted to UTC and the offset dropped."
            )
        return (
            f"The column's times are in {self.zone}: a value must have an offset (Z or "
            f"±hh:mm), and is converted to {self.zone}."
        )

    def placeholder(self) -> str:
        return "1970-01-01T00:00:00" + ("Z" if self.zone is not None else "")
