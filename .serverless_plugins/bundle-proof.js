'use strict';

// What the bundle's proof sends and expects (prove_bundle.py runs it): the served model's
// example rows and the predictions describe recorded for them, and the function's
// environment as Lambda would give it, with stand-ins for what a bare bundle on a
// build machine cannot reach:
// - API_KEYS_SECRET (Secrets Manager) becomes API_KEYS holding one generated key, which
//   the proof sends;
// - CAPTURE_HASH_KEY_SECRET becomes CAPTURE_HASH_KEY, a generated key of the same kind;
// - an S3 model is downloaded with the deploy's credentials, checked against the hashes
//   its metadata records, and MODEL_URI points at that copy (the bundle has no boto3);
//   an S3 shadow model likewise, into a folder of its own, for SHADOW_MODEL_URI.
// With a shadow model the proof also asks GET /model, which must show it loaded: loading
// proves it on its own example, and accepts it only if it takes the live model's rows.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { servedModel, metadataText, parseMetadata, downloadServedModel } = require('./model-files');

const HANDLER = 'handler.handler';

// The function's variables as strings; CloudFormation references cannot be resolved here.
function functionEnvironment(serverless, name, log) {
  const { provider } = serverless.service;
  const fn = serverless.service.getFunction(name);
  const environment = {};
  const unresolved = [];
  for (const [key, value] of Object.entries({ ...provider.environment, ...fn.environment })) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'object') unresolved.push(key);
    else environment[key] = String(value);
  }
  if (unresolved.length) {
    log.warning(
      `The bundle's proof runs without ${unresolved.join(', ')}: CloudFormation resolves ` +
        'them at deploy'
    );
  }
  // What Lambda sets that serving reads (the metrics' service is the function's name).
  return {
    ...environment,
    AWS_LAMBDA_FUNCTION_NAME: fn.name || name,
    // The unpublished version, as Lambda names it: a rollout's metrics go by version.
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize || provider.memorySize || 1024),
    AWS_REGION: provider.region,
    AWS_DEFAULT_REGION: provider.region,
  };
}

// The proof's request key: API_KEYS_SECRET replaced by one generated key, or the first of
// API_KEYS; null when the app asks for none.
function withProofKey(environment) {
  if (environment.API_KEYS_SECRET && environment.API_KEYS_SECRET.trim()) {
    const key = crypto.randomBytes(24).toString('hex');
    const replaced = { ...environment, API_KEYS: key };
    delete replaced.API_KEYS_SECRET;
    return { environment: replaced, key };
  }
  const listed = (environment.API_KEYS || '').split(',').map((k) => k.trim());
  return { environment, key: listed.find(Boolean) || null };
}

// Capture's hash key: the secret's value replaced by a generated one, long enough for the
// app's own check.
function withProofHashKey(environment) {
  if (!(environment.CAPTURE_HASH_KEY_SECRET && environment.CAPTURE_HASH_KEY_SECRET.trim())) {
    return environment;
  }
  const replaced = { ...environment, CAPTURE_HASH_KEY: crypto.randomBytes(32).toString('hex') };
  delete replaced.CAPTURE_HASH_KEY_SECRET;
  return replaced;
}

// The example rows and the predictions recorded for them (null in metadata from before
// they were recorded).
function example(model, text, fail) {
  let metadata;
  try {
    metadata = parseMetadata(text);
  } catch (error) {
    fail(`${model.metadata}: ${error.message}`);
  }
  const rows = metadata.example;
  if (!Array.isArray(rows) || !rows.length) {
    fail(
      `${model.metadata} has no example rows to prove the bundle on: describe the model ` +
        'again (python -m model.describe), or pass --param="proveBundle=false"'
    );
  }
  const predictions = metadata.example_predictions;
  return { instances: rows, predictions: Array.isArray(predictions) ? predictions : null };
}

// What prove_bundle.py reads for function `name`. `folder`: where an S3 model is
// downloaded to.
async function proofFor(serverless, name, folder, log) {
  const fail = (message) => {
    throw new serverless.classes.Error(message);
  };
  const model = servedModel(serverless);
  const { instances, predictions } = example(model, await metadataText(serverless, model), fail);
  const served = functionEnvironment(serverless, name, log);
  if (model.bucket) served.MODEL_URI = await downloadServedModel(serverless, model, folder);
  const shadow = servedModel(serverless, 'shadow');
  if (shadow && shadow.bucket) {
    const own = path.join(folder, 'shadow');
    fs.mkdirSync(own, { recursive: true });
    served.SHADOW_MODEL_URI = await downloadServedModel(serverless, shadow, own);
  }
  const { environment, key } = withProofKey(withProofHashKey(served));
  return {
    environment,
    instances,
    predictions,
    api_key: key,
    model: model.metadata,
    shadow: shadow ? shadow.metadata : null,
  };
}

module.exports = { HANDLER, proofFor };
