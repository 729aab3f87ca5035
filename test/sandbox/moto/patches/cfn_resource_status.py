"""Per-resource status in DescribeStackResource(s) / ListStackResources.

moto gap closed
---------------
moto reports every stack resource with the *stack's* status
(DescribeStackResources) or a hard-coded CREATE_COMPLETE (ListStackResources),
and a fixed 2010 timestamp; resources that moto could not create (unsupported
types, false conditions) appear as empty entries or crash the call.

Why the product relies on it
----------------------------
Failure diagnostics and the demo's summary read resource statuses; after a
rollback or a failed deletion the listed resources must be the ones that really
exist, with their real status.

How it hooks into moto
----------------------
Wraps `StackResourceDTO.__init__`, replaces `CloudFormationResponse.list_stack_resources`
and `CloudFormationBackend.describe_stack_resource(s)`. The statuses are those
cfn_engine records with each resource event (`ResourceMap._sandbox_status`).
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError


def _physical_id(resource: Any) -> str | None:
    try:
        value = getattr(resource, "physical_resource_id", None)
    except Exception:  # noqa: BLE001 - some moto models raise from this property
        return None
    return value if isinstance(value, str) else None




def _resource_status(stack: Any, resource: Any) -> tuple[str, Any]:
    statuses = getattr(stack.resource_map, "_sandbox_status", {})
    logical = getattr(resource, "logical_resource_id", None)
    if logical in statuses:
        return statuses[logical]
    return ("CREATE_COMPLETE", stack.creation_time)


def _visible(stack: Any, resource: Any) -> bool:
    """False for a resource the stack's running operation has not reached yet (see cfn_timing)."""
    if resource is None:
        return False
    if not stack.__dict__.get("_sandbox_timeline"):
        return True
    return getattr(resource, "logical_resource_id", None) in getattr(stack.resource_map, "_sandbox_status", {})


def _patch_dto() -> None:
    original_init = cfn_responses.StackResourceDTO.__init__
    if getattr(original_init, "__sandbox_patched__", False):
        return

    def __init__(self, stack, resource):  # type: ignore[no-untyped-def]
        original_init(self, stack, resource)
        status, when = _resource_status(stack, resource)
        self.resource_status = status
        self.timestamp = when
        self.last_updated_timestamp = when

    __init__.__sandbox_patched__ = True  # type: ignore[attr-defined]
    cfn_responses.StackResourceDTO.__init__ = __init__


def list_stack_resources(self: Any) -> Any:  # replaces CloudFormationResponse.list_stack_resources
    stack_name_or_id = self._get_param("StackName")
    stack, resources = self.cloudformation_backend.list_stack_resources(stack_name_or_id)
    summaries = []
    for resource in resources:
        if not _visible(stack, resource):
            continue
        status, when = _resource_status(stack, resource)
        summaries.append({
            "ResourceStatus": status,
            "LogicalResourceId": getattr(resource, "logical_resource_id", ""),
            "LastUpdatedTimestamp": when,
            "PhysicalResourceId": _physical_id(resource) or "",
            "ResourceType": getattr(resource, "cf_resource_type", ""),
        })
    return cfn_responses.ActionResult({"StackResourceSummaries": summaries})


def describe_stack_resource_backend(self: Any, stack_name: str, logical_resource_id: str) -> Any:
    stack = self.get_stack(stack_name)
    for resource in stack.stack_resources:
        if _visible(stack, resource) and getattr(resource, "logical_resource_id", None) == logical_resource_id:
            return stack, resource
    raise ValidationError(
        stack_name, message=f"Resource {logical_resource_id} does not exist for stack {stack_name}"
    )


def describe_stack_resources_backend(self: Any, stack_name: str, logical_resource_id: str) -> Any:
    stack = self.get_stack(stack_name)
    resources = [r for r in stack.stack_resources if _visible(stack, r)]
    if logical_resource_id is not None:
        return stack, [r for r in resources if getattr(r, "logical_resource_id", None) == logical_resource_id]
    return stack, resources




def apply() -> None:
    if getattr(cfn_responses.StackResourceDTO.__init__, "__sandbox_patched__", False):
        return
    _patch_dto()
    cfn_responses.CloudFormationResponse.list_stack_resources = list_stack_resources
    cfn_models.CloudFormationBackend.describe_stack_resources = describe_stack_resources_backend
    cfn_models.CloudFormationBackend.describe_stack_resource = describe_stack_resource_backend
