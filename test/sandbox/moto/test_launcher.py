"""Proves each sandbox patch against a real launcher.py subprocess (boto3 over HTTP).

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q
Every test asserts behaviour moto 5.2.5 does not have on its own, so removing a
patch from patches/__init__.py makes the matching tests fail.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "launcher.py")
# The semantics tests below look at outcomes, so their launcher runs at time scale 0 (instant) and
# strongly consistent;
# the timing tests (and ECS rollouts, which need time to be observed) use the default settings.
INSTANT = json.dumps({"timeScale": 0, "eventualConsistencySeconds": 0})
FAULT_TAG = {"Key": "sandbox:fail-create", "Value": "true"}


# ----------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    # The tests expect the default settings; only SKIP_PATCHES passes (to prove a test catches a missing patch).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TENANT_FLEET_SANDBOX_") or k == "TENANT_FLEET_SANDBOX_SKIP_PATCHES"}
    env.pop("MOTO_ACCOUNT_ID", None)
    env.update(extra_env or {})
    return env


def _start(port: int, extra_env: dict[str, str] | None = None,
           settings: str | None = None) -> tuple[subprocess.Popen[str], str]:
    env = _clean_env(extra_env)
    proc = subprocess.Popen(
        [sys.executable, LAUNCHER, "--host", "127.0.0.1", "--port", str(port)]
        + (["--settings", settings] if settings is not None else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if "moto-sandbox ready" in line:
                match = re.search(r"http://\S+", line)
                assert match, line
                return proc, match.group(0)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("launcher did not become ready")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def timed_endpoint() -> Iterator[str]:
    """A launcher with the default settings (the time scale the product's tests run at)."""
    proc, url = _start(0)
    yield url
    assert _stop(proc) == 0


class Aws:
    def __init__(self, url: str, key: str = "testing", secret: str = "testing", token: str | None = None):
        self.url, self.key, self.secret, self.token = url, key, secret, token

    def __call__(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            aws_session_token=self.token,
            config=Config(retries={"max_attempts": 1}),
        )


@pytest.fixture(scope="module")
def timed_aws(timed_endpoint: str) -> Aws:
    return Aws(timed_endpoint)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _stack(cfn: Any, name: str) -> dict[str, Any]:
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def _events(cfn: Any, name: str) -> list[dict[str, Any]]:
    return cfn.describe_stack_events(StackName=name)["StackEvents"][::-1]  # oldest first


def _error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _aurora_template(*, instance_class: str = "db.r6g.large", deletion_protection: bool = False,
                     extra: dict[str, Any] | None = None) -> str:
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "InstanceClass": {"Type": "String", "Default": instance_class},
            "Tenant": {"Type": "String"},
        },
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.20.0.0/16"}},
            "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.20.1.0/24", "AvailabilityZone": "us-east-1a"}},
            "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.20.2.0/24", "AvailabilityZone": "us-east-1b"}},
            "DbSubnets": {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {
                "DBSubnetGroupDescription": "tenant db",
                "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
            "DbSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                "GroupDescription": "tenant db", "VpcId": {"Ref": "Vpc"}}},
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": []}}},
            "Database": {"Type": "AWS::RDS::DBCluster", "Properties": {
                "Engine": "aurora-postgresql",
                "EngineVersion": "16.4",
                "DatabaseName": "app",
                "MasterUsername": "app_admin",
                "ManageMasterUserPassword": True,
                "StorageEncrypted": True,
                "KmsKeyId": {"Ref": "Key"},
                "DeletionProtection": deletion_protection,
                "BackupRetentionPeriod": 7,
                "DBSubnetGroupName": {"Ref": "DbSubnets"},
                "VpcSecurityGroupIds": [{"Fn::GetAtt": ["DbSecurityGroup", "GroupId"]}],
                "Port": 5432,
                "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4},
                "Tags": [{"Key": "tenant", "Value": {"Ref": "Tenant"}}],
            }},
            "Writer": {"Type": "AWS::RDS::DBInstance", "Properties": {
                "DBClusterIdentifier": {"Ref": "Database"},
                "Engine": "aurora-postgresql",
                "DBInstanceClass": {"Ref": "InstanceClass"},
            }},
        },
        "Outputs": {
            "ClusterId": {"Value": {"Ref": "Database"}},
            "Endpoint": {"Value": {"Fn::GetAtt": ["Database", "Endpoint.Address"]}},
            "Port": {"Value": {"Fn::GetAtt": ["Database", "Endpoint.Port"]}},
            "ReadEndpoint": {"Value": {"Fn::GetAtt": ["Database", "ReadEndpoint.Address"]}},
            "ClusterArn": {"Value": {"Fn::GetAtt": ["Database", "DBClusterArn"]}},
            "SecretArn": {"Value": {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}},
            "WriterId": {"Value": {"Ref": "Writer"}},
        },
    }
    for name, body in (extra or {}).items():
        template["Resources"][name] = body
    return json.dumps(template)


