'use strict';

// Grants the function s3:GetObject on its model, and on nothing else, when the
// model is served from S3 (MODEL_URI=s3://bucket/key): the artifact and the
// metadata beside it (key with .json in place of its extension). With the
// bundled model the role stays as it is: it may only write its own logs.

const S3_URI = /^s3:\/\/([^/]+)\/(.+[^/])$/;

function metadataKey(key) {
  const slash = key.lastIndexOf('/');
  const dot = key.lastIndexOf('.');
  return (dot > slash ? key.slice(0, dot) : key) + '.json';
}

class ModelAccess {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:setupProviderConfiguration': () => this.grant() };
  }

  grant() {
    const { provider } = this.serverless.service;
    const uri = (provider.environment && provider.environment.MODEL_URI) || '';
    if (!uri.startsWith('s3://')) return;
    const match = S3_URI.exec(uri);
    if (!match) {
      throw new this.serverless.classes.Error(`MODEL_URI must be s3://bucket/key, got ${uri}`);
    }
    const [, bucket, key] = match;
    provider.iam = provider.iam || {};
    provider.iam.role = provider.iam.role || {};
    provider.iam.role.statements = provider.iam.role.statements || [];
    provider.iam.role.statements.push({
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: [key, metadataKey(key)].map((object) => ({
        'Fn::Sub': `arn:\${AWS::Partition}:s3:::${bucket}/${object}`,
      })),
    });
  }
}

module.exports = ModelAccess;
