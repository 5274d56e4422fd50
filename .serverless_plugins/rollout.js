'use strict';

// Canary and linear rollouts of the api function: CodeDeploy shifts an alias from the
// old version to the new one in steps, and rolls it back when an alarm fires.
//
// custom.rollout.config (param rollout): one of CodeDeploy's predefined Lambda
// configurations, with or without its CodeDeployDefault.Lambda prefix. AllAtOnce, the
// default, changes nothing: the stack stays exactly as without this plugin. Any other:
// - METRICS_BY_FUNCTION_VERSION=true in the api function's environment, so that every
//   request line also counts its metrics by service and function_version;
// - the alias "live" on the version osls publishes, which API Gateway invokes, with an
//   UpdatePolicy that hands each change of its version to CodeDeploy (an application,
//   a deployment group with the configuration, the alarms and automatic rollback, and
//   a service role). SnapStart applies to published versions and provisioned
//   concurrency to an alias, so both still combine: osls's own alias (snapstart or
//   provisioned) is replaced by "live", which takes over its provisioned concurrency,
//   and API Gateway invokes exactly one alias;
// - CloudWatch alarms on the new version's own metrics (namespace METRICS_NAMESPACE,
//   dimensions service and function_version): the 5xx rate, p99 latency, and, when the
//   served model has reference statistics, the unseen-category rate, and, with a shadow
//   model, the rate of rows on which the shadow disagrees. Missing data never breaches;
// - a pre-traffic hook (app/aws/pre_traffic.py), a second function in the same bundle,
//   which invokes the new version with the model's example rows before any traffic
//   reaches it, with its own role: invoke that version, report to that deployment
//   group, write its own logs.
//
// Why not serverless-plugin-canary-deployments 0.8.0: under osls 4 it packages, but with
// provisioned concurrency it points API Gateway at its own alias and leaves the invoke
// permission on osls's (API Gateway could then not call the function), it grants the
// hook's CodeDeploy right on the role the api function runs with too, gives its
// CodeDeploy role AWSLambda_FullAccess, creates no alarms, and sends an unknown
// configuration name on to fail at deploy time.
//
// Every parameter is checked at initialize, before anything is built; a bad one stops
// the command with a message that names it.

const { servedModel, metadataText, parseMetadata } = require('./model-files');
const { secretResource } = require('./read-access');

const PREFIX = 'CodeDeployDefault.Lambda';
const CONFIGS = [
  'AllAtOnce',
  'Canary10Percent5Minutes',
  'Canary10Percent10Minutes',
  'Canary10Percent15Minutes',
  'Canary10Percent30Minutes',
  'Linear10PercentEvery1Minute',
  'Linear10PercentEvery2Minutes',
  'Linear10PercentEvery3Minutes',
  'Linear10PercentEvery10Minutes',
];
const ALIAS = 'live';
const FUNCTION = 'api';
const HOOK = 'preTraffic';
const HOOK_HANDLER = 'app.aws.pre_traffic.handler';
// Alarms look at one-minute windows: the shortest step of any configuration.
const PERIOD_SECONDS = 60;
// custom.rollout's keys -> the deploy parameter each comes from, for messages.
const PARAMETERS = {
  config: 'rollout',
  maxErrorRate: 'rolloutMaxErrorRate',
  maxP99Ms: 'rolloutMaxP99Ms',
  maxUnseenRate: 'rolloutMaxUnseenRate',
  maxDisagreement: 'rolloutMaxDisagreement',
};

const LOGICAL_IDS = {
  alias: 'ApiRolloutLambdaAlias',
  application: 'RolloutApplication',
  group: 'RolloutDeploymentGroup',
  codeDeployRole: 'RolloutCodeDeployRole',
  hookRole: 'RolloutHookRole',
  errorRate: 'RolloutErrorRateAlarm',
  latency: 'RolloutLatencyAlarm',
  unseenRate: 'RolloutUnseenCategoryAlarm',
  disagreement: 'RolloutShadowDisagreementAlarm',
};

class Rollout {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      initialize: () => this.prepare(),
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.compile(),
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  text(value) {
    return value == null ? '' : String(value).trim();
  }

  // The configuration's short name (Canary10Percent5Minutes), or a failure naming rollout.
  configName(value) {
    const given = this.text(value) || 'AllAtOnce';
    const name = given.startsWith(PREFIX) ? given.slice(PREFIX.length) : given;
    if (!CONFIGS.includes(name)) {
      this.fail(
        `rollout must be one of CodeDeploy's Lambda configurations, ${CONFIGS.join(', ')} ` +
          `(with or without the prefix ${PREFIX}), got "${given}"`
      );
    }
    return name;
  }

