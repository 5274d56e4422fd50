'use strict';

// Pins the served model into the function's configuration, where only a deploy can
// write: the SHA-256 of its metadata file (MODEL_METADATA_SHA256), of its artifact
// (MODEL_SHA256) and of its code archive (MODEL_CODE_SHA256, only when it has one), as
// the metadata says when the deploy reads it. At cold start the server refuses, before
// anything is unpickled, every object that differs from its pin. Without them the
// hashes the server checks come from the metadata beside the artifact, which whoever
// may write the artifact may rewrite as well.
//
// custom.modelPins.enabled: true (the default) or false. false pins nothing but an
// explicit modelSha256: new containers then load whatever is published under the key.
//
// An S3 model's metadata is read with the deploy's own AWS credentials; a bundled
// model's from the repo, and its artifact and code archive must match it. An explicit
// MODEL_SHA256 (modelSha256) that disagrees with the metadata stops the deploy.
//
// A shadow model (SHADOW_MODEL_URI, set by served-model) is pinned the same way, into
// SHADOW_MODEL_SHA256, SHADOW_MODEL_METADATA_SHA256 and SHADOW_MODEL_CODE_SHA256.
//
// Reads MODEL_URI and MODEL_SHA256 from provider.environment and writes the pins there:
// at package:initialize, before read-access grants the code archive (only when there is
// one) and before the template is compiled; at deploy:function:initialize for
// `sls deploy function`; and before `sls offline` starts, so it serves what a deploy would.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {
  S3_URI,
  BUNDLED_MODEL,
  metadataKey,
  readS3Object,
  failureReason,
} = require('./model-objects');
const { ROLES } = require('./model-files');

const SHA256_HEX = /^[0-9a-f]{64}$/;

function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

