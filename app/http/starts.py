"""Whether a request is the first after the process started (its cold start) or after a
restore from a SnapStart snapshot (app.aws.snapstart says when one happened).

Each is marked on the access log's line of that request, exactly once; a warm-up ping
that was the container's first invocation takes the mark instead, so later requests are
warm.
"""

from __future__ import annotations

import threading

from flask import Flask

from app.http.components import part_of

# What the first request after a start is the first of: the process's start, or its
# restore from a SnapStart snapshot. Each names the line's field that marks it.
COLD_START = "cold_start"
RESTORE = "restore"


class Starts:
    """Whether the first request after the process started (or was restored) is still
    to come."""

    def __init__(self) -> None:
        self._start: str | None = COLD_START
        self._lock = threading.Lock()

    def note_restore(self) -> None:
        """The process was just restored from a snapshot: its next request is the restore's."""
        with self._lock:
            self._start = RESTORE

    def take_start(self) -> str | None:
        """COLD_START or RESTORE, once each: for the first request (or Lambda invocation)
        after the process started or was restored; None for every other."""
        if self._start is None:
            return None
        with self._lock:  # threaded servers: two first requests, one start
            start, self._start = self._start, None
        return start


def note_warm_up(app: Flask) -> None:
    """A warm-up ping was the container's first invocation since it started or was
    restored: later requests are warm."""
    part_of(Starts, app).take_start()


def note_restore(app: Flask) -> None:
    """The process was just restored from a SnapStart snapshot: the next request is the
    restore's first, not a warm one, and no cold start either."""
    part_of(Starts, app).note_restore()
