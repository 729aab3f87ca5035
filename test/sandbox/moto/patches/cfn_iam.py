"""CloudFormation acts with the permissions AWS would use.

*Gap:* moto's CloudFormation creates every resource through its backends, whoever
asked: a stack succeeds even when neither its `RoleARN` nor the caller may create
what it holds, and `RoleARN` itself is never checked (any string, no `iam:PassRole`).

*Patch (only while IAM is enforced, see `iam_enforcement.py`):*

* the acting principal of a stack operation is the stack's role (`RoleARN` of
  CreateStack/UpdateStack/the executed change set; session
  `arn:aws:sts::<acct>:assumed-role/<role>/AWSCloudFormation`), otherwise the caller of
  the request that runs the operation;
* before the engine (`cfn_engine.RESOURCE_GUARDS`) creates, updates or deletes a
  resource, each IAM action AWS's resource handler calls for it (`ACTIONS` below, with
  the resource's ARN and the condition keys the sandbox knows:
  `iam:PermissionsBoundary`) is evaluated against the acting principal's policies (and
  its permissions boundary); a refused action fails the resource with AWS's reason
  `Resource handler returned message: "User: <session> is not authorized to perform:
  <action> on resource: <arn> because no identity-based policy allows the <action>
  action (Service: <Svc>, Status Code: 403, Request ID: <id>)" (HandlerErrorCode:
  AccessDenied)`, and the stack rolls back as for any failed resource;
* CreateStack, UpdateStack, CreateChangeSet and DeleteStack with a `RoleARN` need
  `iam:PassRole` on it for the caller (context `iam:PassedToService` =
  `cloudformation.amazonaws.com`), else `AccessDenied`; a role that does not exist or
  does not trust `cloudformation.amazonaws.com` gives AWS's `ValidationError: Role <arn>
  is invalid or cannot be assumed`.

Types not listed in `ACTIONS` are not checked (README).
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any, Callable

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import CloudFormationError
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from . import cfn_engine
from ._common import wrap_once
from .iam_enforcement import Principal, access_denied_message, current_principal, enforced, evaluate, write_call

CLOUDFORMATION_SERVICE = "cloudformation.amazonaws.com"
CLOUDFORMATION_SESSION = "AWSCloudFormation"

# The service name AWS's resource handlers put in their error messages.
_SERVICE_LABEL = {"rds": "Rds", "ec2": "Ec2", "s3": "S3", "iam": "Iam", "ssm": "Ssm", "cloudwatch": "CloudWatch",
                  "ecs": "Ecs", "secretsmanager": "SecretsManager", "cloudformation": "CloudFormation",
                  "route53": "Route53", "elasticloadbalancing": "ElasticLoadBalancingV2", "kms": "Kms"}


class HandlerAccessDenied(Exception):
    """A resource handler's AccessDenied (the engine turns it into the resource's reason)."""

    code = "AccessDenied"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Ctx:
    """What an ARN needs: the stack's account, region and partition, the resolved properties
    and the resource's physical ID (None while it is being created)."""

    def __init__(self, stack: Any, logical_id: str, props: dict[str, Any], physical: str | None):
        # A name CloudFormation generates is `<stack>-<logical id>-<random>`, known before the call.
        self.generated = f"{stack.name}-{logical_id}-*"
        self.account = stack.account_id
        self.region = stack.region_name
        self.partition = get_partition(stack.region_name)
        self.props = props
        self.physical = physical

    def arn(self, service: str, rest: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account if account else ''}:{rest}"

    def name(self, prop: str) -> str:
        value = self.props.get(prop) or self.physical
        return str(value) if value else self.generated


Action = tuple[str, Callable[[Ctx], str]]


def _rds(kind: str, prop: str) -> Callable[[Ctx], str]:
    return lambda c: c.arn("rds", f"{kind}:{c.name(prop).lower()}")


def _bucket(c: Ctx) -> str:
    return f"arn:{c.partition}:s3:::{c.name('BucketName')}"


def _policy_bucket(c: Ctx) -> str:
    return f"arn:{c.partition}:s3:::{c.props.get('Bucket') or '*'}"


