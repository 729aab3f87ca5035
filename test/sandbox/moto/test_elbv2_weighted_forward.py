"""Weighted forward actions (blue/green releases) through CloudFormation and ModifyRule.

The tenant traffic stack's rule forwards to two target groups with weights (infra/cloudformation/
tenant-traffic.yaml, BlueGreen), and a release moves them with ModifyRule
(src/activities/listener-rule.ts). Both must read back exactly as written.

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q
"""

from __future__ import annotations

import json
import time
from typing import Any

from test_launcher import Aws, _name


def _listener(aws: Aws) -> tuple[Any, str, str]:
    elbv2, ec2 = aws("elbv2"), aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    lb = elbv2.create_load_balancer(Name=_name("lb"), Subnets=subnets, Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    return elbv2, listener, vpc


def _weights(elbv2: Any, rule_arn: str) -> dict[str, int]:
    rule = elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]
    forward = rule["Actions"][0]
    return {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}


def _template(blue: int, green: int) -> str:
    group = {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
             "Properties": {"TargetType": "ip", "Protocol": "HTTP", "Port": 8080, "VpcId": {"Ref": "Vpc"}}}
    return json.dumps({
        "Parameters": {"Vpc": {"Type": "String"}, "Listener": {"Type": "String"}},
        "Resources": {
            "Blue": group,
            "Green": group,
            "Rule": {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
                "ListenerArn": {"Ref": "Listener"}, "Priority": 7,
                "Conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["w.example.com"]}}],
                "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                    {"TargetGroupArn": {"Ref": "Blue"}, "Weight": blue},
                    {"TargetGroupArn": {"Ref": "Green"}, "Weight": green}]}}]}},
        },
        "Outputs": {"Rule": {"Value": {"Ref": "Rule"}}, "Blue": {"Value": {"Ref": "Blue"}}, "Green": {"Value": {"Ref": "Green"}}},
    })


def _wait(cfn: Any, name: str) -> dict[str, str]:
    for _ in range(100):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
        time.sleep(0.1)
    raise AssertionError("stack still in progress")


def test_stack_rule_forwards_with_weights_and_an_update_sets_them(aws: Aws) -> None:
    elbv2, listener, vpc = _listener(aws)
    cfn = aws("cloudformation")
    name = _name("weights")
    params = [{"ParameterKey": "Vpc", "ParameterValue": vpc}, {"ParameterKey": "Listener", "ParameterValue": listener}]
    cfn.create_stack(StackName=name, TemplateBody=_template(100, 0), Parameters=params)
    out = _wait(cfn, name)
    assert _weights(elbv2, out["Rule"]) == {out["Blue"]: 100, out["Green"]: 0}
    cfn.update_stack(StackName=name, TemplateBody=_template(0, 100), Parameters=params)
    out = _wait(cfn, name)
    assert _weights(elbv2, out["Rule"]) == {out["Blue"]: 0, out["Green"]: 100}


def test_modify_rule_sets_exact_weights(aws: Aws) -> None:
    elbv2, listener, vpc = _listener(aws)
    groups = [elbv2.create_target_group(Name=_name(c), Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"] for c in ("blue", "green")]
    rule = elbv2.create_rule(ListenerArn=listener, Priority=3,
                             Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["m.example.com"]}}],
                             Actions=[{"Type": "forward", "TargetGroupArn": groups[0]}])["Rules"][0]["RuleArn"]
    for blue, green in ((90, 10), (50, 50), (0, 100), (100, 0)):
        elbv2.modify_rule(RuleArn=rule, Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": groups[0], "Weight": blue}, {"TargetGroupArn": groups[1], "Weight": green}]}}])
        assert _weights(elbv2, rule) == {groups[0]: blue, groups[1]: green}
