"""The hashes a deploy pinned, held against the model's objects before any is used.

A hash proves integrity only if it comes from somewhere the writer of the objects
cannot write. The metadata beside an S3 artifact is not such a place: whoever rewrites
the artifact can rewrite it too. So the deploy reads the metadata with its own
credentials and pins, in the function's configuration, the SHA-256 of the metadata
file itself (MODEL_METADATA_SHA256), of the artifact (MODEL_SHA256) and of the code
archive (MODEL_CODE_SHA256). Each refusal names the object and both hashes.
"""

from __future__ import annotations

import hashlib

from app.core.artifact_loader import ModelUnavailable
from app.core.metadata import MetadataError, ModelMetadata

# The settings that hold them.
ARTIFACT_PIN = "MODEL_SHA256"
METADATA_PIN = "MODEL_METADATA_SHA256"
CODE_PIN = "MODEL_CODE_SHA256"


def pinned_metadata(body: bytes, source: str, pinned: str | None) -> ModelMetadata:
    """The metadata in `body`, hashed before it is parsed: a file that differs from
    the pin is never read, since what it says decides what gets loaded."""
    actual = hashlib.sha256(body).hexdigest()
    if pinned and actual != pinned:
        raise ModelUnavailable(
            f"model metadata {source} has sha256 {actual}, but {METADATA_PIN} is {pinned}; "
            "refusing to read it (it changed after the deploy pinned it: deploy again to "
            "serve what is there now)"
        )
    try:
        return ModelMetadata.parse(body, source=source)
    except MetadataError as error:
        raise ModelUnavailable(str(error)) from None


def expected_code_sha256(metadata: ModelMetadata, pinned: str | None) -> str | None:
    """The hash the code archive must have: the pin when set, else the metadata's; None
    when the model has no archive. A pin for an archive the metadata does not name, or
    for another archive than the one it names, is refused."""
    if metadata.code is None:
        if pinned:
            raise ModelUnavailable(
                f"{CODE_PIN} is {pinned}, but the model metadata names no code archive; "
                "refusing to load it"
            )
        return None
    if pinned and pinned != metadata.code.sha256:
        raise ModelUnavailable(
            f"{CODE_PIN} is {pinned}, but the model metadata describes a code archive "
            f"with sha256 {metadata.code.sha256}; refusing to load it"
        )
    return pinned or metadata.code.sha256
