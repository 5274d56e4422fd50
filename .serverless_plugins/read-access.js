'use strict';

// Grants the function read access to exactly what it reads at cold start, and to
// nothing else:
// - s3:GetObject on its model when MODEL_URI is s3://bucket/key: the artifact, the
//   metadata beside it (key with .json in place of its extension), and the code archive
//   (key.code.zip) when the function may read one: when model-pins pinned one
//   (MODEL_CODE_SHA256), or when the metadata is not pinned at all (pinModel=false),
//   since each cold start then follows whatever metadata is published, which may name an
//   archive the deploy never saw. Pinned metadata without an archive: none is read;
// - the same on a shadow model when SHADOW_MODEL_URI is s3://bucket/key, by its own pins;
// - secretsmanager:GetSecretValue on the API keys secret when API_KEYS_SECRET names one,
//   and on capture's hash key secret when CAPTURE_HASH_KEY_SECRET names one.
// With the bundled model and no secret the role stays as it is: it may only write
// its own logs.

const { S3_URI, metadataKey, codeKey } = require('./model-objects');

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

// The S3 objects of the model whose settings start with `prefix` (MODEL, SHADOW_MODEL).
function modelObjects(environment, prefix, fail) {
  const uri = environment[`${prefix}_URI`] || '';
  if (!uri.startsWith('s3://')) return [];
  const match = S3_URI.exec(uri);
  if (!match) fail(`${prefix}_URI must be s3://bucket/key, got ${uri}`);
  const [, bucket, key] = match;
  const objects = [key, metadataKey(key)];
  if (environment[`${prefix}_CODE_SHA256`] || !environment[`${prefix}_METADATA_SHA256`]) {
    objects.push(codeKey(key));
  }
  return objects.map((object) => `${bucket}/${object}`);
}

function modelStatement(environment, fail) {
  const objects = [
    ...modelObjects(environment, 'MODEL', fail),
    ...modelObjects(environment, 'SHADOW_MODEL', fail),
  ];
  if (!objects.length) return null;
  return {
    Effect: 'Allow',
    Action: ['s3:GetObject'],
    Resource: [...new Set(objects)].map((object) => ({
      'Fn::Sub': `arn:\${AWS::Partition}:s3:::${object}`,
    })),
  };
}

// The secrets the function reads, by the variable that names each.
const SECRET_VARIABLES = ['API_KEYS_SECRET', 'CAPTURE_HASH_KEY_SECRET'];

function secretResource(variable, secret, fail) {
  let resource;
  if (SECRET_ARN.test(secret)) {
    resource = secret;
  } else if (SECRET_NAME.test(secret) && !secret.startsWith('arn:')) {
    // A secret's ARN is its name, a dash and six random characters.
    resource = {
      'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secret}-??????`,
    };
  } else {
    fail(`${variable} must be a Secrets Manager secret name or ARN, got ${secret}`);
  }
  return resource;
}

function secretStatement(environment, fail) {
  const resources = SECRET_VARIABLES.filter((variable) => environment[variable]).map(
    (variable) => secretResource(variable, environment[variable], fail)
  );
  if (!resources.length) return null;
  return { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: resources };
}

class ReadAccess {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:setupProviderConfiguration': () => this.grant() };
  }

  grant() {
    const { provider } = this.serverless.service;
    const environment = provider.environment || {};
    const fail = (message) => {
      throw new this.serverless.classes.Error(message);
    };
    const statements = [
      modelStatement(environment, fail),
      secretStatement(environment, fail),
    ].filter(Boolean);
    if (!statements.length) return;
    provider.iam = provider.iam || {};
    provider.iam.role = provider.iam.role || {};
    provider.iam.role.statements = provider.iam.role.statements || [];
    provider.iam.role.statements.push(...statements);
  }
}

module.exports = ReadAccess;
module.exports.secretResource = secretResource;
