"""Runs inside an unzipped deployment bundle, in a bare interpreter, as Lambda would.

    python3.12 -I -S -B bundle_runner.py BUNDLE_DIR < events.json > report.json

Standard library only: it must see nothing but the bundle. It records every module
compiled from source instead of loaded from bytecode, imports `handler`, invokes it
with each event, and reports the answers, the lines written to stdout (the function's
log), the bytecode of every bundle module loaded, the packages imported, the shared
libraries mapped into the process and the names of the environment variables it ran
with. When importing or invoking the handler raises, the report says so under "error"
(the exception and its frames) instead of crashing: packaging shows the bundle's own
error (prove_bundle.py), and the tests theirs.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

started = time.perf_counter()
compiled_from_source: list[str] = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code


def _recording_source_to_code(self: Any, data: Any, path: Any, **kwargs: Any) -> Any:
    # Only reached when no usable .pyc exists for the module.
    compiled_from_source.append(str(path))
    return _source_to_code(self, data, path, **kwargs)


importlib.machinery.SourceFileLoader.source_to_code = _recording_source_to_code  # type: ignore[method-assign]


class Context:
    """Lambda's context object, as far as the app reads it: each invocation its own id."""

    function_name = "model-prediction-api-dev-api"
    memory_limit_in_mb = 1024

    def __init__(self, invocation: int) -> None:
        self.aws_request_id = f"bundle-request-{invocation}"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def bytecode_of(module: Any) -> dict[str, Any]:
    cached = getattr(module.__spec__, "cached", None)
    if not cached or not Path(cached).is_file():
        return {"pyc": None}
    header = Path(cached).read_bytes()[:8]
    return {
        "pyc": cached,
        "magic_ok": header[:4] == importlib.util.MAGIC_NUMBER,
        "flags": int.from_bytes(header[4:8], "little"),
    }


def error_of(stage: str, error: BaseException) -> dict[str, Any]:
    """What went wrong, as data: the exception and every frame it passed through."""
    frames = traceback.extract_tb(error.__traceback__)
    return {
        "stage": stage,
        "exception": "".join(traceback.format_exception_only(error)).strip(),
        "frames": [
            {"file": f.filename, "line": f.lineno, "function": f.name, "code": f.line or ""}
            for f in frames
        ],
    }


def mapped_libraries() -> list[str]:
    """The files of every shared library mapped into this process (Linux: /proc/self/maps)."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    # address perms offset dev inode pathname: the path is the sixth field, when there is one.
    paths = {parts[5] for parts in (line.split(maxsplit=5) for line in lines) if len(parts) == 6}
    return sorted(path for path in paths if ".so" in Path(path).name)


def main(bundle: str) -> None:
    root = Path(bundle).resolve()
    sys.path.insert(0, str(root))
    events = json.load(sys.stdin)

    # What the function writes to stdout is its log, as Lambda would ship it.
    log = io.StringIO()
    answers: list[Any] = []
    error = None
    with contextlib.redirect_stdout(log):
        try:
            import handler
        except Exception as raised:
            error = error_of("import", raised)
        else:
            try:
                answers = [handler.handler(event, Context(i)) for i, event in enumerate(events)]
            except Exception as raised:
                error = error_of("invoke", raised)
    ready = time.perf_counter() - started

    modules = {}
    for name, module in list(sys.modules.items()):
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
        if origin.startswith(str(root)) and origin.endswith(".py"):
            modules[name] = bytecode_of(module)
    json.dump(
        {
            "error": error,
            "answers": answers,
            "log_lines": log.getvalue().splitlines(),
            "sys_path": sys.path,
            "compiled_from_source": compiled_from_source,
            "bundle_modules": modules,
            # Top-level names of every module imported by then, bundled or not.
            "imported_packages": sorted({name.partition(".")[0] for name in sys.modules}),
            # Imported but never run (app.aws.lazy_imports): their code waits for a first use.
            "deferred_modules": sorted(
                name for name, module in sys.modules.items() if type(module).__name__ == "_Deferred"
            ),
            "shared_libraries": mapped_libraries(),
            "seconds_to_answers": ready,
            "python": list(sys.version_info[:2]),
            # Names only: the values are the function's settings.
            "environment": sorted(os.environ),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1])
