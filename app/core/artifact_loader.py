"""A verified artifact into an estimator: its code importable, then its format's loader.

Called only once the artifact's hash matches what vouches for it. Before anything is
unpickled, the user's code archive (verified the same way) goes on sys.path and every
module the metadata says the artifact references must import: a missing one is a
ModelUnavailable naming the module and the fix, never an error from deep inside the
unpickler. A skops file is loaded with exactly the types trusted at describe and is
never unpickled.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib

from app.core.artifact import ArtifactFormat, sha256_of
from app.core.metadata import REFERENCE_SEPARATOR, ModelMetadata

# Older skops let a file name a type the trusted list did not hold (CVE-2025-54412).
SKOPS_MINIMUM = (0, 12)


def skops_is_safe(version: str) -> bool:
    parts = [int(part) for part in version.split(".")[:2] if part.isdigit()]
    return tuple(parts) >= SKOPS_MINIMUM


class ModelUnavailable(Exception):
    """The model cannot serve, and why.

    `reason` is what /health, /ping, V2's readiness and every 503 tell any caller: what
    failed and how to fix it, naming a file by its name only. `detail` is for the log
    alone: a full path, or the text of the error beneath, which may quote any path on
    this server (an OSError's, an ImportError's, an unpickler's). str() holds both.
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason if detail is None else f"{reason} ({detail})")
        self.reason = reason


def os_reason(error: OSError) -> str:
    """What an OSError says without its file name: "Permission denied"."""
    return error.strerror or type(error).__name__


def verify_sha256(
    path: Path,
    expected: str,
    *,
    what: str,
    vouched_by: str,
    missing: ModelUnavailable,
    advice: str = "",
) -> None:
    """Refuse `path` (`what`: "model artifact", ...) unless its bytes hash to `expected`,
    the hash `vouched_by` records: bytes nobody vouched for are never unpickled or
    imported. `missing` is raised when there is no such file."""
    try:
        actual = sha256_of(path)
    except FileNotFoundError:
        raise missing from None
    except OSError as error:
        raise ModelUnavailable(
            f"{what} unreadable: {path.name}: {os_reason(error)}", str(error)
        ) from None
    if actual != expected:
        raise ModelUnavailable(
            f"{what} {path.name} has sha256 {actual}, but {vouched_by} records {expected}; "
            f"refusing to load it{advice}"
        )


def use_code_archive(archive: Path, expected: str, vouched_by: str) -> None:
    """Verify the user's code archive against the hash that vouches for it (settled by
    app.core.pins), then make its modules importable."""
    verify_sha256(
        archive,
        expected,
        what="model code archive",
        vouched_by=vouched_by,
        missing=ModelUnavailable(
            f"the model's code archive {archive.name} is not beside its artifact"
        ),
    )
    # Last on the path: the archive adds the user's modules and can shadow nothing.
    if str(archive) not in sys.path:
        sys.path.append(str(archive))
        importlib.invalidate_caches()


def import_references(metadata: ModelMetadata) -> None:
    """Import every module the artifact references, or say which one is missing and why."""
    needed_by = {
        ref.partition(REFERENCE_SEPARATOR)[0]: ref for ref in reversed(metadata.references)
    }
    for module in metadata.referenced_modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            reason = _missing(metadata, module, needed_by[module])
            raise ModelUnavailable(reason, str(error)) from None
        except Exception as error:  # the module's own code failed: still no model
            raise ModelUnavailable(
                f"module {module}, which the model needs, fails to import: {type(error).__name__}",
                str(error),
            ) from None


def _missing(metadata: ModelMetadata, module: str, reference: str) -> str:
    top = module.partition(".")[0]
    name = reference.replace(REFERENCE_SEPARATOR, ".")
    code = metadata.code
    if code is not None and top in code.modules:
        return (
            f"module {module} (for {name}) does not import from the model's code archive "
            f"{code.file}"
        )
    providers = [
        f"{dist}=={version}"
        for dist, version in metadata.distributions.items()
        if _provides(dist, top)
    ]
    if providers:
        return (
            f"the model needs module {module} (for {name}), which is not installed here: "
            f"install {' '.join(providers)} (a Lambda bundle gets it from the model's "
            "metadata when it is packaged)"
        )
    recorded = ", ".join(f"{d} {v}" for d, v in metadata.distributions.items()) or "none"
    return (
        f"the model needs module {module} (for {name}), which is neither installed here nor in "
        f"a code archive (the metadata records the distributions {recorded}); describe the "
        f"model again with --code path/to/{top}.py (or its package folder)"
    )


def _provides(distribution: str, top_level: str) -> bool:
    """Whether a recorded distribution is the likely home of an import name."""
    canonical = distribution.lower().replace("-", "_").replace(".", "_")
    return canonical == top_level.lower() or (distribution, top_level) in _KNOWN_HOMES


# Distributions whose import name is not their own name.
_KNOWN_HOMES = frozenset({("scikit-learn", "sklearn"), ("category-encoders", "category_encoders")})


def load_artifact(
    path: Path,
    artifact_format: ArtifactFormat,
    trusted: Sequence[str] = (),
    allow_version_mismatch: bool = False,
) -> Any:
    """The estimator in a verified artifact; `trusted`: the skops types beyond its defaults."""
    with warnings.catch_warnings():
        if allow_version_mismatch:  # said once already, with the versions
            from sklearn.exceptions import InconsistentVersionWarning

            warnings.simplefilter("ignore", InconsistentVersionWarning)
        if artifact_format == "skops":
            return _load_skops(path, trusted)
        try:
            if artifact_format == "pickle":
                with path.open("rb") as stream:
                    return pickle.load(stream)
            return joblib.load(path)
        except Exception as error:  # any failure inside the pickle means no model
            raise ModelUnavailable(
                f"model artifact could not be unpickled: {type(error).__name__}", str(error)
            ) from None


def _load_skops(path: Path, trusted: Sequence[str]) -> Any:
    try:
        import skops
        import skops.io
    except ImportError:
        raise ModelUnavailable(
            "the model was saved with skops, which is not installed here: install skops "
            "(0.12 or newer; a Lambda bundle gets it from the model's metadata)"
        ) from None
    if not skops_is_safe(skops.__version__):
        raise ModelUnavailable(
            f"skops {skops.__version__} is installed; a skops model needs 0.12 or newer, "
            "whose load enforces the trusted types (CVE-2025-54412)"
        )
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.load(path, trusted=list(trusted))
    except UntrustedTypesFoundException as error:  # it names types only: worth showing
        raise ModelUnavailable(f"model artifact could not be loaded with skops: {error}") from None
    except Exception as error:  # a file skops cannot read
        raise ModelUnavailable(
            f"model artifact could not be loaded with skops: {type(error).__name__}", str(error)
        ) from None