def _create_via_change_set(cfn: Any, stack: str, template: str, params: list[dict[str, str]],
                           **kwargs: Any) -> dict[str, Any]:
    cfn.create_change_set(StackName=stack, ChangeSetName="create", ChangeSetType="CREATE",
                          TemplateBody=template, Parameters=params, **kwargs)
    change_set = cfn.describe_change_set(StackName=stack, ChangeSetName="create")
    assert change_set["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(StackName=stack, ChangeSetName="create")
    return _stack(cfn, stack)


# ------------------------------------------------------------- the launcher


def test_refuses_non_loopback_hosts() -> None:
    for host in ("0.0.0.0", "10.1.2.3", "example.com"):
        result = subprocess.run([sys.executable, LAUNCHER, "--host", host, "--port", "0"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, host
        assert "loopback" in result.stderr


def test_exits_cleanly_on_sigint() -> None:
    proc, url = _start(0)
    assert url.startswith("http://127.0.0.1:")
    assert _stop(proc, signal.SIGINT) == 0


# -------------------------------------------- a. RDS DBCluster in CloudFormation


def test_aurora_cluster_stack_create_update_delete(aws: Aws) -> None:
    cfn, rds, secrets = aws("cloudformation"), aws("rds"), aws("secretsmanager")
    name = _name("tenant-db")
    stack = _create_via_change_set(cfn, name, _aurora_template(),
                                   [{"ParameterKey": "Tenant", "ParameterValue": "t1"}])
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = _outputs(stack)

    cluster = rds.describe_db_clusters(DBClusterIdentifier=out["ClusterId"])["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql" and cluster["EngineVersion"] == "16.4"
    assert cluster["DatabaseName"] == "app" and cluster["MasterUsername"] == "app_admin"
    assert cluster["StorageEncrypted"] is True and cluster["BackupRetentionPeriod"] == 7
    assert cluster["Port"] == 5432 and cluster["DeletionProtection"] is False
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}
    assert cluster["DBSubnetGroup"].startswith(name.lower())
    assert len(cluster["VpcSecurityGroups"]) == 1 and cluster["VpcSecurityGroups"][0]["VpcSecurityGroupId"].startswith("sg-")
    assert {"Key": "tenant", "Value": "t1"} in cluster["TagList"]
    assert "key/" in cluster["KmsKeyId"]
    assert out["Endpoint"] == cluster["Endpoint"] and out["ReadEndpoint"] == cluster["ReaderEndpoint"]
    assert out["Port"] == "5432" and out["ClusterArn"] == cluster["DBClusterArn"]
    assert out["SecretArn"] == cluster["MasterUserSecret"]["SecretArn"]
    secrets.describe_secret(SecretId=out["SecretArn"])  # the password lives in Secrets Manager

    writer = rds.describe_db_instances(DBInstanceIdentifier=out["WriterId"])["DBInstances"][0]
    assert writer["DBClusterIdentifier"] == out["ClusterId"] and writer["DBInstanceClass"] == "db.r6g.large"
    assert cluster["DBClusterMembers"][0]["DBInstanceIdentifier"] == out["WriterId"]
    assert cluster["DBClusterMembers"][0]["IsClusterWriter"] is True

    # Re-submitting the same template + parameters: a FAILED change set, as in AWS.
    params = [{"ParameterKey": "Tenant", "ParameterValue": "t1"},
              {"ParameterKey": "InstanceClass", "ParameterValue": "db.r6g.large"}]
    cfn.create_change_set(StackName=name, ChangeSetName="same", ChangeSetType="UPDATE",
                          TemplateBody=_aurora_template(), Parameters=params)
    same = cfn.describe_change_set(StackName=name, ChangeSetName="same")
    assert same["Status"] == "FAILED" and same["ExecutionStatus"] == "UNAVAILABLE"
    assert same["StatusReason"].startswith("The submitted information didn't contain changes.")
    with pytest.raises(ClientError) as err:
        cfn.execute_change_set(StackName=name, ChangeSetName="same")
    assert _error_code(err.value) == "InvalidChangeSetStatus"
    with pytest.raises(ClientError) as err:
        cfn.update_stack(StackName=name, TemplateBody=_aurora_template(), Parameters=params)
    assert "No updates are to be performed" in str(err.value)

    # Resize the tenant's database through a change set.
    params[1]["ParameterValue"] = "db.r6g.xlarge"
    cfn.create_change_set(StackName=name, ChangeSetName="resize", ChangeSetType="UPDATE",
                          TemplateBody=_aurora_template(), Parameters=params)
    resize = cfn.describe_change_set(StackName=name, ChangeSetName="resize")
    assert resize["Status"] == "CREATE_COMPLETE"
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in resize["Changes"]] == [
        ("Modify", "Writer")]
    cfn.execute_change_set(StackName=name, ChangeSetName="resize")
    assert _stack(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    writer = rds.describe_db_instances(DBInstanceIdentifier=out["WriterId"])["DBInstances"][0]
    assert writer["DBInstanceClass"] == "db.r6g.xlarge"
    assert cfn.describe_change_set(StackName=name, ChangeSetName="resize")["ExecutionStatus"] == "EXECUTE_COMPLETE"
    summaries = {r["LogicalResourceId"]: r["ResourceStatus"]
                 for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    assert summaries["Writer"] == "UPDATE_COMPLETE" and summaries["Database"] == "CREATE_COMPLETE"
    detail = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Database")["StackResourceDetail"]
    assert detail["ResourceStatus"] == "CREATE_COMPLETE" and detail["PhysicalResourceId"] == out["ClusterId"]

    # Deleting the stack deletes instance and cluster (with the default Snapshot policy).
    stack_id = stack["StackId"]
    cfn.delete_stack(StackName=name)
    assert _stack(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert not [c for c in rds.describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"] == out["ClusterId"]]
    assert not [i for i in rds.describe_db_instances()["DBInstances"] if i["DBInstanceIdentifier"] == out["WriterId"]]
    snapshots = rds.describe_db_cluster_snapshots(DBClusterIdentifier=out["ClusterId"], SnapshotType="manual")
    assert len(snapshots["DBClusterSnapshots"]) == 1


def test_stack_deletes_the_instance_its_physical_id_names_after_a_rename(aws: Aws) -> None:
    # A restore (src/activities/rds.ts) renames the stack's writer aside and creates a new one under its identifier.
    cfn, rds = aws("cloudformation"), aws("rds")
    name = _name("renamed-writer")
    cfn.create_stack(StackName=name, TemplateBody=_aurora_template(),
                     Parameters=[{"ParameterKey": "Tenant", "ParameterValue": "t3"}])
    stack = _stack(cfn, name)
    out = _outputs(stack)
    aside = out["WriterId"] + "-aside"
    rds.modify_db_instance(DBInstanceIdentifier=out["WriterId"], NewDBInstanceIdentifier=aside, ApplyImmediately=True)
    rds.create_db_instance(DBInstanceIdentifier=out["WriterId"], DBClusterIdentifier=out["ClusterId"],
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    rds.delete_db_instance(DBInstanceIdentifier=aside)
    # Renaming a cluster takes its instances along, and another cluster under the old name gets none of them.
    rds.modify_db_cluster(DBClusterIdentifier=out["ClusterId"], NewDBClusterIdentifier=out["ClusterId"] + "-x",
                          ApplyImmediately=True)
    assert rds.describe_db_instances(DBInstanceIdentifier=out["WriterId"])["DBInstances"][0][
        "DBClusterIdentifier"] == out["ClusterId"] + "-x"
    rds.modify_db_cluster(DBClusterIdentifier=out["ClusterId"] + "-x", NewDBClusterIdentifier=out["ClusterId"],
                          ApplyImmediately=True)
    members = rds.describe_db_clusters(DBClusterIdentifier=out["ClusterId"])["DBClusters"][0]["DBClusterMembers"]
    assert [m["DBInstanceIdentifier"] for m in members] == [out["WriterId"]]
    cfn.delete_stack(StackName=name)
    assert _stack(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    left = [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
    assert out["WriterId"] not in left
    assert not [c for c in rds.describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"] == out["ClusterId"]]


def test_deletion_protection_fails_stack_delete_with_reason(aws: Aws) -> None:
    cfn, rds = aws("cloudformation"), aws("rds")
    name = _name("protected")
    cfn.create_stack(StackName=name, TemplateBody=_aurora_template(deletion_protection=True),
                     Parameters=[{"ParameterKey": "Tenant", "ParameterValue": "t2"}])
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    cluster_id = _outputs(stack)["ClusterId"]

    cfn.delete_stack(StackName=name)
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "[Database]" in stack["StackStatusReason"]
    failed = [e for e in _events(cfn, name) if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] == "Database"]
    assert failed and "deletion protection" in failed[0]["ResourceStatusReason"]
    assert rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]

    rds.modify_db_cluster(DBClusterIdentifier=cluster_id, DeletionProtection=False, ApplyImmediately=True)
    cfn.delete_stack(StackName=name)
    assert _stack(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError):
        rds.describe_db_clusters(DBClusterIdentifier=cluster_id)


def test_cluster_update_modifies_in_place_and_replacement_rolls_back(aws: Aws) -> None:
    cfn, rds = aws("cloudformation"), aws("rds")
    name = _name("cluster-upd")
    base = {"Resources": {"Db": {"Type": "AWS::RDS::DBCluster", "DeletionPolicy": "Delete", "Properties": {
        "Engine": "aurora-postgresql", "MasterUsername": "admin", "ManageMasterUserPassword": True,
        "BackupRetentionPeriod": 1}}},
        "Outputs": {"Id": {"Value": {"Ref": "Db"}}}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(base))
    cluster_id = _outputs(_stack(cfn, name))["Id"]
    base["Resources"]["Db"]["Properties"].update({"BackupRetentionPeriod": 14, "DeletionProtection": True})
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(base))
    assert _stack(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    assert cluster["BackupRetentionPeriod"] == 14 and cluster["DeletionProtection"] is True

    base["Resources"]["Db"]["Properties"]["DatabaseName"] = "renamed"  # requires replacement in AWS
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(base))
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "failed to update: [Db]" in stack["StackStatusReason"]
    assert rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]["DeletionProtection"] is True


# ------------------------------------------------------- b. failure states


def test_create_failure_rolls_back_created_resources(aws: Aws) -> None:
    cfn, rds, s3 = aws("cloudformation"), aws("rds"), aws("s3")
    name = _name("rollback")
    template = _aurora_template(extra={
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{name}-logs"}},
        "Broken": {"Type": "AWS::SSM::Parameter", "DependsOn": ["Writer", "Logs"], "Properties": {
            "Name": f"/{name}/broken", "Type": "String", "Value": "x", "Tags": {"sandbox:fail-create": "true"}}},
    })
    clusters_before = len(rds.describe_db_clusters()["DBClusters"])
    cfn.create_stack(StackName=name, TemplateBody=template,
                     Parameters=[{"ParameterKey": "Tenant", "ParameterValue": "t3"}])
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"].startswith("The following resource(s) failed to create: [Broken].")
    assert "Outputs" not in stack
    events = _events(cfn, name)
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Broken"]
    assert "sandbox:fail-create" in failed[0]["ResourceStatusReason"]
    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    assert statuses.index(("Database", "CREATE_COMPLETE")) < statuses.index(("Writer", "CREATE_IN_PROGRESS"))
    assert ("Writer", "DELETE_COMPLETE") in statuses and ("Database", "DELETE_COMPLETE") in statuses
    assert statuses.index(("Writer", "DELETE_COMPLETE")) < statuses.index(("Database", "DELETE_IN_PROGRESS"))
    assert statuses[-1] == (name, "ROLLBACK_COMPLETE")
    assert len(rds.describe_db_clusters()["DBClusters"]) == clusters_before
    assert f"{name}-logs" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert cfn.describe_stack_resources(StackName=name)["StackResources"] == []
    with pytest.raises(ClientError) as err:
        cfn.update_stack(StackName=name, TemplateBody=template)
    assert "ROLLBACK_COMPLETE state and can not be updated" in str(err.value)
    cfn.delete_stack(StackName=name)
    assert _stack(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_create_failure_without_rollback_and_real_moto_errors(aws: Aws) -> None:
    cfn, s3 = aws("cloudformation"), aws("s3")
    name = _name("norollback")
    template = json.dumps({"Resources": {
        "Kept": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{name}-kept"}},
        "Broken": {"Type": "AWS::S3::Bucket", "DependsOn": "Kept", "Properties": {"Tags": [FAULT_TAG]}},
    }})
    cfn.create_stack(StackName=name, TemplateBody=template, OnFailure="DO_NOTHING")
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_FAILED"
    assert f"{name}-kept" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert [r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=name)["StackResources"]] == ["Kept"]
    cfn.delete_stack(StackName=name)
    assert f"{name}-kept" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    # A genuine moto error (no MasterUsername) is a resource failure too.
    bad = _name("bad-cluster")
    cfn.create_stack(StackName=bad, TemplateBody=json.dumps({"Resources": {
        "Db": {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql"}}}}))
    assert _stack(cfn, bad)["StackStatus"] == "ROLLBACK_COMPLETE"
    reason = [e for e in _events(cfn, bad) if e["ResourceStatus"] == "CREATE_FAILED"][0]["ResourceStatusReason"]
    assert "MasterUsername" in reason


def test_update_failure_rolls_back_to_previous_template(aws: Aws) -> None:
    cfn, rds, s3 = aws("cloudformation"), aws("rds"), aws("s3")
    name = _name("upd-rollback")
    params = [{"ParameterKey": "Tenant", "ParameterValue": "t4"}]
    stack = _create_via_change_set(cfn, name, _aurora_template(), params)
    before = _outputs(stack)

    params_xl = params + [{"ParameterKey": "InstanceClass", "ParameterValue": "db.r6g.2xlarge"}]
    failing = _aurora_template(extra={
        "Assets": {"Type": "AWS::S3::Bucket", "DependsOn": "Writer", "Properties": {"BucketName": f"{name}-assets"}},
        "Broken": {"Type": "AWS::S3::Bucket", "DependsOn": "Assets", "Properties": {"Tags": [FAULT_TAG]}},
    })
    cfn.create_change_set(StackName=name, ChangeSetName="grow", ChangeSetType="UPDATE",
                          TemplateBody=failing, Parameters=params_xl)
    cfn.execute_change_set(StackName=name, ChangeSetName="grow")
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert cfn.describe_change_set(StackName=name, ChangeSetName="grow")["ExecutionStatus"] == "EXECUTE_FAILED"
    assert _outputs(stack) == before
    writer = rds.describe_db_instances(DBInstanceIdentifier=before["WriterId"])["DBInstances"][0]
    assert writer["DBInstanceClass"] == "db.r6g.large"  # restored
    assert f"{name}-assets" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in _events(cfn, name)]
    assert ("Broken", "CREATE_FAILED") in statuses
    assert statuses[-1] == (name, "UPDATE_ROLLBACK_COMPLETE")
    assert sorted(r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=name)["StackResources"]) == [
        "Database", "DbSecurityGroup", "DbSubnets", "Key", "SubnetA", "SubnetB", "Vpc", "Writer"]

    # The stack can be updated again afterwards; the fail-update tag fails a modification.
    tagged = json.loads(_aurora_template())
    tagged["Resources"]["Writer"]["Properties"]["Tags"] = [{"Key": "sandbox:fail-update", "Value": "true"}]
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(tagged), Parameters=params_xl)
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "failed to update: [Writer]" in stack["StackStatusReason"]
    assert rds.describe_db_instances(DBInstanceIdentifier=before["WriterId"])["DBInstances"][0][
        "DBInstanceClass"] == "db.r6g.large"


def test_change_set_rules_for_existing_and_failed_stacks(aws: Aws) -> None:
    cfn = aws("cloudformation")
    name = _name("cs-rules")
    template = json.dumps({"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": {"Fn::Sub": "/${AWS::StackName}/p"}, "Type": "String", "Value": "v1"}}}})
    _create_via_change_set(cfn, name, template, [])
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName=name, ChangeSetName="again", ChangeSetType="CREATE", TemplateBody=template)
    assert "already exists and cannot be created again" in str(err.value)

    # Same change set names on two stacks do not collide; lookups honour StackName.
    other = _name("cs-rules")
    _create_via_change_set(cfn, other, template, [])
    assert cfn.describe_change_set(StackName=other, ChangeSetName="create")["StackName"] == other
    assert [s["StackName"] for s in cfn.list_change_sets(StackName=name)["Summaries"]] == [name]
    with pytest.raises(ClientError) as err:
        cfn.describe_change_set(StackName=name, ChangeSetName="missing")
    assert _error_code(err.value) == "ChangeSetNotFound"

    failed = _name("cs-failed")
    broken = json.dumps({"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Type": "String", "Value": "v1", "Tags": {"sandbox:fail-create": "true"}}}}})
    cfn.create_change_set(StackName=failed, ChangeSetName="create", ChangeSetType="CREATE", TemplateBody=broken)
    cfn.execute_change_set(StackName=failed, ChangeSetName="create")
    assert _stack(cfn, failed)["StackStatus"] == "ROLLBACK_COMPLETE"
    assert cfn.describe_change_set(StackName=failed, ChangeSetName="create")["ExecutionStatus"] == "EXECUTE_FAILED"
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName=failed, ChangeSetName="fix", ChangeSetType="UPDATE", TemplateBody=template)
    assert "ROLLBACK_COMPLETE state and can not be updated" in str(err.value)


