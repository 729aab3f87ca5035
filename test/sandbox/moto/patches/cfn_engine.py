"""CloudFormation stack operations with real failure, rollback and deletion semantics.

moto gap closed
---------------
moto 5.x runs every CloudFormation operation synchronously and never enters a
failure state: an exception while creating a resource escapes as an HTTP 500 (or
a ValidationError) and leaves a half-created stack in CREATE_IN_PROGRESS;
updates delete removed resources *first* and never roll back; deleting a stack
swallows resource errors; DeletionPolicy Snapshot is ignored; resources are
created in `DependsOn` order only (implicit Ref/GetAtt dependencies are resolved
lazily, so events come out in the wrong order) and no per-resource stack events
are written.

Why the product relies on it
----------------------------
The provisioning activities create-or-update each tenant's stack and then poll
DescribeStacks until a terminal status, reading DescribeStackEvents for the
failing resource's reason. They map ROLLBACK_COMPLETE / CREATE_FAILED /
UPDATE_ROLLBACK_COMPLETE / DELETE_FAILED to permanent ApplicationFailures. None of
that can be tested unless the emulator reaches those states.

How it hooks into moto
----------------------
* Updates modify a resource when its *resolved* properties change (a Ref'd
  resource was replaced, a parameter used in Fn::Sub changed), not only when
  its template text or a directly Ref'd parameter changes.
* `moto.cloudformation.parsing.parse_and_create_resource` (the module-level
  function `ResourceMap.__getitem__` calls) is wrapped: per-resource
  CREATE_IN_PROGRESS/CREATE_COMPLETE events, the fail-on-demand tag (see
  `FAIL_CREATE_TAG`), and any exception becomes a `ResourceFailure` naming the
  logical resource.
* `Stack.create_resources`, `Stack.update`, `Stack.delete` and
  `CloudFormationBackend.create_stack/update_stack/delete_stack` are replaced by
  the functions below, which create in dependency order (Ref, GetAtt, Sub,
  DependsOn; `cfn_templates.topo_order`), update in the AWS order (add/modify first, remove in the cleanup
  phase), and on failure roll back to ROLLBACK_COMPLETE /
  UPDATE_ROLLBACK_COMPLETE (or CREATE_FAILED / UPDATE_FAILED when rollback is
  disabled), honouring DeletionPolicy Retain/RetainExceptOnCreate/Snapshot.
* `CloudFormationResponse.create_stack/update_stack/delete_stack/
  create_change_set/execute_change_set` are wrapped to expose request parameters
  moto does not forward (OnFailure, DisableRollback, RetainResources,
  ClientRequestToken) through `_common.request_context()`.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError
from moto.core.utils import utcnow

from .cfn_templates import effective_parameters, normalize_template, topo_order
from ._common import (
    clear_request_context,
    error_code_and_message,
    request_context,
    set_request_context,
)

# Fault-injection convention (documented in README.md): a resource whose Tags
# contain this key with value "true" fails when CloudFormation creates it.
FAIL_CREATE_TAG = "sandbox:fail-create"
# ... and this one makes it fail when a stack update modifies it.
FAIL_UPDATE_TAG = "sandbox:fail-update"
# ... and this one whenever CloudFormation deletes it (stack deletion, or the rollback of
# the create/update that added it: DELETE_FAILED, ROLLBACK_FAILED, UPDATE_ROLLBACK_FAILED).
FAIL_DELETE_TAG = "sandbox:fail-delete"

# Stack states from which UpdateStack / CreateChangeSet(UPDATE) are refused.
NOT_UPDATABLE = {
    "CREATE_FAILED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
    "DELETE_COMPLETE",
    "REVIEW_IN_PROGRESS",
    "CREATE_IN_PROGRESS",
    "UPDATE_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
}

# Other patches register RDS snapshots and default deletion policies here.
SNAPSHOTTERS: dict[str, Callable[[Any, str, Any], None]] = {}
# Checks that run just before the engine creates, updates or deletes a resource
# (`guard(stack, "create" | "update" | "delete", logical_id, resource_json, resources_map)`);
# raising fails that resource like a handler error would. `cfn_iam.py` registers the
# permission check of the role CloudFormation acts with.
RESOURCE_GUARDS: list[Callable[[Any, str, str, dict[str, Any], Any], None]] = []
DEFAULT_DELETION_POLICY: dict[str, Callable[[dict[str, Any]], str]] = {}


class ResourceFailure(Exception):
    """A resource operation failed; carries what the stack event needs."""

    def __init__(self, logical_id: str, resource_type: str, reason: str, action: str):
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason
        self.action = action  # "create" | "update"


class StackLevelFailure(Exception):
    code = "GeneralServiceException"


class SandboxFault(Exception):
    """A failure injected by a fault tag; reported like a resource handler's error."""

    code = "GeneralServiceException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _Op:
    """State of one stack operation, attached to the ResourceMap while it runs."""

    def __init__(self, stack: Any, kind: str):
        self.stack = stack
        self.kind = kind
        self.created: list[str] = []
        self.modified: list[str] = []
        self.suppress_faults = False


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _tags_of(properties: Any) -> dict[str, str]:
    if not isinstance(properties, dict):
        return {}
    tags = properties.get("Tags")
    result: dict[str, str] = {}
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and isinstance(tag.get("Key"), str):
                result[tag["Key"]] = tag.get("Value")
    elif isinstance(tags, dict):
        result.update({k: v for k, v in tags.items() if isinstance(k, str)})
    return result


