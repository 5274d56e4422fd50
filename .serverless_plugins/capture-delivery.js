'use strict';

// Capture (app/http/capture.py) from deploy parameters, and its delivery to S3.
//
// custom.capture.sampleRate above 0 sets CAPTURE_SAMPLE_RATE, with the masking and the
// row bound beside it (CAPTURE_EXCLUDE, CAPTURE_HASH, CAPTURE_HASH_KEY_SECRET,
// CAPTURE_MAX_ROWS). The app checks their values at start-up, which the bundle's proof
// runs; here only what the stack itself is built from is checked.
//
// custom.capture.bucket adds the way from the function's log group to that bucket:
// - a subscription filter that selects capture records ({ $.record = "capture" });
// - a Firehose delivery stream that decompresses what CloudWatch Logs sends, keeps the
//   messages alone, partitions them by model name, version and date (jq on the record,
//   and the time of arrival), and writes them GZIP-compressed, one record per line,
//   under the prefix: PREFIX model=NAME/version=VERSION/date=YYYY-MM-DD/;
// - a role for CloudWatch Logs that may put records into that stream and nothing else,
//   and one for Firehose that may write under that prefix of that bucket and nothing
//   else (records it cannot partition go under PREFIX errors/).
// The bucket is the user's own and is not created here. Without a bucket and with a
// sample rate of 0, the stack is unchanged.

const BUCKET_NAME = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^([A-Za-z0-9!_.*'()-]+\/)*$/;
// Firehose's limits with dynamic partitioning: a buffer of at least 64 MiB, flushed
// after 60 to 900 seconds, whichever comes first.
const BUFFER_MB = 64;
const BUFFER_SECONDS = [60, 900];
// A capture record's "record" member, as app/http/capture.py writes it.
const FILTER_PATTERN = '{ $.record = "capture" }';
// Partition keys from the record; a refused request before any model was loaded has no
// name or version.
const PARTITION_QUERY = '{model: (.model_name // "none"), version: (.model_version // "none")}';

const ENVIRONMENT = {
  exclude: 'CAPTURE_EXCLUDE',
  hash: 'CAPTURE_HASH',
  hashKeySecret: 'CAPTURE_HASH_KEY_SECRET',
  maxRows: 'CAPTURE_MAX_ROWS',
};

class CaptureDelivery {
  constructor(serverless) {
    this.serverless = serverless;
    // initialize runs before every command: the bundle's proof, read-access and
    // `sls print` all see the capture variables.
    this.hooks = { initialize: () => this.apply() };
  }

  fail(message) {
    throw new this.serverless.classes.Error(`custom.capture: ${message}`);
  }

  text(value) {
    return value == null ? '' : String(value).trim();
  }

  apply() {
    const { service } = this.serverless;
    const settings = (service.custom && service.custom.capture) || {};
    const rateText = this.text(settings.sampleRate) || '0';
    const rate = Number(rateText);
    if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
      this.fail(`sampleRate must be a number from 0 to 1, got ${settings.sampleRate}`);
    }
    const bucket = this.text(settings.bucket);
    const masking = Object.keys(ENVIRONMENT).filter((name) => this.text(settings[name]));
    if (rate === 0) {
      if (bucket || masking.length) {
        this.fail(
          `${[bucket && 'bucket', ...masking].filter(Boolean).join(', ')} given, but ` +
            'sampleRate is 0: capture is off. Pass --param="captureSampleRate=R" with R ' +
            'from 0 to 1 as well.'
        );
      }
      return;
    }
    const environment = { CAPTURE_SAMPLE_RATE: rateText };
    masking.forEach((name) => {
      environment[ENVIRONMENT[name]] = this.text(settings[name]);
    });
    service.provider.environment = { ...service.provider.environment, ...environment };
    if (bucket) this.deliver(bucket, settings);
  }

  deliver(bucket, settings) {
    if (!BUCKET_NAME.test(bucket)) this.fail(`bucket must be an S3 bucket name, got ${bucket}`);
    const prefix = this.text(settings.prefix);
    if (!prefix || !PREFIX.test(prefix)) {
      this.fail(`prefix must be folder names each ending in "/", like captures/, got ${prefix}`);
    }
    const seconds = Number(this.text(settings.bufferSeconds));
    if (!Number.isInteger(seconds) || seconds < BUFFER_SECONDS[0] || seconds > BUFFER_SECONDS[1]) {
      this.fail(
        `bufferSeconds must be an integer from ${BUFFER_SECONDS[0]} to ${BUFFER_SECONDS[1]}, ` +
          `got ${settings.bufferSeconds}`
      );
    }
    const { service } = this.serverless;
    const provider = this.serverless.getProvider('aws');
    const functionName = Object.keys(service.functions || {})[0];
    const logGroup = provider.naming.getLogGroupLogicalId(functionName);
    const streamName = `${service.service}-${provider.getStage()}-captures`;
    service.resources = service.resources || {};
    service.resources.Resources = {
      ...(service.resources.Resources || {}),
      ...captureResources({ bucket, prefix, seconds, logGroup, streamName }),
    };
    service.resources.Outputs = {
      ...(service.resources.Outputs || {}),
      CaptureDeliveryStreamName: {
        Description: 'The Firehose stream that writes capture records to S3',
        Value: { Ref: 'CaptureDeliveryStream' },
      },
      CaptureLocation: {
        Description: 'Where capture records arrive',
        Value: `s3://${bucket}/${prefix}`,
      },
    };
  }
}

function assumedBy(principal, condition) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: principal },
        Action: 'sts:AssumeRole',
        Condition: condition,
      },
    ],
  };
}

