"""Proves patches/cfn_change_set_details.py against a real launcher.py subprocess (boto3 over HTTP).

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q -k change_set_details
"""

from __future__ import annotations

import json
from typing import Any

from test_launcher import Aws, _aurora_template, _name, _stack


def _created(aws: Aws) -> tuple[Any, str]:
    cfn = aws("cloudformation")
    name = _name("details")
    cfn.create_stack(StackName=name, TemplateBody=_aurora_template(extra=_endpoint_parameter()),
                     Parameters=[{"ParameterKey": "Tenant", "ParameterValue": "acme"}])
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [(e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in cfn.describe_stack_events(StackName=name)["StackEvents"] if e.get("ResourceStatusReason")]
    return cfn, name


def _endpoint_parameter() -> dict[str, Any]:
    # Refers to the cluster by attribute: modified (Dynamic) whenever the cluster is replaced.
    return {"EndpointParameter": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": {"Fn::Sub": "/${AWS::StackName}/endpoint"}, "Type": "String",
        "Value": {"Fn::GetAtt": ["Database", "Endpoint.Address"]}}}}


def _changes(cfn: Any, stack: str, template: str, params: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    change_set = _name("diff")
    cfn.create_change_set(StackName=stack, ChangeSetName=change_set, ChangeSetType="UPDATE",
                          TemplateBody=template, Parameters=params)
    described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
    assert described["Status"] == "CREATE_COMPLETE", described.get("StatusReason")
    cfn.delete_change_set(StackName=stack, ChangeSetName=change_set)
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]}


def _targets(change: dict[str, Any]) -> list[tuple[str, str | None, str, str, str | None]]:
    return [(d["Target"]["Attribute"], d["Target"].get("Name"), d["Target"]["RequiresRecreation"], d["ChangeSource"],
             d.get("CausingEntity")) for d in change["Details"]]


def test_an_instance_class_change_modifies_the_instance_in_place(aws: Aws) -> None:
    cfn, name = _created(aws)
    changes = _changes(cfn, name, _aurora_template(extra=_endpoint_parameter()),
                       [{"ParameterKey": "Tenant", "ParameterValue": "acme"},
                        {"ParameterKey": "InstanceClass", "ParameterValue": "db.r6g.xlarge"}])
    assert list(changes) == ["Writer"]
    writer = changes["Writer"]
    assert (writer["Action"], writer["Replacement"], writer["Scope"]) == ("Modify", "False", ["Properties"])
    assert writer["ResourceType"] == "AWS::RDS::DBInstance"
    assert writer["PhysicalResourceId"]
    assert _targets(writer) == [("Properties", "DBInstanceClass", "Never", "ParameterReference", "InstanceClass")]
    assert writer["Details"][0]["Evaluation"] == "Static"
    # Nothing was executed: the stack is as created.
    assert _stack(cfn, name)["StackStatus"] == "CREATE_COMPLETE"


def test_an_engine_change_replaces_the_cluster_and_its_dependents(aws: Aws) -> None:
    cfn, name = _created(aws)
    template = json.loads(_aurora_template(extra=_endpoint_parameter()))
    template["Resources"]["Database"]["Properties"]["Engine"] = "aurora-mysql"
    template["Resources"]["Writer"]["Properties"]["Engine"] = "aurora-mysql"
    template["Resources"]["Database"]["Properties"]["BackupRetentionPeriod"] = 14
    changes = _changes(cfn, name, json.dumps(template), [{"ParameterKey": "Tenant", "ParameterValue": "acme"}])
    database = changes["Database"]
    assert (database["Action"], database["Replacement"]) == ("Modify", "True")
    assert _targets(database) == [
        ("Properties", "BackupRetentionPeriod", "Never", "DirectModification", None),
        ("Properties", "Engine", "Always", "DirectModification", None),
    ]
    writer = changes["Writer"]
    assert writer["Replacement"] == "True"
    assert ("Properties", "Engine", "Always", "DirectModification", None) in _targets(writer)
    # The writer names its cluster by Ref: a new cluster is a new writer.
    assert ("Properties", "DBClusterIdentifier", "Always", "ResourceReference", "Database") in _targets(writer)
    endpoint = changes["EndpointParameter"]
    assert (endpoint["Action"], endpoint["Replacement"]) == ("Modify", "False")
    assert _targets(endpoint) == [("Properties", "Value", "Never", "ResourceAttribute", "Database.Endpoint.Address")]
    assert endpoint["Details"][0]["Evaluation"] == "Dynamic"


def test_a_tag_change_is_scoped_to_tags_and_an_unknown_type_is_conditional(aws: Aws) -> None:
    cfn, name = _created(aws)
    template = json.loads(_aurora_template(extra=_endpoint_parameter()))
    # AWS::KMS::Key is not in the patch's table: it cannot tell, so it says "Conditional".
    template["Resources"]["Key"]["Properties"]["Description"] = "tenant key"
    changes = _changes(cfn, name, json.dumps(template), [{"ParameterKey": "Tenant", "ParameterValue": "globex"}])
    database = changes["Database"]
    assert (database["Replacement"], database["Scope"]) == ("False", ["Tags"])
    assert _targets(database) == [("Tags", None, "Never", "ParameterReference", "Tenant")]
    key = changes["Key"]
    assert (key["Replacement"], _targets(key)) == ("Conditional", [("Properties", "Description", "Conditionally", "DirectModification", None)])


def test_a_new_bucket_name_replaces_the_bucket(aws: Aws) -> None:
    # What a release carrying the tenant template refuses unless it allows the bucket by name
    # (src/shared/release/stack-change.ts): moto alone says Replacement "False" here.
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "tenant-${Tenant}-data"}}}
    cfn = aws("cloudformation")
    name = _name("bucket")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Parameters": {"Tenant": {"Type": "String"}}, "Resources": {"Data": bucket}}),
                     Parameters=[{"ParameterKey": "Tenant", "ParameterValue": "acme"}])
    assert _stack(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    renamed = {**bucket, "Properties": {"BucketName": {"Fn::Sub": "tenant-${Tenant}-data-v2"}}}
    changes = _changes(cfn, name, json.dumps({"Parameters": {"Tenant": {"Type": "String"}}, "Resources": {"Data": renamed}}),
                       [{"ParameterKey": "Tenant", "ParameterValue": "acme"}])
    data = changes["Data"]
    assert (data["Action"], data["Replacement"], data["ResourceType"]) == ("Modify", "True", "AWS::S3::Bucket")
    assert _targets(data) == [("Properties", "BucketName", "Always", "DirectModification", None)]


def test_a_parameter_passed_with_its_default_changes_nothing(aws: Aws) -> None:
    # The stack took InstanceClass's default; a release passes it explicitly with that value (as it keeps
    # DatabaseRestoredFrom ""), and adds a resource. CloudFormation lists the added resource alone; moto
    # alone also lists the Writer, which refers to InstanceClass, as modified.
    cfn, name = _created(aws)
    extra = {**_endpoint_parameter(), "Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": {"Fn::Sub": "/${AWS::StackName}/marker"}, "Type": "String", "Value": "1"}}}
    changes = _changes(cfn, name, _aurora_template(extra=extra),
                       [{"ParameterKey": "Tenant", "ParameterValue": "acme"},
                        {"ParameterKey": "InstanceClass", "ParameterValue": "db.r6g.large"}])
    assert {k: (c["Action"], c.get("Replacement")) for k, c in changes.items()} == {"Marker": ("Add", None)}