def _role(c: Ctx) -> str:
    return c.arn("iam", f"role{c.props.get('Path') or '/'}{c.name('RoleName')}", region=False)


def _managed_policy(c: Ctx) -> str:
    return c.arn("iam", f"policy{c.props.get('Path') or '/'}{c.name('ManagedPolicyName')}", region=False)


def _security_group(c: Ctx) -> str:
    return c.arn("ec2", f"security-group/{c.physical or '*'}")


def _ingress_group(c: Ctx) -> str:
    return c.arn("ec2", f"security-group/{c.props.get('GroupId') or '*'}")


def _parameter(c: Ctx) -> str:
    return c.arn("ssm", f"parameter/{c.name('Name').lstrip('/')}")


def _alarm(c: Ctx) -> str:
    return c.arn("cloudwatch", f"alarm:{c.name('AlarmName')}")


def _target_group(c: Ctx) -> str:
    # The ARN carries a generated ID; CloudFormation generates the name too when none is given.
    return c.arn("elasticloadbalancing", f"targetgroup/{c.props.get('Name') or '*'}/*")


def _rule_listener(c: Ctx) -> str:
    return str(c.props.get("ListenerArn") or c.arn("elasticloadbalancing", "listener/app/*"))


def _rule(c: Ctx) -> str:
    if c.physical:
        return c.physical
    return _rule_listener(c).replace(":listener/", ":listener-rule/") + "/*"


def _log_group(c: Ctx) -> str:
    return c.arn("logs", f"log-group:{c.name('LogGroupName')}")


def _task_definition(c: Ctx) -> str:
    return c.arn("ecs", f"task-definition/{c.props.get('Family') or '*'}:*")


def _service(c: Ctx) -> str:
    return c.arn("ecs", f"service/{c.props.get('Cluster') or 'default'}/{c.name('ServiceName')}")


def _secret(c: Ctx) -> str:
    return c.arn("secretsmanager", f"secret:{c.props.get('Name') or '*'}-*")


def _cluster_secret(c: Ctx) -> str:
    return c.arn("secretsmanager", "secret:rds!cluster-*")


def _stack(c: Ctx) -> str:
    return c.arn("cloudformation", "stack/*/*")


def _when(prop: str, action: Action) -> Callable[[Ctx], list[Action]]:
    return lambda c: [action] if c.props.get(prop) not in (None, "", [], {}) else []


def _always(*actions: Action) -> Callable[[Ctx], list[Action]]:
    return lambda c: list(actions)


def _all(*parts: Callable[[Ctx], list[Action]]) -> Callable[[Ctx], list[Action]]:
    return lambda c: [a for part in parts for a in part(c)]


