'use strict';

// Where the served model's files are, and reading them: from the service folder, or
// from S3 with the deploy's own AWS credentials, through the S3 client osls deploys
// with. Shared by the plugins that need the model's metadata (served-model,
// model-distributions) or its files (bundle-checks); each S3 object is read once per
// command, however many of them ask.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { pipeline } = require('stream/promises');
const { S3_URI, metadataKey } = require('./read-access');

const BUNDLED_MODEL = 'model/model.joblib';
// A bundled model's files become package patterns: no glob characters in their paths.
const PLAIN_PATH = /^[A-Za-z0-9._+@/-]+$/;
// "code": {"file": ...} names a file beside the artifact, never a path elsewhere.
const CODE_FILE = /^[A-Za-z0-9._+@-]+\.code\.zip$/;

const s3Reads = new Map(); // "bucket/key" -> Promise of the object's bytes

// The S3 client osls itself deploys with: a dependency of osls, not of this service.
function s3Sdk() {
  const osls = path.dirname(require.resolve('osls/package.json'));
  return require(require.resolve('@aws-sdk/client-s3', { paths: [osls] }));
}

async function s3Client(serverless) {
  const { S3Client } = s3Sdk();
  const config = await serverless.getProvider('aws').getAwsSdkV3Config();
  return new S3Client({ ...config, followRegionRedirects: true });
}

function reasonOf(error) {
  return error.message || error.code || error.name || String(error);
}

// The served model (custom.servedModel.uri, the function's MODEL_URI): { uri, artifact,
// metadata } for one in the service folder (paths relative to it), { uri, bucket, key,
// metadata } for one on S3 (metadata is then the s3:// URI of the object beside the
// artifact). A URI that names no servable model stops packaging.
function servedModel(serverless) {
  const settings = (serverless.service.custom || {}).servedModel || {};
  const uri = String(settings.uri == null ? '' : settings.uri).trim();
  const fail = (message) => {
    throw new serverless.classes.Error(message);
  };
  if (uri.startsWith('s3://')) {
    const match = S3_URI.exec(uri);
    if (!match) fail(`modelUri must look like s3://bucket/key.joblib, got ${uri}`);
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
      'modelUri must be empty (the bundled model), s3://bucket/key.joblib, or a path ' +
        'inside the service folder relative to it, such as model/examples/churn.joblib; ' +
        `got ${uri}`
    );
  }
  const metadata = metadataKey(artifact);
  for (const file of [artifact, metadata]) {
    if (!isFile(path.join(serverless.serviceDir, file))) {
      fail(
        file === artifact
          ? `modelUri: ${file} does not exist`
          : `modelUri: ${artifact} has no metadata beside it (${file}); ` +
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

// The S3 object's bytes, read once per command.
function readS3Object(serverless, bucket, key) {
  const id = `${bucket}/${key}`;
  if (!s3Reads.has(id)) {
    s3Reads.set(
      id,
      (async () => {
        const { GetObjectCommand } = s3Sdk();
        const s3 = await s3Client(serverless);
        const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await answer.Body.transformToByteArray());
      })()
    );
  }
  return s3Reads.get(id);
}

// The metadata's text; for an S3 model, a failed read says what packaging needed it for.
async function metadataText(serverless, model) {
  if (model.artifact) {
    return fs.readFileSync(path.join(serverless.serviceDir, model.metadata), 'utf8');
  }
  try {
    return (await readS3Object(serverless, model.bucket, metadataKey(model.key))).toString('utf8');
  } catch (error) {
    throw new serverless.classes.Error(
      `Packaging reads the served model's metadata, ${model.metadata}, with the deploy's ` +
        `AWS credentials (whether the bundle needs pandas, which distributions the model ` +
        `needs, and the example it is proven on), and could not (${reasonOf(error)}). ` +
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

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// An S3 model's artifact, metadata and code archive, downloaded into `folder` under their
// own names, each checked against the hash the metadata records. Returns the local
// artifact's path.
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
  const directory = path.posix.dirname(model.key);
  const code = codeArchiveName(metadata, model.metadata, fail);
  const objects = [[path.posix.basename(model.key), metadata.sha256]];
  if (code) objects.push([code, (metadata.code || {}).sha256]);
  fs.writeFileSync(path.join(folder, path.posix.basename(metadataKey(model.key))), text);
  const { GetObjectCommand } = s3Sdk();
  const s3 = await s3Client(serverless);
  for (const [name, expected] of objects) {
    const key = directory === '.' ? name : `${directory}/${name}`;
    const file = path.join(folder, name);
    try {
      const answer = await s3.send(new GetObjectCommand({ Bucket: model.bucket, Key: key }));
      await pipeline(answer.Body, fs.createWriteStream(file));
    } catch (error) {
      const reason = reasonOf(error);
      fail(`Could not download s3://${model.bucket}/${key} to prove the bundle (${reason})`);
    }
    const found = sha256(file);
    if (found !== expected) {
      fail(
        `s3://${model.bucket}/${key} has SHA-256 ${found}, but ${model.metadata} records ` +
          `${expected}: the objects on S3 do not belong together`
      );
    }
  }
  return path.join(folder, path.posix.basename(model.key));
}

module.exports = {
  BUNDLED_MODEL,
  servedModel,
  metadataText,
  parseMetadata,
  bundledCodeArchive,
  downloadServedModel,
};
