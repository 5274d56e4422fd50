"""Builds the app: settings -> model slots (live, shadow) -> protocols -> hooks.

`flask --app app.factory run` and app.local_server call create_app; handler.py calls it
once per Lambda container. Every part is built here from the typed Settings and kept on
the app by its type (app.http.components); the order of the hooks is the order a request
meets them.
"""

# ruff: noqa: E402 -- the lazy imports go in before any other import
from __future__ import annotations

# This module is the entry point of `flask run` and gunicorn (app.factory:create_app()):
# the hook goes in first, before its imports bring in scikit-learn.
from app.aws import lazy_imports

lazy_imports.install()

import logging
import os
import sys
from collections.abc import Mapping

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.auth.api_keys import is_api_key, require_api_keys
from app.auth.key_source import load_api_keys, load_capture_hash_key
from app.auth.keys import API_KEY_HEADER
from app.core.captured_rows import Masking
from app.front_door import init_front_door
from app.http.access_log import init_access_log
from app.http.body import bounded_request
from app.http.capture import init_capture
from app.http.components import install, part_of
from app.http.cors import init_cors
from app.http.emf import EmbeddedMetrics
from app.http.flask_app import ServiceFlask
from app.http.request_ids import init_request_ids
from app.http.response_headers import init_response_headers
from app.http.serving import batch_limit
from app.http.shadow import init_shadow
from app.http.warm_up import warm_up
from app.openapi.routes import init_openapi, openapi_document
from app.protocols import OPENAPI_PARTS, PREDICTING, init_protocols, protocol_for_path
from app.service.model_slot import ModelPlace, ModelSlot
from app.service.settings import Settings
from app.service.shadow_slot import ShadowSlot


class _FieldOrderJSON(DefaultJSONProvider):
    """Flask's JSON, but keeping the documented field order in responses (no key sorting),
    and compact in debug mode too: answers are written as app.core.answers.json_body writes
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
    api_keys = load_api_keys(settings.api_keys, settings.api_keys_secret)
    capture_hash_key = load_capture_hash_key(
        settings.capture_hash_key, settings.capture_hash_key_secret
    )
    app = ServiceFlask(__name__)
    # Werkzeug's own limit, read by request.max_content_length and its 413.
    app.request_class = bounded_request(settings.max_content_length)
    app.json = _FieldOrderJSON(app)
    install(app, settings)
    live = install(app, ModelSlot(ModelPlace.live(settings)))
    shadow_place = ModelPlace.shadow(settings)
    shadow = None
    if shadow_place is not None:
        tolerance = settings.shadow_tolerance
        shadow = ShadowSlot(shadow_place, live, settings.shadow_sample_rate, tolerance)

    init_protocols(app)
    init_openapi(app, OPENAPI_PARTS)
    init_front_door(app, settings.try_it_page, openapi_document)
    init_request_ids(app, API_KEY_HEADER, is_api_key)
    # Before the request log: hooks after a request run in reverse, and the record
    # takes the latency the request line measured.
    init_capture(
        app,
        settings.capture_sample_rate,
        _masking(settings, capture_hash_key, app),
        settings.capture_max_rows,
        PREDICTING,
        lambda path: protocol_for_path(path).name,
    )
    init_access_log(
        app,
        EmbeddedMetrics(settings.metrics_namespace, settings.service, settings.function_version),
        lambda path: protocol_for_path(path).name,
    )
    # After the request log: the shadow answers before the line that carries its metrics.
    init_shadow(app, shadow)
    require_api_keys(app, api_keys)
    init_cors(app, settings.cors_allowed_origins, API_KEY_HEADER)
    init_response_headers(app)
    # Last, once every hook is in place: the warm-up takes the path a request takes.
    warm_up(app, batch_limit)
    return app


def _masking(settings: Settings, hash_key: bytes, app: Flask) -> Masking:
    """Capture's masking, checked against the model's features when one is loaded: a
    name it lacks stops start-up, since the feature it meant would go unmasked."""
    masking = Masking(settings.capture_exclude, settings.capture_hash, hash_key)
    predictor = part_of(ModelSlot, app).current()
    if predictor is not None and settings.capture_sample_rate > 0:
        masking.check(predictor.schema)
    return masking


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("app")
    logger.setLevel(level)
    # Lambda's runtime (and most servers) give the root logger a handler; under
    # a bare `flask run` nothing would print below WARNING without this one.
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
