"""CloudFormation manages target groups, listener rules and log groups the way AWS does.

moto gaps closed
----------------
* `AWS::ElasticLoadBalancingV2::TargetGroup`: moto ignores `TargetGroupAttributes`
  (the deregistration delay) and `Tags`, cannot update a target group (a changed health
  check is silently kept old) and never deletes one (a deleted stack leaves it behind).
* `AWS::ElasticLoadBalancingV2::ListenerRule`: moto ignores a changed `Priority` and
  never deletes the rule: a deprovisioned tenant's hostname would keep its rule (and its
  target group, which the rule keeps in use, could not be deleted either).
* `AWS::Logs::LogGroup`: moto ignores `RetentionInDays` (it reads the API's camelCase
  key) and cannot update it.

Why the product relies on it
----------------------------
The tenant traffic stack (infra/cloudformation/tenant-traffic.yaml) creates each
tenant's target group with the spec's health check and deregistration delay, its
host-header rule, and (ECS) its log group; deprovisioning deletes the stack, after
which the tenant's hostnames must fall through to the listener's 404 default action.

How it hooks into moto
----------------------
Wraps `FakeTargetGroup.create_from_cloudformation_json` and adds its
`update_from_cloudformation_json` and `delete`; wraps
`FakeListenerRule.create_from_cloudformation_json` and `update_from_cloudformation_json`
and adds its `delete`; wraps
`LogGroup.create_from_cloudformation_json` and adds its `update_from_cloudformation_json`.
"""

from __future__ import annotations

from typing import Any

from moto.elbv2 import models as elbv2_models
from moto.logs import models as logs_models


def _attributes(properties: dict[str, Any]) -> dict[str, str]:
    return {str(a["Key"]): str(a["Value"]) for a in properties.get("TargetGroupAttributes") or []}


def _backend(account_id: str, region_name: str) -> Any:
    return elbv2_models.elbv2_backends[account_id][region_name]


def _configure_target_group(target_group: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    attributes = _attributes(properties)
    if attributes:
        backend.modify_target_group_attributes(target_group.arn, attributes)
    tags = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in properties.get("Tags") or []]
    if tags:
        backend.add_tags([target_group.arn], tags)


def _wrap_target_group_create(original: Any) -> Any:
    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        target_group = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _configure_target_group(target_group, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return target_group

    return create


def _target_group_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                         account_id: str, region_name: str) -> Any:
    """Health check and attributes change in place (AWS's update without replacement);
    the tenant template never changes the properties that would replace the group."""
    properties = cloudformation_json.get("Properties") or {}
    matcher = properties.get("Matcher") or {}
    _backend(account_id, region_name).modify_target_group(
        original_resource.arn,
        health_check_proto=properties.get("HealthCheckProtocol"),
        health_check_port=properties.get("HealthCheckPort"),
        health_check_path=properties.get("HealthCheckPath"),
        health_check_interval=_int(properties.get("HealthCheckIntervalSeconds")),
        health_check_timeout=_int(properties.get("HealthCheckTimeoutSeconds")),
        healthy_threshold_count=properties.get("HealthyThresholdCount"),
        unhealthy_threshold_count=properties.get("UnhealthyThresholdCount"),
        http_codes=matcher.get("HttpCode"),
    )
    _configure_target_group(original_resource, properties, account_id, region_name)
    return original_resource


def _target_group_delete(self: Any, account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    if self.arn in backend.target_groups:
        backend.delete_target_group(self.arn)


def _wrap_rule_create(original: Any) -> Any:
    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        # moto compares priorities as given; CloudFormation passes parameters as strings.
        if properties.get("Priority") is not None:
            properties["Priority"] = int(properties["Priority"])
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    return create


def _wrap_rule_update(original: Any) -> Any:
    def update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str,
               region_name: str) -> Any:
        rule = original(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        priority = (cloudformation_json.get("Properties") or {}).get("Priority")
        if priority is not None and int(priority) != int(rule.priority):
            _backend(account_id, region_name).set_rule_priorities([{"RuleArn": rule.arn, "Priority": int(priority)}])
        return rule

    return update


def _rule_delete(self: Any, account_id: str, region_name: str) -> None:
    _backend(account_id, region_name).delete_rule(self.arn)


def _wrap_log_group_create(original: Any) -> Any:
    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        group = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        retention = (cloudformation_json.get("Properties") or {}).get("RetentionInDays")
        if retention is not None:
            logs_models.logs_backends[account_id][region_name].put_retention_policy(group.name, int(retention))
        return group

    return create


def _log_group_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                      account_id: str, region_name: str) -> Any:
    retention = (cloudformation_json.get("Properties") or {}).get("RetentionInDays")
    backend = logs_models.logs_backends[account_id][region_name]
    if retention is None:
        backend.delete_retention_policy(original_resource.name)
    else:
        backend.put_retention_policy(original_resource.name, int(retention))
    return original_resource


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def apply() -> None:
    target_group = elbv2_models.FakeTargetGroup
    if getattr(target_group, "__sandbox_cfn_elbv2__", False):
        return
    target_group.__sandbox_cfn_elbv2__ = True  # type: ignore[attr-defined]
    target_group.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign]
        _wrap_target_group_create(target_group.create_from_cloudformation_json.__func__))  # type: ignore[attr-defined]
    target_group.update_from_cloudformation_json = classmethod(_target_group_update)  # type: ignore[method-assign, assignment]
    target_group.delete = _target_group_delete  # type: ignore[attr-defined]

    rule = elbv2_models.FakeListenerRule
    rule.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign]
        _wrap_rule_create(rule.create_from_cloudformation_json.__func__))  # type: ignore[attr-defined]
    rule.update_from_cloudformation_json = classmethod(  # type: ignore[method-assign]
        _wrap_rule_update(rule.update_from_cloudformation_json.__func__))  # type: ignore[attr-defined]
    rule.delete = _rule_delete  # type: ignore[attr-defined]

    log_group = logs_models.LogGroup
    log_group.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign]
        _wrap_log_group_create(log_group.create_from_cloudformation_json.__func__))  # type: ignore[attr-defined]
    log_group.update_from_cloudformation_json = classmethod(_log_group_update)  # type: ignore[method-assign, assignment]
