"""CloudFormation change sets that behave like AWS for create-or-update.

moto gaps closed
----------------
* CreateChangeSet(UPDATE) with Parameters and an unchanged template raises
  `ValidationError: No updates are to be performed.` instead of creating a change
  set in status FAILED with reason "The submitted information didn't contain
  changes. Submit different information to create a change set." (AWS).
  Without Parameters, moto compares only the raw template and parameters, not
  defaults or tags.
* ChangeSetType CREATE for a stack name that already exists silently creates a
  *second* stack with the same name (AWS: ValidationError "Stack [x] already
  exists and cannot be created again with the changeSet [y]."); an UPDATE change
  set is accepted for stacks in ROLLBACK_COMPLETE etc.
* Change sets are looked up by name across *all* stacks (StackName is ignored),
  ListChangeSets ignores StackName, a duplicate change set name on one stack is
  accepted, ExecuteChangeSet on an unknown name crashes (HTTP 500) and can be
  executed twice.
* ExecuteChangeSet(CREATE) never re-parses the template into the stack: the
  stack keeps an empty resource/output map (no Outputs), and executions can never
  fail or roll back (see cfn_engine).
* The change list ignores parameter-only changes; and once it sees them, it
  counts a parameter passed with the value the stack took as its default as
  changed (it compares with the parameters the stack was given, not their
  effective values), listing every resource that refers to it as modified.

Why the product relies on it
----------------------------
The CloudFormation activity is create-or-update through change sets
(ChangeSetType CREATE or UPDATE), treats the "didn't contain changes" FAILED
change set as success, and must see failures/rollbacks of executions.

How it hooks into moto
----------------------
Replaces `CloudFormationBackend.create_change_set/describe_change_set/
delete_change_set/execute_change_set/list_change_sets`, `ChangeSet.diff`, and
`CloudFormationResponse.create_change_set/describe_change_set/delete_change_set/
execute_change_set/list_change_sets` (the last ones only to pass StackName /
UsePreviousValue correctly). Execution delegates to cfn_engine.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, validate_create_change_set
from moto.core.responses import ActionResult

from . import cfn_engine
from ._common import request_context
from .cfn_templates import effective_parameters

NO_CHANGES_REASON = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


class ChangeSetAlreadyExists(CloudFormationError):
    code = "AlreadyExistsException"


def find_stack(backend: Any, name_or_id: str | None) -> Any | None:
    """The stack a request names by name or stack ID; None when there is none."""
    if not name_or_id:
        return None
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    for stack in backend.stacks.values():
        if stack.name == name_or_id:
            return stack
    return None


def find_change_set(backend: Any, change_set_name: str, stack_name: str | None) -> Any:
    if change_set_name in backend.change_sets:
        return backend.change_sets[change_set_name]
    stack = find_stack(backend, stack_name)
    if stack_name and stack is None:
        raise ValidationError(stack_name, message=f"Stack [{stack_name}] does not exist")
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == change_set_name and (stack is None or change_set.stack_id == stack.stack_id):
            return change_set
    raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")


def create_change_set(  # replaces CloudFormationBackend.create_change_set
    self: Any,
    stack_name: str,
    change_set_name: str,
    template: str,
    parameters: dict[str, str],
    description: str,
    change_set_type: str,
    notification_arns: list[str] | None = None,
    tags: dict[str, str] | None = None,
    role_arn: str | None = None,
) -> tuple[str, str]:
    validate_create_change_set(change_set_name)
    existing = find_stack(self, stack_name)
    if change_set_type == "UPDATE":
        if existing is None:
            raise ValidationError(stack_name, message=f"Stack [{stack_name}] does not exist")
        cfn_engine.check_updatable(existing)
        stack = existing
    elif change_set_type == "CREATE":
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(
                stack_name,
                message=f"Stack [{stack_name}] already exists and cannot be created again with the changeSet [{change_set_name}].",
            )
        stack = existing
    else:
        raise ValidationError(message=f"ChangeSetType {change_set_type} is not supported by the sandbox")

    template_dict = cfn_models.Stack.parse_template(template)
    probe_stack = stack
    if probe_stack is None:
        probe_stack = cfn_models.Stack(
            stack_id=generate_stack_id(stack_name, self.region_name, self.account_id),
            name=stack_name, template={}, parameters=parameters, account_id=self.account_id,
            region_name=self.region_name, notification_arns=notification_arns, tags=tags, role_arn=role_arn,
        )
    cfn_engine.validate_template_and_parameters(probe_stack, template_dict, parameters)
    if stack is not None:
        for change_set in self.change_sets.values():
            if change_set.stack_id == stack.stack_id and change_set.change_set_name == change_set_name:
                raise ChangeSetAlreadyExists(f"ChangeSet [{change_set_name}] already exists")
    if stack is None:
        stack = probe_stack
        self.stacks[stack.stack_id] = stack
        stack.status = "REVIEW_IN_PROGRESS"
        cfn_engine._stack_event(stack, "REVIEW_IN_PROGRESS", "User Initiated")

    change_set_id = generate_changeset_id(change_set_name, self.region_name, self.account_id)
    change_set = cfn_models.ChangeSet(
        change_set_type=change_set_type,
        change_set_id=change_set_id,
        change_set_name=change_set_name,
        stack=stack,
        template=template,
        parameters=parameters,
        description=description,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
    )
    if change_set_type == "UPDATE" and not cfn_engine.has_changes(stack, template_dict, parameters, tags):
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = NO_CHANGES_REASON
    else:
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
    self.change_sets[change_set_id] = change_set
    return change_set_id, stack.stack_id


def describe_change_set(self: Any, change_set_name: str) -> Any:
    return find_change_set(self, change_set_name, request_context().get("StackName"))


def delete_change_set(self: Any, change_set_name: str) -> None:
    change_set = find_change_set(self, change_set_name, request_context().get("StackName"))
    if change_set.execution_status == "EXECUTE_IN_PROGRESS":
        raise InvalidChangeSetStatus(
            f"Cannot delete ChangeSet {change_set.change_set_id} while it is in {change_set.execution_status}"
        )
    self.change_sets.pop(change_set.change_set_id, None)


def list_change_sets(self: Any) -> Any:
    stack = find_stack(self, request_context().get("StackName"))
    if stack is None:
        return []
    return [cs for cs in self.change_sets.values() if cs.stack_id == stack.stack_id]


def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = find_change_set(self, change_set_name, stack_name)
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current execution status of "
            f"[{change_set.execution_status}]"
        )
    stack = self.stacks.get(change_set.stack_id)
    if stack is None:
        raise ValidationError(change_set.stack_id)
    ctx = request_context()
    disable_rollback = bool(ctx.get("DisableRollback"))
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    if change_set.change_set_type == "CREATE":
        stack.template = change_set.template
        stack._parse_template()
        stack.parameters = dict(change_set.parameters or {})
        if change_set.tags:
            stack.tags = dict(change_set.tags)
        stack.role_arn = change_set.role_arn
        stack.description = stack.template_dict.get("Description")
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        stack.disable_rollback = disable_rollback
        cfn_engine._stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
        stack.create_resources()
        ok = stack.status == "CREATE_COMPLETE"
    else:
        cfn_engine.run_update(
            stack, change_set.template, dict(change_set.parameters or {}),
            dict(change_set.tags) if change_set.tags else None, change_set.role_arn,
            disable_rollback=disable_rollback,
        )
        ok = stack.status == "UPDATE_COMPLETE"
    change_set.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
    # AWS deletes the stack's other change sets once one is executed.
    for cs_id, other in list(self.change_sets.items()):
        if other.stack_id == stack.stack_id and other is not change_set:
            self.change_sets.pop(cs_id)


def changed_parameters(stack: Any, template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """The parameters whose effective value (given, else the template's default) differs from the stack's.

    moto's `build_resource_diff` compares the given parameters with those the stack was given,
    so a parameter passed with the value the stack took as its default counts as changed.
    """
    before = effective_parameters(stack.template_dict or {}, stack.parameters or {})
    after = effective_parameters(template, given)
    return {key: value for key, value in after.items() if before.get(key) != value}


def change_set_diff(self: Any) -> list[Any]:  # replaces ChangeSet.diff (parameter-aware)
    rm = self.stack.resource_map
    template = cfn_engine.normalize_template(self.template_dict)
    actions = rm.build_resource_diff(template, changed_parameters(self.stack, template, self.parameters or {})) if self.change_set_type == "UPDATE" else {
        "Add": list((template.get("Resources") or {}).keys()), "Modify": [], "Remove": []}
    changes = []
    for action in ("Add", "Modify", "Remove"):
        for name in actions[action]:
            source = rm._resource_json_map if action == "Remove" else template["Resources"]
            change = cfn_models.Change(action=action, logical_resource_id=name,
                                       resource_type=source[name]["Type"])
            if action != "Add":
                resource = rm._parsed_resources.get(name)
                change.physical_resource_id = cfn_engine._physical_id(resource)
            if action == "Modify":
                change.replacement = "False"
                change.scope = ["Properties"]
            changes.append(change)
    return changes


# ---------------------------------------------------------------- responses


def _parameters_from_request(response: Any, stack: Any | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for param in response._get_param("Parameters", []) or []:
        key = param["ParameterKey"]
        use_previous = param.get("UsePreviousValue")
        if isinstance(use_previous, str):
            use_previous = use_previous.lower() == "true"
        if use_previous:
            if stack is None or key not in (stack.parameters or {}):
                raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot use previous value")
            result[key] = stack.parameters[key]
        else:
            result[key] = param.get("ParameterValue")
    return result


def response_create_change_set(self: Any) -> ActionResult:
    stack_name = self._get_param("StackName")
    change_set_name = self._get_param("ChangeSetName")
    stack_body = self._get_param("TemplateBody")
    template_url = self._get_param("TemplateURL")
    change_set_type = self._get_param("ChangeSetType", "CREATE")
    use_previous_template = self._get_bool_param("UsePreviousTemplate", False)
    stack = find_stack(self.cloudformation_backend, stack_name)
    if change_set_type == "UPDATE":
        if stack is None:
            raise ValidationError(stack_name, message=f"Stack [{stack_name}] does not exist")
        self.validate_template_and_stack_body()
        if use_previous_template:
            stack_body = stack.template
    if template_url:
        stack_body = self._get_stack_from_s3_url(template_url)
    if not stack_body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    parameters = _parameters_from_request(self, stack if change_set_type == "UPDATE" else None)
    tags = {item["Key"]: item["Value"] for item in self._get_param("Tags", [])}
    change_set_id, stack_id = self.cloudformation_backend.create_change_set(
        stack_name=stack_name,
        change_set_name=change_set_name,
        template=stack_body,
        parameters=parameters,
        description=self._get_param("Description"),
        notification_arns=self._get_param("NotificationARNs", []),
        tags=tags,
        role_arn=self._get_param("RoleARN"),
        change_set_type=change_set_type,
    )
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def response_list_change_sets(self: Any) -> ActionResult:
    return ActionResult({"Summaries": self.cloudformation_backend.list_change_sets()})


def apply() -> None:
    backend = cfn_models.CloudFormationBackend
    if getattr(backend.create_change_set, "__sandbox_patched__", False):
        return
    for fn in (create_change_set, describe_change_set, delete_change_set, list_change_sets, execute_change_set):
        fn.__sandbox_patched__ = True  # type: ignore[attr-defined]
        setattr(backend, fn.__name__, fn)
    cfn_models.ChangeSet.diff = change_set_diff
    response = cfn_responses.CloudFormationResponse
    # Re-wrap with the request-context wrapper from cfn_engine (StackName etc.).
    response_create_change_set.__name__ = "create_change_set"
    response_list_change_sets.__name__ = "list_change_sets"
    response.create_change_set = cfn_engine._with_request_context(response_create_change_set)
    response.list_change_sets = cfn_engine._with_request_context(response_list_change_sets)
