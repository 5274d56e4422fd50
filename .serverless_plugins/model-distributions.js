'use strict';

// Installs into the bundle what the served model needs beyond the bundle's requirements
// file: the distributions its metadata records ("distributions": {name: version}, each
// one providing a module the artifact references) that the file chosen by served-model
// (requirements.txt, or requirements-pandas.txt) does not already name, at the recorded
// versions. Nobody edits a requirements file for a model: this writes one that includes
// the chosen file and pins the rest, and points custom.pythonRequirements.fileName at it,
// so serverless-python-requirements installs them all as Lambda-platform wheels with the
// same pip options. That plugin reads fileName relative to the service folder and follows
// "-r" lines itself, each relative to the file that holds it. The generated file lives in
// .serverless/, which osls empties before packaging and moves into --package DIR after,
// beside that plugin's own flattened copy.
//
// skops older than 0.12 is refused: its trusted-type check could be bypassed
// (CVE-2025-54412), and skops is what keeps a .skops artifact from running code.
//
// With a shadow model, what either model records: one bundle holds one version of a
// distribution, so two models that record different versions of one are refused.
//
// List it after served-model: both run on the same hooks, and this one needs the
// requirements file served-model chose.

const fs = require('fs');
const path = require('path');
const { servedModels, metadataText, parseMetadata } = require('./model-files');

