'use strict';

// The served model's files, by the rules of model-objects: where they are (checked, for
// one in the service folder), its metadata read from the repo or, with the deploy's
// credentials, once per command from S3, its code archive, and an S3 model's files
// downloaded for the bundle's proof. Shared by served-model, model-distributions and
// bundle-checks; not a plugin itself.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {
  S3_URI,
  BUNDLED_MODEL,
  metadataKey,
  codeKey,
  readS3Object,
  failureReason,
} = require('./model-objects');

// A bundled model's files become package patterns: no glob characters in their paths.
const PLAIN_PATH = /^[A-Za-z0-9._+@/-]+$/;
// "code": {"file": ...} names a file beside the artifact, never a path elsewhere.
const CODE_FILE = /^[A-Za-z0-9._+@-]+\.code\.zip$/;

const s3Reads = new Map(); // "bucket/key" -> Promise of the object's bytes

// The two models a function may serve: the live one (custom.servedModel.uri, the
// function's MODEL_URI, parameter modelUri; empty is the bundled model) and its shadow
// (custom.servedModel.shadow.uri, SHADOW_MODEL_URI, parameter shadowModelUri; empty is
// none). `prefix` names its settings: PREFIX_URI, PREFIX_SHA256...
const ROLES = {
  live: { param: 'modelUri', prefix: 'MODEL' },
  shadow: { param: 'shadowModelUri', prefix: 'SHADOW_MODEL' },
};

function roleUri(serverless, role) {
  const settings = (serverless.service.custom || {}).servedModel || {};
  const value = role === 'live' ? settings.uri : (settings.shadow || {}).uri;
  return String(value == null ? '' : value).trim();
}

// A served model: { role, param, uri, artifact, metadata } for one in the service folder
// (paths relative to it), { role, param, uri, bucket, key, metadata } for one on S3
// (metadata is then the s3:// URI of the object beside the artifact); null for a shadow
// that is not set. A URI that names no servable model stops packaging.
function servedModel(serverless, role = 'live') {
  const uri = roleUri(serverless, role);
  const { param } = ROLES[role];
  if (role === 'shadow' && !uri) return null;
  const found = locatedModel(serverless, uri, param);
  return { role, param, ...found };
}

// The live model and, when one is set, its shadow.
function servedModels(serverless) {
  return [servedModel(serverless, 'live'), servedModel(serverless, 'shadow')].filter(Boolean);
}

function locatedModel(serverless, uri, param) {
  const fail = (message) => {
    throw new serverless.classes.Error(message);
  };
  if (uri.startsWith('s3://')) {
    const match = S3_URI.exec(uri);
    if (!match) fail(`${param} must look like s3://bucket/key.joblib, got ${uri}`);
    const [, bucket, key] = match;
    return { uri, bucket, key, metadata: `s3://${bucket}/${metadataKey(key)}` };
  }
  const artifact = path.posix.normalize(uri || BUNDLED_MODEL);
  if (
    !PLAIN_PATH.test(uri || BUNDLED_MODEL) ||
    path.posix.isAbsolute(artifact) ||
    artifact === '.' ||
    artifact.split('/').includes('..')
  ) {
    fail(
      `${param} must be ${param === 'modelUri' ? 'empty (the bundled model), ' : ''}` +
        's3://bucket/key.joblib, or a path inside the service folder relative to it, such ' +
        `as model/examples/churn.joblib; got ${uri}`
    );
  }
  const metadata = metadataKey(artifact);
  for (const file of [artifact, metadata]) {
    if (!isFile(path.join(serverless.serviceDir, file))) {
      fail(
        file === artifact
          ? `${param}: ${file} does not exist`
          : `${param}: ${artifact} has no metadata beside it (${file}); ` +
              'python -m model.describe writes it'
      );
    }
  }
  return { uri, artifact, metadata };
}

function isFile(file) {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return Boolean(stat && stat.isFile());
}