# The IAM actions each resource handler calls (AWS's resource type schemas list them under
# `handlers.<create|update|delete>.permissions`; these are the ones the product's templates need).
ACTIONS: dict[str, dict[str, Callable[[Ctx], list[Action]]]] = {
    "AWS::RDS::DBSubnetGroup": {
        "create": _all(_always(("rds:CreateDBSubnetGroup", _rds("subgrp", "DBSubnetGroupName"))),
                       _when("Tags", ("rds:AddTagsToResource", _rds("subgrp", "DBSubnetGroupName")))),
        "update": _always(("rds:ModifyDBSubnetGroup", _rds("subgrp", "DBSubnetGroupName"))),
        "delete": _always(("rds:DeleteDBSubnetGroup", _rds("subgrp", "DBSubnetGroupName"))),
    },
    "AWS::RDS::DBCluster": {
        "create": _all(_always(("rds:CreateDBCluster", _rds("cluster", "DBClusterIdentifier"))),
                       _when("Tags", ("rds:AddTagsToResource", _rds("cluster", "DBClusterIdentifier"))),
                       _when("ManageMasterUserPassword", ("secretsmanager:CreateSecret", _cluster_secret))),
        "update": _always(("rds:ModifyDBCluster", _rds("cluster", "DBClusterIdentifier"))),
        "delete": _always(("rds:DeleteDBCluster", _rds("cluster", "DBClusterIdentifier"))),
    },
    "AWS::RDS::DBInstance": {
        "create": _all(_always(("rds:CreateDBInstance", _rds("db", "DBInstanceIdentifier"))),
                       _when("Tags", ("rds:AddTagsToResource", _rds("db", "DBInstanceIdentifier")))),
        "update": _always(("rds:ModifyDBInstance", _rds("db", "DBInstanceIdentifier"))),
        "delete": _always(("rds:DeleteDBInstance", _rds("db", "DBInstanceIdentifier"))),
    },
    "AWS::EC2::SecurityGroup": {
        "create": _all(_always(("ec2:CreateSecurityGroup", _security_group)),
                       _when("SecurityGroupIngress", ("ec2:AuthorizeSecurityGroupIngress", _security_group)),
                       _when("SecurityGroupEgress", ("ec2:AuthorizeSecurityGroupEgress", _security_group)),
                       _when("Tags", ("ec2:CreateTags", _security_group))),
        "update": _always(("ec2:AuthorizeSecurityGroupIngress", _security_group),
                          ("ec2:RevokeSecurityGroupIngress", _security_group)),
        "delete": _always(("ec2:DeleteSecurityGroup", _security_group)),
    },
    "AWS::EC2::SecurityGroupIngress": {
        "create": _always(("ec2:AuthorizeSecurityGroupIngress", _ingress_group)),
        "update": _always(("ec2:AuthorizeSecurityGroupIngress", _ingress_group),
                          ("ec2:RevokeSecurityGroupIngress", _ingress_group)),
        "delete": _always(("ec2:RevokeSecurityGroupIngress", _ingress_group)),
    },
    "AWS::S3::Bucket": {
        "create": _all(_always(("s3:CreateBucket", _bucket)),
                       _when("BucketEncryption", ("s3:PutEncryptionConfiguration", _bucket)),
                       _when("PublicAccessBlockConfiguration", ("s3:PutBucketPublicAccessBlock", _bucket)),
                       _when("VersioningConfiguration", ("s3:PutBucketVersioning", _bucket)),
                       _when("Tags", ("s3:PutBucketTagging", _bucket))),
        "update": _all(_when("BucketEncryption", ("s3:PutEncryptionConfiguration", _bucket)),
                       _when("PublicAccessBlockConfiguration", ("s3:PutBucketPublicAccessBlock", _bucket)),
                       _when("VersioningConfiguration", ("s3:PutBucketVersioning", _bucket)),
                       _when("Tags", ("s3:PutBucketTagging", _bucket))),
        "delete": _always(("s3:DeleteBucket", _bucket)),
    },
    "AWS::S3::BucketPolicy": {
        "create": _always(("s3:PutBucketPolicy", _policy_bucket)),
        "update": _always(("s3:PutBucketPolicy", _policy_bucket)),
        "delete": _always(("s3:DeleteBucketPolicy", _policy_bucket)),
    },
    "AWS::IAM::Role": {
        "create": _all(_always(("iam:CreateRole", _role)),
                       _when("Policies", ("iam:PutRolePolicy", _role)),
                       _when("ManagedPolicyArns", ("iam:AttachRolePolicy", _role)),
                       _when("Tags", ("iam:TagRole", _role))),
        "update": _all(_always(("iam:UpdateAssumeRolePolicy", _role)),
                       _when("Policies", ("iam:PutRolePolicy", _role)),
                       _when("Tags", ("iam:TagRole", _role))),
        "delete": _all(_when("Policies", ("iam:DeleteRolePolicy", _role)), _always(("iam:DeleteRole", _role))),
    },
    "AWS::IAM::ManagedPolicy": {
        "create": _always(("iam:CreatePolicy", _managed_policy)),
        "update": _always(("iam:CreatePolicyVersion", _managed_policy)),
        "delete": _always(("iam:DeletePolicy", _managed_policy)),
    },
    "AWS::SSM::Parameter": {
        "create": _all(_always(("ssm:PutParameter", _parameter)), _when("Tags", ("ssm:AddTagsToResource", _parameter))),
        "update": _always(("ssm:PutParameter", _parameter)),
        "delete": _always(("ssm:DeleteParameter", _parameter)),
    },
    "AWS::CloudWatch::Alarm": {
        "create": _always(("cloudwatch:PutMetricAlarm", _alarm)),
        "update": _always(("cloudwatch:PutMetricAlarm", _alarm)),
        "delete": _always(("cloudwatch:DeleteAlarms", _alarm)),
    },
    "AWS::ElasticLoadBalancingV2::TargetGroup": {
        "create": _all(_always(("elasticloadbalancing:CreateTargetGroup", _target_group)),
                       _when("TargetGroupAttributes", ("elasticloadbalancing:ModifyTargetGroupAttributes", _target_group)),
                       _when("Tags", ("elasticloadbalancing:AddTags", _target_group))),
        "update": _all(_always(("elasticloadbalancing:ModifyTargetGroup", _target_group)),
                       _when("TargetGroupAttributes", ("elasticloadbalancing:ModifyTargetGroupAttributes", _target_group))),
        "delete": _always(("elasticloadbalancing:DeleteTargetGroup", _target_group)),
    },
    "AWS::ElasticLoadBalancingV2::ListenerRule": {
        "create": _always(("elasticloadbalancing:CreateRule", _rule_listener)),
        "update": _always(("elasticloadbalancing:ModifyRule", _rule), ("elasticloadbalancing:SetRulePriorities", _rule)),
        "delete": _always(("elasticloadbalancing:DeleteRule", _rule)),
    },
    "AWS::Logs::LogGroup": {
        "create": _all(_always(("logs:CreateLogGroup", _log_group)),
                       _when("RetentionInDays", ("logs:PutRetentionPolicy", _log_group)),
                       _when("Tags", ("logs:TagResource", _log_group))),
        "update": _always(("logs:PutRetentionPolicy", _log_group)),
        "delete": _always(("logs:DeleteLogGroup", _log_group)),
    },
    "AWS::ECS::TaskDefinition": {
        "create": _always(("ecs:RegisterTaskDefinition", _task_definition)),
        "update": _always(("ecs:RegisterTaskDefinition", _task_definition)),
        "delete": _always(("ecs:DeregisterTaskDefinition", _task_definition)),
    },
    "AWS::ECS::Service": {
        "create": _always(("ecs:CreateService", _service)),
        "update": _always(("ecs:UpdateService", _service)),
        "delete": _always(("ecs:DeleteService", _service)),
    },
    "AWS::SecretsManager::Secret": {
        "create": _always(("secretsmanager:CreateSecret", _secret)),
        "update": _always(("secretsmanager:UpdateSecret", _secret)),
        "delete": _always(("secretsmanager:DeleteSecret", _secret)),
    },
    "AWS::CloudFormation::Stack": {
        "create": _always(("cloudformation:CreateStack", _stack)),
        "update": _always(("cloudformation:UpdateStack", _stack)),
        "delete": _always(("cloudformation:DeleteStack", _stack)),
    },
}

