"""Size of the deployment bundle: zipped, unzipped, by top-level package, against
Lambda's limit and against a plain `pip install --target` of the same requirements.

    python bench/size.py [--zip .serverless/model-prediction-api.zip] [--json out.json]
                         [--requirements requirements.txt]

--requirements names what the bundle was built from (requirements-pandas.txt for a
bundle that carries pandas), for the plain install to compare it with.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ZIP = ROOT / ".serverless" / "model-prediction-api.zip"
LAMBDA_UNZIPPED_LIMIT = 262_144_000
# The same wheels the bundle gets (see serverless.yml's pipCmdExtraArgs).
PLATFORM_ARGS = [
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
    "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.12",
]  # fmt: skip


def bundle_figures(archive: Path) -> dict[str, object]:
    with zipfile.ZipFile(archive) as zf:
        files = [info for info in zf.infolist() if not info.is_dir()]
    by_top = Counter()
    for info in files:
        by_top[info.filename.split("/")[0]] += info.file_size
    unzipped = sum(info.file_size for info in files)
    return {
        "zipped_bytes": archive.stat().st_size,
        "unzipped_bytes": unzipped,
        "files": len(files),
        "bytecode_bytes": sum(i.file_size for i in files if i.filename.endswith(".pyc")),
        "shared_library_bytes": sum(i.file_size for i in files if ".so" in i.filename),
        "by_top_level": dict(by_top.most_common()),
        "x_lambda_limit": unzipped / LAMBDA_UNZIPPED_LIMIT,
    }


def plain_install_bytes(requirements: Path) -> int:
    with tempfile.TemporaryDirectory() as target:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                target,
                *PLATFORM_ARGS,
                "-r",
                str(requirements),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(f"pip install --target failed:\n{result.stderr}")
        return sum(p.stat().st_size for p in Path(target).rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args()
    if not args.requirements.is_file():
        sys.exit(f"{args.requirements} not found: the bundle's requirements are needed here")
    figures = bundle_figures(args.zip)
    figures["requirements"] = args.requirements.name
    figures["plain_pip_target_bytes"] = plain_install_bytes(args.requirements)
    figures["x_plain_install"] = figures["unzipped_bytes"] / figures["plain_pip_target_bytes"]
    mb = 1_000_000
    print(f"zipped     {figures['zipped_bytes'] / mb:8.1f} MB")
    print(
        f"unzipped   {figures['unzipped_bytes'] / mb:8.1f} MB  "
        f"({figures['x_lambda_limit']:.2f} of Lambda's 262.1 MB limit, "
        f"{figures['x_plain_install']:.2f}x a plain pip install --target)"
    )
    print(f"files      {figures['files']:8d}")
    print(f"bytecode   {figures['bytecode_bytes'] / mb:8.1f} MB")
    for name, size in list(figures["by_top_level"].items())[:12]:
        print(f"  {name:<22} {size / mb:8.1f} MB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