// The S3 object's bytes, read once per command, whoever asks.
function readS3Once(serverless, bucket, key) {
  const id = `${bucket}/${key}`;
  if (!s3Reads.has(id)) s3Reads.set(id, readS3Object(serverless, bucket, key));
  return s3Reads.get(id);
}

// The metadata's text; for an S3 model, a failed read says what packaging needed it for.
async function metadataText(serverless, model) {
  if (model.artifact) {
    return fs.readFileSync(path.join(serverless.serviceDir, model.metadata), 'utf8');
  }
  try {
    return (await readS3Once(serverless, model.bucket, metadataKey(model.key))).toString('utf8');
  } catch (error) {
    throw new serverless.classes.Error(
      `Packaging reads the ${model.role === 'shadow' ? 'shadow' : 'served'} model's metadata, ` +
        `${model.metadata}, with the deploy's ` +
        `AWS credentials (whether the bundle needs pandas, which distributions the model ` +
        `needs, and the example it is proven on), and could not (${failureReason(error)}). ` +
        `Packaging a model on S3 needs read access to it`
    );
  }
}

// The metadata as a JSON object; throws an Error whose message says what is wrong.
function parseMetadata(text) {
  let metadata;
  try {
    metadata = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON (${error.message})`);
  }
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new Error('not a JSON object');
  }
  return metadata;
}

// The code archive's file name from the metadata's "code", or null when it names none.
function codeArchiveName(metadata, source, fail) {
  const code = metadata.code;
  if (code === undefined || code === null) return null;
  if (typeof code !== 'object' || typeof code.file !== 'string' || !CODE_FILE.test(code.file)) {
    fail(`${source}: "code" must be null or name a file NAME.code.zip beside the artifact`);
  }
  return code.file;
}

// A bundled model's code archive, as a path relative to the service folder: beside the
// artifact. Fails naming it when it is not there.
function bundledCodeArchive(serverless, model, metadata) {
  const fail = (message) => {
    throw new serverless.classes.Error(message);
  };
  const name = codeArchiveName(metadata, model.metadata, fail);
  if (!name) return null;
  const file = path.posix.join(path.posix.dirname(model.artifact), name);
  if (!isFile(path.join(serverless.serviceDir, file))) {
    fail(`${model.metadata} names the code archive ${file}, which does not exist`);
  }
  return file;
}

function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

// An S3 model's artifact, metadata and code archive (key.code.zip, as publish puts it),
// downloaded into `folder` where the server looks for a local model's files (the
// archive under the name its metadata gives it), each checked against the hash the
// metadata records. Returns the local artifact's path.
async function downloadServedModel(serverless, model, folder) {
  const fail = (message) => {
    throw new serverless.classes.Error(message);
  };
  const text = await metadataText(serverless, model);
  let metadata;
  try {
    metadata = parseMetadata(text);
  } catch (error) {
    fail(`${model.metadata}: ${error.message}`);
  }
  const artifact = path.posix.basename(model.key);
  fs.writeFileSync(path.join(folder, path.posix.basename(metadataKey(model.key))), text);
  const objects = [[model.key, artifact, metadata.sha256]];
  const code = codeArchiveName(metadata, model.metadata, fail);
  if (code) objects.push([codeKey(model.key), code, metadata.code.sha256]);
  for (const [key, name, expected] of objects) {
    let bytes;
    try {
      bytes = await readS3Object(serverless, model.bucket, key);
    } catch (error) {
      const reason = failureReason(error);
      fail(`Could not download s3://${model.bucket}/${key} to prove the bundle (${reason})`);
    }
    const found = sha256(bytes);
    if (found !== expected) {
      fail(
        `s3://${model.bucket}/${key} has SHA-256 ${found}, but ${model.metadata} records ` +
          `${expected}: the objects on S3 do not belong together`
      );
    }
    fs.writeFileSync(path.join(folder, name), bytes);
  }
  return path.join(folder, artifact);
}

module.exports = {
  ROLES,
  servedModel,
  servedModels,
  metadataText,
  parseMetadata,
  bundledCodeArchive,
  downloadServedModel,
};
