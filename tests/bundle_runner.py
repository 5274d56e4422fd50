"""Runs inside an unzipped deployment bundle, in a bare interpreter, as Lambda would.

    python3.12 -I -S -B bundle_runner.py BUNDLE_DIR < events.json > report.json

Standard library only: it must see nothing but the bundle. It records every module
compiled from source instead of loaded from bytecode, imports `handler`, invokes it
with each event, and reports the answers, the lines written to stdout (the function's
log), the bytecode of every bundle module loaded, the packages imported and the names
of the environment variables it ran with.
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
    aws_request_id = "bundle-test-request"
    function_name = "model-prediction-api-dev-api"
    memory_limit_in_mb = 1024

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


def main(bundle: str) -> None:
    root = Path(bundle).resolve()
    sys.path.insert(0, str(root))
    events = json.load(sys.stdin)

    # What the function writes to stdout is its log, as Lambda would ship it.
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        import handler

        answers = [handler.handler(event, Context()) for event in events]
    ready = time.perf_counter() - started

    modules = {}
    for name, module in list(sys.modules.items()):
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
        if origin.startswith(str(root)) and origin.endswith(".py"):
            modules[name] = bytecode_of(module)
    json.dump(
        {
            "answers": answers,
            "log_lines": log.getvalue().splitlines(),
            "sys_path": sys.path,
            "compiled_from_source": compiled_from_source,
            "bundle_modules": modules,
            # Top-level names of every module imported by then, bundled or not.
            "imported_packages": sorted({name.partition(".")[0] for name in sys.modules}),
            # Imported but never run (app.lazy_imports): their code waits for a first use.
            "deferred_modules": sorted(
                name for name, module in sys.modules.items() if type(module).__name__ == "_Deferred"
            ),
            "seconds_to_answers": ready,
            "python": list(sys.version_info[:2]),
            # Names only: the values are the function's settings.
            "environment": sorted(os.environ),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1])