def _tag_true(resource_json: dict[str, Any], key: str) -> bool:
    value = _tags_of(resource_json.get("Properties")).get(key)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _handler_reason(exc: BaseException) -> str:
    code, message = error_code_and_message(exc)
    return f'Resource handler returned message: "{message}" (HandlerErrorCode: {code})'


def _backend(stack: Any) -> Any:
    return cfn_models.cloudformation_backends[stack.account_id][stack.region_name]


def _token() -> str | None:
    return request_context().get("ClientRequestToken")


def _stack_event(stack: Any, status: str, reason: str | None = None) -> None:
    stack._add_stack_event(status, resource_status_reason=reason)
    stack.events[-1].client_request_token = _token()


def _resource_event(
    stack: Any,
    logical_id: str,
    resource_type: str,
    status: str,
    reason: str | None = None,
    physical_id: str | None = None,
    properties: Any = None,
) -> None:
    event = cfn_models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id or "",
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=json.dumps(properties, default=str) if properties is not None else None,
    )
    event.client_request_token = _token()
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)
    statuses = _statuses(stack.resource_map)
    statuses[logical_id] = (status, utcnow())


def _statuses(rm: Any) -> dict[str, tuple[str, Any]]:
    statuses = getattr(rm, "_sandbox_status", None)
    if statuses is None:
        statuses = rm._sandbox_status = {}
    return statuses


def _physical_id(resource: Any) -> str | None:
    try:
        value = getattr(resource, "physical_resource_id", None)
    except Exception:  # some moto models raise from this property
        return None
    return value if isinstance(value, str) else None


def _set_status(stack: Any, status: str, reason: str | None = None) -> None:
    stack.status = status
    stack.stack_status_reason = reason


def _empty_output_map(stack: Any) -> Any:
    return cfn_parsing.OutputMap(stack.resource_map, {}, stack.stack_id)


def _freeze(rm: Any, keep: set[str]) -> None:
    """Restrict the lazy resource map to resources that really exist.

    moto's ResourceMap creates resources lazily on *read*; after a failure the
    resources that were never created (or were rolled back) must not spring into
    existence when DescribeStacks/DescribeStackResources iterate the map.
    """
    names = set(getattr(rm, "_sandbox_resource_names", None) or rm._resource_json_map)
    rm._resource_json_map = {k: v for k, v in rm._resource_json_map.items() if k in keep}
    for name in list(rm._parsed_resources):
        if name in names and name not in keep:
            rm._parsed_resources.pop(name, None)


def _existing(rm: Any, json_map: dict[str, Any]) -> list[str]:
    return [
        name
        for name in json_map
        if name in rm._parsed_resources and rm._parsed_resources[name] is not None
        and not isinstance(rm._parsed_resources[name], (str, int, float, list, dict))
    ]


def _deletion_policy(resource_json: dict[str, Any]) -> str:
    policy = resource_json.get("DeletionPolicy")
    if isinstance(policy, str) and policy:
        return policy
    default = DEFAULT_DELETION_POLICY.get(resource_json.get("Type", ""))
    return default(resource_json) if default else "Delete"


