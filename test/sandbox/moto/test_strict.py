"""The launcher's settings and the operations that take time (patches/_settings.py, cfn_timing.py, ...).

Run: .tools/venv/bin/python -m pytest test/sandbox/moto -q
The timed launcher runs with the default settings: what the product's tests see.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from test_launcher import LAUNCHER, Aws, _aurora_template, _clean_env, _error_code, _name, _start, _stop

PARAMS = [{"ParameterKey": "Tenant", "ParameterValue": "t1"}]
IN_PROGRESS = ("_IN_PROGRESS",)
# Not final yet: besides *_IN_PROGRESS, a change set's first state, RDS's, and a read within the
# eventual-consistency window that does not see a new resource yet.
PENDING = {"CREATE_PENDING", "creating", "NOT_FOUND_YET"}


@pytest.fixture(scope="module")
def timed_endpoint() -> Iterator[str]:
    proc, url = _start(0)
    yield url
    assert _stop(proc) == 0


@pytest.fixture(scope="module")
def timed(timed_endpoint: str) -> Aws:
    return Aws(timed_endpoint)


@pytest.fixture(scope="module")
def slow() -> Iterator[Aws]:
    """25 times the default scale: a change set takes 0.6 s to create, long enough to be seen pending."""
    proc, url = _start(0, settings=json.dumps({"timeScale": 0.05}))
    yield Aws(url)
    assert _stop(proc) == 0


SMALL_TEMPLATE = json.dumps({"Resources": {"Param": {"Type": "AWS::SSM::Parameter", "Properties": {
    "Name": {"Fn::Sub": "/${AWS::StackName}/p"}, "Type": "String", "Value": {"Ref": "Value"}}}},
    "Parameters": {"Value": {"Type": "String"}}})


def _refused(env: dict[str, str] | None = None, settings: str | None = None) -> str:
    args = [sys.executable, LAUNCHER, "--host", "127.0.0.1", "--port", "0"]
    if settings is not None:
        args += ["--settings", settings]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, env=_clean_env(env))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one clear line, no traceback
    return lines[0]


# ------------------------------------------------------------------ settings


def test_bad_settings_are_refused_at_start_naming_the_setting() -> None:
    assert _refused({"TENANT_FLEET_SANDBOX_TIME_SCALE": "-1"}) == (
        'launcher: TENANT_FLEET_SANDBOX_TIME_SCALE: expected a number >= 0 (got "-1")')
    assert _refused({"TENANT_FLEET_SANDBOX_TIME_SCALE": "fast"}) == (
        'launcher: TENANT_FLEET_SANDBOX_TIME_SCALE: expected a number >= 0 (got "fast")')
    assert _refused({"TENANT_FLEET_SANDBOX_TIME_SCALE": "nan"}).startswith(
        "launcher: TENANT_FLEET_SANDBOX_TIME_SCALE: expected a number >= 0")
    unknown = _refused({"TENANT_FLEET_SANDBOX_TIME_SCAL": "1"})
    assert unknown.startswith("launcher: TENANT_FLEET_SANDBOX_TIME_SCAL: unknown sandbox setting (known: ")
    assert "TENANT_FLEET_SANDBOX_TIME_SCALE" in unknown
    assert _refused(settings='{"timeScale": -0.5}') == (
        "launcher: --settings timeScale: expected a number >= 0 (got -0.5)")
    assert _refused(settings='{"timeScale": true}') == (
        "launcher: --settings timeScale: expected a number >= 0 (got true)")
    assert _refused(settings='{"timescale": 1}').startswith('launcher: --settings: unknown key "timescale" (known: ')
    assert _refused(settings="[1]") == "launcher: --settings: expected a JSON object (got [1])"
    assert _refused(settings="{").startswith("launcher: --settings: expected a JSON object (")
    assert _refused({"SANDBOX_ECS_ROLLOUT_SECONDS": "2"}) == (
        "launcher: SANDBOX_ECS_ROLLOUT_SECONDS is no longer read; use TENANT_FLEET_SANDBOX_TIME_SCALE "
        "(ECS rollouts are scaled like every other duration)")
    assert "unknown: cfn_nope" in _refused({"TENANT_FLEET_SANDBOX_SKIP_PATCHES": "cfn_rds,cfn_nope"})


def test_settings_argument_overrides_the_environment_and_foreign_variables_pass() -> None:
    from patches import _settings

    # TENANT_FLEET_SANDBOX_DIR belongs to the sandbox scripts, not to the launcher.
    loaded = _settings.load({"TENANT_FLEET_SANDBOX_DIR": "/tmp/x", "TENANT_FLEET_SANDBOX_TIME_SCALE": "5",
                             "PATH": "/bin"}, '{"timeScale": 0}')
    assert loaded.timeScale == 0
    assert _settings.load({"TENANT_FLEET_SANDBOX_TIME_SCALE": "0.5"}).timeScale == 0.5
    assert _settings.load({}).timeScale == 0.002
    assert _settings.load({"TENANT_FLEET_SANDBOX_SKIP_PATCHES": "cfn_rds, acm_in_use"}).skipPatches == (
        "cfn_rds", "acm_in_use")


# ------------------------------------------------------------ CloudFormation


def _watch(read: Callable[[], str], timeout: float = 20) -> list[str]:
    """Distinct values `read` returns, polled every 20 ms until it is final."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        if not value.endswith(IN_PROGRESS) and value not in PENDING:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"still in progress after {timeout} s: {seen}")


