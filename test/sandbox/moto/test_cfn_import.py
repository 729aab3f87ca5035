"""Proves patches/cfn_import.py against a real launcher.py subprocess (boto3 over HTTP).

Without the patch (TENANT_FLEET_SANDBOX_SKIP_PATCHES=cfn_import) every test here fails: the
sandbox refuses ChangeSetType IMPORT.

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q -k cfn_import
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from test_launcher import Aws, _name, _stack, timed_aws, timed_endpoint  # noqa: F401 - fixtures


def _bucket_json(policy: str | None = "Retain") -> dict[str, Any]:
    bucket: dict[str, Any] = {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": {"Fn::Sub": "tenant-${TenantId}-${AWS::AccountId}"},
        "Tags": [{"Key": "TenantId", "Value": {"Ref": "TenantId"}}]}}
    if policy:
        bucket["DeletionPolicy"] = policy
    return bucket


def _template(**extra: Any) -> str:
    return json.dumps({"Parameters": {"TenantId": {"Type": "String"}},
                       "Resources": {"DataBucket": _bucket_json(), **extra},
                       "Outputs": {"BucketName": {"Value": {"Ref": "DataBucket"}}}})


def _retained_bucket(aws: Aws, tenant: str) -> str:
    """A bucket with an object, as a deprovisioned tenant leaves it."""
    s3 = aws("s3")
    bucket = f"tenant-{tenant}-123456789012"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "TenantId", "Value": tenant}]})
    s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"still here")
    return bucket


def _import(cfn: Any, stack: str, change_set: str, bucket: str, template: str, tenant: str,
            logical_id: str = "DataBucket") -> dict[str, Any]:
    cfn.create_change_set(
        StackName=stack, ChangeSetName=change_set, ChangeSetType="IMPORT", TemplateBody=template,
        Parameters=[{"ParameterKey": "TenantId", "ParameterValue": tenant}],
        ResourcesToImport=[{"ResourceType": "AWS::S3::Bucket", "LogicalResourceId": logical_id,
                            "ResourceIdentifier": {"BucketName": bucket}}])
    return cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)


def _refusal(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    return raised.value.response["Error"]["Message"]


def test_an_import_change_set_creates_the_stack_around_the_existing_bucket(aws: Aws) -> None:
    cfn, s3 = aws("cloudformation"), aws("s3")
    tenant = _name("imp")
    bucket = _retained_bucket(aws, tenant)
    stack = f"tenant-{tenant}"
    described = _import(cfn, stack, "adopt", bucket, _template(), tenant)
    assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    [change] = [c["ResourceChange"] for c in described["Changes"]]
    assert (change["Action"], change["LogicalResourceId"], change["ResourceType"], change["PhysicalResourceId"]) == (
        "Import", "DataBucket", "AWS::S3::Bucket", bucket)
    assert _stack(cfn, stack)["StackStatus"] == "REVIEW_IN_PROGRESS"

    cfn.execute_change_set(StackName=stack, ChangeSetName="adopt")
    state = _stack(cfn, stack)
    assert state["StackStatus"] == "IMPORT_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in state["Outputs"]} == {"BucketName": bucket}
    [resource] = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    assert (resource["LogicalResourceId"], resource["PhysicalResourceId"], resource["ResourceStatus"]) == (
        "DataBucket", bucket, "IMPORT_COMPLETE")
    events = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(cfn.describe_stack_events(StackName=stack)["StackEvents"])]
    assert events[-4:] == [(stack, "IMPORT_IN_PROGRESS"), ("DataBucket", "IMPORT_IN_PROGRESS"),
                           ("DataBucket", "IMPORT_COMPLETE"), (stack, "IMPORT_COMPLETE")]
    # The bucket is the same one, untouched.
    assert s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"still here"

    # An update then adds the rest of the template and leaves the imported bucket alone.
    full = _template(Marker={"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": {"Fn::Sub": "/${TenantId}/bucket"}, "Type": "String", "Value": {"Ref": "DataBucket"}}})
    cfn.create_change_set(StackName=stack, ChangeSetName="full", ChangeSetType="UPDATE", TemplateBody=full,
                          Parameters=[{"ParameterKey": "TenantId", "ParameterValue": tenant}])
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"]
               for c in cfn.describe_change_set(StackName=stack, ChangeSetName="full")["Changes"]}
    assert changes == {"Marker": "Add"}
    cfn.execute_change_set(StackName=stack, ChangeSetName="full")
    assert _stack(cfn, stack)["StackStatus"] == "UPDATE_COMPLETE"
    assert aws("ssm").get_parameter(Name=f"/{tenant}/bucket")["Parameter"]["Value"] == bucket
    assert s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"still here"

    # Deleting the stack keeps the bucket again (Retain), and it can be imported once more.
    cfn.delete_stack(StackName=stack)
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _import(cfn, stack, "adopt-again", bucket, _template(), tenant)["Status"] == "CREATE_COMPLETE"


def test_an_import_refuses_what_aws_refuses(aws: Aws) -> None:
    cfn = aws("cloudformation")
    tenant = _name("imp")
    bucket = _retained_bucket(aws, tenant)
    stack = f"tenant-{tenant}"
    extra = {"Other": {"Type": "AWS::SSM::Parameter", "DeletionPolicy": "Retain",
                       "Properties": {"Name": "/x", "Type": "String", "Value": "y"}}}
    assert "You have modified resources [Other] in your template that are not being imported" in _refusal(
        lambda: _import(cfn, stack, "a", bucket, _template(**extra), tenant))
    no_policy = json.dumps({"Parameters": {"TenantId": {"Type": "String"}}, "Resources": {"DataBucket": _bucket_json(None)}})
    assert "The following resources to import [DataBucket] must have DeletionPolicy attribute specified in the template." in _refusal(
        lambda: _import(cfn, stack, "b", bucket, no_policy, tenant))
    assert "The logical resource ids [Elsewhere] provided in ResourceToImport do not exist in the template." in _refusal(
        lambda: _import(cfn, stack, "c", bucket, _template(), tenant, logical_id="Elsewhere"))
    # Nothing was created by the refusals.
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName=stack)

    # An existing stack is not a new stack.
    _import(cfn, stack, "d", bucket, _template(), tenant)
    cfn.execute_change_set(StackName=stack, ChangeSetName="d")
    assert "already exists" in _refusal(lambda: _import(cfn, stack, "e", bucket, _template(), tenant))


def test_importing_a_bucket_that_does_not_exist_fails_the_change_set(aws: Aws) -> None:
    cfn, s3 = aws("cloudformation"), aws("s3")
    tenant = _name("imp")
    stack = f"tenant-{tenant}"
    missing = f"tenant-{tenant}-123456789012"
    described = _import(cfn, stack, "adopt", missing, _template(), tenant)
    assert (described["Status"], described["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert missing in described["StatusReason"] and "do not exist" in described["StatusReason"]
    with pytest.raises(ClientError) as raised:
        cfn.execute_change_set(StackName=stack, ChangeSetName="adopt")
    assert raised.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    # No bucket was made on the way.
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=missing)


def test_an_import_takes_time_like_any_stack_operation(timed_aws: Aws) -> None:
    cfn = timed_aws("cloudformation")
    tenant = _name("imp")
    bucket = _retained_bucket(timed_aws, tenant)
    stack = f"tenant-{tenant}"
    _import(cfn, stack, "adopt", bucket, _template(), tenant)
    for _ in range(100):
        if cfn.describe_change_set(StackName=stack, ChangeSetName="adopt")["ExecutionStatus"] == "AVAILABLE":
            break
        time.sleep(0.05)
    cfn.execute_change_set(StackName=stack, ChangeSetName="adopt")
    seen = []
    for _ in range(200):
        status = _stack(cfn, stack)["StackStatus"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "IMPORT_COMPLETE":
            break
        time.sleep(0.02)
    assert seen[0] in ("REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS") and seen[-1] == "IMPORT_COMPLETE"
    assert "IMPORT_IN_PROGRESS" in seen
