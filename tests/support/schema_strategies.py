"""Hypothesis strategies for typed schemas: any mix of number, integer, boolean and
string features, nullable or not, with closed or open categories, and for the values each
feature takes and never takes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from app.core.schema import INT64_MAX, INT64_MIN, Feature, Schema

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
CATEGORY_VALUES = {
    "string": st.text(max_size=6),
    "integer": st.integers(-5, 5),
    "number": st.integers(-5, 5).map(float),
}


@st.composite
def features(draw: st.DrawFn, name: str) -> Feature:
    kind = draw(st.sampled_from(["number", "integer", "boolean", "string"]))
    nullable = draw(st.booleans())
    categories = None
    accepts_unknown = True
    if kind in CATEGORY_VALUES and draw(st.booleans()):
        categories = tuple(
            draw(st.lists(CATEGORY_VALUES[kind], min_size=1, max_size=4, unique=True))
        )
        accepts_unknown = draw(st.booleans())
    return Feature(name, kind, nullable, categories, accepts_unknown)  # type: ignore[arg-type]


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    typed = tuple(draw(features(name)) for name in names)
    numeric = all(f.type in ("number", "integer") for f in typed)
    return Schema(typed, "float64_array" if numeric and draw(st.booleans()) else "object_array")


def valid_value(feature: Feature) -> st.SearchStrategy[Any]:
    if feature.closed:
        values: st.SearchStrategy[Any] = st.sampled_from(list(feature.categories or ()))
    elif feature.type == "number":
        values = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**15), 10**15)
    elif feature.type == "integer":
        values = st.integers(INT64_MIN, INT64_MAX)
    elif feature.type == "boolean":
        values = st.booleans()
    else:
        values = st.text(max_size=10)
    return values | st.none() if feature.nullable else values


def wrong_value(feature: Feature) -> st.SearchStrategy[Any]:
    """A value the feature never takes."""
    others: list[st.SearchStrategy[Any]] = [st.lists(st.integers(), max_size=2)]
    if feature.type != "string":
        others.append(st.text(max_size=4))
    if feature.type != "boolean":
        others.append(st.booleans())
    if feature.type == "string":
        others.append(st.floats(allow_nan=False, allow_infinity=False))
    if feature.type == "integer":
        others.append(st.floats(allow_nan=False).filter(lambda v: not float(v).is_integer()))
        others.append(st.integers(INT64_MAX + 1, 2**70))
    if feature.type == "boolean":
        others.append(st.integers())
    if not feature.nullable:
        others.append(st.none())
    if feature.closed:
        known = set(feature.categories or ())
        others.append(CATEGORY_VALUES[feature.type].filter(lambda v: v not in known))
    return st.one_of(others)
