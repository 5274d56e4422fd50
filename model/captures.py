"""Capture records read back from where Firehose delivered them, as two tables.

    python -m model.captures SOURCE [--since 7d] [--output FILE] [--requests FILE]

A capture record is a line of the service's log (app.http.capture). On Lambda a
CloudWatch Logs subscription filter sends those lines to Firehose, which writes S3
objects of either shape: without processing (and in moto's rehearsal), gzip members one
after another, each a CloudWatch Logs envelope whose events' messages are the lines; or,
decompressed with the messages extracted, the lines themselves, gzipped or not. SOURCE
is s3://bucket/prefix or a local file or folder of downloaded objects. Lines that are
not capture records are skipped; an object that cannot be read is an error naming it,
never skipped, since its records would be missing from every count made of them.

`rows` has one row per captured row: request_id, time (UTC), model_name, model_version,
protocol; the features as the record held them (an excluded one missing, a hashed one
its hash; one named like another column is `feature.<name>`); then `prediction`
(`prediction.<output>` per output of a multi-output model) and, when they were asked
for, `probability.<class>` (`probability.<output>.<class>`). `requests` has one row per
record, refused ones included. Both are in time order, and a record delivered twice
(Firehose delivers at least once) is kept once.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from app.core.captured_rows import RECORD_KIND

# app.core.artifact's S3_SCHEME, kept in step by the tests: importing it would load
# scikit-learn into a reader that never predicts.
S3_SCHEME = "s3://"

ROW_COLUMNS = ("request_id", "time", "model_name", "model_version", "protocol")
REQUEST_COLUMNS = (
    "request_id",
    "time",
    "protocol",
    "model_name",
    "model_version",
    "status",
    "error_code",
    "latency_ms",
    "rows_total",
    "rows_omitted",
)
_DTYPES = {
    "request_id": "str",
    "time": "datetime64[us, UTC]",
    "protocol": "str",
    "model_name": "str",
    "model_version": "str",
    "status": "Int64",
    "error_code": "str",
    "latency_ms": "float64",
    "rows_total": "Int64",
    "rows_omitted": "Int64",
}
PREDICTION = "prediction"
PROBABILITY = "probability"
FEATURE = "feature"

_GZIP_MAGIC = b"\x1f\x8b"
# CloudWatch Logs gzips each envelope; Firehose may gzip the object again.
_GZIP_LAYERS = 2
_JSON_SPACE = " \t\n\r"
# Text that marks a line as one of ours, so that failing to parse it is corruption, not
# some other program's log line.
_OURS = ('"logEvents"', '"messageType"', f'"record":"{RECORD_KIND}"')
# S3 lists LastModified to the second, and its clock is not Lambda's: an object is
# passed over only when it was written well before the cutoff. Downloading a few objects
# too many costs little; passing one over too many loses its records.
_LAST_MODIFIED_SLACK = timedelta(minutes=5)
_DURATION = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class CaptureError(Exception):
    """A source that cannot be read: its name and what is wrong with it."""


@dataclass(frozen=True, eq=False)  # DataFrames have no truth value to compare by
class Captures:
    """`rows`: one row per captured row; `requests`: one row per record; `objects`: how
    many objects (or files) were read."""

    rows: pd.DataFrame
    requests: pd.DataFrame
    objects: int = 0


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A cutoff as given: a duration before now (30m, 12h, 7d, 2w), or an ISO-8601 date
    or date-time, in UTC unless it names its zone."""
    text = text.strip()
    duration = _DURATION.fullmatch(text)
    try:
        if duration is not None:
            amount, unit = duration.groups()
            span = timedelta(**{_UNITS[unit]: int(amount)})
            return (now or datetime.now(UTC)) - span
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        pass
    else:
        return _utc(moment)
    raise ValueError(
        f"expected a duration (30m, 12h, 7d, 2w) or an ISO-8601 date or date-time, got {text!r}"
    )


def read_captures(source: str, since: datetime | None = None, s3: Any | None = None) -> Captures:
    """The capture records under `source` (s3://bucket/prefix, or a local file or
    folder), those at or after `since` when it is given (UTC when it has no zone).
    `s3` is the client to read S3 with; a default boto3 client when it is None."""
    cutoff = None if since is None else _utc(since)
    if source.startswith(S3_SCHEME):
        bucket, prefix = _bucket_and_prefix(source)
        if s3 is None:
            import boto3  # a tool dependency, only for S3 sources

            s3 = boto3.client("s3")
        objects = _s3_objects(s3, bucket, prefix, cutoff)
    else:
        objects = _local_objects(Path(source))
    records: list[dict[str, Any]] = []
    count = 0
    for name, data in objects:
        count += 1
        records.extend(
            record
            for record in records_in(data, name)
            if cutoff is None or _time_of(record) >= cutoff
        )
    return tabulate(records, objects=count)