  number(settings, key, { max, integer }) {
    const raw = this.text(settings[key]);
    const value = Number(raw);
    const bad =
      raw === '' ||
      !Number.isFinite(value) ||
      value < 0 ||
      (max !== undefined && value > max) ||
      (integer && !Number.isInteger(value));
    if (bad) {
      const what = max !== undefined ? `a number from 0 to ${max}` : 'a whole number of 0 or more';
      this.fail(`${PARAMETERS[key]} must be ${what}, got "${settings[key]}"`);
    }
    return value;
  }

  settings() {
    const { service } = this.serverless;
    const settings = (service.custom && service.custom.rollout) || {};
    const config = this.configName(settings.config);
    return {
      config,
      maxErrorRate: this.number(settings, 'maxErrorRate', { max: 1 }),
      maxP99Ms: this.number(settings, 'maxP99Ms', { integer: true }),
      maxUnseenRate: this.number(settings, 'maxUnseenRate', { max: 1 }),
      maxDisagreement: this.number(settings, 'maxDisagreement', { max: 1 }),
      shadow: Boolean(this.text(settings.shadowModelUri)),
    };
  }

  on(settings) {
    return settings.config !== 'AllAtOnce';
  }

  prepare() {
    const settings = this.settings();
    this.rollout = settings;
    if (!this.on(settings)) return;
    const { service } = this.serverless;
    const api = service.functions && service.functions[FUNCTION];
    if (!api) this.fail(`rollout needs the function "${FUNCTION}"`);
    const model = servedModel(this.serverless);
    this.model = model;
    api.environment = { ...(api.environment || {}), METRICS_BY_FUNCTION_VERSION: 'true' };
    const stage = this.serverless.getProvider('aws').getStage();
    service.functions[HOOK] = {
      handler: HOOK_HANDLER,
      name: `${service.service}-${stage}-${HOOK}`,
      description: 'Checks a new version of the api function before CodeDeploy shifts traffic',
      memorySize: 256,
      timeout: 60,
      role: LOGICAL_IDS.hookRole,
      // CodeDeploy calls the function itself, never a version of it.
      versionFunction: false,
      events: [],
    };
  }

