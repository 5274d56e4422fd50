"""Every shared library in a deployment bundle must find what it links against on Lambda.

    python bundle_libraries.py BUNDLE      (the deployment .zip, or an unzipped folder)

Each DT_NEEDED entry of each .so in the bundle must be met by the bundle itself (a file
of that name in a folder of the library's DT_RUNPATH, or DT_RPATH when it has none, with
$ORIGIN its own folder; or in /var/task or /var/task/lib, which Lambda's LD_LIBRARY_PATH
holds) or by the system libraries of Lambda's python3.12 runtime. One met by neither is
supplied as lib/NAME from a compatible copy the bundle already has (auditwheel gives each
library it bundles into a wheel a new name: scikit-learn's wheel carries libgomp as
scikit_learn.libs/libgomp-<hash>.so.1.0.0), or the check fails naming the library and
every .so that needs it. Nothing of this machine counts: its /lib may hold what Lambda's
runtime lacks (libgomp, here).

Prints one line per library supplied, then a summary; exits 1 with the message on failure.
"""

from __future__ import annotations

import functools
import io
import posixpath
import re
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

# What Lambda's python3.12 runtime (Amazon Linux 2023) provides: the libraries a
# manylinux_2_28 wheel may link against without carrying them. Taken verbatim from
# auditwheel's policy file, src/auditwheel/policy/manylinux-policy.json, policy
# "manylinux_2_28", "lib_whitelist" (github.com/pypa/auditwheel, commit 86154d15).
SYSTEM_LIBRARIES = frozenset(
    {
        "libGL.so.1",
        "libICE.so.6",
        "libSM.so.6",
        "libX11.so.6",
        "libXext.so.6",
        "libXrender.so.1",
        "libanl.so.1",
        "libatomic.so.1",
        "libc.so.6",
        "libdl.so.2",
        "libexpat.so.1",
        "libgcc_s.so.1",
        "libglib-2.0.so.0",
        "libgobject-2.0.so.0",
        "libgthread-2.0.so.0",
        "libm.so.6",
        "libmvec.so.1",
        "libnsl.so.1",
        "libpthread.so.0",
        "libresolv.so.2",
        "librt.so.1",
        "libstdc++.so.6",
        "libutil.so.1",
        "libz.so.1",
    }
)
# The dynamic linker itself, which auditwheel always leaves out too.
_DYNAMIC_LINKER = re.compile(r"^(ld-linux.*|ld64\.so\.[12])$")
# Lambda's LD_LIBRARY_PATH holds /var/task and /var/task/lib: the bundle's root and lib/.
LIBRARY_PATH_FOLDERS = (".", "lib")
TASK_ROOT = "/var/task"
SUPPLIED_FOLDER = "lib"
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9]+)*$")
_ORIGIN = re.compile(r"^\$(ORIGIN|\{ORIGIN\})")


class LibrariesMissing(Exception):
    """Libraries the bundle needs that nothing on Lambda would provide; the message lists them."""


@dataclass(frozen=True)
class SharedObject:
    """What the dynamic linker reads from one .so: its names, needs and search folders."""

    path: str  # inside the bundle, with / separators
    machine: str
    elf_class: int
    soname: str | None
    needed: tuple[str, ...]
    search_path: tuple[str, ...]
    # Library -> the symbol versions required from it (.gnu.version_r).
    versions_needed: dict[str, frozenset[str]]
    versions_defined: frozenset[str]
    # The name the library was built as (its VER_FLG_BASE definition), kept by auditwheel
    # when it renames the file and its SONAME.
    built_as: str | None

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path) or "."


@dataclass(frozen=True)
class Supplied:
    """A library copied to lib/ from another copy in the bundle, and who needed it."""

    name: str
    source: str
    needed_by: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{SUPPLIED_FOLDER}/{self.name}"


def read_shared_object(path: str, data: bytes) -> SharedObject | None:
    """The linker's view of one file, or None when it is not an ELF shared object."""
    try:
        elf = ELFFile(io.BytesIO(data))
        tags: dict[str, list[str]] = {}
        needs: dict[str, frozenset[str]] = {}
        defined: set[str] = set()
        built_as = None
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    kind = tag.entry.d_tag
                    if kind in ("DT_NEEDED", "DT_SONAME", "DT_RUNPATH", "DT_RPATH"):
                        value = getattr(tag, kind[3:].lower())
                        tags.setdefault(kind, []).append(value)
            elif isinstance(section, GNUVerNeedSection):
                for verneed, auxiliaries in section.iter_versions():
                    if verneed.name:
                        needs[verneed.name] = frozenset(aux.name for aux in auxiliaries)
            elif isinstance(section, GNUVerDefSection):
                for verdef, auxiliaries in section.iter_versions():
                    name = next(auxiliaries).name
                    if verdef["vd_flags"] & 0x1:  # VER_FLG_BASE: the file's own name
                        built_as = name
                    else:
                        defined.add(name)
    except ELFError:
        return None
    if elf["e_type"] != "ET_DYN":
        return None
    # DT_RPATH is ignored by the linker when DT_RUNPATH is there.
    search = tags.get("DT_RUNPATH") or tags.get("DT_RPATH") or []
    return SharedObject(
        path=path,
        machine=elf["e_machine"],
        elf_class=elf.elfclass,
        soname=next(iter(tags.get("DT_SONAME", [])), None),
        needed=tuple(tags.get("DT_NEEDED", [])),
        search_path=tuple(part for entry in search for part in entry.split(":") if part),
        versions_needed=needs,
        versions_defined=frozenset(defined),
        built_as=built_as,
    )