async function sha256OfFile(file) {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

class ModelPins {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    const pin = () => this.pin();
    this.hooks = {
      'package:initialize': pin,
      'deploy:function:initialize': pin,
      'before:offline:start:init': pin,
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  async pin() {
    const { service } = this.serverless;
    const settings = (service.custom && service.custom.modelPins) || {};
    const enabled = this.enabledSetting(settings.enabled);
    service.provider.environment = service.provider.environment || {};
    const environment = service.provider.environment;
    await this.pinModel(environment, ROLES.live, enabled);
    const shadow = environment.SHADOW_MODEL_URI;
    if (shadow != null && String(shadow).trim()) {
      await this.pinModel(environment, ROLES.shadow, enabled);
    }
  }

  // One model's pins, into PREFIX_SHA256, PREFIX_METADATA_SHA256 and PREFIX_CODE_SHA256.
  async pinModel(environment, { param, prefix }, enabled) {
    const raw = environment[`${prefix}_URI`];
    const uri = String(raw == null ? '' : raw).trim();
    const model = uri.startsWith('s3://') ? this.s3Model(uri, param) : this.bundledModel(uri);
    if (!enabled) {
      if (model.bucket) {
        this.log.warning(
          `pinModel=false: nothing pins ${model.metadata}, so each new container loads ` +
            `whatever is published under ${uri}, and whoever may write those objects may ` +
            'run code in the function'
        );
      }
      return;
    }
    // Only the live model takes an explicit pin (modelSha256).
    const live = prefix === ROLES.live.prefix;
    const explicit = live ? this.explicitPin(environment.MODEL_SHA256) : '';
    const bytes = await this.readMetadata(model);
    const metadata = this.parse(bytes, model);
    if (explicit && explicit !== metadata.sha256) {
      this.fail(
        `modelSha256 is ${explicit}, but ${model.metadata} describes an artifact with ` +
          `sha256 ${metadata.sha256}: the model there is not the one that was approved`
      );
    }
    if (model.artifact) await this.checkBundled(model, metadata);

    environment[`${prefix}_SHA256`] = metadata.sha256;
    environment[`${prefix}_METADATA_SHA256`] = sha256(bytes);
    if (metadata.code) environment[`${prefix}_CODE_SHA256`] = metadata.code.sha256;
    else delete environment[`${prefix}_CODE_SHA256`];
    const code = metadata.code ? `, code archive ${metadata.code.sha256}` : '';
    this.log.notice(
      `Pinned ${model.label} by sha256: metadata ${model.metadata} ` +
        `${environment[`${prefix}_METADATA_SHA256`]}, artifact ${metadata.sha256}${code}`
    );
  }

  enabledSetting(value) {
    if (value === undefined || value === null || value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    return this.fail(`The pinModel parameter must be true or false, got "${value}"`);
  }

  explicitPin(value) {
    const pinned = String(value == null ? '' : value)
      .trim()
      .toLowerCase();
    if (pinned && !SHA256_HEX.test(pinned)) {
      this.fail(`modelSha256 must be 64 hex digits, got "${pinned}"`);
    }
    return pinned;
  }

  s3Model(uri, param) {
    const match = S3_URI.exec(uri);
    if (!match) this.fail(`${param} must look like s3://bucket/key.joblib, got ${uri}`);
    const [, bucket, key] = match;
    const metadata = `s3://${bucket}/${metadataKey(key)}`;
    return { label: uri, bucket, key: metadataKey(key), metadata };
  }

  // served-model has checked that a modelUri path is plain and inside the service
  // folder before packaging; `sls offline` serves whatever path it is given.
  bundledModel(uri) {
    const artifact = uri || BUNDLED_MODEL;
    return { label: artifact, artifact, metadata: metadataKey(artifact) };
  }

  local(file) {
    return path.resolve(this.serverless.serviceDir, file);
  }

  async readMetadata(model) {
    if (model.artifact) {
      try {
        return fs.readFileSync(this.local(model.metadata));
      } catch (error) {
        return this.fail(`Cannot pin the model: ${model.metadata}: ${failureReason(error)}`);
      }
    }
    try {
      return await readS3Object(this.serverless, model.bucket, model.key);
    } catch (error) {
      return this.fail(
        `pinModel reads the model's metadata, ${model.metadata}, with the deploy's AWS ` +
          `credentials, to pin its hashes into the function's configuration, and could not ` +
          `(${failureReason(error)}). Give the deploy credentials that may read it: ` +
          `packaging an S3 model reads its objects to pin them, to install what the model ` +
          `needs and to prove the bundle, so it cannot be done offline`
      );
    }
  }

  // The fields the pins come from, checked as the server checks them.
  parse(bytes, model) {
    const bad = (why) => this.fail(`Cannot pin the model: ${model.metadata} ${why}`);
    let metadata;
    try {
      metadata = JSON.parse(bytes.toString('utf-8'));
    } catch (error) {
      return bad(`is not valid JSON (${error.message})`);
    }
    if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) {
      return bad('is not a JSON object');
    }
    if (typeof metadata.sha256 !== 'string' || !SHA256_HEX.test(metadata.sha256)) {
      return bad("has no 'sha256' of 64 lowercase hex digits");
    }
    const { code } = metadata;
    if (code !== undefined && code !== null) {
      if (typeof code !== 'object' || typeof code.sha256 !== 'string') {
        return bad("has a 'code' that is not an object with a 'sha256'");
      }
      if (!SHA256_HEX.test(code.sha256)) {
        return bad("has a 'code.sha256' that is not 64 lowercase hex digits");
      }
      if (typeof code.file !== 'string' || !code.file || /[/\\]/.test(code.file)) {
        return bad("has a 'code.file' that is not a plain file name");
      }
    }
    return { sha256: metadata.sha256, code: code || null };
  }

  // A bundled model whose files differ from the hashes pinned would never serve.
  async checkBundled(model, metadata) {
    const files = [[model.artifact, metadata.sha256]];
    if (metadata.code) {
      const archive = path.posix.join(path.posix.dirname(model.artifact), metadata.code.file);
      files.push([archive, metadata.code.sha256]);
    }
    for (const [file, recorded] of files) {
      let actual;
      try {
        actual = await sha256OfFile(this.local(file));
      } catch (error) {
        this.fail(`Cannot pin the model: ${model.metadata} names ${file}: ${failureReason(error)}`);
      }
      if (actual !== recorded) {
        this.fail(
          `Cannot pin the model: ${file} has sha256 ${actual}, but ${model.metadata} ` +
            `records ${recorded}: describe it again (python -m model.describe)`
        );
      }
    }
  }
}

module.exports = ModelPins;
