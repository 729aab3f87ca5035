"""ECS container secrets resolved as the ECS agent resolves them when a task starts.

moto gap closed
---------------
moto never starts a service's tasks, so a task definition's `secrets` are never read: a
task whose SSM parameter or Secrets Manager secret is missing, or that its execution role
may not read, runs anyway. ECS stops it before its containers start, with the stopped
reason `ResourceInitializationError: unable to pull secrets or registry auth: ...`, and
the deployment's circuit breaker counts it as a failed task.

Why the product relies on it
----------------------------
A tenant's services carry `secrets: [{name, valueFrom: <ARN>}]` (docs/services.md "ECS");
the execution role `tenant-<id>-exec` may read only the tenant's own parameters and
secrets. A secret the operator forgot, or put where that role cannot read it, must fail
the rollout in the sandbox as it does on AWS, and the product must name the reason.

Behaviour
---------
The sandbox's ECS task controller (test/sandbox/data-plane/ecs-tasks.ts) asks before it
starts each task, with the task's definition:

    POST /_sandbox/ecs/secrets  {"account": "...", "region": "...", "taskDefinition": "<ARN>"}
    -> {"stoppedReason": null}  every secret resolves
    -> {"stoppedReason": "ResourceInitializationError: unable to pull secrets or registry auth: ..."}

Each container's `secrets[].valueFrom` (an ARN, or a name in the task's account and
region) must name an SSM parameter or a Secrets Manager secret that exists in the
account and region of the ARN (a secret scheduled for deletion does not), and the task
definition's execution role must be allowed `ssm:GetParameters` on the parameter's ARN or
`secretsmanager:GetSecretValue` on the secret's full ARN by its identity policies and its
permissions boundary, evaluated by the sandbox's IAM enforcement (iam_enforcement.py,
the same evaluator as every call). A parameter of another account is not found (ECS
reads parameters in the role's account); a secret of another account would need a
resource policy, which the sandbox does not evaluate, so it is refused. Values are never
read into the answer or logged.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from moto.ecs import models as ecs_models
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends
from moto.utilities.utils import get_partition

from .cfn_iam import _boundary_policy, _role_by_arn
from .iam_enforcement import evaluate, policies_of

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "


def _denied(role_arn: str, action: str, resource: str, why: str) -> str:
    session = f"{role_arn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/ecs-task"
    return (f"AccessDeniedException: User: {session} is not authorized to perform: {action} on resource: {resource} "
            f"because {why}")


def _allowed(role: Any, account: str, partition: str, action: str, resource: str) -> str | None:
    """None when the role may; else why not, in IAM's words."""
    if evaluate(policies_of(account, partition, "role", role.name), action, resource) != PermissionResult.PERMITTED:
        return f"no identity-based policy allows the {action} action"
    boundary = _boundary_policy(role, account, partition)
    if boundary is not None and IAMPolicy(boundary).is_action_permitted(action, resource, None, None) != PermissionResult.PERMITTED:
        return f"no permissions boundary allows the {action} action"
    return None


def _check_ssm(value_from: str, account: str, region: str, role: Any, role_arn: str, partition: str) -> str | None:
    if value_from.startswith("arn:"):
        parts = value_from.split(":", 5)
        arn_region, arn_account, name = parts[3], parts[4], "/" + parts[5].split("/", 1)[1] if "/" in parts[5] else parts[5]
        arn = value_from
    else:
        arn_region, arn_account, name = region, account, value_from if value_from.startswith("/") else f"/{value_from}"
        arn = f"arn:{partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
    role_account = role_arn.split(":")[4]
    backend = ssm_backends[arn_account][arn_region]
    # The ARN drops a hierarchical name's leading slash: `parameter/a/b` is `/a/b`, `parameter/x` is `x`.
    found = arn_account == role_account and any(backend.get_parameter(n) is not None for n in (name, name.lstrip("/")))
    if not found:
        return f"unable to retrieve secrets from ssm: invalid parameters: {name}"
    why = _allowed(role, role_account, partition, "ssm:GetParameters", arn)
    return None if why is None else f"unable to retrieve secrets from ssm: service call has been retried 1 time(s): {_denied(role_arn, 'ssm:GetParameters', arn, why)}"


def _check_secret(value_from: str, account: str, region: str, role: Any, role_arn: str, partition: str) -> str | None:
    if value_from.startswith("arn:"):
        parts = value_from.split(":")
        arn_region, arn_account = parts[3], parts[4]
        secret_id = ":".join(parts[:7])  # `:json-key:version-stage:version-id` follow the ARN
    else:
        arn_region, arn_account, secret_id = region, account, value_from
    secret = secretsmanager_backends[arn_account][arn_region].secrets.get(secret_id)
    fetch = f"unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {value_from} from secrets manager: "
    if secret is None or getattr(secret, "deleted_date", None):
        return fetch + "ResourceNotFoundException: Secrets Manager can't find the specified secret."
    role_account = role_arn.split(":")[4]
    if arn_account != role_account:
        return fetch + _denied(role_arn, "secretsmanager:GetSecretValue", secret.arn, "no resource-based policy allows the secretsmanager:GetSecretValue action")
    why = _allowed(role, role_account, partition, "secretsmanager:GetSecretValue", secret.arn)
    return None if why is None else fetch + _denied(role_arn, "secretsmanager:GetSecretValue", secret.arn, why)


def stopped_reason(account: str, region: str, task_definition_ref: str) -> str | None:
    """ECS's stopped reason for a task of this definition whose secrets do not resolve; None when they do."""
    definition = ecs_models.ecs_backends[account][region].describe_task_definition(task_definition_ref)
    references = [s for c in definition.container_definitions for s in (c.get("secrets") or [])]
    if not references:
        return None
    partition = get_partition(region)
    role_arn = getattr(definition, "execution_role_arn", None) or ""
    if not role_arn:
        return PREFIX + "the task definition has no execution role to retrieve its secrets with"
    role = _role_by_arn(role_arn, partition)
    if role is None:
        return PREFIX + f"unable to assume the execution role {role_arn}: it does not exist"
    for reference in references:
        value_from = str(reference.get("valueFrom") or "")
        service = value_from.split(":")[2] if value_from.startswith("arn:") else "ssm"
        check = _check_secret if service == "secretsmanager" else _check_ssm
        problem = check(value_from, account, region, role, role_arn, partition)
        if problem is not None:
            return PREFIX + problem
    return None


def _json(start_response: Callable[..., Any], status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
    """The launcher's hook for `/_sandbox/ecs/secrets`; None for any other path."""
    if environ.get("PATH_INFO", "") != "/_sandbox/ecs/secrets":
        return None
    if environ.get("REQUEST_METHOD", "GET") != "POST":
        return _json(start_response, "404 Not Found", {"error": "expected POST /_sandbox/ecs/secrets"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        reason = stopped_reason(body["account"], body["region"], body["taskDefinition"])
    except (ValueError, KeyError) as exc:
        return _json(start_response, "400 Bad Request", {"error": f"expected account, region and taskDefinition: {exc}"})
    except Exception as exc:  # noqa: BLE001 - a task definition that does not exist
        return _json(start_response, "404 Not Found", {"error": str(exc)})
    return _json(start_response, "200 OK", {"stoppedReason": reason})


def apply() -> None:
    pass  # a route only (handle)
