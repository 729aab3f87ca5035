"""Proves patches/ecs_secrets.py (and ecs_deployments.py's stopped service tasks) against a real launcher.py subprocess.

Run: .tools/venv/bin/python -m pytest test/sandbox/moto/test_ecs_secrets.py -q
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from test_launcher import Aws, _name

ACCOUNT = "123456789012"
OTHER = "210987654321"
PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "


def _call(url: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def _exec_role(aws: Aws, *, boundary: str | None = None) -> str:
    """An execution role that may read the tenant's parameters and secrets, as tenant-traffic.yaml's `tenant-<id>-exec`."""
    iam = aws("iam")
    name = _name("exec")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **({"PermissionsBoundary": boundary} if boundary else {}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="secrets", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/tenant-fleet/acme/*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:tenant-fleet/acme/*"},
    ]}))
    return arn


def _reason(aws: Aws, secrets: list[dict[str, str]], role: str | None) -> str | None:
    family = _name("td")
    arn = aws("ecs").register_task_definition(family=family, **({"executionRoleArn": role} if role else {}), containerDefinitions=[
        {"name": "app", "image": "app:1.0.0", "memory": 128, **({"secrets": secrets} if secrets else {})}])["taskDefinition"]["taskDefinitionArn"]
    return _call(aws.url, "/_sandbox/ecs/secrets", {"account": ACCOUNT, "region": "us-east-1", "taskDefinition": arn})["stoppedReason"]


def test_ssm_parameters_must_exist_and_be_readable_by_the_execution_role(aws: Aws) -> None:
    role = _exec_role(aws)
    ssm = aws("ssm")
    ssm.put_parameter(Name="/tenant-fleet/acme/stripe", Value="sk_live_not_logged", Type="SecureString")
    ssm.put_parameter(Name="/tenant-fleet/globex/stripe", Value="sk_other", Type="SecureString")
    mine = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/tenant-fleet/acme/stripe"
    assert _reason(aws, [], None) is None
    assert _reason(aws, [{"name": "STRIPE", "valueFrom": mine}], role) is None
    # By name, in the task's account and region.
    assert _reason(aws, [{"name": "STRIPE", "valueFrom": "/tenant-fleet/acme/stripe"}], role) is None
    missing = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/tenant-fleet/acme/missing"
    assert _reason(aws, [{"name": "STRIPE", "valueFrom": mine}, {"name": "OTHER", "valueFrom": missing}], role) == (
        PREFIX + "unable to retrieve secrets from ssm: invalid parameters: /tenant-fleet/acme/missing")
    theirs = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/tenant-fleet/globex/stripe"
    refused = _reason(aws, [{"name": "STRIPE", "valueFrom": theirs}], role)
    assert refused is not None and refused.startswith(PREFIX + "unable to retrieve secrets from ssm: ")
    assert f"is not authorized to perform: ssm:GetParameters on resource: {theirs} because no identity-based policy allows the ssm:GetParameters action" in refused
    # Another account's parameter is not the role's to read (ECS reads the role's account).
    assert _reason(aws, [{"name": "STRIPE", "valueFrom": f"arn:aws:ssm:us-east-1:{OTHER}:parameter/tenant-fleet/acme/stripe"}], role) == (
        PREFIX + "unable to retrieve secrets from ssm: invalid parameters: /tenant-fleet/acme/stripe")
    # No value is ever part of an answer.
    assert "sk_" not in json.dumps([refused])


def test_secrets_manager_secrets_by_partial_arn_and_the_permissions_boundary(aws: Aws) -> None:
    iam, sm = aws("iam"), aws("secretsmanager")
    sm.create_secret(Name="tenant-fleet/acme/partner", SecretString="token")
    partial = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:tenant-fleet/acme/partner"
    role = _exec_role(aws)
    assert _reason(aws, [{"name": "PARTNER", "valueFrom": partial}], role) is None
    # A JSON key and version stage after the ARN.
    assert _reason(aws, [{"name": "PARTNER", "valueFrom": f"{partial}:password::"}], role) is None
    gone = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:tenant-fleet/acme/gone"
    assert _reason(aws, [{"name": "GONE", "valueFrom": gone}], role) == (
        PREFIX + f"unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {gone} from secrets manager: "
        "ResourceNotFoundException: Secrets Manager can't find the specified secret.")
    # The boundary must allow it too.
    boundary = iam.create_policy(PolicyName=_name("boundary"), PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}]}))["Policy"]["Arn"]
    bounded = _exec_role(aws, boundary=boundary)
    refused = _reason(aws, [{"name": "PARTNER", "valueFrom": partial}], bounded)
    assert refused is not None and "because no permissions boundary allows the secretsmanager:GetSecretValue action" in refused
    # A secret scheduled for deletion is not found.
    sm.delete_secret(SecretId="tenant-fleet/acme/partner", RecoveryWindowInDays=7)
    assert "ResourceNotFoundException" in (_reason(aws, [{"name": "PARTNER", "valueFrom": partial}], role) or "")


def test_a_task_definition_without_an_execution_role_cannot_resolve_secrets(aws: Aws) -> None:
    assert _reason(aws, [{"name": "X", "valueFrom": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/tenant-fleet/acme/stripe"}], None) == (
        PREFIX + "the task definition has no execution role to retrieve its secrets with")
    with pytest.raises(urllib.error.HTTPError) as refused:
        _call(aws.url, "/_sandbox/ecs/secrets", {"account": ACCOUNT})
    assert refused.value.code == 400


def test_a_stopped_service_task_is_listed_by_its_deployment_with_its_reason(aws: Aws) -> None:
    ecs, ec2 = aws("ecs"), aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=_name("sg"), Description="tasks", VpcId=vpc)["GroupId"]
    cluster = _name("c")
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(family=_name("svc"), networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                                      containerDefinitions=[{"name": "worker", "image": "w:1"}])["taskDefinition"]["taskDefinitionArn"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    service = ecs.create_service(cluster=cluster, serviceName="worker", taskDefinition=td, desiredCount=1, launchType="FARGATE", networkConfiguration=network)["service"]
    deployment = service["deployments"][0]["id"]
    reason = PREFIX + "unable to retrieve secrets from ssm: invalid parameters: /tenant-fleet/acme/stripe"
    _call(aws.url, "/_sandbox/ecs/stopped-tasks", {"account": ACCOUNT, "region": "us-east-1", "cluster": cluster, "service": "worker",
                                                   "deploymentId": deployment, "taskDefinition": td, "stoppedReason": reason})
    arns = ecs.list_tasks(cluster=cluster, startedBy=deployment, desiredStatus="STOPPED")["taskArns"]
    assert len(arns) == 1
    # By service name too (moto listed every task of the cluster), and not as another service's.
    assert ecs.list_tasks(cluster=cluster, serviceName="worker", desiredStatus="STOPPED")["taskArns"] == arns
    assert ecs.list_tasks(cluster=cluster, serviceName="api", desiredStatus="STOPPED")["taskArns"] == []
    task = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"][0]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"], task["startedBy"], task["group"]) == (
        "STOPPED", "TaskFailedToStart", reason, deployment, "service:worker")
    # Its network interface is released: the security group is not kept in use.
    assert ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])["NetworkInterfaces"] == []