const GENERATED = '.serverless/model-requirements.txt';
// PEP 508 names and PEP 440 versions (local versions too): nothing else may reach pip.
const NAME = /^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$/;
const VERSION =
  /^([0-9]+!)?[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?(\+[A-Za-z0-9.]+)?$/;
const SKOPS_FIXED = [0, 12];

// PEP 503: names compare lowercased, runs of -, _ and . as one -.
function normalized(name) {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

// Normalized name -> { name, version (null unless pinned with ==), file } for each
// requirement in `file` and the files its "-r" lines include.
function requirementsIn(file, serviceDir, found = new Map()) {
  const text = fs.readFileSync(path.join(serviceDir, file), 'utf8').replace(/\\\r?\n/g, ' ');
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    const included = /^(-r|--requirement)[\s=]+(\S+)$/.exec(line);
    if (included) {
      requirementsIn(path.posix.join(path.posix.dirname(file), included[2]), serviceDir, found);
      continue;
    }
    const requirement = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$/.exec(line);
    if (!line || line.startsWith('-') || !requirement) continue;
    const pin = /^===?\s*([^\s;,]+)\s*(;.*)?$/.exec(requirement[3]);
    found.set(normalized(requirement[1]), {
      name: requirement[1],
      version: pin ? pin[1] : null,
      file,
    });
  }
  return found;
}

// Whether a PEP 440 version is at least `minimum` (a release, [0, 12]); a pre-release or
// development release of that release is not.
function atLeast(version, minimum) {
  const [, epoch, release, rest] = /^(?:([0-9]+)!)?([0-9]+(?:\.[0-9]+)*)(.*)$/.exec(version);
  if (Number(epoch || 0) > 0) return true;
  const parts = release.split('.').map(Number);
  for (let i = 0; i < Math.max(parts.length, minimum.length); i += 1) {
    const [have, need] = [parts[i] || 0, minimum[i] || 0];
    if (have !== need) return have > need;
  }
  return !/^[.-]?(a|b|rc|dev)/.test(rest);
}

class ModelDistributions {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    const add = () => this.add();
    this.hooks = {
      'package:initialize': add,
      'deploy:function:initialize': add,
      'before:requirements:install:install': add,
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  async add() {
    const { serverless } = this;
    const models = servedModels(serverless);
    const { custom } = serverless.service;
    custom.pythonRequirements = custom.pythonRequirements || {};
    const requirements = custom.pythonRequirements;
    // Remembered once: this may run more than once in one command.
    if (requirements.fileName !== GENERATED) {
      this.chosen = requirements.fileName || 'requirements.txt';
    }
    requirements.fileName = this.chosen;

    const pinned = requirementsIn(this.chosen, serverless.serviceDir);
    const added = new Map(); // normalized name -> { line, model }
    for (const model of models) {
      const recorded = this.recordedDistributions(model, await metadataText(serverless, model));
      if (recorded === null) {
        this.log.notice(
          `${model.metadata} records no distributions (metadata written before they were): ` +
            `the bundle gets ${this.chosen} alone${models.length > 1 ? ' for it' : ''}`
        );
        continue;
      }
      for (const [name, version] of Object.entries(recorded)) {
        const inFile = pinned.get(normalized(name));
        if (!inFile) {
          this.addOnce(added, name, version, model);
        } else if (inFile.version !== null && inFile.version !== version) {
          this.log.warning(
            `${model.metadata} records ${name} ${version}; the bundle installs ` +
              `${inFile.name}==${inFile.version} (${inFile.file}), which serves the model instead`
          );
        }
      }
    }
    const sources = [...new Set([...added.values()].map((entry) => entry.model.metadata))];
    if (!added.size) {
      const named = models.map((model) => model.metadata).join(' and ');
      this.log.info(`${this.chosen} holds every distribution ${named} records`);
      return;
    }
    const lines = [...added.values()].map((entry) => entry.line);
    this.write(sources, lines);
    requirements.fileName = GENERATED;
    const verb = sources.length > 1 ? 'record' : 'records';
    this.log.notice(
      `Python requirements: ${this.chosen} plus ${lines.join(', ')}, which ` +
        `${sources.join(' and ')} ${verb} among the distributions the model references ` +
        `(${GENERATED})`
    );
  }

  // One version per distribution in one bundle: the live model's and the shadow's must agree.
  addOnce(added, name, version, model) {
    const key = normalized(name);
    const before = added.get(key);
    if (before && before.version !== version) {
      this.fail(
        `${before.model.metadata} records ${name} ${before.version} and ${model.metadata} ` +
          `records ${version}: one bundle installs one version of a distribution, so the ` +
          'live model and its shadow must be described with the same one'
      );
    }
    if (!before) added.set(key, { line: `${name}==${version}`, version, model });
  }

  // {name: version} from the metadata, checked; null when it has no "distributions".
  recordedDistributions(model, text) {
    let metadata;
    try {
      metadata = parseMetadata(text);
    } catch (error) {
      this.fail(`${model.metadata}: ${error.message}`);
    }
    const recorded = metadata.distributions;
    if (recorded === undefined || recorded === null) return null;
    if (typeof recorded !== 'object' || Array.isArray(recorded)) {
      this.fail(`${model.metadata}: "distributions" must be an object of distribution versions`);
    }
    for (const [name, version] of Object.entries(recorded)) {
      if (!NAME.test(name) || typeof version !== 'string' || !VERSION.test(version)) {
        this.fail(
          `${model.metadata}: "distributions" holds ${JSON.stringify(name)}: ` +
            `${JSON.stringify(version)}, not a distribution name and version pip can install`
        );
      }
      if (normalized(name) === 'skops' && !atLeast(version, SKOPS_FIXED)) {
        this.fail(
          `${model.metadata} records skops ${version}; skops before 0.12.0 lets a file ` +
            'bypass its trusted-type check (CVE-2025-54412). Save and describe the model ' +
            'again with skops 0.12 or newer'
        );
      }
    }
    return recorded;
  }

  write(sources, added) {
    const file = path.join(this.serverless.serviceDir, GENERATED);
    const include = path.posix.relative(path.posix.dirname(GENERATED), this.chosen);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      [
        `# Written by packaging: ${this.chosen}, plus the distributions ${sources.join(' and ')}`,
        `# ${sources.length > 1 ? 'record' : 'records'} for the served model that it does ` +
          'not name, at the recorded versions.',
        `-r ${include}`,
        ...added,
        '',
      ].join('\n')
    );
  }
}

module.exports = ModelDistributions;
