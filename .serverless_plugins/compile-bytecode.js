'use strict';

// Adds CPython bytecode for every .py file in each Python deployment package.
//
// Lambda's /var/task is read-only, so Python cannot cache bytecode there and
// would compile every module it imports on each cold start. Timestamp-based
// .pyc files would be rejected too: the package stamps every file with one
// fixed date. Unchecked-hash .pyc files (PEP 552) are loaded without looking
// at the source, which suits a package that never changes once built.
//
// List it after serverless-python-requirements: hooks on the same event run in
// plugin order, and this one must see the zip with the requirements injected.
// It compiles with the Python of the function's runtime (pythonRequirements'
// pythonBin, else e.g. python3.12), as the bytecode format is version-specific.
// Requirements packed into a nested zip or a layer (that plugin's `zip` and
// `layer` options) are not compiled.

const { execFile } = require('child_process');
const path = require('path');
const { promisify } = require('util');

const execFileAsync = promisify(execFile);

// The compiler itself, run with the function's Python.
const COMPILE_SCRIPT = path.join(__dirname, 'compile_bytecode.py');

class CompileBytecode {
  constructor(serverless, cliOptions, { log }) {
    this.serverless = serverless;
    this.log = log;
    const compileAll = () => this.compileAll();
    this.hooks = {
      'after:package:createDeploymentArtifacts': compileAll,
      'after:deploy:function:packageFunction': compileAll,
    };
  }

  // Each local zip of a Python function, with its runtime's version ("3.12").
  artifacts() {
    const { service, serviceDir } = this.serverless;
    const found = new Map();
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      const version = /^python(\d+\.\d+)$/.exec(fn.runtime || service.provider.runtime || '');
      const artifact = (fn.package && fn.package.artifact) || service.package.artifact;
      if (fn.image || !version || !artifact || /^(s3|https?):\/\//.test(artifact)) continue;
      const file = path.resolve(serviceDir, artifact);
      if (found.has(file) && found.get(file) !== version[1]) {
        throw new this.serverless.classes.Error(
          `${artifact} is shared by functions with different Python runtimes`
        );
      }
      found.set(file, version[1]);
    }
    return found;
  }

  async compileAll() {
    const { plugins } = this.serverless.pluginManager;
    const requirements = plugins.findIndex(
      (plugin) => plugin.constructor.name === 'ServerlessPythonRequirements'
    );
    if (requirements > plugins.indexOf(this)) {
      throw new this.serverless.classes.Error(
        'List compile-bytecode after serverless-python-requirements in "plugins"'
      );
    }
    const custom = this.serverless.service.custom || {};
    const configured = custom.pythonRequirements && custom.pythonRequirements.pythonBin;
    for (const [file, version] of this.artifacts()) {
      const python = configured || `python${version}`;
      const name = path.relative(this.serverless.serviceDir, file);
      this.log.info(`Compiling Python bytecode in ${name} with ${python}`);
      let stdout;
      try {
        // -I: no PYTHON* variables (PYTHONPYCACHEPREFIX would move the .pyc files).
        ({ stdout } = await execFileAsync(python, ['-I', COMPILE_SCRIPT, file, version], {
          cwd: this.serverless.serviceDir,
          maxBuffer: 64 * 1024 * 1024,
        }));
      } catch (error) {
        throw new this.serverless.classes.Error(
          `Could not compile Python bytecode in ${name} with ${python}: ` +
            `${(error.stderr || '').trim() || error.message}`
        );
      }
      // The last line sums up; any before it are compile errors.
      const lines = stdout.trimEnd().split('\n');
      const summary = lines.pop();
      if (lines.length) this.log.warning(lines.join('\n'));
      this.log.info(`${name}: ${summary}`);
    }
  }
}

module.exports = CompileBytecode;