def test_yaml_templates_nested_getatt_and_ecs_release_through_cloudformation(aws: Aws) -> None:
    cfn, ecs = aws("cloudformation"), aws("ecs")
    name = _name("yaml")
    template = """
Parameters:
  ImageTag: {Type: String}
Resources:
  Cluster:
    Type: AWS::ECS::Cluster
    Properties: {ClusterName: !Sub "${AWS::StackName}-ecs"}
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: !Sub "${AWS::StackName}-app"
      ContainerDefinitions:
        - {Name: app, Image: !Sub "registry.local/app:${ImageTag}", Memory: 256}
  Service:
    Type: AWS::ECS::Service
    Properties: {Cluster: !Ref Cluster, TaskDefinition: !Ref Task, DesiredCount: 2}
  Db:
    Type: AWS::RDS::DBCluster
    DeletionPolicy: Delete
    Properties: {Engine: aurora-postgresql, MasterUsername: app, ManageMasterUserPassword: true}
  Writer:
    Type: AWS::RDS::DBInstance
    Properties: {DBClusterIdentifier: !Ref Db, Engine: aurora-postgresql, DBInstanceClass: db.serverless}
Outputs:
  DbPort: {Value: !GetAtt Db.Endpoint.Port}
  WriterPort: {Value: !GetAtt Writer.Endpoint.Port}
  Secret: {Value: !GetAtt Db.MasterUserSecret.SecretArn}
  Url: {Value: !Sub "postgres://${Db.Endpoint.Address}:${Db.Endpoint.Port}/app"}
"""
    cfn.create_stack(StackName=name, TemplateBody=template,
                     Parameters=[{"ParameterKey": "ImageTag", "ParameterValue": "1.0.0"}])
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    out = _outputs(stack)
    assert out["DbPort"] == "5432" and out["WriterPort"] == "5432"
    assert out["Secret"].startswith("arn:aws:secretsmanager:")
    assert re.fullmatch(r"postgres://[a-z0-9-]+\.cluster-[a-z0-9]+\.us-east-1\.rds\.amazonaws\.com:5432/app", out["Url"])

    cluster = f"{name}-ecs"
    service_arn = ecs.list_services(cluster=cluster)["serviceArns"][0]
    assert _wait_rollout(ecs, cluster, service_arn)["deployments"][0]["rolloutState"] == "COMPLETED"

    # A release: only the parameter used inside Fn::Sub changes.
    cfn.update_stack(StackName=name, TemplateBody=template,
                     Parameters=[{"ParameterKey": "ImageTag", "ParameterValue": "1.1.0-broken"}])
    assert _stack(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    service = _service(ecs, cluster, service_arn)
    task_definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert task_definition["containerDefinitions"][0]["image"] == "registry.local/app:1.1.0-broken"
    assert service["deployments"][0]["taskDefinition"] == service["taskDefinition"]
    assert service["deployments"][0]["rolloutState"] in ("IN_PROGRESS", "FAILED")  # instant at time scale 0
    assert _wait_rollout(ecs, cluster, service_arn)["deployments"][0]["rolloutState"] == "FAILED"


def test_deletion_policy_retain_keeps_resource(aws: Aws) -> None:
    cfn, s3 = aws("cloudformation"), aws("s3")
    name = _name("retain")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {
        "Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {"BucketName": f"{name}-kept"}},
        "Gone": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{name}-gone"}}}}))["StackId"]
    cfn.delete_stack(StackName=name)
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert f"{name}-kept" in buckets and f"{name}-gone" not in buckets
    assert ("Kept", "DELETE_SKIPPED") in [(e["LogicalResourceId"], e["ResourceStatus"]) for e in _events(cfn, stack_id)]


# -------------------------------------------------- c. ClientRequestToken


def test_client_request_token_makes_retries_no_ops(aws: Aws) -> None:
    cfn = aws("cloudformation")
    name = _name("tokens")
    v1 = json.dumps({"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": f"/{name}/p", "Type": "String", "Value": "1"}}}})
    v2 = v1.replace('"Value": "1"', '"Value": "2"')
    first = cfn.create_stack(StackName=name, TemplateBody=v1, ClientRequestToken="create-1")["StackId"]
    assert cfn.create_stack(StackName=name, TemplateBody=v1, ClientRequestToken="create-1")["StackId"] == first
    with pytest.raises(ClientError) as err:
        cfn.create_stack(StackName=name, TemplateBody=v1, ClientRequestToken="create-2")
    assert _error_code(err.value) == "AlreadyExistsException"

    cfn.update_stack(StackName=name, TemplateBody=v2, ClientRequestToken="update-1")
    cfn.update_stack(StackName=name, TemplateBody=v2, ClientRequestToken="update-1")  # no "No updates" error
    assert [e["ResourceStatus"] for e in _events(cfn, name)].count("UPDATE_COMPLETE") == 2  # stack + P, once

    cfn.create_change_set(StackName=name, ChangeSetName="v1", ChangeSetType="UPDATE", TemplateBody=v1)
    cfn.execute_change_set(StackName=name, ChangeSetName="v1", ClientRequestToken="exec-1")
    cfn.execute_change_set(StackName=name, ChangeSetName="v1", ClientRequestToken="exec-1")
    with pytest.raises(ClientError) as err:
        cfn.execute_change_set(StackName=name, ChangeSetName="v1", ClientRequestToken="exec-2")
    assert _error_code(err.value) == "InvalidChangeSetStatus"
    tokens = {e.get("ClientRequestToken") for e in _events(cfn, name)}
    assert {"create-1", "update-1", "exec-1"} <= tokens

    cfn.delete_stack(StackName=name, ClientRequestToken="delete-1")
    cfn.delete_stack(StackName=first, ClientRequestToken="delete-1")
    assert _stack(cfn, first)["StackStatus"] == "DELETE_COMPLETE"