function captureResources({ bucket, prefix, seconds, logGroup, streamName }) {
  const bucketArn = { 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${bucket}` };
  const objectsArn = { 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${bucket}/${prefix}*` };
  const streamArn = { 'Fn::GetAtt': ['CaptureDeliveryStream', 'Arn'] };
  return {
    CaptureDeliveryRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        // Only Firehose acting for this account.
        AssumeRolePolicyDocument: assumedBy('firehose.amazonaws.com', {
          StringEquals: { 'sts:ExternalId': { Ref: 'AWS::AccountId' } },
        }),
        Policies: [
          {
            PolicyName: 'write-captures',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Action: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
                  Resource: [bucketArn],
                },
                {
                  Effect: 'Allow',
                  Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
                  Resource: [objectsArn],
                },
              ],
            },
          },
        ],
      },
    },
    CaptureDeliveryStream: {
      Type: 'AWS::KinesisFirehose::DeliveryStream',
      Properties: {
        DeliveryStreamName: streamName,
        DeliveryStreamType: 'DirectPut',
        ExtendedS3DestinationConfiguration: {
          BucketARN: bucketArn,
          RoleARN: { 'Fn::GetAtt': ['CaptureDeliveryRole', 'Arn'] },
          Prefix:
            `${prefix}model=!{partitionKeyFromQuery:model}/` +
            'version=!{partitionKeyFromQuery:version}/date=!{timestamp:yyyy-MM-dd}/',
          ErrorOutputPrefix: `${prefix}errors/!{firehose:error-output-type}/date=!{timestamp:yyyy-MM-dd}/`,
          BufferingHints: { SizeInMBs: BUFFER_MB, IntervalInSeconds: seconds },
          CompressionFormat: 'GZIP',
          DynamicPartitioningConfiguration: { Enabled: true },
          ProcessingConfiguration: {
            Enabled: true,
            Processors: [
              // CloudWatch Logs sends each batch of events gzipped in an envelope.
              {
                Type: 'Decompression',
                Parameters: [{ ParameterName: 'CompressionFormat', ParameterValue: 'GZIP' }],
              },
              {
                Type: 'CloudWatchLogProcessing',
                Parameters: [{ ParameterName: 'DataMessageExtraction', ParameterValue: 'true' }],
              },
              {
                Type: 'MetadataExtraction',
                Parameters: [
                  { ParameterName: 'MetadataExtractionQuery', ParameterValue: PARTITION_QUERY },
                  { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
                ],
              },
              { Type: 'AppendDelimiterToRecord' },
            ],
          },
        },
      },
    },
    CaptureSubscriptionRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        // Only CloudWatch Logs acting for this account and region.
        AssumeRolePolicyDocument: assumedBy('logs.amazonaws.com', {
          StringLike: {
            'aws:SourceArn': { 'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*' },
          },
        }),
        Policies: [
          {
            PolicyName: 'send-captures',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Action: ['firehose:PutRecord', 'firehose:PutRecordBatch'],
                  Resource: [streamArn],
                },
              ],
            },
          },
        ],
      },
    },
    CaptureSubscriptionFilter: {
      Type: 'AWS::Logs::SubscriptionFilter',
      Properties: {
        LogGroupName: { Ref: logGroup },
        FilterPattern: FILTER_PATTERN,
        DestinationArn: streamArn,
        RoleArn: { 'Fn::GetAtt': ['CaptureSubscriptionRole', 'Arn'] },
      },
    },
  };
}

module.exports = CaptureDelivery;
module.exports.FILTER_PATTERN = FILTER_PATTERN;
module.exports.PARTITION_QUERY = PARTITION_QUERY;