  async compile() {
    if (!this.rollout || !this.on(this.rollout)) return;
    const provider = this.serverless.getProvider('aws');
    const { naming } = provider;
    const { service } = this.serverless;
    const template = service.provider.compiledCloudFormationTemplate;
    const resources = template.Resources;
    const functionId = naming.getLambdaLogicalId(FUNCTION);
    const hookId = naming.getLambdaLogicalId(HOOK);
    const versionIds = Object.keys(resources).filter(
      (id) =>
        resources[id].Type === 'AWS::Lambda::Version' &&
        (resources[id].Properties.FunctionName || {}).Ref === functionId
    );
    if (versionIds.length !== 1) {
      this.fail(
        `rollout=${this.rollout.config} shifts traffic between published versions, and ` +
          'this stack publishes none of the api function: leave versionFunctions on'
      );
    }
    const [versionId] = versionIds;
    const functionName = service.functions[FUNCTION].name;
    const hookName = service.functions[HOOK].name;
    const namespace = this.text(service.provider.environment.METRICS_NAMESPACE);

    // osls's own alias (snapstart or provisioned) gives way to "live".
    const oslsAliases = Object.keys(resources).filter(
      (id) => resources[id].Type === 'AWS::Lambda::Alias'
    );
    const provisioned = oslsAliases
      .map((id) => resources[id].Properties.ProvisionedConcurrencyConfig)
      .find(Boolean);
    for (const id of oslsAliases) delete resources[id];

    const alias = LOGICAL_IDS.alias;
    resources[alias] = {
      Type: 'AWS::Lambda::Alias',
      Properties: {
        FunctionName: { Ref: functionId },
        FunctionVersion: { 'Fn::GetAtt': [versionId, 'Version'] },
        Name: ALIAS,
        ...(provisioned ? { ProvisionedConcurrencyConfig: provisioned } : {}),
      },
      // The hook's environment names the new version: it must be updated before
      // CodeDeploy calls it, or it would check the version before.
      DependsOn: [functionId, hookId],
      UpdatePolicy: {
        CodeDeployLambdaAliasUpdate: {
          ApplicationName: { Ref: LOGICAL_IDS.application },
          DeploymentGroupName: { Ref: LOGICAL_IDS.group },
          BeforeAllowTrafficHook: { Ref: hookId },
        },
      },
    };
    this.pointApiGatewayAt(resources, functionId, oslsAliases);

    const dimensions = [
      { Name: 'service', Value: functionName },
      { Name: 'function_version', Value: { 'Fn::GetAtt': [versionId, 'Version'] } },
    ];
    const alarms = await this.alarms(namespace, dimensions);
    Object.assign(resources, alarms);

    Object.assign(resources, {
      [LOGICAL_IDS.application]: {
        Type: 'AWS::CodeDeploy::Application',
        Properties: { ComputePlatform: 'Lambda' },
      },
      [LOGICAL_IDS.group]: {
        Type: 'AWS::CodeDeploy::DeploymentGroup',
        Properties: {
          ApplicationName: { Ref: LOGICAL_IDS.application },
          ServiceRoleArn: { 'Fn::GetAtt': [LOGICAL_IDS.codeDeployRole, 'Arn'] },
          DeploymentConfigName: `${PREFIX}${this.rollout.config}`,
          DeploymentStyle: {
            DeploymentType: 'BLUE_GREEN',
            DeploymentOption: 'WITH_TRAFFIC_CONTROL',
          },
          AlarmConfiguration: {
            Enabled: true,
            Alarms: Object.keys(alarms).map((id) => ({ Name: { Ref: id } })),
          },
          AutoRollbackConfiguration: {
            Enabled: true,
            Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'],
          },
        },
      },
      [LOGICAL_IDS.codeDeployRole]: codeDeployRole(functionName, hookName),
      [LOGICAL_IDS.hookRole]: hookRole(versionId, hookName, this.hookReads()),
    });

    // The hook gets what it uses, and none of the api function's other settings: the
    // metadata (a path in the bundle, or its s3:// URI and pin), and the keys' secret.
    const environment = service.provider.environment || {};
    const variables = { ROLLOUT_TARGET: { Ref: versionId }, MODEL_METADATA: this.model.metadata };
    const pin = this.text(environment.MODEL_METADATA_SHA256);
    if (this.model.bucket && pin) variables.MODEL_METADATA_SHA256 = pin;
    const secret = this.text(environment.API_KEYS_SECRET);
    if (secret) variables.API_KEYS_SECRET = secret;
    resources[hookId].Properties.Environment = { Variables: variables };
  }

  // What the hook reads beyond the bundle, as IAM statements: an S3 model's metadata
  // object, and the API keys' secret.
  hookReads() {
    const fail = (message) => this.fail(message);
    const environment = this.serverless.service.provider.environment || {};
    const reads = [];
    if (this.model.bucket) {
      reads.push({
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: [arn(`arn:\${AWS::Partition}:s3:::${this.model.metadata.slice('s3://'.length)}`)],
      });
    }
    const secret = this.text(environment.API_KEYS_SECRET);
    if (secret) {
      reads.push({
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [secretResource('API_KEYS_SECRET', secret, fail)],
      });
    }
    return reads;
  }