def _status(cfn: Any, name: str) -> str:
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def _status_or_gone(cfn: Any, name: str) -> str:
    try:
        return _status(cfn, name)
    except ClientError as exc:
        assert "does not exist" in str(exc)
        return "GONE"


def _stack_events(cfn: Any, name: str) -> list[dict[str, Any]]:
    return cfn.describe_stack_events(StackName=name)["StackEvents"][::-1]


def test_stack_is_seen_in_progress_before_complete(timed: Aws) -> None:
    cfn = timed("cloudformation")
    name = _name("timed")
    started = datetime.datetime.now(datetime.timezone.utc)
    cfn.create_stack(StackName=name, TemplateBody=_aurora_template(), Parameters=PARAMS)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_IN_PROGRESS"
    assert "Outputs" not in stack
    # Resources the operation has not reached yet are not listed (moto listed all, CREATE_COMPLETE).
    listed = {r["LogicalResourceId"]: r["ResourceStatus"]
              for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    assert "Writer" not in listed and set(listed.values()) <= {"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}
    assert _watch(lambda: _status(cfn, name)) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert {o["OutputKey"] for o in stack["Outputs"]} >= {"ClusterId", "Endpoint", "WriterId"}

    events = _stack_events(cfn, name)
    stamps = [e["Timestamp"] for e in events]
    assert stamps == sorted(stamps)
    # The Aurora cluster and its writer take most of the ~12 AWS minutes, scaled by the default 0.002.
    assert datetime.timedelta(seconds=0.8) < stamps[-1] - stamps[0] < datetime.timedelta(seconds=5)
    assert stamps[0] >= started - datetime.timedelta(seconds=1)
    writer = [e for e in events if e["LogicalResourceId"] == "Writer"]
    assert [e["ResourceStatus"] for e in writer] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert writer[1]["Timestamp"] - writer[0]["Timestamp"] > datetime.timedelta(seconds=0.5)

    # An update shows UPDATE_IN_PROGRESS and refuses a second update meanwhile, as AWS does.
    cfn.update_stack(StackName=name, TemplateBody=_aurora_template(instance_class="db.r6g.xlarge"), Parameters=PARAMS)
    assert _status(cfn, name) == "UPDATE_IN_PROGRESS"
    with pytest.raises(ClientError) as refused:
        cfn.update_stack(StackName=name, TemplateBody=_aurora_template(instance_class="db.r6g.2xlarge"),
                         Parameters=PARAMS)
    assert _error_code(refused.value) == "ValidationError"
    assert "is in UPDATE_IN_PROGRESS state and can not be updated" in str(refused.value)
    assert _watch(lambda: _status(cfn, name))[-1] == "UPDATE_COMPLETE"
    statuses = [e["ResourceStatus"] for e in _stack_events(cfn, name) if e["LogicalResourceId"] == name]
    assert statuses[-3:] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]

    # A deleted stack is DELETE_IN_PROGRESS by name until it is gone.
    cfn.delete_stack(StackName=name)
    assert _status(cfn, name) == "DELETE_IN_PROGRESS"
    cfn.delete_stack(StackName=name)  # a repeat while deleting is accepted and changes nothing

    assert _watch(lambda: _status_or_gone(cfn, name)) == ["DELETE_IN_PROGRESS", "GONE"]
    deleted = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name]
    assert [s["StackStatus"] for s in deleted] == ["DELETE_COMPLETE"]


