"""The prediction service: a Flask app serving a scikit-learn model as JSON."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask

from app.api import api
from app.config import Settings
from app.errors import register_error_handlers
from app.model_slot import ModelSlot
from app.openapi import build_openapi


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app and load its model once.

    `config` is a Settings, or a mapping of the same names as the environment
    variables (used instead of the environment), or None for the environment.
    """
    if config is None:
        settings = Settings.from_environ(os.environ)
    elif isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_environ(config)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.config["MAX_BATCH_ROWS"] = settings.max_batch_rows
    app.json.sort_keys = False  # keep the documented field order in responses

    slot = ModelSlot.load(settings)
    app.extensions["model_slot"] = slot
    app.extensions["openapi"] = build_openapi(slot.predictor, settings)

    app.register_blueprint(api)
    register_error_handlers(app)
    return app
