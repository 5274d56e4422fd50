"""A deployment zip must fit Lambda's limit once unzipped.

    python3.12 -I bundle_size.py ARCHIVE

Lambda refuses a function whose code, unzipped, is over 262,144,000 bytes (layers
included; this service has none). The size is the sum of the zip's entries, bytecode and
supplied libraries included: what /var/task will hold. Over the limit, the message lists
the largest top-level packages with their sizes, and what to do where that is known.
Standard library only. Prints a summary; exits 1 with the message when over.
"""

from __future__ import annotations

import sys
import zipfile
from collections import Counter
from pathlib import Path

LAMBDA_UNZIPPED_LIMIT = 262_144_000
LARGEST_SHOWN = 10
# Top-level names whose size has a known remedy.
HINTS = {
    "xgboost": "xgboost-cpu is the same library without the GPU code (and without the "
    "nvidia-nccl it pulls in): install it instead of xgboost when training and describing",
    "nvidia": "CUDA libraries (the nvidia-* distributions), pulled in by a GPU build: "
    "Lambda has no GPU, so use the CPU build of the library that needs them",
}


class TooLarge(Exception):
    """The bundle is over Lambda's limit; the message lists what takes the room."""


def sizes_by_top_level(archive: Path) -> Counter[str]:
    """Unzipped bytes of each top-level name of the zip (a package, module or folder)."""
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            sizes[info.filename.split("/")[0]] += info.file_size
    return sizes


def check(archive: Path) -> str:
    """A summary of the unzipped size; TooLarge when it is over Lambda's limit."""
    sizes = sizes_by_top_level(archive)
    total = sum(sizes.values())
    share = f"{total / LAMBDA_UNZIPPED_LIMIT:.0%} of Lambda's {LAMBDA_UNZIPPED_LIMIT:,}"
    if total <= LAMBDA_UNZIPPED_LIMIT:
        return f"{total:,} bytes unzipped, {share}"
    largest = sizes.most_common(LARGEST_SHOWN)
    width = max(len(name) for name, _ in largest)
    lines = []
    for name, size in largest:
        hint = f"  {HINTS[name]}" if name in HINTS else ""
        lines.append(f"  {name:<{width}}  {size:>13,} bytes{hint}")
    raise TooLarge(
        f"{total:,} bytes unzipped, {share} bytes allowed "
        f"({total - LAMBDA_UNZIPPED_LIMIT:,} over). Its largest top-level packages:\n"
        + "\n".join(lines)
    )


def main(archive: str) -> None:
    try:
        print(check(Path(archive)))
    except TooLarge as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main(sys.argv[1])