def _delete_resource(
    stack: Any, rm: Any, name: str, resource_json: dict[str, Any], *, on_create_rollback: bool,
    started: set[str] | None = None,
) -> None:
    """Delete one resource honouring its DeletionPolicy; raises on failure."""
    resource = rm._parsed_resources.get(name)
    rtype = resource_json.get("Type", "")
    physical = _physical_id(resource)
    if resource is None or isinstance(resource, (str, int, float, list, dict)):
        # never materialised in moto (unsupported type or false condition)
        rm._parsed_resources.pop(name, None)
        _resource_event(stack, name, rtype, "DELETE_COMPLETE")
        return
    policy = _deletion_policy(resource_json)
    if policy == "Retain" or (policy == "RetainExceptOnCreate" and not on_create_rollback):
        _resource_event(stack, name, rtype, "DELETE_SKIPPED", physical_id=physical)
        rm._parsed_resources.pop(name, None)
        return
    if started is None or name not in started:
        _resource_event(stack, name, rtype, "DELETE_IN_PROGRESS", physical_id=physical)
        if started is not None:
            started.add(name)
    if _tag_true(resource_json, FAIL_DELETE_TAG):
        raise SandboxFault(f"Sandbox fault injection: {rtype} {name} is tagged {FAIL_DELETE_TAG}=true")
    for guard in RESOURCE_GUARDS:
        guard(stack, "delete", name, resource_json, rm)
    if policy == "Snapshot" and rtype in SNAPSHOTTERS and not getattr(resource, "_sandbox_snapshot_taken", False):
        SNAPSHOTTERS[rtype](stack, name, resource)
        try:
            resource._sandbox_snapshot_taken = True
        except AttributeError:
            pass
    rm._delete_resource(resource, resource_json)
    rm._parsed_resources.pop(name, None)
    _resource_event(stack, name, rtype, "DELETE_COMPLETE", physical_id=physical)


def _delete_many(
    stack: Any, rm: Any, names: list[str], json_map: dict[str, Any], *, on_create_rollback: bool,
    retain: set[str] | None = None,
) -> dict[str, BaseException]:
    """Delete resources (already in reverse dependency order). Returns failures."""
    retain = retain or set()
    pending = list(names)
    failures: dict[str, BaseException] = {}
    started: set[str] = set()
    # A few passes: moto enforces some dependencies (e.g. a cluster with members)
    # that a template may not express.
    for _ in range(3):
        failures = {}
        still: list[str] = []
        for name in pending:
            if name in retain:
                rtype = json_map.get(name, {}).get("Type", "")
                _resource_event(stack, name, rtype, "DELETE_SKIPPED",
                                physical_id=_physical_id(rm._parsed_resources.get(name)))
                rm._parsed_resources.pop(name, None)
                continue
            try:
                _delete_resource(stack, rm, name, json_map[name], on_create_rollback=on_create_rollback,
                                 started=started)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a stack event
                failures[name] = exc
                still.append(name)
        if not still or len(still) == len(pending):
            pending = still
            break
        pending = still
    for name, exc in failures.items():
        rtype = json_map.get(name, {}).get("Type", "")
        _resource_event(stack, name, rtype, "DELETE_FAILED", reason=_handler_reason(exc),
                        physical_id=_physical_id(rm._parsed_resources.get(name)))
    return failures


# --------------------------------------------------------------------------
# resource creation hook
# --------------------------------------------------------------------------


def _resolve_properties(rm: Any, resource_json: dict[str, Any]) -> Any:
    return cfn_parsing.clean_json(copy.deepcopy(resource_json.get("Properties") or {}), rm)


def _remember_resolved(rm: Any, logical_id: str, resource_json: dict[str, Any]) -> None:
    """Keep the resolved properties: an update must also modify a resource whose
    template text is unchanged but whose Ref/GetAtt/Sub inputs changed (moto only
    diffs the raw template and direct parameter Refs)."""
    store = rm.__dict__.setdefault("_sandbox_resolved", {})
    try:
        store[logical_id] = _resolve_properties(rm, resource_json)
    except Exception:  # noqa: BLE001
        store.pop(logical_id, None)


def _resolved_changed(rm: Any, logical_id: str, resource_json: dict[str, Any]) -> bool:
    store = rm.__dict__.get("_sandbox_resolved", {})
    if logical_id not in store:
        return False
    try:
        return _resolve_properties(rm, resource_json) != store[logical_id]
    except Exception:  # noqa: BLE001
        return True

_original_parse_and_create = cfn_parsing.parse_and_create_resource


