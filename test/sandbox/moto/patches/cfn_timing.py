"""CloudFormation stacks and change sets pass through their in-progress states over time.

moto gap closed
---------------
moto (and cfn_engine, which keeps moto's synchronous style) finishes every stack
operation inside the API call: a caller never sees CREATE_IN_PROGRESS,
UPDATE_IN_PROGRESS, UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, DELETE_IN_PROGRESS,
ROLLBACK_IN_PROGRESS ..., and a change set is CREATE_COMPLETE the moment
CreateChangeSet returns. Code that reads a stack right after starting an
operation (and would misread an in-progress state, or call ExecuteChangeSet on a
change set that is still being created) passes against moto and fails on AWS.

Why the product relies on it
----------------------------
The CloudFormation activities wait for a change set to be CREATE_COMPLETE before
executing it, then poll DescribeStacks (with heartbeats) while the stack is in an
in-progress state, and a retried deploy waits for an operation that is still
running. None of that is exercised unless the sandbox takes time.

Behaviour
---------
The engine still computes the whole operation at the call; this module then
reveals it over time. The stack's events are taken back and re-appear one by one,
timestamped when they appear: each resource event after an AWS-like duration for
its type and action (`DURATIONS`, in seconds, times the time scale setting), the
stack's status following its own events. Until the operation's last event the stack
shows the previous outputs (none while creating); a deleted stack stays visible as
DELETE_IN_PROGRESS and is gone by name only at DELETE_COMPLETE. An UpdateStack or
UPDATE change set while an operation is visibly running is refused as on AWS
(`... is in UPDATE_IN_PROGRESS state and can not be updated.`); a DeleteStack then
waits for the running operation to end (the sandbox fast-forwards it) before it
starts. Change sets are CREATE_PENDING, then CREATE_IN_PROGRESS, then CREATE_COMPLETE
(or FAILED), with ExecutionStatus UNAVAILABLE until then (ExecuteChangeSet is refused
with InvalidChangeSetStatus); an executed change set is EXECUTE_IN_PROGRESS until
the stack's operation ends. Nested stacks and a time scale of 0 are instant.

How it hooks into moto
----------------------
Wraps `CloudFormationBackend.create_stack/update_stack/delete_stack/
create_change_set/execute_change_set` (as replaced by cfn_engine, cfn_change_sets
and cfn_client_request_token) and `CloudFormationResponse.call_action`, which
advances the timelines (`_timing`) of the request's account and region before any
CloudFormation action.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any, Callable

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.core.utils import utcnow

from . import _timing
from ._common import wrap_once
from ._settings import current
from .cfn_change_sets import find_change_set, find_stack

STACK_TYPE = "AWS::CloudFormation::Stack"

# AWS-like seconds per resource type and action (create, update, delete); the rest take DEFAULT.
DURATIONS: dict[str, tuple[float, float, float]] = {
    "AWS::RDS::DBCluster": (180, 120, 240),
    "AWS::RDS::DBInstance": (480, 300, 360),
    "AWS::EC2::VPC": (15, 5, 10),
    "AWS::S3::Bucket": (20, 10, 15),
    "AWS::IAM::Role": (15, 10, 10),
    "AWS::ECS::Service": (120, 120, 90),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (180, 30, 60),
    "AWS::SSM::Parameter": (3, 3, 3),
    "AWS::CloudWatch::Alarm": (3, 3, 3),
}
DEFAULT = (8.0, 8.0, 5.0)
# A resource's *_IN_PROGRESS event and a stack-level status change each follow the previous event by this.
STEP_SECONDS = 1.0
CHANGE_SET_SECONDS = (2.0, 10.0)  # CREATE_PENDING -> CREATE_IN_PROGRESS -> final status

_local = threading.local()


def _cost(stack: Any, event: Any) -> float:
    status = event.resource_status or ""
    if event.resource_type == STACK_TYPE and event.logical_resource_id == stack.name:
        return STEP_SECONDS
    if status.endswith("_IN_PROGRESS") or status == "DELETE_SKIPPED":
        return STEP_SECONDS
    create, update, delete = DURATIONS.get(event.resource_type or "", DEFAULT)
    if status.startswith("DELETE"):
        return delete
    if status.startswith("UPDATE"):
        return update
    return create


def _backend_of(stack: Any) -> Any:
    return cfn_models.cloudformation_backends[stack.account_id][stack.region_name]


class _Before:
    """What a stack showed before an operation, shown again while the operation runs."""

    def __init__(self, stack: Any | None):
        self.stack = stack
        self.events = len(stack.events) if stack is not None else 0
        self.resource_map = stack.resource_map if stack is not None else None
        self.statuses = dict(getattr(self.resource_map, "_sandbox_status", {}) or {})
        self.output_map = stack.output_map if stack is not None else None
        self.status = stack.status if stack is not None else None
        self.reason = getattr(stack, "stack_status_reason", None) if stack is not None else None
        self.last_updated = getattr(stack, "last_updated_time", None) if stack is not None else None


def _reveal(backend: Any, stack: Any, before: _Before, on_end: Callable[[], None] | None = None) -> None:
    """Takes back what the operation just did to `stack` and schedules it to appear over time."""
    new_events = stack.events[before.events:]
    if not new_events or current().timeScale == 0:
        if on_end is not None:
            on_end()
        return
    start = utcnow()
    final = {
        "status": stack.status,
        "reason": getattr(stack, "stack_status_reason", None),
        "output_map": stack.output_map,
        "last_updated": getattr(stack, "last_updated_time", None),
    }
    deleted = stack.stack_id in backend.deleted_stacks and stack.stack_id not in backend.stacks
    if deleted:  # visible by name until DELETE_COMPLETE appears
        backend.deleted_stacks.pop(stack.stack_id)
        backend.stacks[stack.stack_id] = stack

    del stack.events[before.events:]
    rm = stack.resource_map
    statuses = rm.__dict__.setdefault("_sandbox_status", {})
    statuses.clear()
    if rm is before.resource_map:
        statuses.update(before.statuses)
        stack.output_map = before.output_map
    else:
        stack.output_map = cfn_models.OutputMap(rm, {}, stack.stack_id)
    if before.status is not None:
        stack.status, stack.stack_status_reason = before.status, before.reason
        stack.last_updated_time = before.last_updated

    def show(event: Any) -> Callable[[datetime.datetime], None]:
        def apply(at: datetime.datetime) -> None:
            event.timestamp = at
            stack.events.append(event)
            if event.resource_type == STACK_TYPE and event.logical_resource_id == stack.name:
                stack.status = event.resource_status
                stack.stack_status_reason = event.resource_status_reason
            else:
                statuses[event.logical_resource_id] = (event.resource_status, at)

        return apply

    def end(_at: datetime.datetime) -> None:
        stack.status, stack.stack_status_reason = final["status"], final["reason"]
        stack.output_map = final["output_map"]
        if final["last_updated"] is not None:
            stack.last_updated_time = final["last_updated"]
        if deleted:
            backend.stacks.pop(stack.stack_id, None)
            backend.deleted_stacks[stack.stack_id] = stack
        if on_end is not None:
            on_end()

    offset = 0.0
    for index, event in enumerate(new_events):
        if index:
            offset += _cost(stack, event)
        _timing.schedule(stack, _timing.later(start, offset), show(event))
    _timing.schedule(stack, _timing.later(start, offset), end)
    _timing.advance(stack, start)


def _outermost(run: Callable[[], Any]) -> tuple[bool, Any]:
    """Runs `run`; True when this is the request's operation (not a nested stack's)."""
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        return depth == 0, run()
    finally:
        _local.depth = depth


def advance_all(backend: Any) -> None:
    now = utcnow()
    for stack in list(backend.stacks.values()):
        _timing.advance(stack, now)
    for change_set in list(backend.change_sets.values()):
        _timing.advance(change_set, now)


# ------------------------------------------------------------------ wrappers


def _wrap_create_stack(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = {stack.stack_id for stack in self.stacks.values()}
        outermost, stack = _outermost(lambda: original(self, name, *args, **kwargs))
        if outermost and stack.stack_id not in existing:
            _reveal(self, stack, _Before(None))
        return stack

    return create_stack


def _wrap_update_stack(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        before = _Before(find_stack(self, name))
        outermost, stack = _outermost(lambda: original(self, name, *args, **kwargs))
        if outermost and before.stack is stack:
            _reveal(self, stack, before)
        return stack

    return update_stack


def _wrap_delete_stack(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = find_stack(self, name_or_stack_id)
        if stack is not None and stack.status == "DELETE_IN_PROGRESS":
            return None  # already being deleted: AWS accepts the repeat and does nothing more
        if stack is not None:
            _timing.settle(stack)  # AWS deletes once the running operation has ended
        before = _Before(stack)
        outermost, result = _outermost(lambda: original(self, name_or_stack_id))
        if outermost and stack is not None:
            _reveal(self, stack, before)
        return result

    return delete_stack


def _wrap_create_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_change_set(self: Any, *args: Any, **kwargs: Any) -> Any:
        change_set_id, stack_id = original(self, *args, **kwargs)
        change_set = self.change_sets.get(change_set_id)
        if change_set is None or current().timeScale == 0:
            return change_set_id, stack_id
        final = (change_set.status, change_set.execution_status, change_set.status_reason)
        change_set.status, change_set.execution_status, change_set.status_reason = "CREATE_PENDING", "UNAVAILABLE", None
        start = utcnow()

        def in_progress(_at: datetime.datetime) -> None:
            change_set.status = "CREATE_IN_PROGRESS"

        def done(_at: datetime.datetime) -> None:
            change_set.status, change_set.execution_status, change_set.status_reason = final

        pending, creating = CHANGE_SET_SECONDS
        _timing.schedule(change_set, _timing.later(start, pending), in_progress)
        _timing.schedule(change_set, _timing.later(start, pending + creating), done)
        return change_set_id, stack_id

    return create_change_set


def _wrap_execute_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = find_change_set(self, change_set_name, stack_name)
        stack = self.stacks.get(change_set.stack_id)
        before = _Before(stack)
        outermost, result = _outermost(lambda: original(self, change_set_name, stack_name))
        if outermost and stack is not None and len(stack.events) > before.events:
            final = change_set.execution_status
            change_set.execution_status = "EXECUTE_IN_PROGRESS"

            def end() -> None:
                change_set.execution_status = final

            _reveal(self, stack, before, on_end=end)
        return result

    return execute_change_set


def _call_action(self: Any) -> Any:  # CloudFormationResponse.call_action
    try:
        backend = self.cloudformation_backend
    except Exception:  # noqa: BLE001 - no account/region yet: nothing to advance
        backend = None
    if backend is not None:
        advance_all(backend)
    return super(cfn_responses.CloudFormationResponse, self).call_action()


def apply() -> None:
    backend = cfn_models.CloudFormationBackend
    wrap_once(backend, "create_stack", _wrap_create_stack, __name__)
    wrap_once(backend, "update_stack", _wrap_update_stack, __name__)
    wrap_once(backend, "delete_stack", _wrap_delete_stack, __name__)
    wrap_once(backend, "create_change_set", _wrap_create_change_set, __name__)
    wrap_once(backend, "execute_change_set", _wrap_execute_change_set, __name__)
    response = cfn_responses.CloudFormationResponse
    if "call_action" not in response.__dict__:
        response.call_action = _call_action
