"""The user's own modules, packed into one archive that ships beside the artifact.

A pickle refers to a custom transformer or function by module name, so the module must
import wherever the model loads. `--code PATH` names a module file (`myfeatures.py`) or
a package folder (`features/`, with its `__init__.py`); they are zipped at the archive's
root, which makes the archive importable as it is (Python's zipimport), locally, in the
Lambda bundle and from S3 alike. The archive is reproducible: the same sources give the
same bytes, and so the same hash in the metadata.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# A fixed time for every entry: the hash depends on the sources only.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


class CodeError(ValueError):
    """A --code path that cannot be packed; the message says why."""


@dataclass(frozen=True)
class PackedCode:
    data: bytes
    modules: tuple[str, ...]


def pack_code(paths: Sequence[Path]) -> PackedCode:
    """The archive's bytes and the top-level module names it provides."""
    entries: dict[str, Path] = {}
    modules: dict[str, Path] = {}
    for given in paths:
        path = given.resolve()
        module = _module_name(given, path)
        if module in modules:
            raise CodeError(f"--code {given}: module {module} is given twice ({modules[module]})")
        modules[module] = given
        for name, source in _files(path):
            entries[name] = source
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes())
    return PackedCode(buffer.getvalue(), tuple(sorted(modules)))


def _module_name(given: Path, path: Path) -> str:
    if path.is_file():
        if path.suffix != ".py":
            raise CodeError(f"--code {given}: expected a .py module or a package folder")
        name = path.stem
    elif path.is_dir():
        if not (path / "__init__.py").is_file():
            raise CodeError(f"--code {given}: a package folder needs an __init__.py")
        name = path.name
    else:
        raise CodeError(f"--code {given}: no such file or folder")
    if not name.isidentifier():
        raise CodeError(f"--code {given}: {name!r} is not a module name Python can import")
    return name


def _files(path: Path) -> Iterator[tuple[str, Path]]:
    if path.is_file():
        yield path.name, path
        return
    for found in sorted(path.rglob("*")):
        relative = found.relative_to(path.parent)
        if found.is_dir() or _SKIPPED_DIRS.intersection(relative.parts):
            continue
        if found.suffix in _SKIPPED_SUFFIXES:
            continue
        yield relative.as_posix(), found
