"""IAM enforcement in the sandbox (patches/iam_enforcement.py, patches/cfn_iam.py).

One launcher of its own: enforcement is global to a moto process. The bootstrap runs
before enforcement is switched on (`POST /moto-api/reset-auth 0`), as the sandbox does.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from test_launcher import INSTANT, LAUNCHER, _free_port, _stop

MEMBER = "111111111111"
PLATFORM = "123456789012"
EXTERNAL_ID = "sandbox-test-external-id"
BOUNDARY = f"arn:aws:iam::{MEMBER}:policy/app-boundary"


def _start_with_call_log(call_log: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"}
    proc = subprocess.Popen(
        # Outcomes, not timing: instant and strongly consistent, like test_launcher's semantics tests.
        [sys.executable, LAUNCHER, "--host", "127.0.0.1", "--port", str(_free_port()), "--call-log", call_log,
         "--settings", INSTANT],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            if "moto-sandbox ready" in line:
                return proc, re.search(r"http://\S+", line).group(0)  # type: ignore[union-attr]
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("launcher did not become ready")


def _client(url: str, service: str, creds: dict[str, str]) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"), config=Config(retries={"max_attempts": 1}),
    )


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class World:
    def __init__(self, url: str, call_log: str, worker: dict[str, str]):
        self.url = url
        self.call_log = call_log
        self.worker = worker

    def access(self) -> dict[str, str]:
        sts = _client(self.url, "sts", self.worker)
        return sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/Access", RoleSessionName="worker",
                               ExternalId=EXTERNAL_ID)["Credentials"]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    log_dir = tempfile.TemporaryDirectory(prefix="sandbox-iam-")
    call_log = os.path.join(log_dir.name, "calls.jsonl")
    proc, url = _start_with_call_log(call_log)
    try:
        anyone = {"AccessKeyId": "bootstrap", "SecretAccessKey": "bootstrap"}
        iam = _client(url, "iam", anyone)
        iam.create_user(UserName="worker")
        iam.put_user_policy(UserName="worker", PolicyName="assume", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ["arn:aws:iam::*:role/Access", "arn:aws:iam::*:role/StackMade"]}))
        worker = iam.create_access_key(UserName="worker")["AccessKey"]
        member = _client(url, "sts", anyone).assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/bootstrap",
                                                         RoleSessionName="bootstrap")["Credentials"]
        miam = _client(url, "iam", member)
        miam.create_policy(PolicyName="app-boundary", PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
        miam.create_role(RoleName="Access", AssumeRolePolicyDocument=_doc({
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PLATFORM}:user/worker"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}))
        miam.put_role_policy(RoleName="Access", PolicyName="fleet", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": ["cloudformation:CreateStack", "cloudformation:DescribeStacks",
                                           "cloudformation:DescribeStackEvents", "cloudformation:DeleteStack"],
             "Resource": f"arn:aws:cloudformation:*:{MEMBER}:stack/tenant-*/*"},
            {"Effect": "Allow", "Action": ["rds:DescribeDBClusters", "ssm:GetParameter", "cloudwatch:DescribeAlarms"], "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::tenant-*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{MEMBER}:role/Exec",
             "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}}))
        for name in ("Exec", "NotPassable"):
            miam.create_role(RoleName=name, AssumeRolePolicyDocument=_doc({
                "Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}))
            miam.put_role_policy(RoleName=name, PolicyName="stack", PolicyDocument=_doc(
                {"Effect": "Allow", "Action": ["ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"],
                 "Resource": f"arn:aws:ssm:*:{MEMBER}:parameter/tenant/*"},
                {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
                 "Resource": f"arn:aws:iam::{MEMBER}:role/tenant-*",
                 "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}},
                {"Effect": "Allow", "Action": ["iam:DeleteRole", "iam:GetRole"], "Resource": f"arn:aws:iam::{MEMBER}:role/tenant-*"}))
        for bucket in ("tenant-heads", "other-heads"):
            _client(url, "s3", member).create_bucket(Bucket=bucket)
        # A role made by CloudFormation keeps its policies as dicts in moto.
        _client(url, "cloudformation", member).create_stack(StackName="roles", TemplateBody=_template({"Role": {
            "Type": "AWS::IAM::Role", "Properties": {
                "RoleName": "StackMade",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PLATFORM}:user/worker"}, "Action": "sts:AssumeRole"}]},
                "Policies": [{"PolicyName": "read", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "rds:DescribeDBClusters", "Resource": "*"}]}}]}}}))
        request = urllib.request.Request(f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})
        assert json.load(urllib.request.urlopen(request))["status"] == "ok"
        yield World(url, call_log, {"AccessKeyId": worker["AccessKeyId"], "SecretAccessKey": worker["SecretAccessKey"]})
    finally:
        try:
            assert _stop(proc) == 0
        finally:
            log_dir.cleanup()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def _message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Message"]


def test_unknown_credentials_are_refused(world: World) -> None:
    with pytest.raises(ClientError) as exc:
        _client(world.url, "rds", {"AccessKeyId": "sandbox", "SecretAccessKey": "sandbox"}).describe_db_clusters()
    assert _code(exc) == "InvalidClientTokenId"


def test_assume_role_checks_the_trust_policy_across_accounts(world: World) -> None:
    sts = _client(world.url, "sts", world.worker)
    role = f"arn:aws:iam::{MEMBER}:role/Access"
    for kwargs in ({}, {"ExternalId": "wrong"}):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=role, RoleSessionName="session", **kwargs)
        assert _code(exc) == "AccessDenied" and "sts:AssumeRole" in _message(exc)
    with pytest.raises(ClientError) as exc:  # a role that does not exist
        sts.assume_role(RoleArn=f"arn:aws:iam::222222222222:role/Access", RoleSessionName="session", ExternalId=EXTERNAL_ID)
    assert _code(exc) == "AccessDenied"
    identity = _client(world.url, "sts", world.access()).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/Access/worker"


def test_a_call_outside_the_role_policy_is_refused_naming_the_action(world: World) -> None:
    creds = world.access()
    rds = _client(world.url, "rds", creds)
    rds.describe_db_clusters()  # allowed
    _client(world.url, "cloudwatch", creds).describe_alarms()  # signed as "monitoring", granted as cloudwatch:
    with pytest.raises(ClientError) as exc:
        rds.modify_db_cluster(DBClusterIdentifier="tenant-x", DeletionProtection=False)
    assert _code(exc) == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "is not authorized to perform: rds:ModifyDBCluster" in _message(exc)
    assert f"arn:aws:sts::{MEMBER}:assumed-role/Access/worker" in _message(exc)
    # JSON-protocol services answer in their own shape (AccessDeniedException), which the SDKs parse.
    with pytest.raises(ClientError) as exc:
        _client(world.url, "ssm", creds).delete_parameters(Names=["/tenant/x"])
    assert _code(exc) == "AccessDeniedException"
    assert "is not authorized to perform: ssm:DeleteParameters" in _message(exc)

    calls = [json.loads(line) for line in open(world.call_log, encoding="utf-8")]
    refused = [c for c in calls if c["action"] == "ModifyDBCluster"][-1]
    assert refused == {**refused, "service": "rds", "account": MEMBER, "region": "us-east-1", "allowed": False,
                       "principalArn": f"arn:aws:sts::{MEMBER}:assumed-role/Access/worker"}
    assert any(c["action"] == "DescribeDBClusters" and c["allowed"] for c in calls)


def test_head_bucket_is_authorized_as_list_bucket(world: World) -> None:
    s3 = _client(world.url, "s3", world.access())
    assert s3.head_bucket(Bucket="tenant-heads")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as exc:  # not under the granted tenant-*
        s3.head_bucket(Bucket="other-heads")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    calls = [json.loads(line) for line in open(world.call_log, encoding="utf-8")]
    heads = [(c["action"], c.get("resource"), c["allowed"]) for c in calls if c["service"] == "s3"]
    assert ("ListBucket", "arn:aws:s3:::tenant-heads", True) in heads
    assert ("ListBucket", "arn:aws:s3:::other-heads", False) in heads


def test_roles_made_by_cloudformation_are_evaluated(world: World) -> None:
    creds = _client(world.url, "sts", world.worker).assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/StackMade", RoleSessionName="session")["Credentials"]
    _client(world.url, "rds", creds).describe_db_clusters()
    with pytest.raises(ClientError) as exc:
        _client(world.url, "rds", creds).delete_db_cluster(DBClusterIdentifier="x")
    assert _code(exc) == "AccessDenied"


def _template(resources: dict[str, Any]) -> str:
    return json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})


PARAMETER = {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/tenant/x/a", "Type": "String", "Value": "v"}}


def _failed_events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]


def test_a_stack_whose_role_may_not_create_a_resource_fails_with_the_aws_reason(world: World) -> None:
    cfn = _client(world.url, "cloudformation", world.access())
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    bucket = {"Type": "AWS::S3::Bucket", "DependsOn": "Param", "Properties": {"BucketName": f"{name}-data"}}
    cfn.create_stack(StackName=name, TemplateBody=_template({"Param": PARAMETER, "Bucket": bucket}),
                     RoleARN=f"arn:aws:iam::{MEMBER}:role/Exec")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    [failed] = _failed_events(cfn, name)
    assert failed["LogicalResourceId"] == "Bucket"
    assert re.fullmatch(
        rf'Resource handler returned message: "User: arn:aws:sts::{MEMBER}:assumed-role/Exec/AWSCloudFormation is not '
        rf"authorized to perform: s3:CreateBucket on resource: arn:aws:s3:::{name}-data because no identity-based "
        rf'policy allows the s3:CreateBucket action \(Service: S3, Status Code: 403, Request ID: [0-9a-f-]+\)" '
        r"\(HandlerErrorCode: AccessDenied\)",
        failed["ResourceStatusReason"],
    ), failed["ResourceStatusReason"]
    # The handler's checks are in the call log too, as the execution role's.
    handled = [json.loads(line) for line in open(world.call_log, encoding="utf-8") if '"via":"cloudformation"' in line]
    assert {"action": "CreateBucket", "allowed": False, "resource": f"arn:aws:s3:::{name}-data"}.items() <= [
        c for c in handled if c["action"] == "CreateBucket"][-1].items()
    assert any(c["action"] == "PutParameter" and c["allowed"] for c in handled)
    # The parameter the role may create was created, then rolled back.
    with pytest.raises(ClientError):
        _client(world.url, "ssm", world.access()).get_parameter(Name="/tenant/x/a")


def test_without_role_arn_the_stack_acts_as_the_caller(world: World) -> None:
    cfn = _client(world.url, "cloudformation", world.access())
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=_template({"Param": PARAMETER}))
    [failed] = _failed_events(cfn, name)
    assert f"User: arn:aws:sts::{MEMBER}:assumed-role/Access/worker is not authorized to perform: ssm:PutParameter" in failed["ResourceStatusReason"]


def test_role_arn_needs_pass_role_and_a_role_cloudformation_may_assume(world: World) -> None:
    cfn = _client(world.url, "cloudformation", world.access())
    with pytest.raises(ClientError) as exc:
        cfn.create_stack(StackName="tenant-pass", TemplateBody=_template({"Param": PARAMETER}),
                         RoleARN=f"arn:aws:iam::{MEMBER}:role/NotPassable")
    assert _code(exc) == "AccessDenied" and "iam:PassRole on resource: arn:aws:iam::111111111111:role/NotPassable" in _message(exc)


def test_roles_a_stack_creates_need_the_permissions_boundary(world: World) -> None:
    cfn = _client(world.url, "cloudformation", world.access())
    role = {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": "tenant-x-app",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=_template({"Role": role}), RoleARN=f"arn:aws:iam::{MEMBER}:role/Exec")
    [failed] = _failed_events(cfn, name)
    assert "not authorized to perform: iam:CreateRole on resource: arn:aws:iam::111111111111:role/tenant-x-app" in failed["ResourceStatusReason"]

    bounded = {**role, "Properties": {**role["Properties"], "PermissionsBoundary": BOUNDARY}}
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=_template({"Role": bounded}), RoleARN=f"arn:aws:iam::{MEMBER}:role/Exec")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName=name)
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)
