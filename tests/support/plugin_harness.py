"""Run one hook of a local serverless plugin, or a function its helper modules export, on a
stand-in for osls's serverless object."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from support.paths import ROOT

# A stand-in for osls's serverless object, then one of the two calls below.
_STAND_IN = """
const [path, target, state, args] = process.argv.slice(1);
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
const answer = (call, done) =>
  (async () => {
    try {
      process.stdout.write(JSON.stringify({ ...done(await call()), log: logged }));
    } catch (error) {
      process.stdout.write(JSON.stringify({ error: error.message, log: logged }));
    }
  })();
"""
_RUN_HOOK = """
const Plugin = require(path);
answer(() => new Plugin(serverless, {}, { log }).hooks[target](), () => ({ service }));
"""
_CALL_EXPORT = """
answer(() => require(path)[target](serverless, ...JSON.parse(args)), (result) => ({ result }));
"""


def _run(
    script: str, module: str, target: str, args: list[Any], state: dict[str, Any], env: Any
) -> dict[str, Any]:
    plugin = f"./.serverless_plugins/{module}.js"
    result = subprocess.run(
        ["node", "-e", _STAND_IN + script, plugin, target, json.dumps(state), json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


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
    return _run(_RUN_HOOK, plugin, hook, [], state, env)


def call_export(
    module: str,
    function: str,
    *args: Any,
    service: dict[str, Any] | None = None,
    service_dir: Path = ROOT,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What `function(serverless, *args)`, exported by a helper module of the plugins,
    returned, as {"result": ...}, or {"error": message}; either with "log"."""
    state = {"service": service or {}, "stage": "dev", "serviceDir": str(service_dir)}
    return _run(_CALL_EXPORT, module, function, list(args), state, env)