# ---------------------------------------------------------- d. ECS rollouts


def _service(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def _wait_rollout(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        service = _service(ecs, cluster, name)
        if service["deployments"][0]["rolloutState"] != "IN_PROGRESS":
            return service
        time.sleep(0.2)
    raise AssertionError("rollout did not finish")


def test_ecs_update_service_rolls_out_and_broken_images_fail(timed_aws: Aws) -> None:
    ecs = timed_aws("ecs")
    cluster, name = _name("cluster"), "web"
    ecs.create_cluster(clusterName=cluster)
    td1 = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "registry.local:5000/web:1.0.0", "memory": 256}])["taskDefinition"]["taskDefinitionArn"]
    td2 = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "registry.local:5000/web:1.1.0", "memory": 256},
        {"name": "sidecar", "image": "envoy:v1", "memory": 64}])["taskDefinition"]["taskDefinitionArn"]
    td3 = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "registry.local:5000/web:1.2.0-broken", "memory": 256}])["taskDefinition"]["taskDefinitionArn"]

    created = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition="web:1", desiredCount=2)["service"]
    first = created["deployments"][0]
    assert (first["status"], first["rolloutState"], first["runningCount"]) == ("PRIMARY", "IN_PROGRESS", 0)
    service = _wait_rollout(ecs, cluster, name)
    assert service["deployments"][0]["rolloutState"] == "COMPLETED" and service["runningCount"] == 2
    assert service["taskDefinition"] == td1

    ecs.update_service(cluster=cluster, service=name, taskDefinition="web:2")
    service = _service(ecs, cluster, name)
    primary, active = service["deployments"]
    assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "IN_PROGRESS"
    assert primary["taskDefinition"] == td2 and primary["id"] != first["id"] and primary["runningCount"] == 0
    assert active["status"] == "ACTIVE" and active["id"] == first["id"] and active["runningCount"] == 2
    for key in ("id", "status", "taskDefinition", "desiredCount", "runningCount", "pendingCount", "failedTasks",
                "rolloutState", "rolloutStateReason", "createdAt", "updatedAt"):
        assert key in primary, key
    service = _wait_rollout(ecs, cluster, name)
    assert [d["id"] for d in service["deployments"]] == [primary["id"]]
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["deployments"][0]["runningCount"] == 2 and service["runningCount"] == 2
    assert any("deployment completed" in e["message"] for e in service["events"])
    assert any("has reached a steady state" in e["message"] for e in service["events"])

    ecs.update_service(cluster=cluster, service=name, taskDefinition=td3)
    service = _wait_rollout(ecs, cluster, name)
    broken, previous = service["deployments"]
    assert broken["rolloutState"] == "FAILED" and broken["taskDefinition"] == td3
    assert broken["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert broken["runningCount"] == 0 and broken["failedTasks"] > 0
    assert previous["status"] == "ACTIVE" and previous["runningCount"] == 2
    assert any("deployment failed" in e["message"] for e in service["events"])

    # forceNewDeployment with the same (good) task definition starts a fresh deployment.
    ecs.update_service(cluster=cluster, service=name, taskDefinition="web:2", forceNewDeployment=True)
    service = _wait_rollout(ecs, cluster, name)
    assert len(service["deployments"]) == 1 and service["deployments"][0]["rolloutState"] == "COMPLETED"
    again = ecs.update_service(cluster=cluster, service=name, forceNewDeployment=True)["service"]
    assert again["deployments"][0]["id"] != service["deployments"][0]["id"]
    assert again["deployments"][0]["rolloutState"] == "IN_PROGRESS"


def test_ecs_circuit_breaker_rollback(timed_aws: Aws) -> None:
    ecs = timed_aws("ecs")
    cluster = _name("cluster")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="api", containerDefinitions=[{"name": "api", "image": "api:2", "memory": 128}])
    ecs.register_task_definition(family="api", containerDefinitions=[{"name": "api", "image": "api:3-broken", "memory": 128}])
    ecs.create_service(cluster=cluster, serviceName="api", taskDefinition="api:1", desiredCount=1,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    good = _wait_rollout(ecs, cluster, "api")["taskDefinition"]
    ecs.update_service(cluster=cluster, service="api", taskDefinition="api:2")
    service = _wait_rollout(ecs, cluster, "api")  # broken deployment fails, rollback deployment completes
    assert service["taskDefinition"] == good
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert service["deployments"][0]["taskDefinition"] == good
    messages = [e["message"] for e in service["events"]]
    assert any("deployment failed: tasks failed to start" in m for m in messages)
    assert any("rolling back" in m for m in messages)


def test_ecs_run_task_waits_for_the_controller_and_reports_its_exit_code() -> None:
    # Its own launcher: announcing the ECS task controller changes how every later task behaves.
    proc, url = _start(0, settings=INSTANT)
    try:
        aws = Aws(url)
        ecs, ec2 = aws("ecs"), aws("ec2")
        subnet = ec2.create_subnet(VpcId=ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"], CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        ecs.create_cluster(clusterName="jobs")
        # Fargate: the size is the task's, the container names none (moto failed adding None).
        td = ecs.register_task_definition(family="tenant-a", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                                          containerDefinitions=[{"name": "app", "image": "app:2-migration-fails"}])["taskDefinition"]["taskDefinitionArn"]
        post = lambda path, body: urllib.request.urlopen(urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",  # noqa: E731
                                                                                  headers={"content-type": "application/json"}), timeout=10).read()
        post("/_sandbox/ecs/controller", {})
        network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}}
        task = ecs.run_task(cluster="jobs", taskDefinition=td, launchType="FARGATE", startedBy="migrate-1", networkConfiguration=network,
                            overrides={"containerOverrides": [{"name": "app", "command": ["./migrate", "up"]}]})["tasks"][0]
        arn = task["taskArn"]
        for _ in range(3):  # it does not move on by being described (moto's tasks did)
            described = ecs.describe_tasks(cluster="jobs", tasks=[arn])["tasks"][0]
            assert described["lastStatus"] == "PROVISIONING" and "exitCode" not in described["containers"][0]
        listed = json.loads(urllib.request.urlopen(f"{url}/_sandbox/ecs/tasks", timeout=10).read())["tasks"]
        assert [(t["taskArn"], t["family"], t["container"]["command"]) for t in listed] == [(arn, "tenant-a", ["./migrate", "up"])]
        post("/_sandbox/ecs/tasks", {"account": "123456789012", "region": "us-east-1", "cluster": "jobs", "taskArn": arn, "lastStatus": "RUNNING"})
        assert ecs.describe_tasks(cluster="jobs", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
        post("/_sandbox/ecs/tasks", {"account": "123456789012", "region": "us-east-1", "cluster": "jobs", "taskArn": arn, "lastStatus": "STOPPED", "exitCode": 1})
        stopped = ecs.describe_tasks(cluster="jobs", tasks=[arn])["tasks"][0]
        assert (stopped["lastStatus"], stopped["stopCode"], stopped["containers"][0]["exitCode"]) == ("STOPPED", "EssentialContainerExited", 1)
        assert ecs.list_tasks(cluster="jobs", startedBy="migrate-1", desiredStatus="STOPPED")["taskArns"] == [arn]
        assert json.loads(urllib.request.urlopen(f"{url}/_sandbox/ecs/tasks", timeout=10).read())["tasks"] == []
    finally:
        assert _stop(proc) == 0


# ---------------------------------------------------------------- e. ACM


def test_acm_dns_validation_follows_route53(aws: Aws) -> None:
    acm, route53 = aws("acm"), aws("route53")
    zone_name = f"{_name('t')}.example.com"
    domain, alt = f"app.{zone_name}", f"api.{zone_name}"
    arn = acm.request_certificate(DomainName=domain, SubjectAlternativeNames=[f"*.{domain}", alt],
                                  ValidationMethod="DNS", IdempotencyToken="tenant5app")["CertificateArn"]
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["Status"] == "PENDING_VALIDATION"
    options = {o["DomainName"]: o for o in cert["DomainValidationOptions"]}
    assert list(options) == [domain, f"*.{domain}", alt]
    assert all(o["ValidationMethod"] == "DNS" and o["ValidationStatus"] == "PENDING_VALIDATION" for o in options.values())
    records = {d: o["ResourceRecord"] for d, o in options.items()}
    assert records[domain] == records[f"*.{domain}"] and records[domain] != records[alt]
    assert records[domain]["Name"].endswith(f".{domain}.") and records[domain]["Type"] == "CNAME"
    assert records[domain]["Value"].endswith(".acm-validations.aws.")
    # Deterministic: asking again (even through another certificate) gives the same record.
    other = acm.request_certificate(DomainName=alt, ValidationMethod="DNS")["CertificateArn"]
    assert acm.describe_certificate(CertificateArn=other)["Certificate"]["DomainValidationOptions"][0][
        "ResourceRecord"] == records[alt]

    # Idempotency: same token + domain -> same ARN; same token, other domain -> new certificate.
    assert acm.request_certificate(DomainName=domain, ValidationMethod="DNS", IdempotencyToken="tenant5app",
                                   Tags=[{"Key": "k", "Value": "v"}])["CertificateArn"] == arn
    assert acm.request_certificate(DomainName=alt, ValidationMethod="DNS",
                                   IdempotencyToken="tenant5app")["CertificateArn"] != arn

    zone_id = route53.create_hosted_zone(Name=zone_name, CallerReference=_name("ref"))["HostedZone"]["Id"]

    def upsert(record: dict[str, str], value: str | None = None) -> None:
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": record["Name"], "Type": "CNAME", "TTL": 300,
                                                      "ResourceRecords": [{"Value": value or record["Value"]}]}}]})

    upsert(records[domain])
    upsert(records[alt], value="_wrong.acm-validations.aws.")
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["Status"] == "PENDING_VALIDATION"
    assert [o["ValidationStatus"] for o in cert["DomainValidationOptions"]] == ["SUCCESS", "SUCCESS", "PENDING_VALIDATION"]
    upsert(records[alt])
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["Status"] == "ISSUED"
    assert all(o["ValidationStatus"] == "SUCCESS" for o in cert["DomainValidationOptions"])
    assert arn in [c["CertificateArn"] for c in acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]]


