"""Run one hook of a local serverless plugin on a stand-in for osls's service object."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import ROOT

_HARNESS = """
const [path, hook, state] = process.argv.slice(1);
const Plugin = require(path);
const { service, stage, serviceDir } = JSON.parse(state);
const logged = [];
const log = {};
for (const level of ['error', 'warning', 'notice', 'info', 'verbose', 'debug']) {
  log[level] = (message) => logged.push([level, String(message)]);
}
const serverless = {
  service,
  serviceDir,
  classes: { Error },
  getProvider: () => ({
    getStage: () => stage,
    // osls's own adds proxy, retry and timeout settings; the SDK reads the rest from
    // the environment (credentials, AWS_ENDPOINT_URL).
    getAwsSdkV3Config: async () => ({ region: 'us-east-1' }),
  }),
};
(async () => {
  try {
    await new Plugin(serverless, {}, { log }).hooks[hook]();
    process.stdout.write(JSON.stringify({ service, log: logged }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: error.message, log: logged }));
  }
})();
"""


def run_hook(
    plugin: str,
    hook: str,
    service: dict[str, Any],
    stage: str = "dev",
    service_dir: Path = ROOT,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The service after the hook ran, as {"service": ...}, or {"error": message}; either
    with "log", the [level, message] pairs the plugin logged."""
    state = {"service": service, "stage": stage, "serviceDir": str(service_dir)}
    result = subprocess.run(
        ["node", "-e", _HARNESS, f"./.serverless_plugins/{plugin}.js", hook, json.dumps(state)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)