# Actions whose request context carries the role's permissions boundary (iam:PermissionsBoundary).
_BOUNDARY_ACTIONS = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePolicy",
                     "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"}


def _acting_principal(stack: Any) -> tuple[Principal, list[Any]] | None:
    role_arn = getattr(stack, "role_arn", None)
    partition = get_partition(stack.region_name)
    if role_arn:
        role = _role_by_arn(role_arn, partition)
        if role is None:
            raise HandlerAccessDenied(f"Role {role_arn} is invalid or cannot be assumed")
        account = role_arn.split(":")[4]
        principal = Principal(account, partition, f"arn:{partition}:sts::{account}:assumed-role/{role.name}/{CLOUDFORMATION_SESSION}",
                              "role", role.name, CLOUDFORMATION_SESSION)
        boundary = _boundary_policy(role, account, partition)
        return principal, ([boundary] if boundary is not None else [])
    caller = current_principal()
    if caller is None:
        return None
    return caller, []


def _role_by_arn(role_arn: str, partition: str) -> Any | None:
    parts = role_arn.split(":")
    if len(parts) != 6:
        return None
    try:
        return iam_backends[parts[4]][partition].get_role_by_arn(role_arn)
    except (NotFoundException, KeyError):
        return None


def _boundary_policy(role: Any, account: str, partition: str) -> Any | None:
    arn = getattr(role, "permissions_boundary_arn", None)
    if not arn:
        return None
    try:
        return iam_backends[account][partition].get_policy(arn)
    except Exception:  # noqa: BLE001 - a boundary that does not exist allows nothing
        return {"policy_document": '{"Version":"2012-10-17","Statement":[]}'}


