"""Where the API keys come from: API_KEYS, or a Secrets Manager secret read at cold start;
and the key capture hashes masked features with, which comes the same way.

A secret that cannot be read, or holds no usable key, stops start-up: the service never
answers a protected route without its keys (see `load_api_keys`). With SnapStart the
secret is read again after each restore from the snapshot (app.aws.snapstart).

The secret's SecretString is either the keys comma-separated, as in API_KEYS, or a JSON
object `{"api_keys": ["...", "..."]}`. The hash key's secret (CAPTURE_HASH_KEY_SECRET)
holds the key itself, at least MIN_HASH_KEY_LENGTH characters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.auth.keys import parse_api_keys, secret_region
from app.core.captured_rows import MIN_HASH_KEY_LENGTH
from app.core.errors import ConfigError

log = logging.getLogger(__name__)

_ACCESS_HINT = (
    "the function's role needs secretsmanager:GetSecretValue on it "
    "(and kms:Decrypt if a customer managed KMS key encrypts it)"
)
# What to do about the usual failures, by AWS error code.
_HINTS = {
    "ResourceNotFoundException": "no such secret in this account and region",
    "AccessDeniedException": _ACCESS_HINT,
    "403": _ACCESS_HINT,  # a denial whose body names no code
    "DecryptionFailure": "its KMS key could not decrypt it",
    "InvalidRequestException": "it may be scheduled for deletion",
}


class KeysUnavailable(ConfigError):
    """The secret holding the API keys could not be read or used."""


def load_api_keys(listed: tuple[str, ...], secret: str | None) -> tuple[str, ...]:
    """The keys a request must present: those `listed` (API_KEYS), or those the `secret`
    holds (API_KEYS_SECRET); empty when access control is off.

    Failing start-up, rather than serving 503 until the container is recycled, means no
    app exists without its keys; on Lambda the next request starts a fresh container and
    reads the secret again, so a passing fault heals by itself.
    """
    if secret is None:
        return listed
    try:
        return _keys_from_secret(secret)
    except KeysUnavailable as error:
        log.critical("refusing to start: %s", error)
        raise


def _keys_from_secret(secret_id: str) -> tuple[str, ...]:
    source = f"API_KEYS_SECRET {secret_id}"
    text = _secret_text(secret_id, source, "the keys")
    try:
        return parse_api_keys(_entries(text, source), source)
    except ConfigError as error:
        raise KeysUnavailable(str(error)) from None


def load_capture_hash_key(key: str, secret: str | None) -> bytes:
    """The key capture hashes masked features with: CAPTURE_HASH_KEY, or the one the
    secret CAPTURE_HASH_KEY_SECRET holds; empty when neither is set (nothing hashed)."""
    if secret is None:
        return key.encode("utf-8")
    source = f"CAPTURE_HASH_KEY_SECRET {secret}"
    try:
        text = _secret_text(secret, source, "the key").strip()
        if len(text) < MIN_HASH_KEY_LENGTH:
            raise KeysUnavailable(
                f"{source} holds {len(text)} characters; the key must have at least "
                f"{MIN_HASH_KEY_LENGTH}"
            )
    except KeysUnavailable as error:
        log.critical("refusing to start: %s", error)
        raise
    return text.encode("utf-8")


def _secret_text(secret_id: str, source: str, what: str) -> str:
    """The secret's SecretString; KeysUnavailable saying why it cannot be read."""
    # Imported here only: botocore is large, and a service without the secret never needs it.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("secretsmanager", region_name=secret_region(secret_id))
        with _no_debug_logs():
            response = client.get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "") or "unknown"
        hint = _HINTS.get(code, "")
        raise KeysUnavailable(
            f"cannot read {source} ({code})" + (f": {hint}" if hint else "")
        ) from None
    except BotoCoreError as error:
        raise KeysUnavailable(f"cannot read {source} ({type(error).__name__}): {error}") from None
    text = response.get("SecretString")
    if text is None:
        raise KeysUnavailable(f"{source} holds binary data; store {what} as text (SecretString)")
    return str(text)


@contextmanager
def _no_debug_logs() -> Iterator[None]:
    """botocore logs each response body at DEBUG, and this one holds the keys."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.DEBUG))
    try:
        yield
    finally:
        logging.disable(previous)


def _entries(text: str, source: str) -> list[str]:
    if not text.lstrip().startswith("{"):
        return text.split(",")
    # Never quote the content in an error: it is the keys.
    try:
        document: Any = json.loads(text)
    except ValueError:
        raise KeysUnavailable(f"{source} starts with '{{' but is not valid JSON") from None
    keys = document.get("api_keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise KeysUnavailable(
            f'{source} is JSON, but not an object of the form {{"api_keys": ["...", ...]}}'
        )
    return keys
