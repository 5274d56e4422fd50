"""The prediction service: a Flask app serving a scikit-learn model as JSON."""

# ruff: noqa: E402 -- the lazy imports go in before any other import
from __future__ import annotations

# First, before anything imports scikit-learn: what serving never uses loads on first use.
from app import lazy_imports

lazy_imports.install()

import logging
import os
import sys
from collections.abc import Mapping

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.api_keys import is_api_key, require_api_keys
from app.config import Settings
from app.cors import init_cors
from app.emf import EmbeddedMetrics
from app.key_source import load_api_keys
from app.model_slot import ModelSlot
from app.no_redirects import refuse_redirects
from app.protocols import init_protocols, protocol_for_path
from app.request_log import init_request_log
from app.response_headers import init_response_headers
from app.serving import batch_limit
from app.try_it import init_try_it
from app.warm_up import warm_up


class _FieldOrderJSON(DefaultJSONProvider):
    """Flask's JSON, but keeping the documented field order in responses (no key sorting),
    and compact in debug mode too: answers are written as app.answers.json_body writes
    them, the size their row limit is measured at."""

    sort_keys = False
    compact = True


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

    _configure_logging(settings.log_level)
    # Before the model: a service that cannot check keys must not start at all.
    api_keys = load_api_keys(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.config["MAX_BATCH_ROWS"] = settings.max_batch_rows
    app.config["MAX_JSON_DEPTH"] = settings.max_json_depth
    app.json = _FieldOrderJSON(app)

    app.extensions["model_slot"] = ModelSlot(settings)

    init_protocols(app)
    init_try_it(app, settings.try_it_page)
    init_request_log(
        app,
        EmbeddedMetrics(settings.metrics_namespace, settings.service),
        lambda path: protocol_for_path(path).name,
        is_api_key,
    )
    require_api_keys(app, api_keys)
    # After the key check: with keys on, a path that is no route needs a key first.
    refuse_redirects(app)
    init_cors(app, settings.cors_allowed_origins)
    init_response_headers(app)
    # Last, once every hook is in place: the warm-up takes the path a request takes.
    warm_up(app, batch_limit)
    return app


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("app")
    logger.setLevel(level)
    # Lambda's runtime (and most servers) give the root logger a handler; under
    # a bare `flask run` nothing would print below WARNING without this one.
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
