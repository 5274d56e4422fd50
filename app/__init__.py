"""The prediction service: a Flask app serving a scikit-learn model as JSON.

The app is built by app.factory.create_app. Importing this package imports nothing else,
so the model tools (model/) use app.core without loading Flask.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # A bare `flask run` finds the app by asking this package for create_app: the factory
    # is imported then, on that request only.
    if name == "create_app":
        from app.factory import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
