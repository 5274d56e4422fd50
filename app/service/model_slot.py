"""The model an app serves, or the reason it has none.

A model that fails to load must not take the app down: /health and /predict answer
503 with the reason, and a later request tries again, waiting longer after each
failure, so a passing fault (S3 briefly unreachable, an object being replaced)
heals without a redeploy. The answers give the reason without this server's paths
(ModelUnavailable.reason); the log gives it whole, with the model's location.
"""

from __future__ import annotations

import logging
import threading
from time import monotonic

from app.core.predictor import ModelUnavailable, Predictor
from app.service.model_source import locate
from app.service.settings import Settings

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


class ModelSlot:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._delay = FIRST_RETRY_SECONDS
        self._retry_at = 0.0
        self.predictor: Predictor | None = None
        self.reason: str | None = None
        self._attempt()

    def current(self) -> Predictor | None:
        """The loaded predictor; after a failure, tries again once the backoff allows."""
        if self.predictor is None and monotonic() >= self._retry_at:
            with self._lock:  # one attempt at a time; the others keep answering 503
                if self.predictor is None and monotonic() >= self._retry_at:
                    self._attempt()
        return self.predictor

    def _attempt(self) -> None:
        settings = self._settings
        try:
            model = locate(settings)
            self.predictor = Predictor.load(
                model.artifact,
                model.metadata,
                pinned_sha256=settings.model_sha256,
                allow_version_mismatch=settings.allow_version_mismatch,
                code_archive=model.code_archive,
                pinned_code_sha256=settings.model_code_sha256,
            )
            self.reason = None
        except ModelUnavailable as error:
            self.reason = error.reason
            self._retry_at = monotonic() + self._delay
            log.error(
                "model unavailable: %s (model %s; next attempt in %.0f s)",
                error,
                settings.model_uri,
                self._delay,
            )
            self._delay = min(self._delay * 2, MAX_RETRY_SECONDS)
