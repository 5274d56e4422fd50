"""Properties of typed validation: for any schema, valid rows pass with their exact values,
and any value of the wrong kind is refused at its own place.

Schemas are generated too: any mix of number, integer, boolean and string features,
nullable or not, with closed or open categories. Date-times are generated as Python
writes them, and must become exactly their instant in each kind of column.
Derandomized, no example database.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.schema_strategies import schemas, valid_value, wrong_value

from app.core.errors import ApiError
from app.core.schema import Feature, Schema
from app.core.validation import member
from app.protocols.native.decoding import InputSchema, parse_predict_request

settings.register_profile(
    "typed-properties",
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
TYPED = settings.get_profile("typed-properties")


def row_strategy(schema: Schema, keyed: bool) -> st.SearchStrategy[Any]:
    values = [valid_value(feature) for feature in schema.features]
    if keyed:
        return st.fixed_dictionaries(dict(zip(schema.names, values, strict=True)))
    return st.tuples(*values).map(list)


def expected(value: Any, feature: Feature) -> Any:
    if value is None:
        return math.nan if feature.type in ("number", "integer") else None
    if feature.type in ("number",) or (feature.type == "integer" and isinstance(value, float)):
        return float(value)
    return value


def same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    return left == right and type(left) is type(right)


@TYPED
@given(data=st.data(), schema=schemas(), keyed=st.booleans())
def test_valid_typed_rows_pass_with_their_values(
    data: st.DataObject, schema: Schema, keyed: bool
) -> None:
    rows = data.draw(st.lists(row_strategy(schema, keyed), min_size=1, max_size=4))
    parsed = parse_predict_request(
        {"instances": rows}, InputSchema(schema, supports_probabilities=False, max_rows=10)
    )
    from app.core.model_input import to_model_input

    model_input = to_model_input(parsed.rows, schema)
    assert model_input.shape == (len(rows), len(schema.features))
    for index, row in enumerate(rows):
        for position, feature in enumerate(schema.features):
            given_value = row[feature.name] if keyed else row[position]
            got = model_input[index, position]
            got = got.item() if hasattr(got, "item") else got
            want = expected(given_value, feature)
            if schema.model_input == "float64_array" and not (
                isinstance(want, float) and math.isnan(want)
            ):
                want = float(want)
            if isinstance(want, float) and isinstance(got, int):
                got = float(got)
            if want is None:
                want = math.nan  # an object array holds NaN for a missing string
            assert same(got, want), (feature, given_value, got)


@TYPED
@given(data=st.data(), schema=schemas(), keyed=st.booleans())
def test_a_wrong_value_is_refused_at_its_place(
    data: st.DataObject, schema: Schema, keyed: bool
) -> None:
    row = data.draw(row_strategy(schema, keyed))
    position = data.draw(st.integers(0, len(schema.features) - 1))
    feature = schema.features[position]
    bad = data.draw(wrong_value(feature))
    if keyed:
        row[feature.name] = bad
        place = member("features", feature.name)
    else:
        row[position] = bad
        place = f"features[{position}]"
    try:
        parse_predict_request(
            {"features": row}, InputSchema(schema, supports_probabilities=False, max_rows=10)
        )
    except ApiError as error:
        assert error.status == 422
        assert [detail.loc for detail in error.details] == [place]
    else:
        raise AssertionError(f"{bad!r} passed as {feature}")


# Date-times: any moment Python writes is read as its instant, by the time-zone rule

# A moment each unit holds (nanoseconds end in 2262), and fixed offsets to the minute, as
# ISO 8601 writes them (a zone's historic offsets in seconds are not).
MOMENTS = st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1))
OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
ZONED = ["datetime64[us, UTC]", "datetime64[us, Europe/Lisbon]", "datetime64[ns, UTC+05:30]"]
NAIVE = ["datetime64[us]", "datetime64[ns]"]


def read_datetime(text: Any, dtype: str) -> Any:
    """The value a DataFrame model is handed for `text` in a column of `dtype`."""
    from app.core.model_input import to_model_input

    schema = Schema((Feature("when", "datetime", dtype=dtype),), "dataframe")
    parsed = parse_predict_request(
        {"features": [text]}, InputSchema(schema, supports_probabilities=False, max_rows=1)
    )
    column = to_model_input(parsed.rows, schema)["when"]
    assert str(column.dtype) == dtype
    return column[0]


@TYPED
@given(
    moment=MOMENTS,
    offset=OFFSETS,
    separator=st.sampled_from("Tt "),
    dtype=st.sampled_from(ZONED + NAIVE),
)
def test_a_moment_with_an_offset_is_its_instant(
    moment: datetime, offset: timezone, separator: str, dtype: str
) -> None:
    aware = moment.replace(tzinfo=offset)
    got = read_datetime(aware.isoformat(sep=separator), dtype)
    instant = pd.Timestamp(aware)
    # A zoned column holds the instant (shown in its zone, as its dtype says); a naive one
    # the instant's UTC wall time.
    assert got == (instant if got.tzinfo is not None else instant.tz_convert(None))


@TYPED
@given(moment=MOMENTS, dtype=st.sampled_from(NAIVE))
def test_a_moment_without_an_offset_is_taken_as_written_in_a_naive_column(
    moment: datetime, dtype: str
) -> None:
    assert read_datetime(moment.isoformat(), dtype) == pd.Timestamp(moment)


@TYPED
@given(
    text=MOMENTS.map(datetime.isoformat)
    | st.floats(allow_nan=False)
    | st.integers()
    | st.booleans()
    | st.lists(st.integers(), max_size=2),
    dtype=st.sampled_from(ZONED),
)
def test_a_zoned_column_refuses_anything_without_an_offset(text: Any, dtype: str) -> None:
    try:
        read_datetime(text, dtype)
    except ApiError as error:
        assert [detail.loc for detail in error.details] == ["features[0]"]
    else:
        raise AssertionError(f"{text!r} passed as {dtype}")


@TYPED
@given(
    texts=st.lists(st.text() | st.none(), min_size=1, max_size=20),
    dtype=st.sampled_from(["str", "string", "object"]),
)
def test_a_string_column_reaches_a_data_frame_as_pandas_builds_it(
    texts: list[str | None], dtype: str
) -> None:
    # Any text (lone surrogates too), with or without missing values, in each string dtype.
    from app.core.model_input import _pandas_dtype, to_model_input

    schema = Schema((Feature("city", "string", nullable=True, dtype=dtype),), "dataframe")
    parsed = parse_predict_request(
        {"instances": [{"city": text} for text in texts]},
        InputSchema(schema, supports_probabilities=False, max_rows=20),
    )
    column = to_model_input(parsed.rows, schema)["city"]
    missing_as_nan = [math.nan if text is None else text for text in texts]
    want = pd.Series(pd.array(missing_as_nan, dtype=_pandas_dtype(dtype)), name="city")
    assert str(column.dtype) == str(want.dtype)
    pd.testing.assert_series_equal(column, want)
