"""CloudFormation `AWS::SSM::Parameter` Tags.

Gap: in CloudFormation, `AWS::SSM::Parameter.Tags` is a JSON map (`{TenantId: acme}`),
but moto hands the property straight to `put_parameter`, which expects the API's list of
`{Key, Value}` and fails with "string indices must be integers". The tenant stack tags its
parameters with the tenant ID (infra/cloudformation/tenant.yaml), so the map is converted.
"""

from __future__ import annotations

from typing import Any

from moto.ssm import models as ssm_models


def _as_tag_list(tags: Any) -> Any:
    if isinstance(tags, dict):
        return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    return tags


def apply() -> None:
    original_create = ssm_models.Parameter.create_from_cloudformation_json.__func__
    original_update = ssm_models.Parameter.update_from_cloudformation_json.__func__

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json.get("Properties", {})
        if "Tags" in props:
            props["Tags"] = _as_tag_list(props["Tags"])
        return original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    def update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        props = cloudformation_json.get("Properties", {})
        if "Tags" in props:
            props["Tags"] = _as_tag_list(props["Tags"])
        return original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    ssm_models.Parameter.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign]
    ssm_models.Parameter.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign]
