"""Proves patches/elbv2_target_health.py against a real launcher.py subprocess (boto3 over HTTP).

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from test_launcher import Aws, _name


def _group(aws: Aws) -> tuple[Any, str]:  # noqa: F811
    elbv2, ec2 = aws("elbv2"), aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name=_name("tg"), Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                                    HealthCheckPath="/healthz")["TargetGroups"][0]["TargetGroupArn"]
    return elbv2, arn


def _health(elbv2: Any, arn: str, **kwargs: Any) -> dict[str, tuple[str, str | None]]:
    answer = elbv2.describe_target_health(TargetGroupArn=arn, **kwargs)["TargetHealthDescriptions"]
    return {f"{d['Target']['Id']}:{d['Target']['Port']}": (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in answer}


def _call(url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method="POST" if data else "GET", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_targets_are_keyed_by_ip_and_port_and_start_initial(aws: Aws) -> None:  # noqa: F811
    elbv2, arn = _group(aws)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "127.0.0.1", "Port": 4001}, {"Id": "127.0.0.1", "Port": 4002}])
    assert _health(elbv2, arn) == {
        "127.0.0.1:4001": ("initial", "Elb.RegistrationInProgress"),
        "127.0.0.1:4002": ("initial", "Elb.RegistrationInProgress"),
    }
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "127.0.0.1", "Port": 4001}])
    assert _health(elbv2, arn) == {
        "127.0.0.1:4001": ("draining", "Target.DeregistrationInProgress"),
        "127.0.0.1:4002": ("initial", "Elb.RegistrationInProgress"),
    }
    assert _health(elbv2, arn, Targets=[{"Id": "127.0.0.1", "Port": 4003}]) == {"127.0.0.1:4003": ("unused", "Target.NotRegistered")}


def test_health_is_what_the_emulator_pushed_and_draining_targets_stay_listed(aws: Aws, endpoint: str) -> None:  # noqa: F811
    elbv2, arn = _group(aws)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "127.0.0.1", "Port": 4101}, {"Id": "127.0.0.1", "Port": 4102}])
    before = _call(endpoint, "/_sandbox/elbv2/generation")["generation"]
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "127.0.0.1", "Port": 4102}])
    generation = _call(endpoint, "/_sandbox/elbv2/generation")["generation"]
    assert generation > before
    # Before the emulator has seen the deregistration, the target is draining, not gone.
    _call(endpoint, "/_sandbox/elbv2/target-health", {"generation": before, "targetGroups": {}})
    assert _health(elbv2, arn)["127.0.0.1:4102"] == ("draining", "Target.DeregistrationInProgress")
    _call(endpoint, "/_sandbox/elbv2/target-health", {"generation": generation, "targetGroups": {arn: {
        "127.0.0.1:4101": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch", "Description": "Health checks failed with these codes: [500]"},
        "127.0.0.1:4102": {"State": "draining"},
    }}})
    assert _health(elbv2, arn) == {
        "127.0.0.1:4101": ("unhealthy", "Target.ResponseCodeMismatch"),
        "127.0.0.1:4102": ("draining", "Target.DeregistrationInProgress"),
    }
    # Reading does not count as a change.
    _health(elbv2, arn)
    assert _call(endpoint, "/_sandbox/elbv2/generation")["generation"] == generation
    # Once the emulator stops reporting it (draining over), the target is gone.
    pushes = _call(endpoint, "/_sandbox/elbv2/generation")["pushes"]
    _call(endpoint, "/_sandbox/elbv2/target-health", {"generation": generation, "targetGroups": {arn: {"127.0.0.1:4101": {"State": "healthy"}}}})
    assert _health(elbv2, arn) == {"127.0.0.1:4101": ("healthy", None)}
    assert _call(endpoint, "/_sandbox/elbv2/generation")["pushed"] == generation
    # Every push is counted, and the last one is read back whole (the ECS task controller's view of every group).
    assert _call(endpoint, "/_sandbox/elbv2/generation")["pushes"] == pushes + 1
    assert _call(endpoint, "/_sandbox/elbv2/target-health") == {"pushes": pushes + 1, "targetGroups": {arn: {"127.0.0.1:4101": {"State": "healthy"}}}}


def test_a_bad_push_is_refused_with_the_expected_shape(endpoint: str) -> None:  # noqa: F811
    request = urllib.request.Request(f"{endpoint}/_sandbox/elbv2/target-health", data=b'{"groups": 1}', method="POST")
    try:
        urllib.request.urlopen(request)
        raise AssertionError("expected 400")
    except urllib.error.HTTPError as error:
        assert error.code == 400
        assert "targetGroups" in json.loads(error.read())["error"]
