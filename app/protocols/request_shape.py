"""The checks of a request's shape that every protocol makes of its JSON body: an object
where one is expected, no member it does not know, true or false where a flag is.

Each reports at the member's place in the body (app.core.validation.member), so a
protocol's own fields are refused in the same words whichever protocol reads them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from app.core.errors import Detail
from app.core.validation import Problems, kind_of, member
from app.http.serving import invalid


def json_object(payload: Any) -> dict[str, Any]:
    """The decoded body, which must be a JSON object; anything else is a 422 at `body`,
    with nothing more worth checking."""
    if not isinstance(payload, dict):
        raise invalid([Detail("body", f"expected a JSON object, got {kind_of(payload)}")])
    return payload


def unknown_members(
    names: Iterable[str],
    parent: str | None,
    allowed: Collection[str],
    problems: Problems,
    why: str | None = None,
) -> None:
    """Reports each of an object's member names (at `parent`, None for the body) that is
    not in `allowed`: "unknown field; allowed: ..." unless `why` says otherwise."""
    if why is None:
        why = f"unknown field; allowed: {', '.join(allowed)}"
    for name in names:
        if name not in allowed:
            problems.add(member(parent, name), why)
            if not problems.accepts():
                break  # no later member's problem could be reported


def optional_object(value: Any, loc: str, problems: Problems) -> dict[str, Any]:
    """A member that may be left out (or null) or be an object; anything else is reported
    at `loc`. Empty when it is not an object."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(loc, f"expected an object, got {kind_of(value)}")
        return {}
    return value


def flag(members: dict[str, Any], name: str, parent: str | None, problems: Problems) -> bool:
    """The member `name` of an object at `parent`: true or false, false when left out;
    anything else is reported at its place (and read as false)."""
    value = members.get(name, False)
    if not isinstance(value, bool):
        problems.add(member(parent, name), f"expected true or false, got {kind_of(value)}")
        return False
    return value