def test_change_sets_are_created_then_executed_over_time(slow: Aws) -> None:
    cfn = slow("cloudformation")
    name = _name("cs")

    def value(v: str) -> list[dict[str, str]]:
        return [{"ParameterKey": "Value", "ParameterValue": v}]

    cfn.create_change_set(StackName=name, ChangeSetName="create", ChangeSetType="CREATE",
                          TemplateBody=SMALL_TEMPLATE, Parameters=value("1"))
    change_set = cfn.describe_change_set(StackName=name, ChangeSetName="create")
    assert (change_set["Status"], change_set["ExecutionStatus"]) == ("CREATE_PENDING", "UNAVAILABLE")
    assert _status(cfn, name) == "REVIEW_IN_PROGRESS"
    with pytest.raises(ClientError) as early:
        cfn.execute_change_set(StackName=name, ChangeSetName="create")
    assert _error_code(early.value) == "InvalidChangeSetStatus"
    seen = _watch(lambda: cfn.describe_change_set(StackName=name, ChangeSetName="create")["Status"])
    assert seen[-1] == "CREATE_COMPLETE" and set(seen) <= {"CREATE_PENDING", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"}
    assert cfn.describe_change_set(StackName=name, ChangeSetName="create")["ExecutionStatus"] == "AVAILABLE"

    cfn.execute_change_set(StackName=name, ChangeSetName="create")
    assert cfn.describe_change_set(StackName=name, ChangeSetName="create")["ExecutionStatus"] == "EXECUTE_IN_PROGRESS"
    assert _watch(lambda: _status(cfn, name)) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert cfn.describe_change_set(StackName=name, ChangeSetName="create")["ExecutionStatus"] == "EXECUTE_COMPLETE"

    # An UPDATE change set is refused while the stack is visibly updating.
    cfn.update_stack(StackName=name, TemplateBody=SMALL_TEMPLATE, Parameters=value("2"))
    with pytest.raises(ClientError) as busy:
        cfn.create_change_set(StackName=name, ChangeSetName="later", ChangeSetType="UPDATE",
                              TemplateBody=SMALL_TEMPLATE, Parameters=value("3"))
    assert "is in UPDATE_IN_PROGRESS state and can not be updated" in str(busy.value)
    assert _watch(lambda: _status(cfn, name))[-1] == "UPDATE_COMPLETE"
    # The "no changes" outcome also takes the creation time before it shows.
    cfn.create_change_set(StackName=name, ChangeSetName="same", ChangeSetType="UPDATE",
                          TemplateBody=SMALL_TEMPLATE, Parameters=value("2"))
    assert _watch(lambda: cfn.describe_change_set(StackName=name, ChangeSetName="same")["Status"])[-1] == "FAILED"
    cfn.delete_stack(StackName=name)


def test_failed_create_is_seen_rolling_back(timed: Aws) -> None:
    cfn = timed("cloudformation")
    name = _name("rollback")
    failing = {"Type": "AWS::S3::Bucket", "DependsOn": "Writer",
               "Properties": {"Tags": [{"Key": "sandbox:fail-create", "Value": "true"}]}}
    cfn.create_stack(StackName=name, TemplateBody=_aurora_template(extra={"Broken": failing}), Parameters=PARAMS)
    assert _watch(lambda: _status(cfn, name)) == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    reasons = [e.get("ResourceStatusReason", "") for e in _stack_events(cfn, name)
               if e["ResourceStatus"] == "CREATE_FAILED"]
    assert len(reasons) == 1 and "sandbox:fail-create=true" in reasons[0]


def _params(**tagged: dict[str, Any]) -> str:
    resources: dict[str, Any] = {}
    for name, extra in tagged.items():
        body: dict[str, Any] = {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": {"Fn::Sub": f"/${{AWS::StackName}}/{name}"}, "Type": "String", "Value": name,
            "Tags": extra.get("tags", {})}}
        if "depends" in extra:
            body["DependsOn"] = extra["depends"]
        resources[name] = body
    return json.dumps({"Resources": resources})


