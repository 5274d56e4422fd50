'use strict';

// Puts the model the function serves into the package, and pandas exactly when that
// model needs it.
//
// custom.servedModel:
//   uri: the function's MODEL_URI.
//     ''                         the bundled model/model.joblib
//     model/examples/x.joblib    that artifact instead: a path inside the service folder,
//                                relative to it (Lambda's cwd, /var/task, is the bundle root)
//     s3://bucket/key.joblib     read from S3 at cold start: no model in the package
//   pandas: auto, true or false. auto reads the model's metadata, the .json beside the
//     artifact (for an S3 model, the object with .json in place of the key's extension,
//     with the deploy's AWS credentials): "model_input": "dataframe" needs pandas; the
//     other kinds ("float64_array", "object_array", "text"), or no such key, do not.
//   requirementsWithPandas: the requirements file that replaces
//     custom.pythonRequirements.fileName when the package carries pandas.
//   shadow: { uri, sampleRate, tolerance } (parameters shadowModelUri, shadowSampleRate,
//     shadowTolerance): a shadow model, located like uri, bundled beside the live model
//     when it is a path, and set as SHADOW_MODEL_URI, SHADOW_SAMPLE_RATE and
//     SHADOW_TOLERANCE only when uri is set, so a stack without one is unchanged. auto
//     carries pandas when either model needs it. Every value is checked before anything
//     is built.
//
// scikit-learn imports pandas at import time whenever it is installed, so a bundle with
// pandas pays for that import on every cold start, used or not.
//
// A bundled model's artifact and metadata are added to package.patterns, and nothing
// else of model/, with the code archive beside the artifact when the metadata names one
// ("code": {"file": "NAME.code.zip", ...}); a named archive that is missing stops
// packaging. Runs at package:initialize: before serverless-python-requirements reads
// fileName (before:package:createDeploymentArtifacts) and before the package's files are
// collected, whatever the order of "plugins".

const fs = require('fs');
const path = require('path');
const {
  servedModels,
  metadataText,
  parseMetadata,
  bundledCodeArchive,
} = require('./model-files');

const MODEL_INPUTS = ['float64_array', 'object_array', 'dataframe', 'text'];
// What a metadata file without "model_input" (written before the key existed) means.
const DEFAULT_MODEL_INPUT = 'float64_array';
const FORCE = 'pass --param="pandas=true" or --param="pandas=false"';

