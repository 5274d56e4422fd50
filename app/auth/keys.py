"""What an API key is: the header that carries it, the form a key must have, and where
a list of keys may be kept (a Secrets Manager secret's name or ARN).

Settings parse API_KEYS by these rules, the key source parses a secret's content by
them, and the OpenAPI document and CORS name the header from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.core.errors import ConfigError

# API Gateway's own header for API keys, so one key can serve both layers.
API_KEY_HEADER = "x-api-key"
# API Gateway's own rule for its keys, so one value can serve at both layers.
MIN_API_KEY_LENGTH = 20
# Visible ASCII: a key travels in an HTTP header and is listed comma-separated.
_API_KEY = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")
# A Secrets Manager secret: its name, or its full ARN (which names its region).
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(
    r"^arn:[a-z-]+:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)


def parse_api_keys(entries: Iterable[str], source: str) -> tuple[str, ...]:
    """Keys as configured: blanks around and between entries dropped, duplicates once.

    Errors name the source and the key's position, never the key itself.
    """
    keys: dict[str, None] = {}
    for position, entry in enumerate((e.strip() for e in entries if e.strip()), start=1):
        if not _API_KEY.match(entry):
            raise ConfigError(
                f"{source}: key {position} holds a character other than visible ASCII "
                "(spaces and commas cannot be part of a key)"
            )
        if len(entry) < MIN_API_KEY_LENGTH:
            raise ConfigError(
                f"{source}: key {position} is shorter than {MIN_API_KEY_LENGTH} characters"
            )
        keys[entry] = None
    if not keys:
        raise ConfigError(f"{source} holds no key")
    return tuple(keys)


def secret_region(secret_id: str) -> str | None:
    """The region an ARN names; None for a bare name (the caller's own region)."""
    match = _SECRET_ARN.match(secret_id)
    return match.group("region") if match else None


def is_secret_id(text: str) -> bool:
    """Whether `text` names a Secrets Manager secret: a name, or a full ARN."""
    return bool(_SECRET_NAME.match(text) or _SECRET_ARN.match(text))
