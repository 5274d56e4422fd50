"""Settings, read once from environment variables at start-up.

Every setting has a default that serves the bundled model; a bad value stops
start-up with a message naming the variable, rather than failing a request later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.auth.keys import is_secret_id, parse_api_keys
from app.core.artifact import S3_SCHEME, SHA256_HEX, split_s3_uri
from app.core.captured_rows import MIN_HASH_KEY_LENGTH
from app.core.errors import ConfigError
from app.core.json_depth import DEFAULT_MAX_JSON_DEPTH
from app.core.pins import LIVE_PREFIX, SHADOW_PREFIX, Pins

BUNDLED_MODEL = Path(__file__).resolve().parents[2] / "model" / "model.joblib"
# Lambda's only writable place; downloaded artifacts are kept here per container.
DEFAULT_MODEL_CACHE_DIR = Path("/tmp/model-cache")

DEFAULT_MAX_BATCH_ROWS = 1000
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
DEFAULT_METRICS_NAMESPACE = "ModelPredictionApi"
# The metrics' service dimension off Lambda; on Lambda, the function's name.
DEFAULT_SERVICE = "model-prediction-api"
# CloudWatch's namespace alphabet; "AWS/" is reserved for AWS's own metrics.
_NAMESPACE = re.compile(r"^[0-9A-Za-z._/#: -]{1,255}$")
# Levels of arrays and objects in a body. A valid request has at most 3 (a batch:
# object, array of rows, row), so 3 is the least that serves; the most keeps the
# JSON parser, which recurses per level, far from Python's recursion limit.
MAX_JSON_DEPTH_RANGE = (3, 512)

DEFAULT_CAPTURE_MAX_ROWS = 100
CAPTURE_MAX_ROWS_RANGE = (1, 1000)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

ANY_ORIGIN = "*"
# An origin as a browser sends it: scheme, host and an optional port, nothing more.
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


# Nothing pinned: the hashes come from each model's metadata.
_UNPINNED = Pins()
_SHADOW_UNPINNED = Pins(prefix=SHADOW_PREFIX)


@dataclass(frozen=True)
class Settings:
    model_uri: str = str(BUNDLED_MODEL)
    # Pins set at deploy: the artifact's SHA-256, its metadata file's own, and its code
    # archive's. A pinned object that changed since is refused, never loaded.
    model_pins: Pins = _UNPINNED
    model_cache_dir: Path = DEFAULT_MODEL_CACHE_DIR
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    allow_version_mismatch: bool = False
    log_level: str = "INFO"
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    service: str = DEFAULT_SERVICE
    # Kept out of repr: a logged or printed Settings must not carry a key.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_keys_secret: str | None = None
    cors_allowed_origins: tuple[str, ...] = ()
    # The try-it page at GET / (and its assets); off, GET / answers the JSON index alone.
    try_it_page: bool = True
    # Capture (app.http.capture): the share of prediction requests captured, 0 for off;
    # the features left out and hashed; the hash key, or the secret holding it (read at
    # start-up, like the API keys'); the most rows a record holds.
    capture_sample_rate: float = 0.0
    capture_exclude: frozenset[str] = frozenset()
    capture_hash: frozenset[str] = frozenset()
    capture_hash_key: str = field(default="", repr=False)
    capture_hash_key_secret: str | None = None
    capture_max_rows: int = DEFAULT_CAPTURE_MAX_ROWS
    # A shadow model (app.core.shadow): where it is and its pins, like the live model's;
    # the share of predictions it also answers; for a regressor, the largest difference
    # from the live answer still counted as agreeing.
    shadow_model_uri: str | None = None
    shadow_pins: Pins = _SHADOW_UNPINNED
    shadow_sample_rate: float = 1.0
    shadow_tolerance: float = 0.0
    # During a rollout the metrics also go by the function's version (Lambda's
    # AWS_LAMBDA_FUNCTION_VERSION), so the old and the new one can be compared.
    function_version: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        cache_dir = environ.get("MODEL_CACHE_DIR", "").strip()
        api_keys, api_keys_secret = _api_keys(environ)
        capture_hash, capture_hash_key, capture_hash_key_secret = _capture_hash(environ)
        return cls(
            model_uri=_model_uri(environ),
            model_pins=_pins(environ, LIVE_PREFIX),
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
            metrics_namespace=_namespace(environ, "METRICS_NAMESPACE"),
            # Set by Lambda: one value per function (and so per stage), never per request.
            service=environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip() or DEFAULT_SERVICE,
            api_keys=api_keys,
            api_keys_secret=api_keys_secret,
            cors_allowed_origins=_origins(environ, "CORS_ALLOWED_ORIGINS"),
            try_it_page=_flag(environ, "TRY_IT_PAGE", default=True),
            capture_sample_rate=_share(environ, "CAPTURE_SAMPLE_RATE"),
            capture_exclude=_names(environ, "CAPTURE_EXCLUDE"),
            capture_hash=capture_hash,
            capture_hash_key=capture_hash_key,
            capture_hash_key_secret=capture_hash_key_secret,
            capture_max_rows=_int_in_range(
                environ, "CAPTURE_MAX_ROWS", DEFAULT_CAPTURE_MAX_ROWS, CAPTURE_MAX_ROWS_RANGE
            ),
            **_shadow(environ),
            function_version=_function_version(environ),
        )


_SHADOW_ONLY = ("SHADOW_SAMPLE_RATE", "SHADOW_TOLERANCE", *_SHADOW_UNPINNED.settings)


def _shadow(environ: Mapping[str, str]) -> dict[str, Any]:
    """The shadow model's settings; set without SHADOW_MODEL_URI, each is refused: a
    setting that would do nothing is a mistake."""
    uri = environ.get("SHADOW_MODEL_URI", "").strip()
    if not uri:
        stray = [name for name in _SHADOW_ONLY if environ.get(name, "").strip()]
        if stray:
            raise ConfigError(f"{', '.join(stray)} set, but SHADOW_MODEL_URI is not")
        return {}
    rate = environ.get("SHADOW_SAMPLE_RATE", "").strip()
    return {
        "shadow_model_uri": _uri(uri, "SHADOW_MODEL_URI"),
        "shadow_pins": _pins(environ, SHADOW_PREFIX),
        # Unset is every prediction; 0 is a shadow loaded but never asked.
        "shadow_sample_rate": _share(environ, "SHADOW_SAMPLE_RATE") if rate else 1.0,
        "shadow_tolerance": _non_negative(environ, "SHADOW_TOLERANCE"),
    }


def _pins(environ: Mapping[str, str], prefix: str) -> Pins:
    """One model's pins, read from the settings its prefix names (MODEL_SHA256...)."""
    names = Pins(prefix=prefix).settings
    artifact, metadata, code = (_sha256(environ, name) for name in names)
    return Pins(artifact, metadata, code, prefix)