  pointApiGatewayAt(resources, functionId, replaced) {
    const aliasArn = { Ref: LOGICAL_IDS.alias };
    for (const resource of Object.values(resources)) {
      if (resource.Type === 'AWS::ApiGateway::Method') {
        const integration = resource.Properties.Integration || {};
        if (!JSON.stringify(integration.Uri || '').includes(`"${functionId}"`)) continue;
        integration.Uri = {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':apigateway:',
              { Ref: 'AWS::Region' },
              ':lambda:path/2015-03-31/functions/',
              aliasArn,
              '/invocations',
            ],
          ],
        };
        const depends = [].concat(resource.DependsOn || []).filter((id) => !replaced.includes(id));
        resource.DependsOn = [...depends, LOGICAL_IDS.alias];
      } else if (
        resource.Type === 'AWS::Lambda::Permission' &&
        JSON.stringify(resource.Properties.FunctionName).includes(`"${functionId}"`)
      ) {
        resource.Properties.FunctionName = aliasArn;
        resource.DependsOn = LOGICAL_IDS.alias;
      }
    }
  }

  async alarms(namespace, dimensions) {
    const { rollout } = this;
    const metric = (id, name, stat) => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: namespace, MetricName: name, Dimensions: dimensions },
        Period: PERIOD_SECONDS,
        Stat: stat,
      },
      ReturnData: false,
    });
    const rate = (description, threshold, metrics, expression) => ({
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: description,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: threshold,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'notBreaching',
        Metrics: [...metrics, { Id: 'rate', Expression: expression, ReturnData: true }],
      },
    });
    const alarms = {
      [LOGICAL_IDS.errorRate]: rate(
        'Share of the new version\'s requests answered 5xx (rolloutMaxErrorRate)',
        rollout.maxErrorRate,
        [metric('errors', 'server_errors', 'Sum'), metric('requests', 'requests', 'Sum')],
        'errors / requests'
      ),
      [LOGICAL_IDS.latency]: {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          AlarmDescription: 'p99 latency of the new version, in ms (rolloutMaxP99Ms)',
          Namespace: namespace,
          MetricName: 'latency_ms',
          Dimensions: dimensions,
          ExtendedStatistic: 'p99',
          Period: PERIOD_SECONDS,
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: rollout.maxP99Ms,
          EvaluationPeriods: 1,
          DatapointsToAlarm: 1,
          TreatMissingData: 'notBreaching',
        },
      },
    };
    // The served model's metadata: from the repo, or read from S3 once per command.
    const metadata = parseMetadata(await metadataText(this.serverless, this.model));
    if (metadata.reference != null) {
      alarms[LOGICAL_IDS.unseenRate] = rate(
        'Share of the new version\'s rows with a category training never saw (rolloutMaxUnseenRate)',
        rollout.maxUnseenRate,
        [metric('unseen', 'rows_unseen_category', 'Sum'), metric('rows', 'rows', 'Sum')],
        'unseen / rows'
      );
    }
    if (rollout.shadow) {
      const agreeing =
        metadata.task === 'regression' ? 'shadow_rows_within_tolerance' : 'shadow_rows_agreeing';
      alarms[LOGICAL_IDS.disagreement] = rate(
        'Share of the new version\'s rows on which the shadow model disagrees (rolloutMaxDisagreement)',
        rollout.maxDisagreement,
        [metric('agreeing', agreeing, 'Sum'), metric('shadow', 'shadow_rows', 'Sum')],
        '1 - agreeing / shadow'
      );
    }
    return alarms;
  }
}

const arn = (text) => ({ 'Fn::Sub': text });
const FUNCTION_ARN = 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:';

function assumedBy(principal) {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { Service: principal }, Action: 'sts:AssumeRole' },
    ],
  };
}

// What CodeDeploy does to shift a Lambda alias (the actions of AWS's managed
// AWSCodeDeployRoleForLambdaLimited, on this function and this hook alone).
function codeDeployRole(functionName, hookName) {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: assumedBy('codedeploy.amazonaws.com'),
      Policies: [
        {
          PolicyName: 'shift-traffic',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: [
                  'lambda:GetAlias',
                  'lambda:UpdateAlias',
                  'lambda:GetProvisionedConcurrencyConfig',
                ],
                Resource: [
                  arn(`${FUNCTION_ARN}${functionName}`),
                  arn(`${FUNCTION_ARN}${functionName}:*`),
                ],
              },
              {
                Effect: 'Allow',
                Action: ['lambda:InvokeFunction'],
                Resource: [arn(`${FUNCTION_ARN}${hookName}`)],
              },
              // DescribeAlarms takes no resource narrower than the account's alarms.
              { Effect: 'Allow', Action: ['cloudwatch:DescribeAlarms'], Resource: ['*'] },
            ],
          },
        },
      ],
    },
  };
}

function hookRole(versionId, hookName, reads) {
  const logGroup = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${hookName}`;
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: assumedBy('lambda.amazonaws.com'),
      Policies: [
        {
          PolicyName: 'check-new-version',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              // The version being deployed, and nothing else of the api function.
              { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [{ Ref: versionId }] },
              {
                Effect: 'Allow',
                Action: ['codedeploy:PutLifecycleEventHookExecutionStatus'],
                Resource: [
                  arn(
                    'arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:' +
                      `deploymentgroup:\${${LOGICAL_IDS.application}}/\${${LOGICAL_IDS.group}}`
                  ),
                ],
              },
              {
                Effect: 'Allow',
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                Resource: [arn(`${logGroup}:*`)],
              },
              ...reads,
            ],
          },
        },
      ],
    },
  };
}

module.exports = Rollout;
module.exports.CONFIGS = CONFIGS;
module.exports.LOGICAL_IDS = LOGICAL_IDS;
module.exports.HOOK_HANDLER = HOOK_HANDLER;
