"""The hashes a deploy pinned, held against the model's objects before any is used.

A hash proves integrity only if it comes from somewhere the writer of the objects
cannot write. The metadata beside an S3 artifact is not such a place: whoever rewrites
the artifact can rewrite it too. So the deploy reads the metadata with its own
credentials and pins, in the function's configuration, the SHA-256 of the metadata
file itself (MODEL_METADATA_SHA256), of the artifact (MODEL_SHA256) and of the code
archive (MODEL_CODE_SHA256); a shadow model's pins are the same settings prefixed
SHADOW_. Each refusal names the object, both hashes and the setting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.core.artifact_loader import ModelUnavailable
from app.core.metadata import MetadataError, ModelMetadata

LIVE_PREFIX = "MODEL"
SHADOW_PREFIX = "SHADOW_MODEL"


@dataclass(frozen=True)
class Pins:
    """One model's pinned hashes (None: not pinned), and the prefix of the settings that
    hold them, which every refusal names."""

    artifact: str | None = None
    metadata: str | None = None
    code: str | None = None
    prefix: str = LIVE_PREFIX

    @property
    def settings(self) -> tuple[str, str, str]:
        """The names of the three settings, artifact, metadata and code archive's."""
        return (self.artifact_setting, self.metadata_setting, self.code_setting)

    @property
    def artifact_setting(self) -> str:
        return f"{self.prefix}_SHA256"

    @property
    def metadata_setting(self) -> str:
        return f"{self.prefix}_METADATA_SHA256"

    @property
    def code_setting(self) -> str:
        return f"{self.prefix}_CODE_SHA256"

    def artifact_vouched_by(self) -> str:
        """Who set the hash the artifact is held to: the pin, or the metadata."""
        return self.artifact_setting if self.artifact else "its metadata"

    def code_vouched_by(self) -> str:
        return self.code_setting if self.code else "its metadata"


def pinned_metadata(body: bytes, source: str, pins: Pins) -> ModelMetadata:
    """The metadata in `body`, hashed before it is parsed: a file that differs from
    the pin is never read, since what it says decides what gets loaded."""
    actual = hashlib.sha256(body).hexdigest()
    pinned = pins.metadata
    if pinned and actual != pinned:
        raise ModelUnavailable(
            f"model metadata {source} has sha256 {actual}, but {pins.metadata_setting} is "
            f"{pinned}; "
            "refusing to read it (it changed after the deploy pinned it: deploy again to "
            "serve what is there now)"
        )
    try:
        return ModelMetadata.parse(body, source=source)
    except MetadataError as error:
        raise ModelUnavailable(str(error)) from None


def expected_sha256(metadata: ModelMetadata, pins: Pins) -> str:
    """The hash the artifact must have: the pin when set, else the metadata's.

    A pin that disagrees with the metadata means the metadata describes another
    artifact (other features, other classes): that is refused too.
    """
    pinned = pins.artifact
    if pinned and pinned != metadata.sha256:
        raise ModelUnavailable(
            f"{pins.artifact_setting} is {pinned}, but the model metadata describes an "
            f"artifact with sha256 {metadata.sha256}; refusing to load it"
        )
    return pinned or metadata.sha256


def expected_code_sha256(metadata: ModelMetadata, pins: Pins) -> str | None:
    """The hash the code archive must have: the pin when set, else the metadata's; None
    when the model has no archive. A pin for an archive the metadata does not name, or
    for another archive than the one it names, is refused."""
    pinned = pins.code
    if metadata.code is None:
        if pinned:
            raise ModelUnavailable(
                f"{pins.code_setting} is {pinned}, but the model metadata names no code archive; "
                "refusing to load it"
            )
        return None
    if pinned and pinned != metadata.code.sha256:
        raise ModelUnavailable(
            f"{pins.code_setting} is {pinned}, but the model metadata describes a code archive "
            f"with sha256 {metadata.code.sha256}; refusing to load it"
        )
    return pinned or metadata.code.sha256
