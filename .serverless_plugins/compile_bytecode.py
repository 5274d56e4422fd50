"""Add unchecked-hash bytecode for every .py file in a Lambda deployment zip.

    python3.12 -I compile_bytecode.py ARCHIVE RUNTIME_VERSION

Lambda's /var/task is read-only, so without bytecode in the zip every cold start
compiles every module it imports; timestamp .pyc files would be rejected, as the zip
stamps all files with one fixed date. Unchecked-hash .pyc files (PEP 552) are used
without looking at the source, which suits a package that never changes once built.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import sys
import tempfile
import zipfile
from py_compile import PycInvalidationMode


def zip_info(entry: zipfile.ZipInfo, name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, entry.date_time)
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def main(archive: str, runtime: str) -> None:
    found = f"{sys.version_info.major}.{sys.version_info.minor}"
    if found != runtime:
        sys.exit(f"{sys.executable} is Python {found}, the runtime is python{runtime}")
    with zipfile.ZipFile(archive) as zf:
        entries = zf.infolist()
    stale = {e.filename for e in entries if e.filename.endswith((".pyc", ".pyo"))}
    sources = [e for e in entries if e.filename.endswith(".py")]

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(archive) as zf:
            for entry in sources:
                zf.extract(entry, tmp)
        # ddir: the bytecode records the paths the files have on Lambda.
        compileall.compile_dir(
            tmp,
            ddir="/var/task",
            quiet=1,
            force=True,
            workers=0,
            invalidation_mode=PycInvalidationMode.UNCHECKED_HASH,
        )
        compiled, failed = [], []
        for entry in sources:
            name = importlib.util.cache_from_source(entry.filename)
            if os.path.exists(os.path.join(tmp, name)):
                compiled.append((entry, name))
            else:
                failed.append(entry.filename)

        def add_bytecode(zf: zipfile.ZipFile) -> None:
            for entry, name in compiled:
                with open(os.path.join(tmp, name), "rb") as f:
                    zf.writestr(zip_info(entry, name, 0o100644), f.read(), compresslevel=9)

        if not stale:
            with zipfile.ZipFile(archive, "a") as zf:
                add_bytecode(zf)
        else:  # rewrite the zip without the bytecode it had
            with zipfile.ZipFile(archive) as src, zipfile.ZipFile(archive + ".tmp", "w") as dst:
                for entry in entries:
                    if entry.filename not in stale:
                        info = zip_info(entry, entry.filename, entry.external_attr >> 16)
                        info.compress_type = entry.compress_type
                        dst.writestr(info, src.read(entry), compresslevel=9)
                add_bytecode(dst)
            os.replace(archive + ".tmp", archive)

    for name in failed:
        print(f"not compiled: {name}")
    print(f"{len(compiled)} modules compiled, {len(stale)} old .pyc files replaced")


# Guarded: compileall's worker processes start by importing this module.
if __name__ == "__main__":
    main(*sys.argv[1:])
