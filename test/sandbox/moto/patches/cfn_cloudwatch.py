"""CloudFormation creates, updates and deletes AWS::CloudWatch::Alarm.

moto gap closed
---------------
moto 5.x's CloudFormation has no model for `AWS::CloudWatch::Alarm`: it warns
"not supported", creates nothing, and a `Ref` to the alarm resolves to the logical
ID, so DescribeAlarms never sees the tenant's alarm.

Why the product relies on it
----------------------------
The tenant stack (infra/cloudformation/tenant.yaml) creates the tenant's error-rate
alarm and outputs its name; the release's verify step watches it, and the sandbox
fault convention ("a tenant's CloudWatch alarm set to ALARM fails its verify step")
needs the alarm to exist so a test can SetAlarmState on it.

How it hooks into moto
----------------------
A new `CloudFormationModel` subclass for the type, over moto's CloudWatch backend
(`put_metric_alarm` / `delete_alarms`); its physical ID, and so its `Ref`, is the
alarm name, as in AWS. Updates re-put the alarm and keep its current state.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel


def _put(account_id: str, region_name: str, name: str, props: dict[str, Any]) -> None:
    cloudwatch_backends[account_id][region_name].put_metric_alarm(
        name=name,
        namespace=props.get("Namespace"),
        metric_name=props.get("MetricName"),
        comparison_operator=props["ComparisonOperator"],
        evaluation_periods=int(props["EvaluationPeriods"]),
        period=int(props.get("Period", 60)),
        threshold=float(props.get("Threshold", 0)),
        statistic=props.get("Statistic"),
        description=props.get("AlarmDescription"),
        dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions") or []],
        alarm_actions=props.get("AlarmActions") or [],
        ok_actions=props.get("OKActions") or [],
        insufficient_data_actions=props.get("InsufficientDataActions") or [],
        unit=props.get("Unit"),
        actions_enabled=props.get("ActionsEnabled", True) not in (False, "false"),
        treat_missing_data=props.get("TreatMissingData"),
    )


class CloudWatchAlarmResource(CloudFormationModel):
    def __init__(self, account_id: str, region_name: str, name: str):
        self.account_id = account_id
        self.region_name = region_name
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return cloudwatch_backends[self.account_id][self.region_name].alarms[self.name].alarm_arn

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc, override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any,
    ) -> "CloudWatchAlarmResource":
        props = cloudformation_json.get("Properties") or {}
        name = props.get("AlarmName") or resource_name
        _put(account_id, region_name, name, props)
        return cls(account_id, region_name, name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc, override]
        cls, original_resource: "CloudWatchAlarmResource", new_resource_name: str,
        cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> "CloudWatchAlarmResource":
        props = cloudformation_json.get("Properties") or {}
        name = props.get("AlarmName") or original_resource.name
        backend = cloudwatch_backends[account_id][region_name]
        previous = backend.alarms.get(original_resource.name)
        if name != original_resource.name:
            backend.delete_alarms([original_resource.name])
        _put(account_id, region_name, name, props)
        if previous is not None and name == original_resource.name:
            # A template change must not reset an alarm that is firing.
            backend.alarms[name].update_state(previous.state_reason, previous.state_reason_data, previous.state_value)
        return cls(account_id, region_name, name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc, override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> None:
        props = cloudformation_json.get("Properties") or {}
        cloudwatch_backends[account_id][region_name].delete_alarms([props.get("AlarmName") or resource_name])

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


def apply() -> None:
    # moto's model registry is CloudFormationModel.__subclasses__() behind lru caches.
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()
    assert cfn_parsing.get_model_map()["AWS::CloudWatch::Alarm"] is CloudWatchAlarmResource