def test_fail_delete_tag_gives_delete_failed_and_update_rollback_failed(slow: Aws) -> None:
    cfn = slow("cloudformation")
    stuck = {"tags": {"sandbox:fail-delete": "true"}}
    name = _name("faildelete")
    cfn.create_stack(StackName=name, TemplateBody=_params(Keep={}, Stuck=stuck))
    _watch(lambda: _status(cfn, name))
    cfn.delete_stack(StackName=name)
    assert _watch(lambda: _status(cfn, name)) == ["DELETE_IN_PROGRESS", "DELETE_FAILED"]
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatusReason"] == "The following resource(s) failed to delete: [Stuck]. "
    failed = [e for e in _stack_events(cfn, name) if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] == "Stuck"]
    assert failed[0]["ResourceStatusReason"] == (
        'Resource handler returned message: "Sandbox fault injection: AWS::SSM::Parameter Stuck is tagged '
        'sandbox:fail-delete=true" (HandlerErrorCode: GeneralServiceException)')
    cfn.delete_stack(StackName=name, RetainResources=["Stuck"])  # what an operator does on AWS
    assert _watch(lambda: _status_or_gone(cfn, name))[-1] == "GONE"

    # An update that adds a resource which cannot be deleted, then fails: the rollback fails.
    name = _name("rollbackfail")
    cfn.create_stack(StackName=name, TemplateBody=_params(Keep={}))
    _watch(lambda: _status(cfn, name))
    broken = {"tags": {"sandbox:fail-create": "true"}, "depends": "Stuck"}
    cfn.update_stack(StackName=name, TemplateBody=_params(Keep={}, Stuck=stuck, Broken=broken))
    seen = _watch(lambda: _status(cfn, name))
    assert seen[0] == "UPDATE_IN_PROGRESS" and seen[-1] == "UPDATE_ROLLBACK_FAILED"
    assert "UPDATE_ROLLBACK_IN_PROGRESS" in [e["ResourceStatus"] for e in _stack_events(cfn, name)]


# ------------------------------------------------------------------ RDS


def _rds_status(rds: Any, snapshot: str) -> str:
    try:
        return rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"][0]["Status"]
    except ClientError as exc:
        assert _error_code(exc) == "DBClusterSnapshotNotFoundFault"
        return "NOT_FOUND_YET"


def _seen(values: list[str]) -> list[str]:
    """What `_watch` saw once the resource was visible (the eventual-consistency window aside)."""
    return [value for value in values if value != "NOT_FOUND_YET"]


