"""ELBv2 targets by IP *and port*, and target health from the sandbox's load balancer emulator.

moto gap closed
---------------
moto keys a target group's targets by `Id` alone, so `127.0.0.1:4001` and `127.0.0.1:4002`
are one target (the second registration replaces the first); AWS keys them by Id and Port
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html).
moto answers `DescribeTargetHealth` with `healthy` for every registered target, at once and
forever; AWS reports the state its health checks reached: `initial` while registering,
`healthy`/`unhealthy` after the thresholds, `draining` during the deregistration delay,
`unused` for a target group no load balancer uses
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).

Why the product relies on it
----------------------------
Every sandbox tenant app shares 127.0.0.1 and is told apart by its port (docs/sandbox.md
"Data plane"), and ECS rollouts and releases wait on target health.

How it hooks into moto
----------------------
Replaces `FakeTargetGroup.register`, `deregister` and `health_for`, and wraps
`ELBv2Backend.describe_target_health` so that a listing also shows draining targets.
The health itself is decided by the load balancer emulator (test/sandbox/data-plane/), which
checks the targets and pushes every target's state here:

    POST /_sandbox/elbv2/target-health
    {"generation": <the generation the emulator read the configuration at>,
     "targetGroups": {"<target group arn>": {"127.0.0.1:4001": {"State": "healthy"},
                                             "127.0.0.1:4002": {"State": "draining", "Reason": ..., "Description": ...}}}}

Each push replaces the previous one; `GET /_sandbox/elbv2/target-health` answers the last one
(`{"pushes": p, "targetGroups": ...}`), for a reader of every group's health at once. A registered target the emulator has not pushed yet is
`initial` (`Elb.RegistrationInProgress`); a deregistered one is `draining` until a push based on
the generation of its deregistration or a later one (the emulator has seen it go and reports its
draining itself). `GET /_sandbox/elbv2/generation` answers
`{"generation": n, "pushed": m, "pushes": p}`: n is a counter bumped by every ELBv2 write, so the emulator
re-reads the configuration only when it changed; m is the generation of the newest push, so a
test can wait until the emulator has caught up with a write (m >= the n read after it); p counts
the pushes, so a reader of target health (the ECS task controller) asks again only when it moved. Both routes are served before moto (no signature): the
launcher binds loopback only.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from moto.elbv2 import models as elbv2_models
from moto.elbv2.exceptions import InvalidTargetError, TargetGroupNotFoundError, TargetNotRunning

from ._common import wrap_once

_lock = threading.Lock()
_pushed: dict[str, dict[str, dict[str, str]]] = {}
_generation = 0
_pushed_generation = -1
_pushes = 0
# Deregistered targets the emulator has not seen deregistered yet: (target group arn, "id:port") -> the
# generation of the deregistration. They are `draining` until a push based on that generation or later
# says otherwise, so that nobody stops a target's process in the moment before its draining is tracked.
_pending_draining: dict[tuple[str, str], int] = {}

_WRITES = ("create_", "delete_", "modify_", "register_", "deregister_", "set_", "add_", "remove_")


def _key(target: dict[str, Any], default_port: Any) -> tuple[str, str]:
    port = target.get("Port") or default_port
    return f"{target['Id']}:{int(port)}", str(int(port))


def register(self: Any, targets: list[dict[str, Any]]) -> None:
    for target in targets:
        if instance := self.ec2_backend.get_instance_by_id(target["Id"]):
            if instance.state != "running":
                raise TargetNotRunning(instance_id=target["Id"])
        key, port = _key(target, self.port)
        self.targets[key] = {"Id": target["Id"], "Port": port}
        self.deregistered_targets.pop(key, None)
        with _lock:
            _pending_draining.pop((self.arn, key), None)


def deregister(self: Any, targets: list[dict[str, Any]]) -> None:
    for target in targets:
        key, _ = _key(target, self.port)
        registered = self.targets.pop(key, None)
        if not registered:
            raise InvalidTargetError()
        self.deregistered_targets[key] = registered
        with _lock:
            # The write wrapper bumps the generation once this call returns.
            _pending_draining[(self.arn, key)] = _generation + 1


def _status(target: dict[str, Any], port: str, health_port: Any, state: str, reason: str | None = None, description: str | None = None) -> Any:
    return elbv2_models.FakeHealthStatus(target["Id"], port, health_port, state, reason, description)


def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
    key, port = _key(target, self.port)
    with _lock:
        pushed = _pushed.get(self.arn, {}).get(key)
        pending = (self.arn, key) in _pending_draining
    if key in self.targets:
        if pushed and pushed.get("State") not in (None, "draining"):
            return _status(target, port, self.health_check_port, pushed["State"], pushed.get("Reason"), pushed.get("Description"))
        return _status(target, port, self.health_check_port, "initial", "Elb.RegistrationInProgress", "Target registration is in progress")
    if pending or (pushed and pushed.get("State") == "draining"):
        return _status(target, port, self.health_check_port, "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
    return _status(target, port, self.health_check_port, "unused", "Target.NotRegistered", "Target is not registered to the target group")


def _wrap_describe_target_health(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_target_health(self: Any, target_group_arn: str, targets: list[dict[str, Any]]) -> Any:
        target_group = self.target_groups.get(target_group_arn)
        if target_group is None:
            raise TargetGroupNotFoundError()
        if targets:
            return [target_group.health_for(t, self.ec2_backend) for t in targets]
        listed = list(target_group.targets.values())
        with _lock:
            draining = [key for key, health in _pushed.get(target_group_arn, {}).items() if health.get("State") == "draining"]
            draining += [key for (arn, key) in _pending_draining if arn == target_group_arn]
        for key in dict.fromkeys(draining):
            if key not in target_group.targets:
                target_id, _, port = key.rpartition(":")
                listed.append({"Id": target_id, "Port": port})
        return [target_group.health_for(t, self.ec2_backend) for t in listed]

    return describe_target_health


def _wrap_write(original: Callable[..., Any]) -> Callable[..., Any]:
    def write(*args: Any, **kwargs: Any) -> Any:
        global _generation
        try:
            return original(*args, **kwargs)
        finally:
            with _lock:
                _generation += 1

    return write


def _json(start_response: Callable[..., Any], status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
    """The launcher's hook for `/_sandbox/elbv2/*`; None for any other path."""
    global _pushed, _pushed_generation, _pushes
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    if path == "/_sandbox/elbv2/generation" and method == "GET":
        with _lock:
            return _json(start_response, "200 OK", {"generation": _generation, "pushed": _pushed_generation, "pushes": _pushes})
    if path == "/_sandbox/elbv2/target-health" and method == "GET":
        # What the emulator pushed last, for every target group at once (the ECS task controller reads it
        # instead of one DescribeTargetHealth per service; registered targets it has not pushed are `initial`).
        with _lock:
            return _json(start_response, "200 OK", {"pushes": _pushes, "targetGroups": _pushed})
    if path == "/_sandbox/elbv2/target-health" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            groups = body["targetGroups"]
            based_on = body["generation"]
            if not isinstance(groups, dict) or not all(isinstance(v, dict) for v in groups.values()):
                raise ValueError("targetGroups must map target group ARNs to objects")
            if not isinstance(based_on, int):
                raise ValueError("generation must be the integer the pushed configuration was read at")
        except (ValueError, KeyError, TypeError) as exc:
            return _json(start_response, "400 Bad Request", {"error": f"expected {{\"generation\": n, \"targetGroups\": {{arn: {{\"id:port\": {{\"State\": ...}}}}}}}}: {exc}"})
        with _lock:
            _pushed = groups
            _pushes += 1
            _pushed_generation = max(_pushed_generation, based_on)
            for pending, generation in list(_pending_draining.items()):
                if generation <= based_on:
                    del _pending_draining[pending]
        return _json(start_response, "200 OK", {"targetGroups": len(groups)})
    if path.startswith("/_sandbox/elbv2/"):
        return _json(start_response, "404 Not Found", {"error": f"no route {method} {path}"})
    return None


def apply() -> None:
    group = elbv2_models.FakeTargetGroup
    for name, replacement in (("register", register), ("deregister", deregister), ("health_for", health_for)):
        if not getattr(getattr(group, name), "__sandbox_patched__", False):
            replacement.__sandbox_patched__ = True  # type: ignore[attr-defined]
            setattr(group, name, replacement)
    backend = elbv2_models.ELBv2Backend
    wrap_once(backend, "describe_target_health", _wrap_describe_target_health, __name__)
    for name in dir(backend):
        if name.startswith(_WRITES) and callable(getattr(backend, name)):
            wrap_once(backend, name, _wrap_write, __name__)
