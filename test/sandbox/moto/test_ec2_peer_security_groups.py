"""Proves patches/ec2_peer_security_groups.py against a real launcher.py subprocess (boto3 over HTTP).

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q -k peer_security_groups

The stacks are YAML like infra/cloudformation/tenant.yaml, so they also prove patches/cfn_templates.py's
`!Condition` short form: without it the owner condition is never true and the rule looks in its own account.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from test_launcher import Aws, _name, _stack

PLATFORM = "123456789012"  # the launcher's default account
TENANTS = "111111111111"


def _in_account(aws: Aws, account: str) -> Aws:
    creds = aws("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/peer-test", RoleSessionName="peer-test")["Credentials"]
    return Aws(aws.url, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def _vpc_with_group(aws: Aws, cidr: str) -> tuple[str, str]:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=_name("sg"), Description="test", VpcId=vpc)["GroupId"]
    return vpc, group


def _database_stack(aws: Aws, vpc: str, source: str, owner: str) -> tuple[Any, str]:
    """The database side of infra/cloudformation/tenant.yaml: YAML short forms, `!Condition` inside `!And` included."""
    cfn = aws("cloudformation")
    template = f"""
Parameters:
  WorkloadSecurityGroupId: {{Type: String, Default: ""}}
  WorkloadSecurityGroupOwnerId: {{Type: String, Default: ""}}
Conditions:
  HasWorkloadGroup: !Not [!Equals [!Ref WorkloadSecurityGroupId, ""]]
  WorkloadGroupElsewhere: !And
    - !Condition HasWorkloadGroup
    - !Not [!Equals [!Ref WorkloadSecurityGroupOwnerId, ""]]
    - !Not [!Equals [!Ref WorkloadSecurityGroupOwnerId, !Ref "AWS::AccountId"]]
Resources:
  Db:
    Type: AWS::EC2::SecurityGroup
    Properties: {{GroupDescription: db, VpcId: {vpc}}}
  FromWorkload:
    Type: AWS::EC2::SecurityGroupIngress
    Condition: HasWorkloadGroup
    Properties:
      GroupId: !GetAtt Db.GroupId
      IpProtocol: tcp
      FromPort: 5432
      ToPort: 5432
      SourceSecurityGroupId: !Ref WorkloadSecurityGroupId
      SourceSecurityGroupOwnerId: !If [WorkloadGroupElsewhere, !Ref WorkloadSecurityGroupOwnerId, !Ref "AWS::NoValue"]
Outputs:
  Db:
    Value: !GetAtt Db.GroupId
"""
    name = _name("peer")
    cfn.create_stack(StackName=name, TemplateBody=template, Parameters=[
        {"ParameterKey": "WorkloadSecurityGroupId", "ParameterValue": source},
        {"ParameterKey": "WorkloadSecurityGroupOwnerId", "ParameterValue": owner}])
    return cfn, name


def _reasons(cfn: Any, name: str) -> list[str]:
    return [e["ResourceStatusReason"] for e in cfn.describe_stack_events(StackName=name)["StackEvents"] if e.get("ResourceStatusReason")]


@pytest.fixture(scope="module")
def networks(aws: Aws) -> dict[str, Any]:
    tenants = _in_account(aws, TENANTS)
    platform_vpc, workload = _vpc_with_group(aws, "10.40.0.0/16")
    tenant_vpc, _ = _vpc_with_group(tenants, "10.41.0.0/16")
    lonely_vpc, lonely = _vpc_with_group(aws, "10.42.0.0/16")
    return {"tenants": tenants, "platform_vpc": platform_vpc, "workload": workload, "tenant_vpc": tenant_vpc, "lonely": lonely}


def _peer(aws: Aws, networks: dict[str, Any]) -> None:
    pcx = aws("ec2").create_vpc_peering_connection(VpcId=networks["platform_vpc"], PeerVpcId=networks["tenant_vpc"], PeerOwnerId=TENANTS)
    networks["tenants"]("ec2").accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"])


def test_another_accounts_group_is_refused_without_a_peering_then_admitted_across_one(aws: Aws, networks: dict[str, Any]) -> None:
    tenants = networks["tenants"]
    cfn, name = _database_stack(tenants, networks["tenant_vpc"], networks["workload"], PLATFORM)
    assert _stack(cfn, name)["StackStatus"] == "ROLLBACK_COMPLETE"
    assert any("You have specified two resources that belong to different networks" in r for r in _reasons(cfn, name)), _reasons(cfn, name)

    _peer(aws, networks)
    cfn, name = _database_stack(tenants, networks["tenant_vpc"], networks["workload"], PLATFORM)
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _reasons(cfn, name)
    db = stack["Outputs"][0]["OutputValue"]
    rules = tenants("ec2").describe_security_groups(GroupIds=[db])["SecurityGroups"][0]["IpPermissions"]
    assert [(r["FromPort"], p["GroupId"], p["UserId"]) for r in rules for p in r["UserIdGroupPairs"]] == [(5432, networks["workload"], PLATFORM)]


def test_a_group_the_owner_does_not_have_is_not_found(networks: dict[str, Any]) -> None:
    # The owner named is the tenant account itself's peer, but the group is not in it.
    cfn, name = _database_stack(networks["tenants"], networks["tenant_vpc"], "sg-0123456789abcdef0", PLATFORM)
    assert _stack(cfn, name)["StackStatus"] == "ROLLBACK_COMPLETE"
    assert any("The security group 'sg-0123456789abcdef0' does not exist" in r for r in _reasons(cfn, name)), _reasons(cfn, name)


def test_a_group_of_an_unpeered_vpc_of_the_same_account_is_refused(aws: Aws, networks: dict[str, Any]) -> None:
    platform_vpc = networks["platform_vpc"]
    db = aws("ec2").create_security_group(GroupName=_name("db"), Description="db", VpcId=platform_vpc)["GroupId"]
    with pytest.raises(ClientError) as caught:
        aws("ec2").authorize_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": networks["lonely"]}]}])
    assert caught.value.response["Error"]["Code"] == "InvalidGroup.NotFound"
    assert "different networks" in caught.value.response["Error"]["Message"]
    # The same VPC is fine, as on AWS.
    aws("ec2").authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": networks["workload"]}]}])