def test_acm_in_use_certificate_cannot_be_deleted(aws: Aws) -> None:
    acm, ec2, elbv2 = aws("acm"), aws("ec2"), aws("elbv2")
    pem_arn = acm.request_certificate(DomainName="default.example.org", ValidationMethod="DNS")["CertificateArn"]
    extra_arn = acm.request_certificate(DomainName="extra.example.org", ValidationMethod="DNS")["CertificateArn"]
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"us-east-1{az}")[
        "Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = elbv2.create_load_balancer(Name=_name("lb"), Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(Name=_name("tg"), Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTPS", Port=443,
                                     Certificates=[{"CertificateArn": pem_arn}],
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": extra_arn}])
    for arn in (pem_arn, extra_arn):
        with pytest.raises(ClientError) as err:
            acm.delete_certificate(CertificateArn=arn)
        assert _error_code(err.value) == "ResourceInUseException"
        assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == [lb]
    elbv2.remove_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": extra_arn}])
    acm.delete_certificate(CertificateArn=extra_arn)
    elbv2.delete_listener(ListenerArn=listener)
    acm.delete_certificate(CertificateArn=pem_arn)


def test_acm_dns_validation_reads_the_authoritative_zone_of_any_account(aws: Aws, endpoint: str) -> None:
    # The certificate lives in the load balancer's account; the hostname's zone in the tenant's.
    sts = aws("sts")
    creds = sts.assume_role(RoleArn="arn:aws:iam::333333333333:role/tenant-dns", RoleSessionName="tenant-dns")["Credentials"]
    tenant = Aws(endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    parent = f"{_name('p')}.example.net"
    child = f"tenants.{parent}"
    parent_zone = aws("route53").create_hosted_zone(Name=parent, CallerReference=_name("ref"))["HostedZone"]["Id"]
    child_zone = tenant("route53").create_hosted_zone(Name=child, CallerReference=_name("ref"))["HostedZone"]["Id"]
    acm = aws("acm")
    arn = acm.request_certificate(DomainName=f"shop.{child}", ValidationMethod="DNS")["CertificateArn"]
    record = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"]

    def upsert(route53: Any, zone: str) -> None:
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": record["Name"], "Type": "CNAME", "TTL": 300,
                                                      "ResourceRecords": [{"Value": record["Value"]}]}}]})

    # A record in the parent zone is shadowed by the delegated child zone: a resolver never sees it.
    upsert(aws("route53"), parent_zone)
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "PENDING_VALIDATION"
    upsert(tenant("route53"), child_zone)
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"


