"""Run one hook of a local serverless plugin on a stand-in for osls's service object."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from conftest import ROOT

_HARNESS = """
const [path, hook, state] = process.argv.slice(1);
const Plugin = require(path);
const { service, stage } = JSON.parse(state);
const serverless = {
  service,
  classes: { Error },
  getProvider: () => ({ getStage: () => stage }),
};
try {
  new Plugin(serverless).hooks[hook]();
  process.stdout.write(JSON.stringify({ service }));
} catch (error) {
  process.stdout.write(JSON.stringify({ error: error.message }));
}
"""


def run_hook(plugin: str, hook: str, service: dict[str, Any], stage: str = "dev") -> dict[str, Any]:
    """The service after the hook ran, as {"service": ...}, or {"error": message}."""
    result = subprocess.run(
        [
            "node",
            "-e",
            _HARNESS,
            f"./.serverless_plugins/{plugin}.js",
            hook,
            json.dumps({"service": service, "stage": stage}),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)