def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):  # type: ignore[no-untyped-def]
    op: _Op | None = getattr(resources_map, "_sandbox_op", None)
    if op is None:
        return _original_parse_and_create(logical_id, resource_json, resources_map, account_id, region_name)
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    stack = op.stack
    rtype = resource_json.get("Type", "")
    _resource_event(stack, logical_id, rtype, "CREATE_IN_PROGRESS")
    if not op.suppress_faults and _tag_true(resource_json, FAIL_CREATE_TAG):
        reason = (
            f'Resource handler returned message: "Sandbox fault injection: {rtype} {logical_id} '
            f'is tagged {FAIL_CREATE_TAG}=true" (HandlerErrorCode: GeneralServiceException)'
        )
        raise ResourceFailure(logical_id, rtype, reason, "create")
    try:
        for guard in RESOURCE_GUARDS:
            guard(stack, "create", logical_id, resource_json, resources_map)
        resource = _original_parse_and_create(logical_id, resource_json, resources_map, account_id, region_name)
    except ResourceFailure:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ResourceFailure(logical_id, rtype, _handler_reason(exc), "create") from exc
    if resource is not None:
        resources_map._parsed_resources[logical_id] = resource
        _remember_resolved(resources_map, logical_id, resource_json)
    op.created.append(logical_id)
    _resource_event(stack, logical_id, rtype, "CREATE_COMPLETE", physical_id=_physical_id(resource))
    return resource


# --------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------


def _register_exports(stack: Any, exports: list[Any]) -> None:
    backend = _backend(stack)
    for name, export in list(backend.exports.items()):
        if export.exporting_stack_id == stack.stack_id:
            backend.exports.pop(name)
    for export in exports:
        backend.exports[export.name] = export


def _check_exports(stack: Any, exports: list[Any]) -> None:
    backend = _backend(stack)
    for export in exports:
        other = backend.exports.get(export.name)
        if other is not None and other.exporting_stack_id != stack.stack_id:
            raise StackLevelFailure(
                f"Export with name {export.name} is already exported by stack {other.exporting_stack_id.split('/')[1]}"
            )


def create_resources(self: Any) -> None:  # replaces Stack.create_resources
    rm = self.resource_map
    _set_status(self, "CREATE_IN_PROGRESS")
    template = self.template_dict
    resources = template.get("Resources") or {}
    rm._sandbox_resource_names = set(resources)
    op = _Op(self, "create")
    rm._sandbox_op = op
    all_ready = True
    try:
        order = topo_order(resources)
        rm._template = template
        rm._resource_json_map = resources
        rm.tags.update({
            "aws:cloudformation:stack-name": self.name,
            "aws:cloudformation:stack-id": self.stack_id,
        })
        for name in order:
            instance = rm[name]
            if isinstance(instance, cfn_parsing.TaggedEC2Resource):
                rm.tags["aws:cloudformation:logical-id"] = name
                backend = cfn_parsing.ec2_models.ec2_backends[rm._account_id][rm._region_name]
                backend.create_tags([instance.physical_resource_id], rm.tags)
            if instance is not None and not instance.is_created():
                all_ready = False
        self.output_map = self._create_output_map()
        list(self.output_map.values())  # resolve outputs now, inside the operation
        exports = self.output_map.exports
        _check_exports(self, exports)
    except Exception as exc:  # noqa: BLE001
        rm._sandbox_op = None
        _fail_create(self, op, exc)
        return
    rm._sandbox_op = None
    _register_exports(self, exports)
    self.description = template.get("Description")
    if all_ready:
        self.mark_creation_complete()


def _fail_create(stack: Any, op: _Op, exc: BaseException) -> None:
    rm = stack.resource_map
    if isinstance(exc, ResourceFailure):
        _resource_event(stack, exc.logical_id, exc.resource_type, "CREATE_FAILED", reason=exc.reason)
        summary = f"The following resource(s) failed to create: [{exc.logical_id}]. "
    else:
        summary = error_code_and_message(exc)[1]
    stack.output_map = _empty_output_map(stack)
    if stack.disable_rollback:
        _set_status(stack, "CREATE_FAILED", summary)
        _stack_event(stack, "CREATE_FAILED", summary)
        _freeze(rm, set(op.created))
        return
    reason = summary + "Rollback requested by user." if isinstance(exc, ResourceFailure) else summary
    _set_status(stack, "ROLLBACK_IN_PROGRESS", reason)
    _stack_event(stack, "ROLLBACK_IN_PROGRESS", reason)
    json_map = dict(rm._resource_json_map)
    failures = _delete_many(stack, rm, list(reversed(op.created)), json_map, on_create_rollback=True)
    if failures:
        _freeze(rm, set(failures))
        _set_status(stack, "ROLLBACK_FAILED",
                    f"The following resource(s) failed to delete: [{', '.join(sorted(failures))}]. ")
        _stack_event(stack, "ROLLBACK_FAILED", stack.stack_status_reason)
    else:
        _freeze(rm, set())
        _set_status(stack, "ROLLBACK_COMPLETE", reason)
        _stack_event(stack, "ROLLBACK_COMPLETE")


