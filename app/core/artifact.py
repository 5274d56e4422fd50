"""The artifact contract shared by training and serving: the formats an artifact may
have, where its metadata and code archive live, how a file is fingerprinted, and which
library versions matter."""

from __future__ import annotations

import hashlib
import platform
import re
from pathlib import Path, PurePosixPath
from typing import Literal

import joblib
import numpy
import sklearn

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
S3_SCHEME = "s3://"
# The metadata file sits beside the artifact: model.joblib -> model.json.
METADATA_SUFFIX = ".json"
# The user's own modules, when the model needs them: model.joblib -> model.code.zip.
CODE_SUFFIX = ".code.zip"

ArtifactFormat = Literal["joblib", "pickle", "skops"]
ARTIFACT_FORMATS: tuple[ArtifactFormat, ...] = ("joblib", "pickle", "skops")
# File extension -> format. joblib and pickle files are pickles (loading runs code);
# a skops file is loaded with the types its metadata trusts, never unpickled.
FORMAT_OF_SUFFIX: dict[str, ArtifactFormat] = {
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".skops": "skops",
}


def format_of(artifact_path: PurePosixPath | Path) -> ArtifactFormat | None:
    """The format a file's extension names, or None when it names none we load."""
    return FORMAT_OF_SUFFIX.get(artifact_path.suffix.lower())


def metadata_path_for(artifact_path: Path) -> Path:
    return artifact_path.with_suffix(METADATA_SUFFIX)


def metadata_key_for(artifact_key: str) -> str:
    """The same rule for an S3 key: models/iris.joblib -> models/iris.json."""
    return str(PurePosixPath(artifact_key).with_suffix(METADATA_SUFFIX))


def code_path_for(artifact_path: Path) -> Path:
    return artifact_path.with_suffix(CODE_SUFFIX)


def code_key_for(artifact_key: str) -> str:
    """models/plans.joblib -> models/plans.code.zip."""
    return str(PurePosixPath(artifact_key).with_suffix(CODE_SUFFIX))


def split_s3_uri(uri: str) -> tuple[str, str] | None:
    """s3://bucket/key -> (bucket, key); None unless both are there and key names an object."""
    if not uri.startswith(S3_SCHEME):
        return None
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket or not key or key.endswith("/"):
        return None
    return bucket, key


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions(with_pandas: bool = False) -> dict[str, str]:
    """The versions that decide whether a pickled estimator behaves as trained.

    Read from the modules themselves: a slimmed bundle may carry no dist-info.
    """
    versions = {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "joblib": joblib.__version__,
    }
    if with_pandas:  # a DataFrame model's: imported already, to build its input
        import pandas

        versions["pandas"] = pandas.__version__
    return versions
