"""What an artifact references, read from its file without running anything it names.

A pickle names every class and function it needs as a global (module and qualified
name), and scikit-learn writes the version that fitted each estimator into its state
(`_sklearn_version`). Both are read here by unpickling against stand-ins: every global
the stream names is recorded and replaced by an inert object that accepts whatever the
stream does with it, so no code of the model, its libraries or an attacker runs. The
only real types are numpy's dtype and joblib's array wrapper, which joblib needs to step
over the raw array bytes it writes between pickle opcodes. A skops file lists its types
in its schema, which is read as JSON.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
from joblib import numpy_pickle

from app.core.artifact import ArtifactFormat
from app.core.metadata import REFERENCE_SEPARATOR

_SKLEARN_VERSION = "_sklearn_version"
_SKOPS_SCHEMA = "schema.json"
# Real types, needed to read joblib's arrays; constructing them runs no model code.
_REAL: dict[tuple[str, str], Any] = {
    ("numpy", "dtype"): np.dtype,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): numpy_pickle.NumpyArrayWrapper,
    ("joblib.numpy_pickle", "NDArrayWrapper"): numpy_pickle.NDArrayWrapper,
}


class UnreadableArtifact(ValueError):
    """The file cannot be read as the format it claims; the message says why."""


@dataclass(frozen=True)
class References:
    """The "module:name" globals an artifact needs, and the scikit-learn versions its
    estimators were fitted with (normally one)."""

    names: tuple[str, ...]
    sklearn_versions: tuple[str, ...]

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.partition(REFERENCE_SEPARATOR)[0] for n in self.names))


def read_references(path: Path, artifact_format: ArtifactFormat) -> References:
    if artifact_format == "skops":
        return _skops_references(path)
    seen: dict[str, None] = {}
    versions: dict[str, None] = {}
    try:
        with path.open("rb") as stream:
            if artifact_format == "joblib":
                _scan_joblib(path, stream, seen, versions)
            else:
                _Scanner(stream, seen, versions).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError) as error:
        raise UnreadableArtifact(
            f"{path.name} is not a readable {artifact_format} file ({type(error).__name__}: "
            f"{error})"
        ) from None
    return References(tuple(sorted(seen)), tuple(versions))


def _scan_joblib(
    path: Path, stream: IO[bytes], seen: dict[str, None], versions: dict[str, None]
) -> None:
    # joblib's own reader: it undoes compression and reads the arrays between opcodes.
    with numpy_pickle._validate_fileobject_and_memmap(stream, str(path), None) as (fobj, _):
        if isinstance(fobj, str):
            raise ValueError("written by joblib before 0.10, which is not supported")
        _JoblibScanner(str(path), fobj, seen, versions).load()


class _Inert:
    """What every global becomes: callable, buildable, fillable, and nothing more."""

    # Where the scan that made this stand-in collects the versions it finds.
    _versions: ClassVar[dict[str, None]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (state, slots)
            state = state[0]
        if isinstance(state, dict):
            version = state.get(_SKLEARN_VERSION)
            if isinstance(version, str):
                type(self)._versions[version] = None

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __getattr__(self, name: str) -> _Inert:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()


class _Recording:
    """find_class that records the global and hands back a stand-in class for it."""

    seen: dict[str, None]
    versions: dict[str, None]

    def find_class(self, module: str, name: str) -> Any:
        self.seen[f"{module}{REFERENCE_SEPARATOR}{name}"] = None
        real = _REAL.get((module, name))
        if real is not None:
            return real
        # A class of its own, so NEWOBJ's cls.__new__(cls) works; versions go to this scan.
        return type(name.rpartition(".")[2] or "global", (_Inert,), {"_versions": self.versions})


class _Scanner(_Recording, pickle._Unpickler):
    """Python's own unpickler (not the C one, whose find_class hook is the same but whose
    errors are less precise), recording instead of importing."""

    def __init__(self, stream: IO[bytes], seen: dict[str, None], versions: dict[str, None]) -> None:
        pickle._Unpickler.__init__(self, stream)
        self.seen, self.versions = seen, versions


# joblib ships no type information, so its unpickler is Any to mypy.
class _JoblibScanner(_Recording, numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
    def __init__(
        self, filename: str, stream: Any, seen: dict[str, None], versions: dict[str, None]
    ) -> None:
        numpy_pickle.NumpyUnpickler.__init__(self, filename, stream, ensure_native_byte_order=False)
        self.seen, self.versions = seen, versions


def _skops_references(path: Path) -> References:
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read(_SKOPS_SCHEMA))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise UnreadableArtifact(f"{path.name} is not a readable skops file ({error})") from None
    seen: dict[str, None] = {}
    versions: dict[str, None] = {}
    for node in _nodes(schema):
        module, name = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(name, str):
            seen[f"{module}{REFERENCE_SEPARATOR}{name}"] = None
        content = node.get("content")
        version = content.get(_SKLEARN_VERSION) if isinstance(content, dict) else None
        if isinstance(version, dict) and isinstance(version.get("content"), str):
            try:
                text = json.loads(version["content"])
            except ValueError:
                continue
            if isinstance(text, str):
                versions[text] = None
    return References(tuple(sorted(seen)), tuple(versions))


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