def test_acm_not_after_tag_makes_renewal_due_and_expires(aws: Aws) -> None:
    acm, route53, ec2, elbv2 = aws("acm"), aws("route53"), aws("ec2"), aws("elbv2")
    zone_name = f"{_name('r')}.example.com"
    zone = route53.create_hosted_zone(Name=zone_name, CallerReference=_name("ref"))["HostedZone"]["Id"]
    arn = acm.request_certificate(DomainName=f"app.{zone_name}", ValidationMethod="DNS")["CertificateArn"]
    record = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": record["Name"], "Type": "CNAME", "TTL": 300,
                                                  "ResourceRecords": [{"Value": record["Value"]}]}}]})
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["Status"] == "ISSUED"
    # Not in use: ACM would not renew it.
    assert cert["RenewalEligibility"] == "INELIGIBLE" and "RenewalSummary" not in cert
    default_not_after = cert["NotAfter"]

    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-east-1{az}")[
        "Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = elbv2.create_load_balancer(Name=_name("lb"), Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTPS", Port=443,
                                     Certificates=[{"CertificateArn": arn}],
                                     DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                         "StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["RenewalEligibility"] == "ELIGIBLE" and "RenewalSummary" not in cert  # 365 days left

    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)).replace(microsecond=0)
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "sandbox:not-after", "Value": soon.isoformat()}])
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["NotAfter"] == soon and cert["NotAfter"] < default_not_after
    assert cert["Status"] == "ISSUED"
    assert cert["RenewalSummary"]["RenewalStatus"] == "PENDING_AUTO_RENEWAL"
    summary = acm.list_certificates()["CertificateSummaryList"]
    assert [c["NotAfter"] for c in summary if c["CertificateArn"] == arn] == [soon]

    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).replace(microsecond=0)
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "sandbox:not-after", "Value": past.isoformat()}])
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["Status"] == "EXPIRED" and cert["RenewalEligibility"] == "INELIGIBLE"
    elbv2.delete_listener(ListenerArn=listener)