def _function_version(environ: Mapping[str, str]) -> str | None:
    """AWS_LAMBDA_FUNCTION_VERSION when METRICS_BY_FUNCTION_VERSION is on (the deploy sets
    it only with a rollout), else None: off a rollout, one version serves at a time."""
    if not _flag(environ, "METRICS_BY_FUNCTION_VERSION"):
        return None
    version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "").strip()
    # A number, or $LATEST; anything longer is not Lambda's, and a dimension stays short.
    if not version or len(version) > 16:
        raise ConfigError(
            "METRICS_BY_FUNCTION_VERSION is on, but AWS_LAMBDA_FUNCTION_VERSION is "
            f"{'unset' if not version else repr(version[:40])}: set by Lambda, it must be a "
            "version number or $LATEST"
        )
    return version


def _non_negative(environ: Mapping[str, str], name: str) -> float:
    """A finite number of at least 0; unset or empty is 0."""
    return _number(environ, name, math.inf, "a finite number of at least 0")


def _api_keys(environ: Mapping[str, str]) -> tuple[tuple[str, ...], str | None]:
    """API_KEYS parsed, or the name of the secret that holds them; at most one of the two."""
    listed, secret = _value_or_secret(environ, "API_KEYS")
    keys = parse_api_keys(listed.split(","), "API_KEYS") if listed else ()
    return keys, secret


def _value_or_secret(environ: Mapping[str, str], name: str) -> tuple[str, str | None]:
    """A secret setting given as `name` itself, or as `name`_SECRET, the Secrets Manager
    secret that holds it (read at start-up): at most one of the two."""
    value = environ.get(name, "").strip()
    secret = environ.get(f"{name}_SECRET", "").strip()
    if value and secret:
        raise ConfigError(f"{name} and {name}_SECRET are both set; set only one")
    if secret and not is_secret_id(secret):
        raise ConfigError(
            f"{name}_SECRET must be a Secrets Manager secret name or ARN, got {secret!r}"
        )
    return value, secret or None


def _share(environ: Mapping[str, str], name: str) -> float:
    """A share from 0 to 1; unset or empty is 0."""
    return _number(environ, name, 1.0, "a number from 0 to 1")