def records_in(data: bytes, name: str = "data") -> Iterator[dict[str, Any]]:
    """The capture records in one delivered object, in either of Firehose's shapes,
    gzipped or not; `name` names the object in errors."""
    for value in _objects(_text(data, name), name):
        if "logEvents" in value and "messageType" in value:
            yield from _envelope_records(value, name)
        elif value.get("record") == RECORD_KIND:
            yield _checked(value, name)


def tabulate(records: Iterable[dict[str, Any]], objects: int = 0) -> Captures:
    """Capture records (as records_in gives them) as the two tables, in time order."""
    ordered = sorted(((_time_of(record), record) for record in records), key=lambda p: p[0])
    kept: list[tuple[datetime, dict[str, Any]]] = []
    seen: set[tuple[str, datetime]] = set()
    for time, record in ordered:
        request_id = record.get("request_id")
        if isinstance(request_id, str):
            if (request_id, time) in seen:
                continue
            seen.add((request_id, time))
        kept.append((time, record))
    return Captures(_rows_table(kept), _requests_table(kept), objects)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _bucket_and_prefix(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise CaptureError(f"expected s3://bucket/prefix, got {uri!r}")
    return bucket, prefix


def _s3_objects(
    s3: Any, bucket: str, prefix: str, cutoff: datetime | None
) -> Iterator[tuple[str, bytes]]:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"{S3_SCHEME}{bucket}/{prefix}"
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        listed = [item for page in pages for item in page.get("Contents", [])]
    except (BotoCoreError, ClientError) as error:
        raise CaptureError(f"cannot list {where}: {error}") from error
    for item in listed:
        key = item["Key"]
        if key.endswith("/"):  # a console's folder marker, no delivery
            continue
        # Firehose writes an object after the records in it: one written before the
        # cutoff holds none at or after it.
        if cutoff is not None and item["LastModified"] < cutoff - _LAST_MODIFIED_SLACK:
            continue
        name = f"{S3_SCHEME}{bucket}/{key}"
        try:
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as error:
            raise CaptureError(f"cannot read {name}: {error}") from error
        yield name, data


def _local_objects(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(item for item in path.rglob("*") if item.is_file())
    else:
        raise CaptureError(f"{path} is neither an s3:// URI nor an existing file or folder")
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as error:
            raise CaptureError(f"cannot read {file}: {error.strerror}") from error
        yield str(file), data


def _text(data: bytes, name: str) -> str:
    for _ in range(_GZIP_LAYERS):
        if not data.startswith(_GZIP_MAGIC):
            break
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise CaptureError(f"{name}: broken gzip: {error}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CaptureError(
            f"{name}: neither gzip nor UTF-8 text (byte {error.start} is {data[error.start]:#04x})"
        ) from error


_decoder = json.JSONDecoder()


def _objects(text: str, name: str, where: str = "") -> Iterator[dict[str, Any]]:
    """The JSON objects in text: one after another with or without whitespace between
    (envelopes, newline-delimited messages). A line that starts with anything else is
    some other program's, and skipped."""
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in _JSON_SPACE:
            position += 1
        if position >= end:
            return
        line_end = text.find("\n", position)
        line_end = end if line_end < 0 else line_end
        if text[position] == "{":
            try:
                value, position = _decoder.raw_decode(text, position)
            except json.JSONDecodeError as error:
                if any(mark in text[position:line_end] for mark in _OURS):
                    raise CaptureError(
                        f"{name}: broken JSON{where}: {error.msg} at character {error.pos}"
                    ) from error
            else:
                yield value
                continue
        position = line_end + 1


def _envelope_records(envelope: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    # A CONTROL_MESSAGE is CloudWatch checking that the destination takes deliveries.
    if envelope["messageType"] != "DATA_MESSAGE":
        return
    events = envelope["logEvents"]
    if not isinstance(events, list):
        raise CaptureError(f"{name}: a CloudWatch Logs envelope whose logEvents is no list")
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):
            raise CaptureError(f"{name}: a CloudWatch Logs event without a message")
        for value in _objects(message, name, " in a log event's message"):
            if value.get("record") == RECORD_KIND:
                yield _checked(value, name)


def _checked(record: dict[str, Any], name: str) -> dict[str, Any]:
    """The record, if its members have the shapes the tables are made of."""
    which = f"{name}: capture record {record.get('request_id')!r}"
    try:
        _time_of(record)
    except (KeyError, TypeError, ValueError) as error:
        raise CaptureError(f"{which} has no ISO-8601 time: {record.get('time')!r}") from error
    if "rows" not in record:
        return record
    rows = record["rows"]
    if not (isinstance(rows, list) and all(isinstance(row, dict) for row in rows)):
        raise CaptureError(f"{which}: rows is not a list of objects")
    for member in ("predictions", "probabilities"):
        if member == "probabilities" and member not in record:
            continue
        values = record.get(member)
        if not isinstance(values, list) or len(values) != len(rows):
            raise CaptureError(f"{which}: {member} is not a list of one value per row")
    if "probabilities" in record and not all(isinstance(p, dict) for p in record["probabilities"]):
        raise CaptureError(f"{which}: probabilities is not a list of objects")
    return record


def _time_of(record: dict[str, Any]) -> datetime:
    return _utc(datetime.fromisoformat(record["time"]))


def _requests_table(records: Sequence[tuple[datetime, dict[str, Any]]]) -> pd.DataFrame:
    columns = {
        column: [time if column == "time" else record.get(column) for time, record in records]
        for column in REQUEST_COLUMNS
    }
    return pd.DataFrame(
        {column: pd.Series(values, dtype=_DTYPES[column]) for column, values in columns.items()}
    )


def _rows_table(records: Sequence[tuple[datetime, dict[str, Any]]]) -> pd.DataFrame:
    fixed: dict[str, list[Any]] = {column: [] for column in ROW_COLUMNS}
    flat: list[dict[str, Any]] = []
    # Names in the order first seen, each kind in its place.
    features: dict[str, None] = {}
    answers: dict[str, None] = {}
    probabilities: dict[str, None] = {}
    for time, record in records:
        rows = record.get("rows")
        if rows is None:
            continue
        chances = record.get("probabilities") or [None] * len(rows)
        for row, prediction, chance in zip(rows, record["predictions"], chances, strict=True):
            for column in ROW_COLUMNS:
                fixed[column].append(time if column == "time" else record.get(column))
            values = {_feature_column(feature): value for feature, value in row.items()}
            features.update(dict.fromkeys(values))
            answer = dict(_flattened(PREDICTION, prediction))
            answers.update(dict.fromkeys(answer))
            chance_columns = dict(_probability_columns(chance))
            probabilities.update(dict.fromkeys(chance_columns))
            flat.append(values | answer | chance_columns)
    table = {column: pd.Series(values, dtype=_DTYPES[column]) for column, values in fixed.items()}
    for column in [*features, *answers, *probabilities]:
        table[column] = _series([values.get(column) for values in flat])
    return pd.DataFrame(table)


def _feature_column(name: str) -> str:
    taken = name in ROW_COLUMNS or name == PREDICTION
    if taken or name.startswith((f"{PREDICTION}.", f"{PROBABILITY}.", f"{FEATURE}.")):
        return f"{FEATURE}.{name}"
    return name


def _flattened(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """A multi-output model's answer is an object per row, keyed by output name."""
    if isinstance(value, dict):
        for output, part in value.items():
            yield f"{prefix}.{output}", part
    else:
        yield prefix, value


def _probability_columns(chance: dict[str, Any] | None) -> Iterator[tuple[str, Any]]:
    # Per class label; for a multi-output model, per output name, then class label.
    for key, value in (chance or {}).items():
        yield from _flattened(f"{PROBABILITY}.{key}", value)


def _series(values: list[Any]) -> pd.Series:
    """A column of JSON values, typed by what its values are: booleans and integers keep
    their type beside missing values (pandas' nullable dtypes), numbers are floats,
    strings `str`; a column of mixed types stays object."""
    present = {type(value) for value in values if value is not None}
    missing = len(values) > 0 and any(value is None for value in values)
    dtype: str = "object"
    if present == {bool}:
        dtype = "boolean" if missing else "bool"
    elif present == {int}:
        dtype = "Int64" if missing else "int64"
    elif present and present <= {int, float}:
        dtype = "float64"
    elif present == {str}:
        dtype = "str"
    try:
        return pd.Series(values, dtype=dtype)
    except (OverflowError, TypeError, ValueError):  # integers beyond 64 bits
        return pd.Series(values, dtype="object")


# The command line.


def _write_csv(frame: pd.DataFrame, path: Any) -> None:
    try:
        frame.to_csv(path, index=False)
    except UnicodeEncodeError as error:
        # JSON can hold a lone surrogate ("\ud800"), which no UTF-8 text can.
        raise CaptureError(f"cannot write CSV: a value is no Unicode text ({error})") from error


def _write_parquet(frame: pd.DataFrame, path: str) -> None:
    try:
        frame.to_parquet(path, index=False)
    # pyarrow's own errors are these, under its ArrowException.
    except (TypeError, ValueError, NotImplementedError) as error:
        # A column whose values changed type between deployments (a feature hashed in
        # one, not in the other) has no Parquet type.
        raise CaptureError(f"cannot write Parquet: {error}; write CSV instead") from error


_WRITERS: dict[str, Callable[[pd.DataFrame, str], None]] = {
    ".csv": _write_csv,
    ".parquet": _write_parquet,
}


def _staged(frame: pd.DataFrame, path: Path) -> Path:
    """The table written to a temporary file beside `path`, to be renamed onto it: a
    failure part of the way leaves no half-written file under the name asked for."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(descriptor)
    temporary = Path(name)
    try:
        _WRITERS[path.suffix.lower()](frame, name)
        # mkstemp's file is the owner's alone; the output is as any other file made here.
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _since_argument(text: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model.captures", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="s3://bucket/prefix, or a local file or folder of delivered objects",
    )
    parser.add_argument(
        "--since",
        type=_since_argument,
        metavar="WHEN",
        help="only records from then on: 30m, 12h, 7d, 2w before now, or an ISO-8601 "
        "date or date-time (UTC unless it names its zone)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write the rows to FILE (.csv or .parquet), not to stdout as CSV",
    )
    parser.add_argument(
        "--requests",
        type=Path,
        metavar="FILE",
        help="write one row per request to FILE (.csv or .parquet)",
    )
    args = parser.parse_args(argv)
    outputs = [(args.output, "--output"), (args.requests, "--requests")]
    for path, option in outputs:
        if path is None:
            continue
        if path.suffix.lower() not in _WRITERS:
            parser.error(f"{option} takes a .csv or .parquet file, got {str(path)!r}")
        if not path.parent.is_dir():
            parser.error(f"{option}: there is no folder {str(path.parent)!r}")
        if path.is_dir():
            parser.error(f"{option}: {str(path)!r} is a folder")
        if path.suffix.lower() == ".parquet" and importlib.util.find_spec("pyarrow") is None:
            parser.error(f"{option}: writing Parquet needs pyarrow, which is not installed")
    if args.output and args.requests and args.output.resolve() == args.requests.resolve():
        parser.error("--output and --requests name the same file")
    if args.source.startswith(S3_SCHEME):
        if not args.source[len(S3_SCHEME) :].partition("/")[0]:
            parser.error(f"expected s3://bucket/prefix, got {args.source!r}")
    elif not Path(args.source).exists():
        parser.error(f"{args.source!r} is neither an s3:// URI nor an existing file or folder")

    s3 = None
    staged: list[tuple[Path, Path]] = []
    try:
        if args.source.startswith(S3_SCHEME):
            # A tool dependency, never the server's: imported only to read S3.
            import boto3
            from botocore.exceptions import BotoCoreError

            try:
                s3 = boto3.client("s3")
            except BotoCoreError as error:
                raise CaptureError(f"cannot reach S3: {error}") from error
        captures = read_captures(args.source, args.since, s3)
        if captures.requests.empty:
            print(f"no capture records found under {args.source}", file=sys.stderr)
            raise SystemExit(1)
        tables = [(captures.rows, args.output), (captures.requests, args.requests)]
        for frame, path in tables:
            if path is not None:
                staged.append((_staged(frame, path), path))
        for temporary, path in staged:
            os.replace(temporary, path)
        if args.output is None:
            _write_csv(captures.rows, sys.stdout)
    except (CaptureError, OSError) as error:
        _fail(str(error))
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    requests = captures.requests
    print(
        f"{len(requests)} records, {int((requests['status'] >= 400).sum())} refused, "
        f"{len(captures.rows)} rows, {int(requests['rows_omitted'].sum())} rows omitted, "
        f"{captures.objects} objects read",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
