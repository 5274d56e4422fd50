"""The model an app serves, or the reason it has none.

A model that fails to load must not take the app down: /health and /predict
answer 503 with the reason instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.config import Settings
from app.predictor import ModelUnavailable, Predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSlot:
    predictor: Predictor | None
    reason: str | None = None

    @classmethod
    def load(cls, settings: Settings) -> ModelSlot:
        try:
            return cls(Predictor.load(settings.model_path, settings.allow_version_mismatch))
        except ModelUnavailable as error:
            log.error("model unavailable: %s", error)
            return cls(None, str(error))
