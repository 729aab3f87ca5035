"""CloudFormation resource import: IMPORT change sets that create a stack around existing resources.

moto gap closed
---------------
moto 5.2.5 has no resource import: CreateChangeSet ignores `ResourcesToImport`, and
ChangeSetType IMPORT is refused by cfn_change_sets ("not supported by the sandbox"); moto
itself would treat it as CREATE and make a *new* bucket (S3 answers BucketAlreadyExists for
one that exists).

Why the product relies on it
----------------------------
A tenant's `DataBucket` has DeletionPolicy Retain: deprovisioning leaves it. Provisioning the
tenant again first creates its stack with an IMPORT change set holding only the retained
bucket, then updates the stack to the full template (src/activities/cloudformation.ts,
docs/operators.md "Provisioning and deprovisioning").

Behaviour (AWS's, for a new stack)
----------------------------------
CreateChangeSet with ChangeSetType IMPORT, answered synchronously with a ValidationError as
on AWS when:
* `ResourcesToImport` is empty;
* the stack exists and is not REVIEW_IN_PROGRESS (the sandbox imports only into a new stack;
  AWS also imports into an existing one, which the product does not use);
* a logical ID of `ResourcesToImport` is not in the template (`The logical resource ids [X]
  provided in ResourceToImport do not exist in the template.`), or its ResourceType differs;
* a template resource is not in `ResourcesToImport` (AWS imports only: `You have modified
  resources [X] in your template that are not being imported. Update, create or delete
  operations cannot be executed during import operations.`);
* a resource to import has no DeletionPolicy (`The following resources to import [X] must
  have DeletionPolicy attribute specified in the template.`);
* a type the sandbox cannot import (only `AWS::S3::Bucket`, identifier `BucketName`).
A resource that does not exist in the stack's account makes the change set FAILED
(ExecutionStatus UNAVAILABLE) with a reason naming the identifier. DescribeChangeSet lists
each resource as `Action: Import` with its identifier as PhysicalResourceId.

ExecuteChangeSet: stack events IMPORT_IN_PROGRESS (User Initiated), per resource
IMPORT_IN_PROGRESS and IMPORT_COMPLETE, stack IMPORT_COMPLETE (revealed over time by
cfn_timing). The stack's resource is the existing bucket, untouched (its objects, tags and
settings stay), its physical ID the identifier; the stack's template and parameters are the
change set's, so an UPDATE change set then adds the rest of the full template and leaves the
imported bucket alone when its properties are the same. A bucket deleted between the change
set and its execution: resource IMPORT_FAILED, stack IMPORT_ROLLBACK_COMPLETE.

How it hooks into moto
----------------------
Wraps `CloudFormationBackend.create_change_set/execute_change_set` (as replaced by
cfn_change_sets; registered before cfn_client_request_token and cfn_timing, which wrap it in
turn) and `CloudFormationResponse.create_change_set`, which reads `ResourcesToImport` into
a thread-local for the backend.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, validate_create_change_set
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from . import cfn_engine
from ._common import wrap_once
from .cfn_change_sets import ChangeSetAlreadyExists, find_change_set, find_stack

# What the sandbox can import: resource type -> the identifier property that names it.
IDENTIFIERS = {"AWS::S3::Bucket": "BucketName"}

_local = threading.local()


def _requested() -> list[dict[str, Any]]:
    return list(getattr(_local, "resources", None) or [])


def _identifier_map(raw: Any) -> dict[str, str]:
    """ResourceIdentifier as moto's query parser hands it over: a dict, or entries of key/value."""
    if isinstance(raw, dict):
        if "entry" in raw:
            raw = raw["entry"]
        else:
            return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(e.get("key")): str(e.get("value")) for e in raw if isinstance(e, dict)}
    return {}


def _existing_bucket(account_id: str, region_name: str, name: str) -> Any | None:
    # The stack's own account only: another account's bucket does not exist for the import, as on AWS.
    return s3_backends[account_id][get_partition(region_name)].buckets.get(name)


