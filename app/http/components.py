"""The app's parts, kept on it by their type and found by their type.

Each part (the settings, the model slot, the key check, the request log, ...) is built
once by the factory from typed settings and installed here; a view asks for the part it
needs by its class and gets that type back, checked, never a value read by a string key.
"""

from __future__ import annotations

from flask import Flask, current_app

_PREFIX = "model_api."


def install[T](app: Flask, part: T) -> T:
    """Keeps `part` on `app` under its class, replacing one of the same class."""
    app.extensions[_key(type(part))] = part
    return part


def part_of[T](kind: type[T], app: Flask | None = None) -> T:
    """The app's part of class `kind` (the current app's unless `app` is given)."""
    found = (app or current_app).extensions.get(_key(kind))
    if not isinstance(found, kind):
        raise LookupError(f"the app has no {kind.__qualname__}")
    return found


def has_part(kind: type[object], app: Flask) -> bool:
    return isinstance(app.extensions.get(_key(kind)), kind)


# One key per class, made once: requests look parts up all the time.
_KEYS: dict[type[object], str] = {}


def _key(kind: type[object]) -> str:
    key = _KEYS.get(kind)
    if key is None:
        key = _KEYS[kind] = _PREFIX + kind.__module__ + "." + kind.__qualname__
    return key