def _resolved(rm: Any, resource_json: dict[str, Any]) -> dict[str, Any]:
    try:
        return cfn_parsing.clean_json(copy.deepcopy(resource_json.get("Properties") or {}), rm) or {}
    except Exception:  # noqa: BLE001 - unresolvable now: the raw properties still name most things
        return resource_json.get("Properties") or {}


def check_resource(stack: Any, operation: str, logical_id: str, resource_json: dict[str, Any], rm: Any) -> None:
    """The RESOURCE_GUARDS entry: raises HandlerAccessDenied when the acting principal may not."""
    handlers = ACTIONS.get(resource_json.get("Type", ""))
    if not handlers or not enforced():
        return
    acting = _acting_principal(stack)
    if acting is None:
        return
    principal, boundaries = acting
    props = _resolved(rm, resource_json)
    physical = cfn_engine._physical_id(rm._parsed_resources.get(logical_id)) if operation != "create" else None
    ctx = Ctx(stack, logical_id, props if isinstance(props, dict) else {}, physical)
    policies = principal.policies()
    for action, arn_of in handlers[operation](ctx):
        resource = arn_of(ctx)
        context: dict[str, Any] = {}
        if action in _BOUNDARY_ACTIONS:
            context["iam:PermissionsBoundary"] = props.get("PermissionsBoundary") or None
        allowed = evaluate(policies, action, resource, context) == PermissionResult.PERMITTED
        for boundary in boundaries:
            allowed = allowed and IAMPolicy(boundary).is_action_permitted(action, resource, None, context) == PermissionResult.PERMITTED
        # Logged like a request, so the least-privilege report sees what the execution role needs.
        write_call({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "service": action.split(":")[0], "action": action.split(":")[1], "account": principal.account_id,
            "region": stack.region_name, "principalArn": principal.arn, "resource": resource,
            **({"context": context} if context else {}),
            "via": "cloudformation", "allowed": allowed,
        })
        if not allowed:
            service = _SERVICE_LABEL.get(action.split(":")[0], action.split(":")[0].capitalize())
            raise HandlerAccessDenied(
                f"{access_denied_message(principal.arn, action, resource)} "
                f"(Service: {service}, Status Code: 403, Request ID: {uuid.uuid4()})"
            )


# --------------------------------------------------------------------------
# RoleARN on the API: the role must exist, trust CloudFormation, and be passable
# --------------------------------------------------------------------------


class _ValidationError(CloudFormationError):
    code = "ValidationError"


class _AccessDenied(CloudFormationError):
    code = "AccessDenied"


def check_role_arn(response: Any) -> None:
    role_arn = response._get_param("RoleARN")
    if not role_arn or not enforced():
        return
    caller = current_principal()
    partition = get_partition(response.region)
    role = _role_by_arn(role_arn, partition)
    trusts_cloudformation = role is not None and IAMPolicy(role.assume_role_policy_document).is_action_permitted(
        "sts:AssumeRole", role_arn, CLOUDFORMATION_SERVICE, {}
    ) == PermissionResult.PERMITTED
    if caller is not None:
        allowed = evaluate(caller.policies(), "iam:PassRole", role_arn, {"iam:PassedToService": CLOUDFORMATION_SERVICE})
        if allowed != PermissionResult.PERMITTED:
            raise _AccessDenied(access_denied_message(caller.arn, "iam:PassRole", role_arn))
    if not trusts_cloudformation:
        raise _ValidationError(f"Role {role_arn} is invalid or cannot be assumed")


def _checking_role_arn(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        check_role_arn(self)
        return original(self, *args, **kwargs)

    return wrapper


def apply() -> None:
    if check_resource not in cfn_engine.RESOURCE_GUARDS:
        cfn_engine.RESOURCE_GUARDS.append(check_resource)
    for name in ("create_stack", "update_stack", "create_change_set", "delete_stack"):
        wrap_once(cfn_responses.CloudFormationResponse, name, _checking_role_arn, "cfn_iam")
