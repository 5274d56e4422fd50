"""The shadow model's slot: loaded like the live model, and accepted only if it takes
every row the live model accepts (app.core.shadow).

A shadow that cannot load, or does not fit, never keeps the live model from serving: it
is absent, its reason is logged and shown in GET /model, and a later sampled request
tries again after the same backoff as the live model's.
"""

from __future__ import annotations

from app.core.predictor import ModelUnavailable, Predictor
from app.core.shadow import Shadow, ShadowMismatch, check_fits
from app.service.model_slot import ModelPlace, ModelSlot


class ShadowSlot:
    def __init__(
        self, place: ModelPlace, live: ModelSlot, sample_rate: float, tolerance: float
    ) -> None:
        self.live = live
        self.sample_rate = sample_rate
        self.tolerance = tolerance
        self._shadow: Shadow | None = None
        self.slot = ModelSlot(place, accept=self._accept)

    def _accept(self, predictor: Predictor) -> None:
        live = self.live.current()
        if live is None:
            raise ModelUnavailable("the live model is not loaded, so the shadow cannot be checked")
        try:
            check_fits(live.metadata, predictor.metadata)
        except ShadowMismatch as error:
            raise ModelUnavailable(
                f"it does not accept every row the live model accepts: {error}"
            ) from None
        self._shadow = Shadow(live.schema, predictor, self.tolerance)

    def current(self) -> Shadow | None:
        """The loaded shadow; after a failure, tries again once the backoff allows."""
        return self._shadow if self.slot.current() is not None else None

    def describe(self) -> dict[str, object]:
        """What GET /model says of the shadow."""
        shadow = self._shadow if self.slot.predictor is not None else None
        if shadow is None:
            return {"loaded": False, "reason": self.slot.reason, "sample_rate": self.sample_rate}
        metadata = shadow.predictor.metadata
        described: dict[str, object] = {
            "loaded": True,
            "name": metadata.name,
            "version": metadata.version,
            "sample_rate": self.sample_rate,
        }
        if not shadow.is_classifier:
            described["tolerance"] = self.tolerance
        return described
