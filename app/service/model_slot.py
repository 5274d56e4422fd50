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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import monotonic

from app.core.pins import Pins
from app.core.predictor import ModelUnavailable, Predictor
from app.service.model_source import locate
from app.service.settings import Settings

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class ModelPlace:
    """Where a slot's model is, what holds it to its deploy, and how logs name it."""

    uri: str
    pins: Pins
    cache_dir: Path
    allow_version_mismatch: bool
    role: str = "model"  # "model", or "shadow model"

    @classmethod
    def live(cls, settings: Settings) -> ModelPlace:
        return cls(
            settings.model_uri,
            settings.model_pins,
            settings.model_cache_dir,
            settings.allow_version_mismatch,
        )

    @classmethod
    def shadow(cls, settings: Settings) -> ModelPlace | None:
        if settings.shadow_model_uri is None:
            return None
        return cls(
            settings.shadow_model_uri,
            settings.shadow_pins,
            settings.model_cache_dir,
            settings.allow_version_mismatch,
            "shadow model",
        )


class ModelSlot:
    def __init__(
        self,
        place: ModelPlace,
        accept: Callable[[Predictor], None] | None = None,
    ) -> None:
        """Load the model at `place`; `accept`, if given, may refuse a loaded model by
        raising ModelUnavailable (a shadow that does not fit the live model)."""
        self.place = place
        self._accept = accept
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
        place = self.place
        try:
            model = locate(place.uri, place.pins, place.cache_dir)
            predictor = Predictor.load(
                model.artifact,
                model.metadata,
                place.pins,
                allow_version_mismatch=place.allow_version_mismatch,
                code_archive=model.code_archive,
            )
            if self._accept is not None:
                self._accept(predictor)
            self.predictor = predictor
            self.reason = None
        except ModelUnavailable as error:
            self.reason = error.reason
            self._retry_at = monotonic() + self._delay
            log.error(
                "%s unavailable: %s (%s %s; next attempt in %.0f s)",
                place.role,
                error,
                place.role,
                place.uri,
                self._delay,
            )
            self._delay = min(self._delay * 2, MAX_RETRY_SECONDS)
