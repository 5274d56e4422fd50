"""Runs the shadow model on a sampled share of predictions, after the live answer is
built and before the request's line is written, which carries the comparison's metrics.

On Lambda the process may be frozen as soon as the handler returns, so the shadow runs
inside the request: the live answer's latency includes it (shadow_latency_ms says how
much), and SHADOW_SAMPLE_RATE bounds what it costs. Its failure is logged and counted,
never raised: the live answer and its status stand whatever the shadow does.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, g

from app.core.predictor import Outcome
from app.core.shadow import Shadow
from app.core.validation import Rows
from app.http.components import install, part_of
from app.service.shadow_slot import ShadowSlot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowRuns:
    slot: ShadowSlot | None
    draw: Callable[[], float]  # uniform in [0, 1): random.random, seeded in tests


def init_shadow(
    app: Flask, slot: ShadowSlot | None, draw: Callable[[], float] = random.random
) -> None:
    """Install the shadow's runs; call after the request log is set up: hooks after a
    request run in reverse, and the line takes the comparison made here."""
    install(app, ShadowRuns(slot, draw))
    if slot is not None and slot.sample_rate > 0:
        app.after_request(_run)


def note_shadow_input(rows: Rows, outcome: Outcome) -> None:
    """The validated rows and live answer of a prediction, kept when the shadow is to
    answer them too."""
    runs = part_of(ShadowRuns)
    if runs.slot is not None and runs.draw() < runs.slot.sample_rate:
        g.shadow_input = (rows, outcome)


def _run(response: Response) -> Response:
    state = g._get_current_object()
    given: tuple[Rows, Outcome] | None = state.get("shadow_input")
    if given is None or response.status_code >= 400:
        return response
    slot = part_of(ShadowRuns).slot
    assert slot is not None, "the hook is installed only with a shadow"
    shadow = slot.current()
    if shadow is None:  # not loaded: counted as failed, so an alarm sees it
        comparison = Shadow.failed("ShadowUnavailable", 0.0)
    else:
        comparison = shadow.compare(*given)
    if comparison.error is not None:
        # The type alone: a model's message may quote the request's values.
        log.warning("the shadow model failed on %d row(s): %s", given[0].count, comparison.error)
    state.shadow_comparison = comparison
    return response
