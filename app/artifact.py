"""The artifact contract shared by training and serving: where metadata lives,
how an artifact is fingerprinted, and which library versions matter."""

from __future__ import annotations

import hashlib
import platform
import re
from pathlib import Path, PurePosixPath

import joblib
import numpy
import sklearn

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
S3_SCHEME = "s3://"
# The metadata file sits beside the artifact: model.joblib -> model.json.
METADATA_SUFFIX = ".json"


def metadata_path_for(artifact_path: Path) -> Path:
    return artifact_path.with_suffix(METADATA_SUFFIX)


def metadata_key_for(artifact_key: str) -> str:
    """The same rule for an S3 key: models/iris.joblib -> models/iris.json."""
    return str(PurePosixPath(artifact_key).with_suffix(METADATA_SUFFIX))


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
