"""Hostile requests: what one is, how it is sent through the test client, and the
memory it may cost. The route tests (in_process/test_hostile_requests.py) and the
property (fuzz/test_hostile_declarations.py) send theirs the same way."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from app.service.settings import DEFAULT_MAX_CONTENT_LENGTH
from support.v2_tensors import IRIS, infer_path

MIB = DEFAULT_MAX_CONTENT_LENGTH
# Extra peak memory a request may take, as a multiple of its body's size...
MEMORY_FACTOR = 32
# ...beyond what any request takes whatever its body: its context, log line and answer.
BASE_BYTES = 256 * 1024
V2_INFER = infer_path(IRIS)
CSV = "text/csv"
JSON = "application/json"


@dataclass(frozen=True)
class Hostile:
    """A request, the model it is sent to, and what it must be answered with."""

    path: str
    body: bytes
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    model: str = "iris"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    peak: int


def measured(call: Callable[[], tuple[int, bytes]]) -> Answer:
    """The answer of `call`'s second run, and its peak of traced memory: the first run
    pays for what is built once (lazy imports, caches), never per request."""
    call()
    tracemalloc.start()
    try:
        status, data = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Answer(status, json.loads(data), peak)


def within_budget(answer: Answer, body: bytes) -> None:
    assert answer.peak <= MEMORY_FACTOR * len(body) + BASE_BYTES, (answer.peak, len(body))


def through_client(apps: dict[str, Flask], hostile: Hostile) -> Answer:
    """`hostile` sent with the test client of its model's app."""
    client = apps[hostile.model].test_client()

    def call() -> tuple[int, bytes]:
        response = client.post(
            hostile.path,
            data=hostile.body,
            content_type=hostile.content_type,
            headers=hostile.headers,
        )
        return response.status_code, response.get_data()

    return measured(call)
