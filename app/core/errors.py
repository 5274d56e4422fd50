"""One error type for every protocol, the one list of error codes, and the error that
stops start-up on a setting that cannot be used.

Each protocol renders an error in its own shape (native `{"error": {"code", "message",
"details"}}`, MLflow's `{"error_code", "message"}`, V2's `{"error"}`), chosen by the
path the request came to, but the codes, and so the metrics' `error_code` dimension,
come only from ERROR_CODES. Rendering them is app.http.errors' work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Every code an answer may carry, with the status the native protocol answers it with.
ERROR_CODES = {
    "bad_request": 400,
    "invalid_json": 400,
    "unauthorized": 401,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    # More rows than one answer can carry: MAX_BATCH_ROWS, or fewer for a model whose
    # answers are large (app.http.answer_size).
    "too_many_rows": 413,
    "unsupported_media_type": 415,
    "invalid_input": 422,
    "internal_error": 500,
    "model_unavailable": 503,
}

# What an answer quotes from the request (a value, a member's name, a path, a model name)
# is cut to this many characters: enough to recognise it, never the whole of a huge one.
ECHO_LIMIT = 40
# A path is quoted longer: the API's own paths run past 40 characters.
PATH_ECHO_LIMIT = 100
# Every text of an error answer is bounded too, whatever it holds: with at most
# MAX_DETAILS details (app.core.validation), an error answer always fits through Lambda.
MESSAGE_LIMIT = 1000
LOC_LIMIT = 200
MSG_LIMIT = 1000


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` as an answer quotes it: whole up to `limit` characters, else its start and
    an ellipsis, `limit` characters in all."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Detail:
    """One problem with the input: where it is and why it is wrong."""

    loc: str
    msg: str


@dataclass
class ApiError(Exception):
    code: str
    message: str
    details: list[Detail] = field(default_factory=list)
    # Headers the status relies on, such as Allow on a 405.
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}")

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code]

    @property
    def bounded_message(self) -> str:
        return cut(self.message, MESSAGE_LIMIT)

    @property
    def bounded_details(self) -> list[Detail]:
        """The details as every protocol's error body lists them: each text bounded."""
        return [Detail(cut(d.loc, LOC_LIMIT), cut(d.msg, MSG_LIMIT)) for d in self.details]

    def details_json(self) -> list[dict[str, str]]:
        return [{"loc": detail.loc, "msg": detail.msg} for detail in self.bounded_details]


# A protocol's error answer: the body and the status, from an ApiError.
ErrorShape = Callable[[ApiError], tuple[object, int]]


def too_large_message(limit: int | None) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable. Start-up stops."""
