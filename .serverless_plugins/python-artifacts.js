'use strict';

// The service's Python deployment zips, and running the helper scripts beside this file
// on them with a Python: shared by compile-bytecode and bundle-checks.

const { spawn } = require('child_process');
const path = require('path');

// Each local zip of a Python function: absolute path -> { version: '3.12', functions:
// [names] }. Container images, other runtimes and zips already on S3 are left out.
function pythonArtifacts(serverless) {
  const { service, serviceDir } = serverless;
  const found = new Map();
  for (const name of service.getAllFunctions()) {
    const fn = service.getFunction(name);
    const version = /^python(\d+\.\d+)$/.exec(fn.runtime || service.provider.runtime || '');
    const artifact = (fn.package && fn.package.artifact) || service.package.artifact;
    if (fn.image || !version || !artifact || /^(s3|https?):\/\//.test(artifact)) continue;
    const file = path.resolve(serviceDir, artifact);
    const entry = found.get(file) || { version: version[1], functions: [] };
    if (entry.version !== version[1]) {
      throw new serverless.classes.Error(
        `${artifact} is shared by functions with different Python runtimes`
      );
    }
    entry.functions.push(name);
    found.set(file, entry);
  }
  return found;
}

// The Python that runs a function's runtime: pythonRequirements' pythonBin, else
// python3.12 and the like.
function runtimePython(serverless, version) {
  const custom = serverless.service.custom || {};
  return (custom.pythonRequirements && custom.pythonRequirements.pythonBin) || `python${version}`;
}

// Runs `script` (a file beside this one) with `python -I`: no PYTHON* variables (say,
// PYTHONPYCACHEPREFIX, which would move compiled bytecode) and no user site-packages.
// Resolves to its stdout; rejects with an Error whose message is its stderr (each script
// exits 1 with its message there), or, with `started: false`, why it could not start.
function runPython(python, script, args, { cwd, input = '' }) {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-I', path.join(__dirname, script), ...args], { cwd });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', (error) => {
      const failure = new Error(`could not run ${python}: ${error.message}`);
      reject(Object.assign(failure, { started: false }));
    });
    child.on('close', (code, signal) => {
      const output = Buffer.concat(stdout).toString('utf8');
      const errors = Buffer.concat(stderr).toString('utf8').trim();
      if (code === 0) resolve(output);
      else reject(new Error(errors || `${python} ${script} ended with ${signal || code}`));
    });
    // A script that fails before reading its input closes stdin: not an error of ours.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

module.exports = { pythonArtifacts, runtimePython, runPython };
