"""Security group rules that name a group of another account or another VPC.

moto gaps closed
----------------
* `AWS::EC2::SecurityGroupIngress.SourceSecurityGroupOwnerId` is ignored ("IGNORED AT THE
  MOMENT" in moto's code): the source group is looked up in the rule's own account, so a rule
  naming another account's group fails with `InvalidGroup.NotFound`, and the rule would record
  the wrong owner.
* Nothing is validated about where the source group lives: moto accepts a group of any VPC.
  AWS accepts a source group of another VPC (of this account or another) only across an active
  VPC peering connection in the same region; otherwise `InvalidGroup.NotFound` "You have
  specified two resources that belong to different networks."

Why the product relies on it
----------------------------
A tenant's database (infra/cloudformation/tenant.yaml, `DatabaseIngressFromWorkload`) admits its
workload security group, which the tenant's traffic stack makes in the cluster's account and VPC
(docs/decisions.md, "Database reachability across accounts"). In the sandbox fleet that is
another account (`platform`), peered with the tenant accounts' VPCs by the AWS baseline.

How it hooks into moto
----------------------
Wraps `SecurityGroupBackend.authorize_security_group_ingress` (the API and CloudFormation both
end there): each source group that names another owner (`UserId`/`OwnerId`) is looked up in that
account's backend of the same region, and any source group in another VPC than the rule's group
needs an active peering between the two VPCs. Replaces `SecurityGroupIngress`'s CloudFormation
create when `SourceSecurityGroupOwnerId` names another account, passing the owner on.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import EC2ClientError, InvalidSecurityGroupNotFoundError
from moto.ec2.models import ec2_backends
from moto.ec2.models import security_groups as sg_models

from ._common import wrap_once

PATCH = "ec2_peer_security_groups"


class DifferentNetworksError(EC2ClientError):
    def __init__(self) -> None:
        super().__init__("InvalidGroup.NotFound", "You have specified two resources that belong to different networks.")


def _owner_of(item: dict[str, Any], account_id: str) -> str:
    return str(item.get("UserId") or item.get("OwnerId") or account_id)


def _peered(backends: list[Any], vpc_a: str, vpc_b: str) -> bool:
    for backend in backends:
        for pcx in backend.vpc_pcxs.values():
            if pcx._status.code == "active" and {pcx.vpc.id, pcx.peer_vpc.id} == {vpc_a, vpc_b}:
                return True
    return False


def _check_source_groups(backend: Any, group: Any, source_groups: list[dict[str, Any]] | None) -> None:
    for item in source_groups or []:
        group_id = item.get("GroupId")
        if not group_id:
            continue
        owner = _owner_of(item, backend.account_id)
        owner_backend = ec2_backends[owner][backend.region_name]
        source = owner_backend.get_security_group_from_id(group_id)
        if source is None:
            raise InvalidSecurityGroupNotFoundError(group_id)
        if source.vpc_id != group.vpc_id and not _peered([backend, owner_backend], source.vpc_id, group.vpc_id):
            raise DifferentNetworksError()
        if owner != backend.account_id:
            item["UserId"] = item["OwnerId"] = owner


def apply() -> None:
    backend_cls = sg_models.SecurityGroupBackend

    def wrap_authorize(original: Any) -> Any:
        def authorize_security_group_ingress(self: Any, group_name_or_id: str, *args: Any, **kwargs: Any) -> Any:
            group = self.get_security_group_by_name_or_id(group_name_or_id, kwargs.get("vpc_id"))
            if group is not None:
                _check_source_groups(self, group, kwargs.get("source_groups"))
            return original(self, group_name_or_id, *args, **kwargs)

        return authorize_security_group_ingress

    def wrap_add_source_group(original: Any) -> Any:
        # Groups of another owner were found in their own account above; moto would look in this one.
        def _add_source_group(self: Any, source_groups: list[dict[str, Any]] | None, vpc_id: str | None) -> list[dict[str, Any]]:
            foreign = [i for i in source_groups or [] if _owner_of(i, self.account_id) != self.account_id]
            own = [i for i in source_groups or [] if i not in foreign]
            return original(self, own, vpc_id) + foreign

        return _add_source_group

    wrap_once(backend_cls, "authorize_security_group_ingress", wrap_authorize, PATCH)
    wrap_once(backend_cls, "_add_source_group", wrap_add_source_group, PATCH)

    ingress_cls = sg_models.SecurityGroupIngress
    original_create = ingress_cls.create_from_cloudformation_json.__func__

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json["Properties"]
        owner = props.get("SourceSecurityGroupOwnerId")
        if not owner or str(owner) == account_id or not props.get("SourceSecurityGroupId"):
            return original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = ec2_backends[account_id][region_name]
        target = props.get("GroupId") or props.get("GroupName")
        group = backend.get_security_group_by_name_or_id(target)
        if group is None:
            raise InvalidSecurityGroupNotFoundError(target)
        backend.authorize_security_group_ingress(
            group.id,
            props.get("IpProtocol"),
            props.get("FromPort"),
            props.get("ToPort"),
            [],
            source_groups=[{"GroupId": props["SourceSecurityGroupId"], "UserId": str(owner)}],
        )
        return cls(group, props)

    if not getattr(ingress_cls, "_sandbox_peer_owner", False):
        ingress_cls.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign]
        ingress_cls._sandbox_peer_owner = True  # type: ignore[attr-defined]