def create_stack(  # replaces CloudFormationBackend.create_stack
    self: Any,
    name: str,
    template: str,
    parameters: dict[str, Any],
    notification_arns: list[str] | None = None,
    tags: dict[str, str] | None = None,
    role_arn: str | None = None,
    enable_termination_protection: bool | None = False,
    timeout_in_mins: int | None = None,
    stack_policy_body: str | None = None,
) -> Any:
    if any(stack.name == name for stack in self.stacks.values()):
        raise AlreadyExistsException(f"Stack [{name}] already exists")
    stack_id = cfn_models.generate_stack_id(name, self.region_name, self.account_id)
    stack = cfn_models.Stack(
        stack_id=stack_id,
        name=name,
        template=template,
        parameters=parameters,
        account_id=self.account_id,
        region_name=self.region_name,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
        cross_stack_resources=self.exports,
        enable_termination_protection=enable_termination_protection,
        timeout_in_mins=timeout_in_mins,
        stack_policy_body=stack_policy_body,
    )
    topo_order(stack.template_dict.get("Resources") or {})  # template errors are synchronous
    ctx = request_context()
    stack.disable_rollback = bool(ctx.get("DisableRollback")) or ctx.get("OnFailure") == "DO_NOTHING"
    self.stacks[stack_id] = stack
    _stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
    stack.create_resources()
    if ctx.get("OnFailure") == "DELETE" and stack.status == "ROLLBACK_COMPLETE":
        _finish_delete(self, stack)
    return stack


# --------------------------------------------------------------------------
# update
# --------------------------------------------------------------------------


def has_changes(stack: Any, template_dict: dict[str, Any], parameters: dict[str, Any],
                tags: dict[str, str] | None) -> bool:
    current = cfn_models.Stack.parse_template(stack.template) if isinstance(stack.template, str) else stack.template_dict
    if normalize_template(template_dict) != current:
        return True
    if effective_parameters(template_dict, parameters) != effective_parameters(stack.template_dict, stack.parameters or {}):
        return True
    if tags and dict(tags) != dict(stack.tags or {}):
        return True
    return False


def validate_template_and_parameters(stack: Any, template_dict: dict[str, Any], parameters: dict[str, Any]) -> None:
    """Synchronous validation, as the real CreateStack/UpdateStack/CreateChangeSet do."""
    if not isinstance(template_dict, dict) or "Resources" not in template_dict:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    topo_order(template_dict["Resources"] or {})
    probe = cfn_parsing.ResourceMap(
        stack.stack_id, stack.name, dict(parameters), dict(stack.tags or {}),
        region_name=stack.region_name, account_id=stack.account_id,
        template=template_dict, cross_stack_resources=_backend(stack).exports,
    )
    try:
        probe.load()
    except ValidationError:
        raise
    except Exception as exc:  # MissingParameterError etc.
        raise ValidationError(message=error_code_and_message(exc)[1])


def _update_one(stack: Any, rm: Any, op: _Op, name: str, resource_json: dict[str, Any]) -> None:
    rtype = resource_json.get("Type", "")
    original = rm._parsed_resources.get(name)
    _resource_event(stack, name, rtype, "UPDATE_IN_PROGRESS", physical_id=_physical_id(original))
    if not op.suppress_faults and _tag_true(resource_json, FAIL_UPDATE_TAG):
        raise ResourceFailure(
            name, rtype,
            f'Resource handler returned message: "Sandbox fault injection: {rtype} {name} is tagged '
            f'{FAIL_UPDATE_TAG}=true" (HandlerErrorCode: GeneralServiceException)',
            "update",
        )
    try:
        for guard in RESOURCE_GUARDS:
            guard(stack, "update", name, resource_json, rm)
        new = cfn_parsing.parse_and_update_resource(
            name, resource_json, rm, account_id=rm._account_id, region_name=rm._region_name
        )
    except ResourceFailure:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ResourceFailure(name, rtype, _handler_reason(exc), "update") from exc
    if new is not None:  # moto returns None for types without update support: keep the resource
        rm._parsed_resources[name] = new
    _remember_resolved(rm, name, resource_json)
    op.modified.append(name)
    _resource_event(stack, name, rtype, "UPDATE_COMPLETE", physical_id=_physical_id(rm._parsed_resources.get(name)))