# ------------------------------------------------- f. STS multi-account, g. CloudWatch


def test_assume_role_into_another_account(aws: Aws, endpoint: str) -> None:
    sts = aws("sts")
    assert sts.get_caller_identity()["Account"] == "123456789012"
    creds = sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/tenant-admin",
                            RoleSessionName="tenant-fleet")["Credentials"]
    tenant = Aws(endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    identity = tenant("sts").get_caller_identity()
    assert identity["Account"] == "210987654321"
    assert identity["Arn"] == "arn:aws:sts::210987654321:assumed-role/tenant-admin/tenant-fleet"

    bucket = _name("tenant-only")
    tenant("s3").create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in tenant("s3").list_buckets()["Buckets"]]
    assert bucket not in [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]
    name = _name("tenant-stack")
    stack_id = tenant("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {
        "P": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": f"/{name}", "Type": "String", "Value": "v"}}}}))["StackId"]
    assert ":210987654321:stack/" in stack_id
    assert name not in [s["StackName"] for s in aws("cloudformation").describe_stacks()["Stacks"]]


def test_cloudwatch_set_alarm_state_sticks(aws: Aws) -> None:
    cloudwatch = aws("cloudwatch")
    alarm = _name("tenant-5xx")
    cloudwatch.put_metric_alarm(AlarmName=alarm, Namespace="TenantFleet", MetricName="5xx", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="sandbox fault")
    cloudwatch.put_metric_data(Namespace="TenantFleet", MetricData=[{"MetricName": "5xx", "Value": 0}])
    described = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert described["StateValue"] == "ALARM" and described["StateReason"] == "sandbox fault"
    assert alarm in [a["AlarmName"] for a in cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"]]


def test_cfn_cloudwatch_alarm_is_created_kept_firing_on_update_and_deleted(aws: Aws) -> None:
    cfn, cloudwatch = aws("cloudformation"), aws("cloudwatch")
    stack, alarm = _name("alarm-stack"), _name("tenant-5xx")

    def template(threshold: int) -> str:
        return json.dumps({
            "Resources": {"Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmName": alarm, "Namespace": "TenantFleet/App", "MetricName": "HTTPCode_5XX",
                "Dimensions": [{"Name": "TenantId", "Value": "t"}], "Statistic": "Sum", "Period": 60,
                "EvaluationPeriods": 3, "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching"}}},
            "Outputs": {"AlarmName": {"Value": {"Ref": "Alarm"}}}})

    cfn.create_stack(StackName=stack, TemplateBody=template(10))
    assert _outputs(_stack(cfn, stack))["AlarmName"] == alarm
    described = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert [a["Threshold"] for a in described] == [10.0]
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="sandbox fault")
    cfn.update_stack(StackName=stack, TemplateBody=template(20))
    updated = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert (updated["Threshold"], updated["StateValue"]) == (20.0, "ALARM")
    cfn.delete_stack(StackName=stack)
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []


def test_rds_restore_of_a_cluster_with_a_managed_password(aws: Aws) -> None:
    rds = aws("rds")
    cluster, snapshot, restored = _name("c"), _name("s"), _name("r")
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", MasterUsername="app",
                          ManageMasterUserPassword=True)
    rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=snapshot)
    rds.restore_db_cluster_from_snapshot(DBClusterIdentifier=restored, SnapshotIdentifier=snapshot,
                                         Engine="aurora-postgresql", Tags=[{"Key": "restored-from", "Value": snapshot}])
    described = rds.describe_db_clusters(DBClusterIdentifier=restored)["DBClusters"][0]
    assert described["Status"] == "available"
    assert {"Key": "restored-from", "Value": snapshot} in described["TagList"]
    # As on AWS, the restored cluster manages no password: the secret stays its source's, and a new one is made on request.
    assert "MasterUserSecret" not in described
    source_secret = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["MasterUserSecret"]["SecretArn"]
    rds.modify_db_cluster(DBClusterIdentifier=restored, ManageMasterUserPassword=True, ApplyImmediately=True)
    secret = rds.describe_db_clusters(DBClusterIdentifier=restored)["DBClusters"][0]["MasterUserSecret"]["SecretArn"]
    assert secret != source_secret
    assert aws("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    assert {"Key": "restored-from", "Value": snapshot} in rds.describe_db_clusters(DBClusterIdentifier=restored)["DBClusters"][0]["TagList"]
    rds.modify_db_cluster(DBClusterIdentifier=restored, NewDBClusterIdentifier=restored + "-x", ApplyImmediately=True)
    assert {"Key": "restored-from", "Value": snapshot} in rds.describe_db_clusters(DBClusterIdentifier=restored + "-x")["DBClusters"][0]["TagList"]


# Last in the module: announcing the ECS task controller hands every later service on this launcher to it.
def test_ecs_task_controller_decides_rollouts_of_every_service(timed_aws: Aws, timed_endpoint: str) -> None:
    def call(path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{timed_endpoint}{path}", data=data, method="POST" if data else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    ecs = timed_aws("ecs")
    cluster = _name("cluster")
    before = call("/_sandbox/ecs/generation")["generation"]
    ecs.create_cluster(clusterName=cluster)
    assert call("/_sandbox/ecs/generation")["generation"] > before
    ecs.register_task_definition(family="lb", containerDefinitions=[{"name": "app", "image": "app:1.0.0", "memory": 128}])
    call("/_sandbox/ecs/controller", {})
    group = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lb/0123456789abcdef"
    ecs.create_service(cluster=cluster, serviceName="lb", taskDefinition="lb:1", desiredCount=2,
                       loadBalancers=[{"targetGroupArn": group, "containerName": "app", "containerPort": 8080}])
    ecs.create_service(cluster=cluster, serviceName="plain", taskDefinition="lb:1", desiredCount=1)
    # Past the timer's rollout time, both wait for the controller, with a load balancer or without.
    time.sleep(2 * 400 * 0.002)
    assert _service(ecs, cluster, "plain")["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    deployment = _service(ecs, cluster, "lb")["deployments"][0]
    assert (deployment["rolloutState"], deployment["runningCount"]) == ("IN_PROGRESS", 0)

    generation = call("/_sandbox/ecs/generation")["generation"]
    call("/_sandbox/ecs/deployments", {"account": "123456789012", "region": "us-east-1", "cluster": cluster, "service": "lb", "deployments": [
        {"id": deployment["id"], "runningCount": 1, "pendingCount": 1, "failedTasks": 0, "rolloutState": "IN_PROGRESS"}]})
    assert call("/_sandbox/ecs/generation")["generation"] > generation
    assert _service(ecs, cluster, "lb")["deployments"][0]["runningCount"] == 1
    call("/_sandbox/ecs/deployments", {"account": "123456789012", "region": "us-east-1", "cluster": cluster, "service": "lb", "deployments": [
        {"id": deployment["id"], "runningCount": 2, "pendingCount": 0, "failedTasks": 0, "rolloutState": "COMPLETED"}]})
    service = _service(ecs, cluster, "lb")
    assert (service["deployments"][0]["rolloutState"], service["runningCount"]) == ("COMPLETED", 2)
    assert any("has reached a steady state" in e["message"] for e in service["events"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        call("/_sandbox/ecs/deployments", {"account": "123456789012", "region": "us-east-1", "cluster": cluster})
    assert refused.value.code == 400
