"""Settings, read once from environment variables at start-up.

Every setting has a default that serves the bundled model; a bad value stops
start-up with a message naming the variable, rather than failing a request later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.artifact import S3_SCHEME, SHA256_HEX, split_s3_uri

BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "model" / "model.joblib"
# Lambda's only writable place; downloaded artifacts are kept here per container.
DEFAULT_MODEL_CACHE_DIR = Path("/tmp/model-cache")

DEFAULT_MAX_BATCH_ROWS = 1000
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
# Levels of arrays and objects in a body. A valid request has at most 3 (a batch:
# object, array of rows, row), so 3 is the least that serves; the most keeps the
# JSON parser, which recurses per level, far from Python's recursion limit.
DEFAULT_MAX_JSON_DEPTH = 32
MAX_JSON_DEPTH_RANGE = (3, 512)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    model_uri: str = str(BUNDLED_MODEL)
    model_sha256: str | None = None
    model_cache_dir: Path = DEFAULT_MODEL_CACHE_DIR
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    allow_version_mismatch: bool = False
    log_level: str = "INFO"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        cache_dir = environ.get("MODEL_CACHE_DIR", "").strip()
        return cls(
            model_uri=_model_uri(environ),
            model_sha256=_sha256(environ, "MODEL_SHA256"),
            model_cache_dir=Path(cache_dir) if cache_dir else DEFAULT_MODEL_CACHE_DIR,
            max_batch_rows=_positive_int(environ, "MAX_BATCH_ROWS", DEFAULT_MAX_BATCH_ROWS),
            max_content_length=_positive_int(
                environ, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH
            ),
            max_json_depth=_int_in_range(
                environ, "MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH, MAX_JSON_DEPTH_RANGE
            ),
            allow_version_mismatch=_flag(environ, "ALLOW_VERSION_MISMATCH"),
            log_level=_log_level(environ, "LOG_LEVEL"),
        )


def _model_uri(environ: Mapping[str, str]) -> str:
    # MODEL_PATH is the older name for a local MODEL_URI, still honoured.
    uri = environ.get("MODEL_URI", "").strip()
    path = environ.get("MODEL_PATH", "").strip()
    if uri and path and uri != path:
        raise ConfigError(f"MODEL_URI ({uri!r}) and MODEL_PATH ({path!r}) differ; set only one")
    uri = uri or path or str(BUNDLED_MODEL)
    if uri.startswith(S3_SCHEME):
        if split_s3_uri(uri) is None:
            raise ConfigError(f"MODEL_URI must look like s3://bucket/key.joblib, got {uri!r}")
    elif "://" in uri:
        raise ConfigError(f"MODEL_URI must be a local path or an s3:// URI, got {uri!r}")
    return uri


def _sha256(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return None
    if not SHA256_HEX.match(raw):
        raise ConfigError(f"{name} must be 64 hex digits, got {raw!r}")
    return raw


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _int_in_range(
    environ: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]
) -> int:
    low, high = bounds
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _log_level(environ: Mapping[str, str], name: str) -> str:
    raw = environ.get(name, "").strip().upper() or "INFO"
    if raw not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw
