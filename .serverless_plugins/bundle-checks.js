'use strict';

// Checks each Python deployment zip before anything is uploaded, in this order, and stops
// packaging at the first failure:
// 1. shared libraries (bundle_libraries.py, run with custom.bundleChecks.python, which
//    has pyelftools): every .so finds what it links against in the bundle or among the
//    system libraries of Lambda's runtime; one found in neither is copied to lib/ from a
//    compatible copy the bundle has, or packaging fails naming it;
// 2. size (bundle_size.py): unzipped, within Lambda's 262,144,000 bytes;
// 3. the proof (prove_bundle.py, bundle-proof.js): unzipped into a read-only folder and
//    run by a bare python of the runtime's version with the function's environment, the
//    bundle answers the served model's example as describe recorded.
//    custom.bundleChecks.prove: false (parameter proveBundle) skips the proof alone,
//    with a warning.
// List it after compile-bytecode: the size counts the bytecode, and the proof runs it.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { pythonArtifacts, runtimePython, runPython } = require('./python-artifacts');
const { HANDLER, proofFor } = require('./bundle-proof');
const { HOOK_HANDLER: PRE_TRAFFIC_HANDLER } = require('./rollout');

const DEFAULT_TOOLS_PYTHON = '.venv/bin/python';

class BundleChecks {
  constructor(serverless, cliOptions, { log }) {
    this.serverless = serverless;
    this.log = log;
    const checkAll = () => this.checkAll();
    this.hooks = {
      'after:package:createDeploymentArtifacts': checkAll,
      'after:deploy:function:packageFunction': checkAll,
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  settings() {
    const custom = this.serverless.service.custom || {};
    const settings = custom.bundleChecks || {};
    if (![true, false, undefined].includes(settings.prove)) {
      this.fail(`custom.bundleChecks.prove must be true or false, got ${settings.prove}`);
    }
    const python = settings.python || DEFAULT_TOOLS_PYTHON;
    return { prove: settings.prove !== false, python };
  }

  async checkAll() {
    const { plugins } = this.serverless.pluginManager;
    const compile = plugins.findIndex((plugin) => plugin.constructor.name === 'CompileBytecode');
    if (compile === -1 || compile > plugins.indexOf(this)) {
      this.fail('List bundle-checks after compile-bytecode in "plugins"');
    }
    const { prove, python } = this.settings();
    for (const [file, { version, functions }] of pythonArtifacts(this.serverless)) {
      const name = path.relative(this.serverless.serviceDir, file);
      await this.libraries(file, name, python);
      await this.size(file, name, version);
      if (prove) {
        for (const fn of functions) await this.prove(file, name, version, fn);
      } else {
        this.log.warning(
          `${name} is not proven (proveBundle=false): nothing checked that it imports its ` +
            'handler and answers its model\'s example in a bare python' +
            `${version} on its own (a module, a distribution or a library missing from it, ` +
            'or a model that answers otherwise than at describe, shows first on Lambda)'
        );
      }
    }
  }

  // The script's stdout; its failure stops packaging, its message after `context`.
  async run(python, script, args, context, input) {
    try {
      return await runPython(python, script, args, { cwd: this.serverless.serviceDir, input });
    } catch (error) {
      if (error.started === false) {
        return this.fail(
          `Could not check the bundle with ${script}: ${error.message} (make package ` +
            'installs the Python it needs)'
        );
      }
      return this.fail(`${context}${error.message}`);
    }
  }

  async libraries(file, name, python) {
    const output = await this.run(
      python,
      'bundle_libraries.py',
      [file],
      `${name} would not load on Lambda.\n`
    );
    const lines = output.trimEnd().split('\n');
    const summary = lines.pop();
    for (const supplied of lines) this.log.notice(`Shared library supplied: ${supplied}`);
    this.log.info(`${name}: ${summary}`);
  }

  async size(file, name, version) {
    const python = runtimePython(this.serverless, version);
    const summary = await this.run(
      python,
      'bundle_size.py',
      [file],
      `${name} is too large for Lambda: `
    );
    this.log.notice(`Bundle size: ${name}, ${summary.trim()}`);
  }

  async prove(file, name, version, fn) {
    const { handler } = this.serverless.service.getFunction(fn);
    if (handler === PRE_TRAFFIC_HANDLER) {
      // A rollout's hook, in the same zip: it checks the deployed version itself.
      this.log.info(`${name} serves no model for function ${fn}, the rollout's hook`);
      return;
    }
    if (handler !== HANDLER) {
      this.log.warning(`${name} is not proven for function ${fn}: its handler is not ${HANDLER}`);
      return;
    }
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'served-model-'));
    try {
      const proof = await proofFor(this.serverless, fn, folder, this.log);
      const summary = await this.run(
        runtimePython(this.serverless, version),
        'prove_bundle.py',
        [file, version],
        `${name} does not serve ${proof.model}` +
          `${proof.shadow ? ` with its shadow ${proof.shadow}` : ''}` +
          ` (function ${fn}, run from the unzipped bundle by a bare python${version}):\n`,
        JSON.stringify(proof)
      );
      this.log.notice(`Bundle proven: ${name} ${summary.trim()}`);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  }
}

module.exports = BundleChecks;
