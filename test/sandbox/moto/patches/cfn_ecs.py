"""CloudFormation updates of AWS::ECS::TaskDefinition keep the ECS API shape.

moto gap closed
---------------
`TaskDefinition.update_from_cloudformation_json` registers the new revision with
the template's PascalCase keys (`Image`, `Name`, `Memory`, ...) instead of the
camelCase ones the ECS API uses (its create path converts, its update path does
not), so after a stack update DescribeTaskDefinition returns container
definitions without `image`/`name`, and the comparison with the old revision is
always "changed". A Family-less template also gets a new random family.

Why the product relies on it
----------------------------
A release that changes the image of a CloudFormation-managed task definition
must produce a new revision whose `containerDefinitions[].image` is the new
image (the `-broken` fault convention and the release verification read it).

How it hooks into moto
----------------------
Replaces `moto.ecs.models.TaskDefinition.update_from_cloudformation_json`.
Together with cfn_engine's resolved-property diff, the AWS::ECS::Service that
Refs the task definition is then updated too, which starts a new ECS deployment
(ecs_deployments).
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ecs import models as ecs_models


def update_from_cloudformation_json(  # replaces TaskDefinition.update_from_cloudformation_json
    cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str,
    region_name: str,
) -> Any:
    properties = cloudformation_json["Properties"]
    family = properties.get("Family") or original_resource.family
    container_definitions = remap_nested_keys(properties.get("ContainerDefinitions", []), pascal_to_camelcase)
    volumes = remap_nested_keys(properties.get("Volumes", []) or [], pascal_to_camelcase)
    memory = properties.get("Memory")
    backend = ecs_models.ecs_backends[account_id][region_name]
    probe = ecs_models.TaskDefinition(family, 0, container_definitions, account_id, region_name, volumes=volumes)
    if (
        original_resource.family == family
        and original_resource.container_definitions == probe.container_definitions
        and (original_resource.volumes or []) == (probe.volumes or [])
        and getattr(original_resource, "memory", None) == memory
    ):
        return original_resource
    backend.deregister_task_definition(original_resource.arn)
    return backend.register_task_definition(
        family=family, container_definitions=container_definitions, volumes=volumes, memory=memory
    )


def apply() -> None:
    task_definition = ecs_models.TaskDefinition
    if getattr(task_definition, "__sandbox_cfn_ecs__", False):
        return
    task_definition.__sandbox_cfn_ecs__ = True
    task_definition.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)  # type: ignore[assignment]
