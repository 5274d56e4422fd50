"""What a protocol is to the app: its routes, the paths it owns, its error shape, and
the answers it can give, which its row limit is measured on."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint

from app.core.errors import ErrorShape
from app.http.answer_size import Answers


@dataclass(frozen=True)
class Protocol:
    # Named in the request log line and the metrics' protocol dimension.
    name: str
    blueprint: Blueprint
    # Paths it owns: each one exactly, and everything below it. Errors on them, 404s and
    # 405s included, take this protocol's shape.
    paths: tuple[str, ...]
    error_shape: ErrorShape
    # Its answers to a batch, each as it sends it, for the limit of rows that fit them.
    answers: Answers
    # The endpoints of its routes that predict: the requests capture samples.
    predicting: tuple[str, ...]

    def owns(self, path: str) -> bool:
        return any(path == own or path.startswith(own + "/") for own in self.paths)
