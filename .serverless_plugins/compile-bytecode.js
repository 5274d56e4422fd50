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

const path = require('path');
const { pythonArtifacts, runtimePython, runPython } = require('./python-artifacts');

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
    for (const [file, { version }] of pythonArtifacts(this.serverless)) {
      const python = runtimePython(this.serverless, version);
      const name = path.relative(this.serverless.serviceDir, file);
      this.log.info(`Compiling Python bytecode in ${name} with ${python}`);
      let stdout;
      try {
        // The compiler itself, run with the function's Python.
        stdout = await runPython(python, 'compile_bytecode.py', [file, version], {
          cwd: this.serverless.serviceDir,
        });
      } catch (error) {
        throw new this.serverless.classes.Error(
          `Could not compile Python bytecode in ${name} with ${python}: ${error.message}`
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