class ServedModel {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    const prepare = () => this.prepare();
    this.hooks = {
      'package:initialize': prepare,
      'deploy:function:initialize': prepare,
      'before:requirements:install:install': prepare,
      // `sls offline` serves the shadow too, as a deploy would.
      'before:offline:start:init': () => this.setShadowVariables(),
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  async prepare() {
    const { service } = this.serverless;
    const settings = (service.custom && service.custom.servedModel) || {};
    const pandas = this.pandasSetting(settings.pandas);
    this.setShadowVariables();
    const models = servedModels(this.serverless);
    for (const model of models) {
      if (!model.artifact) continue;
      service.package = service.package || {};
      const patterns = service.package.patterns || [];
      const files = [model.artifact, model.metadata, ...this.codeArchive(model)];
      service.package.patterns = [...patterns, ...files.filter((f) => !patterns.includes(f))];
    }
    const decisions = [];
    for (const model of models) decisions.push(await this.decide(model, pandas));
    const needing = decisions.find((decision) => decision.withPandas);
    const { withPandas, why } = needing || decisions[0];
    this.useRequirements(withPandas, settings.requirementsWithPandas, why);
  }

  setShadowVariables() {
    const { service } = this.serverless;
    const settings = (service.custom && service.custom.servedModel) || {};
    const variables = this.shadowSettings(settings.shadow || {});
    if (Object.keys(variables).length) {
      service.provider.environment = { ...service.provider.environment, ...variables };
    }
  }

  // The shadow's variables, checked as the app checks them: without a shadow, a sample
  // rate or a tolerance is refused, since it would do nothing.
  shadowSettings(shadow) {
    const text = (value) => String(value == null ? '' : value).trim();
    const uri = text(shadow.uri);
    const rate = text(shadow.sampleRate);
    const tolerance = text(shadow.tolerance);
    if (!uri) {
      const stray = [
        ...(rate ? ['shadowSampleRate'] : []),
        ...(tolerance ? ['shadowTolerance'] : []),
      ];
      if (stray.length) this.fail(`${stray.join(' and ')} set, but shadowModelUri is not`);
      return {};
    }
    const variables = { SHADOW_MODEL_URI: uri };
    if (rate) {
      const share = Number(rate);
      if (!/^[0-9.eE+-]+$/.test(rate) || !(share >= 0 && share <= 1)) {
        this.fail(`shadowSampleRate must be a number from 0 to 1, got "${rate}"`);
      }
      variables.SHADOW_SAMPLE_RATE = rate;
    }
    if (tolerance) {
      const value = Number(tolerance);
      if (!/^[0-9.eE+-]+$/.test(tolerance) || !(Number.isFinite(value) && value >= 0)) {
        this.fail(`shadowTolerance must be a finite number of at least 0, got "${tolerance}"`);
      }
      variables.SHADOW_TOLERANCE = tolerance;
    }
    return variables;
  }

  pandasSetting(value) {
    if (value === undefined || value === null) return 'auto';
    const setting = String(value);
    if (!['auto', 'true', 'false'].includes(setting)) {
      this.fail(`The pandas parameter must be auto, true or false, got "${setting}"`);
    }
    return setting;
  }

  // The code archive the metadata names, beside the artifact: [] or [its path]. Metadata
  // that cannot be parsed names none here; serving it fails, and the bundle's proof says so.
  codeArchive(model) {
    let metadata;
    try {
      metadata = parseMetadata(this.readLocal(model));
    } catch {
      return [];
    }
    const archive = bundledCodeArchive(this.serverless, model, metadata);
    return archive ? [archive] : [];
  }

  async decide(model, pandas) {
    if (pandas !== 'auto') {
      const withPandas = pandas === 'true';
      if (model.artifact) this.warnIfForcedAgainst(model, withPandas);
      return { withPandas, why: `pandas=${pandas} was passed` };
    }
    const text = await metadataText(this.serverless, model);
    let input;
    try {
      input = modelInput(text);
    } catch (error) {
      this.fail(`${model.metadata}: ${error.message}; fix the metadata, or ${FORCE}`);
    }
    const why = input
      ? `${model.metadata} says model_input is ${input}`
      : `${model.metadata} has no model_input, so the model takes a ${DEFAULT_MODEL_INPUT}`;
    return { withPandas: input === 'dataframe', why };
  }

  readLocal(model) {
    return fs.readFileSync(path.join(this.serverless.serviceDir, model.metadata), 'utf8');
  }

  warnIfForcedAgainst(model, withPandas) {
    let input;
    try {
      input = modelInput(this.readLocal(model));
    } catch {
      return; // forced: the metadata's kind is not needed, and the app checks the rest
    }
    if (!withPandas && input === 'dataframe') {
      this.log.warning(
        `${model.metadata} says model_input is dataframe, but pandas=false leaves pandas ` +
          'out: the function will not be able to serve this model'
      );
    }
  }

  useRequirements(withPandas, requirementsWithPandas, why) {
    const { service, serviceDir } = this.serverless;
    service.custom.pythonRequirements = service.custom.pythonRequirements || {};
    const requirements = service.custom.pythonRequirements;
    // Remembered once: this may run more than once in one command.
    this.requirements = this.requirements || requirements.fileName || 'requirements.txt';
    if (withPandas && !requirementsWithPandas) {
      this.fail('custom.servedModel.requirementsWithPandas must name a requirements file');
    }
    const chosen = withPandas ? requirementsWithPandas : this.requirements;
    if (!fs.existsSync(path.join(serviceDir, chosen))) this.fail(`${chosen} does not exist`);
    requirements.fileName = chosen;
    this.log.notice(
      `Python requirements from ${chosen}, ${withPandas ? 'with' : 'without'} pandas: ${why}`
    );
  }
}

// The metadata's model_input, or null when it has none; throws when it is not one we know.
function modelInput(text) {
  const metadata = parseMetadata(text);
  if (!Object.prototype.hasOwnProperty.call(metadata, 'model_input')) return null;
  if (!MODEL_INPUTS.includes(metadata.model_input)) {
    const found = JSON.stringify(metadata.model_input);
    throw new Error(`model_input must be one of ${MODEL_INPUTS.join(', ')}, got ${found}`);
  }
  return metadata.model_input;
}

module.exports = ServedModel;
