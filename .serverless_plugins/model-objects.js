'use strict';

// Where a served model's files are, by the rules the server follows (app/core/artifact.py),
// and how the deploy reads one of them from S3 with its own credentials. Shared by the
// plugins that read the model's metadata (served-model, model-pins) and the one that
// grants the function access to its objects (read-access). Not a plugin itself.

const path = require('path');

const S3_URI = /^s3:\/\/([^/]+)\/(.+[^/])$/;
// What an empty modelUri serves.
const BUNDLED_MODEL = 'model/model.joblib';
const METADATA_SUFFIX = '.json';
const CODE_SUFFIX = '.code.zip';

// Python's PurePosixPath(key).with_suffix(suffix): the last component's extension
// replaced, or the suffix added when it has none (a leading or trailing dot is no
// extension).
function withSuffix(key, suffix) {
  const slash = key.lastIndexOf('/');
  const name = key.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 && dot < name.length - 1 ? name.slice(0, dot) : name;
  return key.slice(0, slash + 1) + stem + suffix;
}

// models/plans.joblib -> models/plans.json
function metadataKey(key) {
  return withSuffix(key, METADATA_SUFFIX);
}

// models/plans.joblib -> models/plans.code.zip
function codeKey(key) {
  return withSuffix(key, CODE_SUFFIX);
}

// The S3 client osls itself deploys with: a dependency of osls, not of this service.
function s3Sdk() {
  const osls = path.dirname(require.resolve('osls/package.json'));
  return require(require.resolve('@aws-sdk/client-s3', { paths: [osls] }));
}

// The object's bytes, read with the deploy's AWS credentials and settings (region,
// proxy, retries; AWS_ENDPOINT_URL). Throws the SDK's error.
async function readS3Object(serverless, bucket, key) {
  const { S3Client, GetObjectCommand } = s3Sdk();
  const config = await serverless.getProvider('aws').getAwsSdkV3Config();
  const s3 = new S3Client({ ...config, followRegionRedirects: true });
  const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await answer.Body.transformToByteArray());
}

// Why a read failed, in a few words: the SDK's message, or its error's code or name.
function failureReason(error) {
  return error.message || error.code || error.name || String(error);
}

module.exports = {
  S3_URI,
  BUNDLED_MODEL,
  metadataKey,
  codeKey,
  readS3Object,
  failureReason,
};
