"""What an attacker who can write a model's files puts there."""

from __future__ import annotations

import json
import os
from pathlib import Path


class CreatesMarkerWhenUnpickled:
    """A stand-in for a malicious artifact: unpickling it creates a folder."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def swapped_features(metadata: bytes) -> bytes:
    """The metadata with its first two features' names swapped, in the schema and in the
    example rows alike: the model still answers its example as described, so it loads,
    and every request's two values go into each other's columns."""
    document = json.loads(metadata)
    first, second = document["features"][:2]
    a, b = first["name"], second["name"]
    first["name"], second["name"] = b, a
    for row in document["example"]:
        row[a], row[b] = row[b], row[a]
    return json.dumps(document, indent=2).encode()