def test_snapshots_and_restores_take_time(timed: Aws) -> None:
    rds = timed("rds")
    cluster, snapshot, restored = _name("c"), _name("s"), _name("r")
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", MasterUsername="app",
                          ManageMasterUserPassword=True)
    started = time.monotonic()
    created = rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=snapshot)
    assert (created["DBClusterSnapshot"]["Status"], created["DBClusterSnapshot"]["PercentProgress"]) == ("creating", 0)
    with pytest.raises(ClientError) as early:
        rds.restore_db_cluster_from_snapshot(DBClusterIdentifier=restored, SnapshotIdentifier=snapshot,
                                             Engine="aurora-postgresql")
    assert _shape(early.value) == ("InvalidDBClusterSnapshotStateFault", 400)
    # Within the eventual-consistency window (0.5 s by default) the new snapshot is not found yet.
    first = _rds_status(rds, snapshot)
    if time.monotonic() - started < 0.4:  # a loaded machine may take longer than the window
        assert first == "NOT_FOUND_YET"
    assert _seen(_watch(lambda: _rds_status(rds, snapshot)))[-1] == "available"
    assert rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"][0][
        "PercentProgress"] == 100

    restore = rds.restore_db_cluster_from_snapshot(DBClusterIdentifier=restored, SnapshotIdentifier=snapshot,
                                                   Engine="aurora-postgresql")
    assert restore["DBCluster"]["Status"] == "creating"

    def cluster_status() -> str:
        try:
            return rds.describe_db_clusters(DBClusterIdentifier=restored)["DBClusters"][0]["Status"]
        except ClientError as exc:
            assert _shape(exc) == ("DBClusterNotFoundFault", 404)
            return "NOT_FOUND_YET"

    seen = _watch(cluster_status)
    assert seen[0] == "NOT_FOUND_YET" and _seen(seen) == ["creating", "available"]
    writer = _name("w")
    rds.create_db_instance(DBInstanceIdentifier=writer, DBClusterIdentifier=restored, Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")

    assert _watch(lambda: rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0][
        "DBInstanceStatus"]) == ["creating", "available"]


def test_snapshot_tagged_to_fail_ends_failed(timed: Aws) -> None:
    rds = timed("rds")
    cluster, tagged, plain = _name("c"), _name("s"), _name("s")
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", MasterUsername="app",
                          ManageMasterUserPassword=True)
    rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=tagged,
                                   Tags=[{"Key": "sandbox:fail-snapshot", "Value": "true"}])
    assert _watch(lambda: _rds_status(rds, tagged))[-1] == "failed"
    # The cluster's tag fails every snapshot of it.
    arn = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["DBClusterArn"]
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "sandbox:fail-snapshot", "Value": "true"}])
    rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=plain)
    assert _watch(lambda: _rds_status(rds, plain))[-1] == "failed"


def test_snapshot_quota_refuses_the_101st(timed_endpoint: str) -> None:
    import boto3
    from botocore.config import Config

    # A region of its own, so the other tests' snapshots do not count; the quota is the default (100).
    rds = boto3.client("rds", endpoint_url=timed_endpoint, region_name="eu-west-3", aws_access_key_id="testing",
                       aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    cluster = _name("c")
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", MasterUsername="app",
                          ManageMasterUserPassword=True, BackupRetentionPeriod=7)
    for index in range(100):
        rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=f"s-{index}")
    with pytest.raises(ClientError) as refused:
        rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier="s-100")
    assert _error_code(refused.value) == "SnapshotQuotaExceeded"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as copy_refused:
        rds.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier="s-0", TargetDBClusterSnapshotIdentifier="copy")
    assert _error_code(copy_refused.value) == "SnapshotQuotaExceeded"
    # Errors that come before the quota keep their own shape.
    with pytest.raises(ClientError) as exists:
        rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier="s-1")
    assert _error_code(exists.value) == "DBClusterSnapshotAlreadyExistsFault"
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="s-0")
    rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier="s-100")


# ------------------------------------------------------- quotas and error shapes


