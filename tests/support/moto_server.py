"""moto's server, with the CloudFormation that an osls stack with an alias needs.

    python tests/moto_server.py -H 127.0.0.1 -p PORT

With SnapStart or provisioned concurrency, osls's template publishes a version
(AWS::Lambda::Version) and points an alias (AWS::Lambda::Alias) at it, and API
Gateway's integration and permission at the alias. moto 5.2 falls short of
CloudFormation there in three ways, all made good here and nothing else changed:

- ValidateTemplate (which `sls deploy` calls) runs cfn-lint and refuses a template on
  any match, warnings included, where CloudFormation runs no linter; the alias draws
  one warning (W3005: it both Refs the function and DependsOn it). Here only
  cfn-lint's errors, rules E..., refuse a template.
- Its CloudFormation creates no alias, a version has no `Version` attribute for the
  alias to name, and a Ref to a version gives moto's object, not the version's ARN.
  Here an AWS::Lambda::Alias is created with moto's own Lambda CreateAlias, on the
  version its FunctionVersion names, and a Ref to a version is its qualified ARN, as in
  CloudFormation.
- Its CloudFormation creates neither a Firehose delivery stream nor a log group's
  subscription filter (capture's delivery to S3). Here both are created with moto's own
  CreateDeliveryStream and PutSubscriptionFilter, so that events put into the log group
  reach the stream, and the stream writes them into S3 as moto does: each batch of
  events as CloudWatch Logs sends it (gzip of its JSON envelope), under the prefix as
  written (moto neither runs the stream's processors nor fills in its partition keys),
  and every event, whatever the filter's pattern (moto does not apply it).
- Its CloudFormation creates no CloudWatch alarm, CodeDeploy application or deployment
  group (a rollout's). Here each is created with moto's own PutMetricAlarm (metric math
  included), CreateApplication and CreateDeploymentGroup. moto's CloudFormation reads no
  UpdatePolicy, so no deploy through it ever starts a CodeDeploy deployment, and its
  CodeDeploy has no PutLifecycleEventHookExecutionStatus.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaAlias, LambdaVersion, lambda_backends
from moto.cloudformation import models
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudwatch.models import (
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.codedeploy.models import codedeploy_backends
from moto.core.common_models import CloudFormationModel
from moto.firehose.models import DeliveryStream, firehose_backends
from moto.logs.models import logs_backends
from moto.server import main
from moto.utilities.utils import get_partition

_lint = models.validate_template_cfn_lint


def _errors_only(template: str) -> list[Any]:
    return [match for match in _lint(template) if match.rule.id.startswith("E")]


def _version_attribute(self: LambdaVersion, attribute_name: str) -> str:
    if attribute_name == "Version":
        return str(self.version)
    raise UnformattedGetAttTemplateException()


_create_version = LambdaVersion.create_from_cloudformation_json


def _version_with_arn(
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> LambdaVersion:
    version = _create_version(resource_name, cloudformation_json, account_id, region_name, **kwargs)
    name = cloudformation_json["Properties"]["FunctionName"]
    partition = get_partition(region_name)
    arn = f"arn:{partition}:lambda:{region_name}:{account_id}:function:{name}:{version.version}"
    version.physical_resource_id = arn  # type: ignore[misc]
    return version


class CloudFormationAlias(CloudFormationModel):
    """An AWS::Lambda::Alias, created through moto's Lambda."""

    # moto files each model under its service, read from the module's name.
    __module__ = "moto.awslambda.rehearsal"

    def __init__(self, alias: LambdaAlias) -> None:
        self.alias = alias

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Alias"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AliasArn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "AliasArn":
            return self.alias.arn
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.alias.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudFormationAlias:
        properties = cloudformation_json["Properties"]
        alias = lambda_backends[account_id][region_name].create_alias(
            name=properties["Name"],
            function_name=properties["FunctionName"],
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),
        )
        return cls(alias)