def bundle_files(bundle: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Each file of a zip or a folder, by its path inside the bundle, with a reader."""
    if bundle.is_dir():
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            yield path.relative_to(bundle).as_posix(), path.read_bytes
        return
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                yield info.filename, functools.partial(zf.read, info.filename)


def search_folders(library: SharedObject) -> list[str]:
    """The bundle's folders the linker searches for this library's needs on Lambda."""
    folders = []
    for entry in library.search_path:
        origin = _ORIGIN.match(entry)
        if origin:
            folder = posixpath.join(library.folder, entry[origin.end() :].lstrip("/"))
        elif entry == TASK_ROOT or entry.startswith(f"{TASK_ROOT}/"):
            folder = entry[len(TASK_ROOT) :].lstrip("/")
        else:
            continue  # a folder of the machine that built the wheel, not of the bundle
        folder = posixpath.normpath(folder or ".")
        if folder != ".." and not folder.startswith("../"):
            folders.append(folder)
    return [*folders, *LIBRARY_PATH_FOLDERS]


def unmet_needs(libraries: list[SharedObject], files: set[str]) -> dict[str, list[SharedObject]]:
    """Each needed library neither the bundle nor Lambda's runtime provides -> who needs it."""
    unmet: dict[str, list[SharedObject]] = {}
    for library in libraries:
        for name in library.needed:
            if name in SYSTEM_LIBRARIES or _DYNAMIC_LINKER.match(name):
                continue
            folders = search_folders(library)
            if not any(posixpath.normpath(f"{folder}/{name}") in files for folder in folders):
                unmet.setdefault(name, []).append(library)
    return unmet


def renamed_copy_pattern(name: str) -> re.Pattern[str]:
    """auditwheel's name for a library it bundled: libgomp.so.1 -> libgomp-1a2b3c4d.so.1.0.0."""
    stem, _, version = name.partition(".so")
    return re.compile(rf"^{re.escape(stem)}-[0-9a-f]{{8}}\.so{re.escape(version)}(\.[0-9]+)*$")


def compatible_copy(
    name: str, needers: list[SharedObject], libraries: list[SharedObject]
) -> SharedObject | None:
    """A library in the bundle that is `name` under another file name, for the same machine,
    defining every symbol version its needers require of `name`."""
    renamed = renamed_copy_pattern(name)
    for candidate in sorted(libraries, key=lambda library: library.path):
        if not (
            name in (candidate.soname, candidate.built_as)
            or renamed.match(posixpath.basename(candidate.path))
        ):
            continue
        if all(
            (needer.machine, needer.elf_class) == (candidate.machine, candidate.elf_class)
            and needer.versions_needed.get(name, frozenset()) <= candidate.versions_defined
            for needer in needers
        ):
            return candidate
    return None


def check(bundle: Path) -> tuple[int, list[Supplied]]:
    """The number of shared libraries checked and those supplied into `bundle`; raises
    LibrariesMissing when a need cannot be met."""
    files: set[str] = set()
    libraries: list[SharedObject] = []
    for path, read in bundle_files(bundle):
        files.add(path)
        if _SHARED_OBJECT.search(path):
            library = read_shared_object(path, read())
            if library is not None:
                libraries.append(library)
    supplied, missing = [], []
    for name, needers in sorted(unmet_needs(libraries, files).items()):
        copy = compatible_copy(name, needers, libraries)
        needed_by = tuple(sorted(needer.path for needer in needers))
        if copy is None:
            missing.append(f"  {name}, needed by {', '.join(needed_by)}")
        else:
            supplied.append(Supplied(name, copy.path, needed_by))
    if missing:
        raise LibrariesMissing(
            "Shared libraries that neither the bundle nor Lambda's python3.12 runtime "
            "provides:\n"
            + "\n".join(missing)
            + "\nLambda's runtime has only the system libraries a manylinux_2_28 wheel may "
            "assume: a wheel must carry any other (auditwheel repair bundles them), or the "
            "bundle a copy of it under another name"
        )
    for copied in supplied:
        add_copy(bundle, copied)
    return len(libraries), supplied


def add_copy(bundle: Path, library: Supplied) -> None:
    """lib/NAME, a copy of the library found under another name, executable like the rest."""
    if bundle.is_dir():
        target = bundle / library.path
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(bundle / library.source, target)
        target.chmod(0o755)
        return
    with zipfile.ZipFile(bundle, "a") as zf:
        source = zf.getinfo(library.source)
        info = zipfile.ZipInfo(library.path, source.date_time)
        info.create_system = 3
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, zf.read(source), compresslevel=9)


def main(bundle: str) -> None:
    try:
        count, supplied = check(Path(bundle))
    except LibrariesMissing as missing:
        sys.exit(str(missing))
    for library in supplied:
        print(
            f"{library.path}: a copy of {library.source}, as {library.name} for "
            f"{', '.join(library.needed_by)} (Lambda's runtime has no {library.name})"
        )
    print(f"{count} shared libraries: every library they link against is in the bundle or Lambda's")


if __name__ == "__main__":
    main(sys.argv[1])