def run_update(stack: Any, template: str, parameters: dict[str, Any], tags: dict[str, str] | None,
               role_arn: str | None, disable_rollback: bool = False) -> None:
    rm = stack.resource_map
    new_dict = cfn_models.Stack.parse_template(template)
    validate_template_and_parameters(stack, new_dict, parameters)
    new_resources = new_dict.get("Resources") or {}
    new_order = topo_order(new_resources)

    old = {
        "template": rm._template,
        "json": dict(rm._resource_json_map),
        "input": rm.input_parameters,
        "resolved": dict(rm.resolved_parameters),
        "output_map": stack.output_map,
    }
    old_existing = set(_existing(rm, old["json"]))
    rm._sandbox_resource_names = set(getattr(rm, "_sandbox_resource_names", set())) | set(new_resources)

    _set_status(stack, "UPDATE_IN_PROGRESS")
    _stack_event(stack, "UPDATE_IN_PROGRESS", "User Initiated")
    op = _Op(stack, "update")
    rm._sandbox_op = op
    removes: set[str] = set()
    try:
        modify = set(rm.build_resource_diff(new_dict, parameters)["Modify"])
        rm._template = new_dict
        rm.input_parameters = dict(parameters)
        rm.resolved_parameters = {}
        rm.load_mapping()
        rm.transform_mapping()
        rm.load_parameters()
        rm.load_conditions()
        rm._resource_json_map = new_resources
        active = {
            name for name, body in new_resources.items()
            if not (body or {}).get("Condition") or rm.lazy_condition_map[body["Condition"]]
        }
        removes = old_existing - active
        for name in new_order:
            if name not in active:
                continue
            if name not in old_existing:
                rm._parsed_resources.pop(name, None)
                rm[name]
            elif name in modify or _resolved_changed(rm, name, new_resources[name]):
                _update_one(stack, rm, op, name, new_resources[name])
        new_output_map = cfn_parsing.OutputMap(rm, new_dict, stack.stack_id)
        list(new_output_map.values())
        exports = new_output_map.exports
        _check_exports(stack, exports)
    except Exception as exc:  # noqa: BLE001
        rm._sandbox_op = None
        if disable_rollback:
            _fail_update_no_rollback(stack, op, exc)
        else:
            _rollback_update(stack, op, exc, old)
        return
    rm._sandbox_op = None

    stack.template = template
    stack.template_dict = new_dict
    stack.description = new_dict.get("Description")
    stack.parameters = dict(parameters)
    if tags is not None:
        stack.tags = tags
    stack.role_arn = role_arn
    stack.output_map = new_output_map
    stack.last_updated_time = utcnow()
    _register_exports(stack, exports)

    _set_status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    _stack_event(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    if removes:
        order = [n for n in reversed(topo_order(old["json"])) if n in removes]
        # Cleanup failures do not fail an update in AWS either (they are only events).
        _delete_many(stack, rm, order, old["json"], on_create_rollback=False)
    _set_status(stack, "UPDATE_COMPLETE")
    _stack_event(stack, "UPDATE_COMPLETE")


def _failure_summary(exc: BaseException) -> str:
    if isinstance(exc, ResourceFailure):
        verb = "create" if exc.action == "create" else "update"
        return f"The following resource(s) failed to {verb}: [{exc.logical_id}]. "
    return error_code_and_message(exc)[1]


def _record_failure_event(stack: Any, exc: BaseException) -> None:
    if isinstance(exc, ResourceFailure):
        status = "CREATE_FAILED" if exc.action == "create" else "UPDATE_FAILED"
        _resource_event(stack, exc.logical_id, exc.resource_type, status, reason=exc.reason)


def _fail_update_no_rollback(stack: Any, op: _Op, exc: BaseException) -> None:
    _record_failure_event(stack, exc)
    summary = _failure_summary(exc)
    keep = set(_existing(stack.resource_map, stack.resource_map._resource_json_map))
    stack.resource_map._resource_json_map = {
        k: v for k, v in stack.resource_map._resource_json_map.items() if k in keep
    }
    stack.output_map = _empty_output_map(stack)
    _set_status(stack, "UPDATE_FAILED", summary)
    _stack_event(stack, "UPDATE_FAILED", summary)


def _rollback_update(stack: Any, op: _Op, exc: BaseException, old: dict[str, Any]) -> None:
    rm = stack.resource_map
    _record_failure_event(stack, exc)
    summary = _failure_summary(exc)
    _set_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", summary)
    _stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", summary)

    # Restore the previous template's parameter/condition context.
    rm._template = old["template"]
    rm.input_parameters = old["input"]
    rm.resolved_parameters = dict(old["resolved"])
    rm.load_mapping()
    rm.load_parameters()
    rm.load_conditions()
    created_now = list(op.created)
    new_json = dict(rm._resource_json_map)
    rm._resource_json_map = dict(old["json"])

    op.suppress_faults = True
    rm._sandbox_op = op
    failed: list[str] = []
    to_revert = list(op.modified)
    if isinstance(exc, ResourceFailure) and exc.action == "update":
        to_revert.append(exc.logical_id)
    for name in reversed(to_revert):
        try:
            _update_one(stack, rm, op, name, old["json"][name])
        except Exception as rb_exc:  # noqa: BLE001
            reason = rb_exc.reason if isinstance(rb_exc, ResourceFailure) else _handler_reason(rb_exc)
            _resource_event(stack, name, old["json"][name].get("Type", ""), "UPDATE_FAILED", reason=reason)
            failed.append(name)
    rm._sandbox_op = None

    _set_status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", summary)
    _stack_event(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    deletions = _delete_many(stack, rm, list(reversed(created_now)), new_json, on_create_rollback=True)
    failed.extend(deletions)
    stack.output_map = old["output_map"]
    if failed:
        _set_status(stack, "UPDATE_ROLLBACK_FAILED",
                    f"The following resource(s) failed to roll back: [{', '.join(sorted(set(failed)))}]. ")
        _stack_event(stack, "UPDATE_ROLLBACK_FAILED", stack.stack_status_reason)
    else:
        _set_status(stack, "UPDATE_ROLLBACK_COMPLETE", summary)
        _stack_event(stack, "UPDATE_ROLLBACK_COMPLETE")


def check_updatable(stack: Any) -> None:
    if stack.status in NOT_UPDATABLE:
        raise ValidationError(
            stack.stack_id,
            message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.",
        )


def update_stack(  # replaces CloudFormationBackend.update_stack
    self: Any,
    name: str,
    template: str,
    role_arn: str | None,
    parameters: list[dict[str, Any]],
    tags: dict[str, str] | None,
) -> Any:
    stack = get_live_stack(self, name)
    check_updatable(stack)
    resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
    template_dict = cfn_models.Stack.parse_template(template)
    if not has_changes(stack, template_dict, resolved, tags):
        raise ValidationError(stack.name, message="No updates are to be performed.")
    run_update(stack, template, resolved, tags, role_arn,
               disable_rollback=bool(request_context().get("DisableRollback")))
    return stack


def stack_update(self: Any, template: str, role_arn: str | None = None,  # replaces Stack.update
                 parameters: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> None:
    run_update(self, template, parameters if parameters is not None else dict(self.parameters or {}), tags, role_arn)


# --------------------------------------------------------------------------
# delete
# --------------------------------------------------------------------------


def get_live_stack(backend: Any, name_or_id: str) -> Any:
    stack = backend.stacks.get(name_or_id)
    if stack is None:
        for candidate in backend.stacks.values():
            if candidate.name == name_or_id:
                stack = candidate
                break
    if stack is None:
        raise ValidationError(name_or_id)
    return stack


def run_delete(stack: Any, retain: set[str] | None = None) -> None:
    rm = stack.resource_map
    _set_status(stack, "DELETE_IN_PROGRESS")
    _stack_event(stack, "DELETE_IN_PROGRESS", "User Initiated")
    json_map = dict(rm._resource_json_map)
    existing = set(_existing(rm, json_map))
    order = [name for name in reversed(topo_order(json_map)) if name in existing]
    failures = _delete_many(stack, rm, order, json_map, on_create_rollback=False, retain=retain)
    if failures:
        _freeze(rm, set(_existing(rm, json_map)))
        reason = f"The following resource(s) failed to delete: [{', '.join(sorted(failures))}]. "
        _set_status(stack, "DELETE_FAILED", reason)
        _stack_event(stack, "DELETE_FAILED", reason)
    else:
        _freeze(rm, set())
        stack.output_map = _empty_output_map(stack)
        _set_status(stack, "DELETE_COMPLETE")
        _stack_event(stack, "DELETE_COMPLETE")


def stack_delete(self: Any) -> None:  # replaces Stack.delete
    run_delete(self)


def _finish_delete(backend: Any, stack: Any) -> None:
    if stack.status != "DELETE_COMPLETE":
        if stack.status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE") and not _existing(
            stack.resource_map, stack.resource_map._resource_json_map
        ):
            _set_status(stack, "DELETE_IN_PROGRESS")
            _stack_event(stack, "DELETE_IN_PROGRESS", "User Initiated")
            _set_status(stack, "DELETE_COMPLETE")
            _stack_event(stack, "DELETE_COMPLETE")
        else:
            return
    backend.stacks.pop(stack.stack_id, None)
    backend.deleted_stacks[stack.stack_id] = stack
    for name, export in list(backend.exports.items()):
        if export.exporting_stack_id == stack.stack_id:
            backend.exports.pop(name)
    for cs_id, change_set in list(backend.change_sets.items()):
        if change_set.stack_id == stack.stack_id:
            backend.change_sets.pop(cs_id)


def delete_stack(self: Any, name_or_stack_id: str) -> None:  # replaces CloudFormationBackend.delete_stack
    try:
        stack = get_live_stack(self, name_or_stack_id)
    except ValidationError:
        return  # deleting a stack that does not exist (any more) is a no-op in AWS
    retain = set(request_context().get("RetainResources") or [])
    if retain and stack.status != "DELETE_FAILED":
        raise ValidationError(
            message=f"Invalid operation on stack [{stack.stack_id}]: RetainResources can only be specified "
            "when the stack is in the DELETE_FAILED state"
        )
    if stack.enable_termination_protection:
        raise ValidationError(
            message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
        )
    if stack.status in ("REVIEW_IN_PROGRESS",) or (
        stack.status == "ROLLBACK_COMPLETE" and not _existing(stack.resource_map, stack.resource_map._resource_json_map)
    ):
        _finish_delete(self, stack)
        return
    run_delete(stack, retain)
    _finish_delete(self, stack)


# --------------------------------------------------------------------------
# request parameters moto does not forward
# --------------------------------------------------------------------------

_CONTEXT_KEYS = ("ClientRequestToken", "OnFailure", "DisableRollback", "RetainResources", "StackName",
                 "ChangeSetName")


def _with_request_context(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        params = {key: self._get_param(key) for key in _CONTEXT_KEYS}
        if isinstance(params.get("DisableRollback"), str):
            params["DisableRollback"] = params["DisableRollback"].lower() == "true"
        params["_action"] = original.__name__
        set_request_context(**params)
        try:
            return original(self, *args, **kwargs)
        finally:
            clear_request_context()

    wrapper.__name__ = original.__name__
    wrapper.__sandbox_patched__ = True  # type: ignore[attr-defined]
    return wrapper


_original_nested_create = cfn_models.Stack.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def nested_stack_create(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                        region_name: str, **kwargs: Any) -> Any:
    """AWS::CloudFormation::Stack: a nested stack that failed fails its parent resource."""
    nested = _original_nested_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    if nested.status != "CREATE_COMPLETE":
        reason = nested.stack_status_reason or nested.status
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        if nested.status == "ROLLBACK_COMPLETE":
            backend.delete_stack(nested.stack_id)
        raise StackLevelFailure(
            f"Embedded stack {nested.stack_id} was not successfully created: {reason}"
        )
    return nested


def apply() -> None:
    if getattr(cfn_parsing.parse_and_create_resource, "__sandbox_patched__", False):
        return
    cfn_models.Stack.create_from_cloudformation_json = classmethod(nested_stack_create)  # type: ignore[assignment]
    parse_and_create_resource.__sandbox_patched__ = True  # type: ignore[attr-defined]
    cfn_parsing.parse_and_create_resource = parse_and_create_resource

    cfn_models.Stack.create_resources = create_resources
    cfn_models.Stack.update = stack_update
    cfn_models.Stack.delete = stack_delete
    cfn_models.CloudFormationBackend.create_stack = create_stack
    cfn_models.CloudFormationBackend.update_stack = update_stack
    cfn_models.CloudFormationBackend.delete_stack = delete_stack

    response = cfn_responses.CloudFormationResponse
    # Checks moved into the backend (they were incomplete/incorrect in moto).
    response._validate_different_update = lambda self, *a, **k: None
    response._validate_status = lambda self, *a, **k: None
    for name in ("create_stack", "update_stack", "delete_stack", "create_change_set",
                 "execute_change_set", "describe_change_set", "delete_change_set", "list_change_sets"):
        original = getattr(response, name)
        if not getattr(original, "__sandbox_patched__", False):
            setattr(response, name, _with_request_context(original))
