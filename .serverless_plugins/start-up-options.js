'use strict';

// Refuses, before anything is built, a function that asks for SnapStart together with
// what SnapStart excludes: provisioned concurrency, an EFS file system, or more than
// 512 MB of ephemeral storage.
//
// osls turns functions.<name>.snapStart or .provisionedConcurrency into a published
// version and an alias ("snapstart" or "provisioned") that API Gateway invokes. It
// refuses the two together only once the requirements are installed and zipped, in a
// message that names neither parameter, and lets the other two pairs through to fail
// at deploy time. Values are read as osls reads them (its schema check has already
// made 'true' or '2' a boolean or a number): truthy means on.
//
// A rollout (custom.rollout.config other than AllAtOnce, the rollout plugin) has CodeDeploy
// shift an alias between published versions: it combines with SnapStart (which applies
// to published versions) and with provisioned concurrency (kept on that alias), but not
// with versionFunctions turned off, where no version is published to shift to.

const MAX_SNAPSTART_EPHEMERAL_MB = 512;

class StartUpOptions {
  constructor(serverless) {
    this.serverless = serverless;
    // initialize runs before every command, so `sls deploy` stops at once.
    this.hooks = { initialize: () => this.check() };
  }

  fail(name, message) {
    throw new this.serverless.classes.Error(`Function "${name}": ${message}`);
  }

  check() {
    const { service } = this.serverless;
    const functions = service.functions || {};
    for (const [name, fn] of Object.entries(functions)) {
      if (fn && fn.snapStart) this.checkSnapStart(name, fn);
    }
    const rollout = String(((service.custom || {}).rollout || {}).config || 'AllAtOnce').trim();
    if (!/^(CodeDeployDefault\.Lambda)?AllAtOnce$/.test(rollout) && functions.api) {
      const provider = service.provider || {};
      if (provider.versionFunctions === false || functions.api.versionFunction === false) {
        this.fail(
          'api',
          `rollout=${rollout} shifts traffic between published versions, and versionFunctions ` +
            'is off: no version is published. Turn versionFunctions on, or pass ' +
            '--param="rollout=AllAtOnce".'
        );
      }
    }
  }

  checkSnapStart(name, fn) {
    if (fn.provisionedConcurrency) {
      this.fail(
        name,
        `SnapStart (snapStart=true) and provisioned concurrency ` +
          `(provisionedConcurrency=${fn.provisionedConcurrency}) cannot be combined: ` +
          `Lambda's SnapStart excludes provisioned concurrency. Pass ` +
          `--param="snapStart=true" or --param="provisionedConcurrency=N", not both.`
      );
    }
    if (fn.fileSystemConfig) {
      this.fail(name, 'SnapStart cannot be used with an EFS file system (fileSystemConfig).');
    }
    if (Number(fn.ephemeralStorageSize || 0) > MAX_SNAPSTART_EPHEMERAL_MB) {
      this.fail(
        name,
        `SnapStart allows at most ${MAX_SNAPSTART_EPHEMERAL_MB} MB of ephemeral storage, ` +
          `got ephemeralStorageSize=${fn.ephemeralStorageSize}.`
      );
    }
  }
}

module.exports = StartUpOptions;