def _shape(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def _refusal(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    return (*_shape(refused.value), refused.value.response["Error"].get("Message", ""))


def test_load_balancer_certificate_and_rule_quotas(timed: Aws) -> None:
    ec2, elbv2, acm = timed("ec2"), timed("elbv2"), timed("acm")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
        "SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    balancer = elbv2.create_load_balancer(Name=_name("alb"), Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(Name=_name("tg"), Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"]

    def certificate(name: str) -> str:
        return acm.request_certificate(DomainName=f"{name}.quota.example.com", ValidationMethod="DNS")["CertificateArn"]

    default = certificate("default")
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    https = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTPS", Port=443,
                                  Certificates=[{"CertificateArn": default}], DefaultActions=forward)["Listeners"][0][
        "ListenerArn"]
    other = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTPS", Port=8443,
                                  Certificates=[{"CertificateArn": default}], DefaultActions=forward)["Listeners"][0][
        "ListenerArn"]
    extra = [certificate(f"c{i}") for i in range(26)]
    # 25 per load balancer, default certificates not counted, across its listeners.
    elbv2.add_listener_certificates(ListenerArn=https, Certificates=[{"CertificateArn": arn} for arn in extra[:20]])
    elbv2.add_listener_certificates(ListenerArn=other, Certificates=[{"CertificateArn": arn} for arn in extra[20:25]])
    elbv2.add_listener_certificates(ListenerArn=https, Certificates=[{"CertificateArn": extra[0]}])  # already there
    assert _refusal(lambda: elbv2.add_listener_certificates(
        ListenerArn=https, Certificates=[{"CertificateArn": extra[25]}]))[:2] == ("TooManyCertificates", 400)
    # ... the same certificate on a second listener counts once.
    elbv2.add_listener_certificates(ListenerArn=other, Certificates=[{"CertificateArn": extra[0]}])

    # 100 rules per load balancer, default rules not counted.
    for index in range(100):
        elbv2.create_rule(ListenerArn=https if index % 2 else other, Priority=index + 1, Actions=forward,
                          Conditions=[{"Field": "host-header", "Values": [f"h{index}.example.com"]}])
    code, status, message = _refusal(lambda: elbv2.create_rule(
        ListenerArn=https, Priority=500, Actions=forward,
        Conditions=[{"Field": "host-header", "Values": ["one-more.example.com"]}]))
    assert (code, status) == ("TooManyRules", 400) and "rules" in message


def test_acm_validation_records_appear_after_the_request(timed: Aws) -> None:
    acm = timed("acm")
    started = time.monotonic()
    arn = acm.request_certificate(DomainName="late.records.example.com", ValidationMethod="DNS")["CertificateArn"]

    def records() -> str:
        options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
        return "present" if all("ResourceRecord" in o for o in options) else "NOT_FOUND_YET"

    first = records()
    if time.monotonic() - started < 0.4:
        assert first == "NOT_FOUND_YET"
    assert _watch(records)[-1] == "present"


def test_acm_refuses_more_than_ten_domain_names(timed: Aws) -> None:
    acm = timed("acm")
    names = [f"n{i}.san.example.com" for i in range(10)]
    acm.request_certificate(DomainName=names[0], SubjectAlternativeNames=names, ValidationMethod="DNS")
    assert _refusal(lambda: acm.request_certificate(
        DomainName="eleven.san.example.com", SubjectAlternativeNames=names, ValidationMethod="DNS")) == (
        "LimitExceededException", 400, "Certificate has too many domains.")


def test_not_found_and_validation_errors_have_aws_shapes(timed: Aws) -> None:
    # Code and HTTP status as in each service's API model (botocore's data), which the SDKs map to errors.
    cfn, rds, acm, elbv2 = timed("cloudformation"), timed("rds"), timed("acm"), timed("elbv2")
    assert _refusal(lambda: cfn.describe_stacks(StackName="missing-stack")) == (
        "ValidationError", 400, "Stack with id missing-stack does not exist")
    name = _name("shapes")
    cfn.create_stack(StackName=name, TemplateBody=SMALL_TEMPLATE, Parameters=[{"ParameterKey": "Value",
                                                                                "ParameterValue": "1"}])
    assert _refusal(lambda: cfn.describe_change_set(StackName=name, ChangeSetName="missing"))[:2] == (
        "ChangeSetNotFound", 404)
    assert _refusal(lambda: rds.describe_db_clusters(DBClusterIdentifier="missing"))[:2] == (
        "DBClusterNotFoundFault", 404)
    assert _refusal(lambda: rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="missing"))[:2] == (
        "DBClusterSnapshotNotFoundFault", 404)
    assert _refusal(lambda: rds.describe_db_instances(DBInstanceIdentifier="missing"))[:2] == (
        "DBInstanceNotFound", 404)
    assert _refusal(lambda: acm.describe_certificate(
        CertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"))[:2] == (
        "ResourceNotFoundException", 400)
    assert _refusal(lambda: elbv2.describe_listener_certificates(
        ListenerArn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2"))[:2] == (
        "ListenerNotFound", 400)