class CloudFormationDeliveryStream(CloudFormationModel):
    """An AWS::KinesisFirehose::DeliveryStream, created through moto's Firehose."""

    __module__ = "moto.firehose.rehearsal"

    def __init__(self, stream: DeliveryStream) -> None:
        self.stream = stream

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::KinesisFirehose::DeliveryStream"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeliveryStreamName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return str(self.stream.delivery_stream_arn)
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return str(self.stream.delivery_stream_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudFormationDeliveryStream:
        properties = cloudformation_json["Properties"]
        backend = firehose_backends[account_id][region_name]
        name = properties.get("DeliveryStreamName", resource_name)
        backend.create_delivery_stream(
            region_name,
            name,
            properties.get("DeliveryStreamType", "DirectPut"),
            kinesis_stream_source_configuration=properties.get("KinesisStreamSourceConfiguration"),
            delivery_stream_encryption_configuration_input=properties.get(
                "DeliveryStreamEncryptionConfigurationInput"
            ),
            s3_destination_configuration=properties.get("S3DestinationConfiguration"),
            extended_s3_destination_configuration=properties.get(
                "ExtendedS3DestinationConfiguration"
            ),
            redshift_destination_configuration=None,
            elasticsearch_destination_configuration=None,
            splunk_destination_configuration=None,
            http_endpoint_destination_configuration=None,
            snowflake_destination_configuration=None,
            iceberg_destination_configuration=None,
            tags=properties.get("Tags", []),
        )
        return cls(backend.delivery_streams[name])


def _put_subscription_filter(
    name: str, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    logs_backends[account_id][region_name].put_subscription_filter(
        properties["LogGroupName"],
        name,
        properties["FilterPattern"],
        properties["DestinationArn"],
        properties.get("RoleArn", ""),
    )


def _query(query: dict[str, Any]) -> MetricDataQuery:
    """One member of an alarm's Metrics, as moto's PutMetricAlarm reads it."""
    stat = query.get("MetricStat")
    metric_stat = None
    if stat:
        metric = stat["Metric"]
        dimensions = [Dimension(d["Name"], str(d["Value"])) for d in metric.get("Dimensions", [])]
        metric_stat = MetricStat(
            Metric(metric["MetricName"], metric["Namespace"], dimensions),
            stat["Period"],
            stat["Stat"],
            stat.get("Unit"),
        )
    return MetricDataQuery(
        query["Id"],
        query.get("Label"),
        query.get("Period"),
        query.get("ReturnData"),
        expression=query.get("Expression"),
        metric_stat=metric_stat,
    )


def _put_alarm(name: str, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    metrics = properties.get("Metrics")
    cloudwatch_backends[account_id][region_name].put_metric_alarm(
        name=name,
        namespace=properties.get("Namespace"),
        metric_name=properties.get("MetricName"),
        comparison_operator=properties["ComparisonOperator"],
        evaluation_periods=properties["EvaluationPeriods"],
        period=properties.get("Period"),
        threshold=properties.get("Threshold"),
        statistic=properties.get("Statistic"),
        description=properties.get("AlarmDescription", ""),
        dimensions=[
            {"Name": d["Name"], "Value": str(d["Value"])} for d in properties.get("Dimensions", [])
        ],
        alarm_actions=properties.get("AlarmActions", []),
        metric_data_queries=[_query(q) for q in metrics] if metrics else None,
        datapoints_to_alarm=properties.get("DatapointsToAlarm"),
        extended_statistic=properties.get("ExtendedStatistic"),
        treat_missing_data=properties.get("TreatMissingData"),
    )


def _create_application(
    name: str, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    codedeploy_backends[account_id][region_name].create_application(
        name, properties.get("ComputePlatform", "Server"), properties.get("Tags", [])
    )


def _create_deployment_group(
    name: str, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    """With the API's own spelling of its members (camelCase) for what moto hands back."""
    alarms = properties.get("AlarmConfiguration")
    rollback = properties.get("AutoRollbackConfiguration")
    style = properties.get("DeploymentStyle")
    codedeploy_backends[account_id][region_name].create_deployment_group(
        application_name=properties["ApplicationName"],
        deployment_group_name=name,
        deployment_config_name=properties.get("DeploymentConfigName"),
        ec2_tag_filters=None,
        on_premises_instance_tag_filters=None,
        auto_scaling_groups=None,
        service_role_arn=properties["ServiceRoleArn"],
        alarm_configuration=alarms
        and {
            "enabled": alarms.get("Enabled", False),
            "alarms": [{"name": a["Name"]} for a in alarms.get("Alarms", [])],
        },  # type: ignore[arg-type]
        auto_rollback_configuration=rollback
        and {"enabled": rollback.get("Enabled", False), "events": rollback.get("Events", [])},
        deployment_style=style
        and {
            "deploymentType": style.get("DeploymentType"),
            "deploymentOption": style.get("DeploymentOption"),
        },
    )


def _named_resource(
    cloudformation_type: str,
    name_property: str,
    service: str,
    create: Callable[[str, dict[str, Any], str, str], None],
) -> type[CloudFormationModel]:
    """A CloudFormation model of a resource known by its name (`name_property`, else the
    logical id), created by `create(name, properties, account, region)` through moto's
    own backend. moto finds models among CloudFormationModel's direct subclasses, and
    files each under its service, read from the module's name."""

    def __init__(self: Any, name: str) -> None:
        self.name = name

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get(name_property, resource_name)
        create(name, properties, account_id, region_name)
        return cls(name)

    # Built with type(): moto's metaclass files the class when it is made, by its name
    # and its module's, so both are set from the start.
    return type(
        "CloudFormation" + cloudformation_type.replace("::", ""),
        (CloudFormationModel,),
        {
            "__module__": f"moto.{service}.rehearsal",
            "__init__": __init__,
            "cloudformation_type": staticmethod(lambda: cloudformation_type),
            "cloudformation_name_type": staticmethod(lambda: name_property),
            "physical_resource_id": property(lambda self: self.name),
            "create_from_cloudformation_json": classmethod(create_from_cloudformation_json),
        },
    )


NAMED_RESOURCES = [
    _named_resource(
        "AWS::Logs::SubscriptionFilter", "FilterName", "logs", _put_subscription_filter
    ),
    _named_resource("AWS::CloudWatch::Alarm", "AlarmName", "cloudwatch", _put_alarm),
    _named_resource(
        "AWS::CodeDeploy::Application", "ApplicationName", "codedeploy", _create_application
    ),
    _named_resource(
        "AWS::CodeDeploy::DeploymentGroup",
        "DeploymentGroupName",
        "codedeploy",
        _create_deployment_group,
    ),
]

models.validate_template_cfn_lint = _errors_only
LambdaVersion.get_cfn_attribute = _version_attribute  # type: ignore[attr-defined]
LambdaVersion.create_from_cloudformation_json = _version_with_arn  # type: ignore[assignment]

if __name__ == "__main__":
    main(sys.argv[1:])