def _validate(stack_name: str, template: dict[str, Any], resources: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    if not resources:
        raise ValidationError(stack_name, message="ResourcesToImport must be specified for an IMPORT change set.")
    in_template = template.get("Resources") or {}
    wanted = {r.get("LogicalResourceId"): r for r in resources}
    unknown = [lid for lid in wanted if lid not in in_template]
    if unknown:
        raise ValidationError(
            stack_name,
            message=f"The logical resource ids [{', '.join(map(str, unknown))}] provided in ResourceToImport do not exist in the template.",
        )
    not_imported = [lid for lid in in_template if lid not in wanted]
    if not_imported:
        raise ValidationError(
            stack_name,
            message=f"You have modified resources [{', '.join(not_imported)}] in your template that are not being imported. "
            "Update, create or delete operations cannot be executed during import operations.",
        )
    no_policy = [lid for lid in wanted if not in_template[lid].get("DeletionPolicy")]
    if no_policy:
        raise ValidationError(
            stack_name,
            message=f"The following resources to import [{', '.join(no_policy)}] must have DeletionPolicy attribute specified in the template.",
        )
    imports = []
    for lid, request in wanted.items():
        rtype = in_template[lid].get("Type")
        if request.get("ResourceType") != rtype:
            raise ValidationError(
                stack_name,
                message=f"The resource type {request.get('ResourceType')} of resource to import {lid} does not match the template's {rtype}.",
            )
        key = IDENTIFIERS.get(rtype or "")
        if key is None:
            raise ValidationError(stack_name, message=f"ResourceType {rtype} of {lid} cannot be imported in the sandbox (only {', '.join(IDENTIFIERS)})")
        identifier = _identifier_map(request.get("ResourceIdentifier"))
        if set(identifier) != {key}:
            raise ValidationError(
                stack_name,
                message=f"Invalid ResourceIdentifier for {lid}: {rtype} is identified by [{key}] (got [{', '.join(identifier)}]).",
            )
        imports.append((lid, rtype, identifier[key]))
    return imports


def _wrap_create_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_change_set(self: Any, stack_name: str, change_set_name: str, template: str, parameters: dict[str, str],
                          description: str, change_set_type: str, notification_arns: list[str] | None = None,
                          tags: dict[str, str] | None = None, role_arn: str | None = None) -> tuple[str, str]:
        if change_set_type != "IMPORT":
            return original(self, stack_name, change_set_name, template, parameters, description, change_set_type,
                            notification_arns, tags, role_arn)
        validate_create_change_set(change_set_name)
        existing = find_stack(self, stack_name)
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(
                stack_name,
                message=f"Stack [{stack_name}] already exists; the sandbox imports resources only into a new stack (test/sandbox/moto/patches/cfn_import.py).",
            )
        template_dict = cfn_models.Stack.parse_template(template)
        imports = _validate(stack_name, template_dict, _requested())
        stack = existing or cfn_models.Stack(
            stack_id=generate_stack_id(stack_name, self.region_name, self.account_id),
            name=stack_name, template={}, parameters=parameters, account_id=self.account_id,
            region_name=self.region_name, notification_arns=notification_arns, tags=tags, role_arn=role_arn,
        )
        cfn_engine.validate_template_and_parameters(stack, template_dict, parameters)
        if existing is not None:
            for change_set in self.change_sets.values():
                if change_set.stack_id == existing.stack_id and change_set.change_set_name == change_set_name:
                    raise ChangeSetAlreadyExists(f"ChangeSet [{change_set_name}] already exists")
        else:
            self.stacks[stack.stack_id] = stack
            stack.status = "REVIEW_IN_PROGRESS"
            cfn_engine._stack_event(stack, "REVIEW_IN_PROGRESS", "User Initiated")

        change_set = cfn_models.ChangeSet(
            change_set_type="IMPORT",
            change_set_id=generate_changeset_id(change_set_name, self.region_name, self.account_id),
            change_set_name=change_set_name, stack=stack, template=template, parameters=parameters,
            description=description, notification_arns=notification_arns, tags=tags, role_arn=role_arn,
        )
        change_set.sandbox_imports = imports
        change_set.changes = []
        for lid, rtype, identifier in imports:
            change = cfn_models.Change(action="Import", logical_resource_id=lid, resource_type=rtype)
            change.physical_resource_id = identifier
            change_set.changes.append(change)
        missing = [(lid, rtype, identifier) for lid, rtype, identifier in imports
                   if _existing_bucket(self.account_id, self.region_name, identifier) is None]
        if missing:
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = "Resources to import do not exist: " + ", ".join(
                f"{lid} ({rtype} {{{IDENTIFIERS[rtype]}={identifier}}})" for lid, rtype, identifier in missing)
        else:
            change_set.status = "CREATE_COMPLETE"
            change_set.execution_status = "AVAILABLE"
        self.change_sets[change_set.change_set_id] = change_set
        return change_set.change_set_id, stack.stack_id

    return create_change_set


def _import(self: Any, change_set: Any, stack: Any) -> None:
    stack.template = change_set.template
    stack._parse_template()
    stack.parameters = dict(change_set.parameters or {})
    if change_set.tags:
        stack.tags = dict(change_set.tags)
    stack.role_arn = change_set.role_arn
    stack.description = stack.template_dict.get("Description")
    stack.resource_map = stack._create_resource_map()
    rm = stack.resource_map
    resources = stack.template_dict.get("Resources") or {}
    rm._template = stack.template_dict
    rm._resource_json_map = resources
    rm._sandbox_resource_names = set(resources)
    cfn_engine._set_status(stack, "IMPORT_IN_PROGRESS")
    cfn_engine._stack_event(stack, "IMPORT_IN_PROGRESS", "User Initiated")
    done: list[str] = []
    for lid, rtype, identifier in change_set.sandbox_imports:
        cfn_engine._resource_event(stack, lid, rtype, "IMPORT_IN_PROGRESS", physical_id=identifier)
        bucket = _existing_bucket(stack.account_id, stack.region_name, identifier)
        if bucket is None:
            reason = f'Resource handler returned message: "{rtype} with identifier {identifier} was not found" (HandlerErrorCode: NotFound)'
            cfn_engine._resource_event(stack, lid, rtype, "IMPORT_FAILED", reason=reason, physical_id=identifier)
            summary = f"The following resource(s) failed to import: [{lid}]. "
            cfn_engine._set_status(stack, "IMPORT_ROLLBACK_IN_PROGRESS", summary)
            cfn_engine._stack_event(stack, "IMPORT_ROLLBACK_IN_PROGRESS", summary)
            # Rolling back an import only lets go of what it took over: nothing is deleted.
            cfn_engine._freeze(rm, set())
            stack.output_map = cfn_engine._empty_output_map(stack)
            cfn_engine._set_status(stack, "IMPORT_ROLLBACK_COMPLETE", summary)
            cfn_engine._stack_event(stack, "IMPORT_ROLLBACK_COMPLETE")
            return
        bucket.cf_resource_type = rtype
        bucket.logical_resource_id = lid
        rm._parsed_resources[lid] = bucket
        cfn_engine._remember_resolved(rm, lid, resources[lid])
        done.append(lid)
        cfn_engine._resource_event(stack, lid, rtype, "IMPORT_COMPLETE", physical_id=identifier)
    stack.output_map = stack._create_output_map()
    list(stack.output_map.values())
    cfn_engine._set_status(stack, "IMPORT_COMPLETE")
    cfn_engine._stack_event(stack, "IMPORT_COMPLETE")


def _wrap_execute_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = find_change_set(self, change_set_name, stack_name)
        if change_set.change_set_type != "IMPORT":
            return original(self, change_set_name, stack_name)
        if change_set.execution_status != "AVAILABLE":
            from .cfn_change_sets import InvalidChangeSetStatus

            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current execution status of "
                f"[{change_set.execution_status}]"
            )
        stack = self.stacks.get(change_set.stack_id)
        if stack is None:
            raise ValidationError(change_set.stack_id)
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        _import(self, change_set, stack)
        change_set.execution_status = "EXECUTE_COMPLETE" if stack.status == "IMPORT_COMPLETE" else "EXECUTE_FAILED"
        for cs_id, other in list(self.change_sets.items()):
            if other.stack_id == stack.stack_id and other is not change_set:
                self.change_sets.pop(cs_id)
        return None

    return execute_change_set


def _wrap_response_create_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_change_set(self: Any) -> Any:
        _local.resources = self._get_param("ResourcesToImport", []) or []
        try:
            return original(self)
        finally:
            _local.resources = None

    return create_change_set


def apply() -> None:
    backend = cfn_models.CloudFormationBackend
    wrap_once(backend, "create_change_set", _wrap_create_change_set, __name__)
    wrap_once(backend, "execute_change_set", _wrap_execute_change_set, __name__)
    response = cfn_responses.CloudFormationResponse
    wrap_once(response, "create_change_set", _wrap_response_create_change_set, __name__)