def _number(environ: Mapping[str, str], name: str, most: float, expected: str) -> float:
    """A finite number from 0 to `most` (below it, when `most` is infinite); unset or
    empty is 0."""
    raw = environ.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= most):  # NaN too
        raise ConfigError(f"{name} must be {expected}, got {raw!r}")
    return value


def _names(environ: Mapping[str, str], name: str) -> frozenset[str]:
    """Feature names, comma-separated; blanks around them dropped."""
    return frozenset(entry.strip() for entry in environ.get(name, "").split(",") if entry.strip())


def _capture_hash(environ: Mapping[str, str]) -> tuple[frozenset[str], str, str | None]:
    """CAPTURE_HASH, and its key (CAPTURE_HASH_KEY) or the secret holding it: a feature
    is never hashed without a key, nor both excluded and hashed."""
    hashed = _names(environ, "CAPTURE_HASH")
    key, secret = _value_or_secret(environ, "CAPTURE_HASH_KEY")
    if key and len(key) < MIN_HASH_KEY_LENGTH:
        # Never the key itself in the message.
        raise ConfigError(
            f"CAPTURE_HASH_KEY must be at least {MIN_HASH_KEY_LENGTH} characters, got {len(key)}"
        )
    if hashed and not (key or secret):
        raise ConfigError(
            "CAPTURE_HASH needs a key: set CAPTURE_HASH_KEY, or CAPTURE_HASH_KEY_SECRET to "
            "the Secrets Manager secret that holds it"
        )
    both = sorted(hashed & _names(environ, "CAPTURE_EXCLUDE"))
    if both:
        raise ConfigError(
            f"CAPTURE_EXCLUDE and CAPTURE_HASH both name {', '.join(map(repr, both))}; "
            "a feature is either left out or hashed"
        )
    return hashed, key, secret


def _origins(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    entries = [e.strip().lower() for e in environ.get(name, "").split(",") if e.strip()]
    if ANY_ORIGIN in entries:
        if len(set(entries)) > 1:
            raise ConfigError(f"{name}: '*' allows every origin; list no others beside it")
        return (ANY_ORIGIN,)
    for entry in entries:
        if entry.endswith("/") and _ORIGIN.match(entry.rstrip("/")):
            raise ConfigError(
                f"{name}: an origin has no path or trailing slash: write "
                f"{entry.rstrip('/')!r}, not {entry!r}"
            )
        if not _ORIGIN.match(entry):
            raise ConfigError(
                f"{name} must list origins such as https://app.example.com or "
                f"http://localhost:8080, or be '*'; got {entry!r}"
            )
    return tuple(dict.fromkeys(entries))


def _model_uri(environ: Mapping[str, str]) -> str:
    # MODEL_PATH is the older name for a local MODEL_URI, still honoured.
    uri = environ.get("MODEL_URI", "").strip()
    path = environ.get("MODEL_PATH", "").strip()
    if uri and path and uri != path:
        raise ConfigError(f"MODEL_URI ({uri!r}) and MODEL_PATH ({path!r}) differ; set only one")
    return _uri(uri or path or str(BUNDLED_MODEL), "MODEL_URI")


def _uri(uri: str, name: str) -> str:
    """A model's location: a local path, or an s3:// URI naming a bucket and a key."""
    if uri.startswith(S3_SCHEME):
        if split_s3_uri(uri) is None:
            raise ConfigError(f"{name} must look like s3://bucket/key.joblib, got {uri!r}")
    elif "://" in uri:
        raise ConfigError(f"{name} must be a local path or an s3:// URI, got {uri!r}")
    return uri


def _sha256(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return None
    if not SHA256_HEX.match(raw):
        raise ConfigError(f"{name} must be 64 hex digits, got {raw!r}")
    return raw


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    return _int_setting(environ, name, default, 1, None)


def _int_in_range(
    environ: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]
) -> int:
    return _int_setting(environ, name, default, *bounds)


def _int_setting(
    environ: Mapping[str, str], name: str, default: int, low: int, high: int | None
) -> int:
    """An integer setting from `low` up to `high` (None: no upper bound)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        expected = "a positive integer" if high is None else f"an integer from {low} to {high}"
        raise ConfigError(f"{name} must be {expected}, got {raw!r}")
    return value


def _flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A boolean setting; unset or empty is `default`."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
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


def _namespace(environ: Mapping[str, str], name: str) -> str:
    raw = environ.get(name, "").strip() or DEFAULT_METRICS_NAMESPACE
    if not _NAMESPACE.match(raw) or raw.upper().startswith("AWS/"):
        raise ConfigError(
            f"{name} must be 1 to 255 of A-Z a-z 0-9 . - _ / # : and space, "
            f"not starting with AWS/, got {raw!r}"
        )
    return raw
