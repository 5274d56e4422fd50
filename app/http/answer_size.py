"""How many rows a model's answers can carry through Lambda: its effective batch limit.

Lambda's response payload is at most 6 MB; over it, API Gateway answers its own 502.
What counts is the function's response as Lambda writes it: serverless-wsgi puts the
answer's body in a JSON object, as a JSON string (every quote and backslash of a JSON
answer escaped again), or base64-encoded (4/3) for a type outside text/* and its short
list (V2's binary answers). So no guessed byte counts: each protocol encodes its
answers with its real encoder on the model's worst-case outcome (every prediction the
longest label of its output, every float the longest float64), and that is measured as
Lambda would send it. Identical rows make an answer's size linear in its rows, so two
sizes (one row, two rows) give the most rows that fit, for each answer a protocol can
give; the fewest of them is the model's limit.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from serverless_wsgi import TEXT_MIME_TYPES

from app.core.answers import json_body, label_key
from app.core.decoding import JSON_TYPE
from app.core.predictor import Outcome, Predictor, labels_of
from app.core.schema import INT64_MIN

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
# The rest of the Lambda response: status, headers (content type and length, request id,
# timing, CORS), the envelope's own keys, and a count of rows written in a V2 shape.
HEADERS_MARGIN = 16 * 1024
BUDGET = LAMBDA_RESPONSE_LIMIT - HEADERS_MARGIN
# The longest a float64 is written: 24 characters.
WORST_FLOAT = -1.2345678901234567e-308
# A document too large for Lambda is cut short: it lists at most this many of a
# feature's categories or of a model's classes.
LISTED = 100
# A character outside the Basic Multilingual Plane: 12 bytes as ASCII-only JSON writes it.
WORST_CHARACTER = "\U0001f600"


@dataclass(frozen=True)
class Encoded:
    """An answer as the app sends it: its body, and its media type without parameters."""

    body: bytes
    media_type: str


# Every answer a protocol can give for this outcome (with each of its options), encoded.
Answers = Callable[[Predictor, Outcome], Sequence[Encoded]]


def payload_size(answer: Encoded) -> int:
    """The bytes `answer`'s body takes in the Lambda response."""
    return len(json.dumps(_envelope_text(answer)))


def fits(document: Any) -> bool:
    """Whether a JSON answer of `document` fits through Lambda."""
    return payload_size(Encoded(json_body(document), JSON_TYPE)) <= BUDGET


def rows_that_fit(predictor: Predictor, answers: Iterable[Answers], budget: int = BUDGET) -> int:
    """The most rows of which every answer of every protocol fits in `budget` bytes."""
    fewest = sys.maxsize
    producers = list(answers)
    for one, two in zip(worst_outcomes(predictor, 1), worst_outcomes(predictor, 2), strict=True):
        for produce in producers:
            pairs = zip(produce(predictor, one), produce(predictor, two), strict=True)
            for small, large in pairs:
                fewest = min(fewest, _most_rows(small, large, budget))
    return fewest


def _is_text(media_type: str) -> bool:
    """Whether serverless-wsgi sends this type as text (else base64), as its
    generate_response decides on the type without its parameters."""
    return media_type.startswith("text/") or media_type in TEXT_MIME_TYPES


def _envelope_text(answer: Encoded) -> str:
    if _is_text(answer.media_type):
        return answer.body.decode("utf-8")
    return base64.b64encode(answer.body).decode("ascii")


def _most_rows(one: Encoded, two: Encoded, budget: int) -> int:
    """The most rows that fit, from the same answer encoded for one row and for two."""
    text = _is_text(one.media_type)
    if text:
        first, second = payload_size(one), payload_size(two)
    else:
        first, second = len(one.body), len(two.body)
    per_row = second - first
    if per_row <= 0:
        return sys.maxsize
    fixed = first - per_row
    # base64 writes 4 characters for every 3 bytes begun, within the string's 2 quotes.
    room = budget if text else (budget - 2) // 4 * 3
    return max((room - fixed) // per_row, 0)


def worst_outcomes(predictor: Predictor, rows: int) -> list[Outcome]:
    """The model's largest outcomes for `rows` rows: every float the longest float64,
    every prediction the longest label of its output, once as JSON text writes labels
    and once as UTF-8 bytes (V2's binary BYTES tensors) write them."""
    return [
        Outcome(_predictions(predictor, rows, longest), _probabilities(predictor, rows))
        for longest in (_json_length, _utf8_length)
    ]


def _json_length(label: Any) -> int:
    # As an answer writes it, and then as the Lambda envelope writes that answer.
    return len(json.dumps(json.dumps(label)))


def _utf8_length(label: Any) -> int:
    return len(label_key(label).encode("utf-8"))


def _predictions(predictor: Predictor, rows: int, longest: Callable[[Any], int]) -> np.ndarray:
    metadata = predictor.metadata
    width = 1 if metadata.outputs is None else len(metadata.outputs)
    shape = (rows,) if metadata.outputs is None else (rows, width)
    if metadata.task == "regression":
        return np.full(shape, WORST_FLOAT)
    if metadata.task == "clustering":
        return np.full(shape, INT64_MIN, dtype=np.int64)
    if metadata.task == "outlier_detection":
        return np.full(shape, -1, dtype=np.int64)
    labels = labels_of(predictor.estimator) or _described_labels(predictor)
    worst = [max(output, key=longest) if output else "" for output in labels]
    predictions = np.empty((rows, width), dtype=object)
    for column, label in enumerate(worst[:width]):
        predictions[:, column] = label
    return predictions.reshape(shape)


def _described_labels(predictor: Predictor) -> list[list[Any]]:
    metadata = predictor.metadata
    if metadata.outputs is None:
        return [list(metadata.classes)]
    return [list(output.classes) for output in metadata.outputs]


def _probabilities(predictor: Predictor, rows: int) -> list[np.ndarray] | None:
    if not predictor.supports_probabilities:
        return None
    return [np.full((rows, len(keys)), WORST_FLOAT) for keys in predictor.probability_keys]
