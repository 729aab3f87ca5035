"""One-off ECS tasks (RunTask) that really run, with exit codes (a release's migration).

moto gaps closed
----------------
* `RunTask` of a Fargate task definition (memory set on the task, not on the container)
  fails inside moto (`_calculate_task_resource_requirements` adds None), and so does any
  awsvpc task (moto's network interface has no `private_dns_name`).
* A task's status moves on by itself with each DescribeTasks (RUNNING, DEACTIVATING,
  STOPPING, ... STOPPED) and its container always reports exit code 0: nothing ever runs it.

Why the product relies on it
----------------------------
A release's migration step (src/activities/runtime/ecs-migration.ts) starts the new version's
task definition with `RunTask` and a command override, waits for DescribeTasks to say STOPPED,
and judges the app container's `exitCode` (and reads its output from CloudWatch Logs). The
sandbox's fault convention `-migration-fails` must be able to fail it.

Behaviour
---------
* Once the sandbox's ECS task controller runs (`POST /_sandbox/ecs/controller`, see
  ecs_deployments.py), a task started by `RunTask` stays PROVISIONING (container PENDING, no
  exit code) until the controller reports on it: it runs the task's command as a real process
  (test/sandbox/data-plane/ecs-tasks.ts), writes its output to the task's awslogs stream and
  reports RUNNING, then STOPPED with the container's exit code:

      GET  /_sandbox/ecs/tasks   -> {"tasks": [{"account", "region", "cluster", "taskArn", "taskDefinitionArn",
                                     "desiredStatus", "lastStatus", "container": {"name", "image", "command",
                                     "logConfiguration"}}]}: every such task not yet reported STOPPED
      POST /_sandbox/ecs/tasks   {"account", "region", "cluster", "taskArn", "lastStatus": "RUNNING" | "STOPPED",
                                  "exitCode": 0, "reason": "..."}

  `StopTask` sets desiredStatus STOPPED (the controller then kills the process and reports
  exit code 137) and the task STOPPED at once, as moto did. Each RunTask and report bumps
  `/_sandbox/ecs/generation`.
* Without the controller, tasks behave as moto's do.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from moto.core.utils import utcnow
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs import models as ecs_models

from . import ecs_deployments
from ._common import wrap_once

ESSENTIAL_EXITED = "Essential container in task exited"


def _sandbox_run(task: Any) -> bool:
    return getattr(task, "_sandbox_status", None) is not None


def _patch_last_status() -> None:
    original = ecs_models.Task.last_status
    if getattr(original.fget, "__sandbox_run_task__", False):
        return

    def get(self: Any) -> str:
        return self._sandbox_status if _sandbox_run(self) else original.fget(self)

    def set_(self: Any, value: str) -> None:
        if _sandbox_run(self):
            self._sandbox_status = value
        else:
            original.fset(self, value)

    get.__sandbox_run_task__ = True  # type: ignore[attr-defined]
    ecs_models.Task.last_status = property(get, set_)


def _wrap_resources(original: Callable[..., Any]) -> Callable[..., Any]:
    def calculate(task_definition: Any) -> Any:
        try:
            return original(task_definition)
        except TypeError:
            # Fargate: the size is the task's, the containers name none.
            return {"CPU": int(task_definition.cpu or 0), "MEMORY": int(task_definition.memory or 0), "PORTS": [], "PORTS_UDP": []}

    return staticmethod(calculate)  # type: ignore[return-value]


def _wrap_run_task(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original(self, *args, **kwargs)
        if ecs_deployments._controller["running"]:
            now = utcnow()
            for task in tasks:
                task._sandbox_status = "PROVISIONING"
                task.created_at = now
                for container in task.containers:
                    container.last_status = "PENDING"
                    container.exitCode = None
        ecs_deployments._bump()
        return tasks

    return run_task


def _tasks(backend: Any):
    for cluster_tasks in backend.tasks.values():
        for task in cluster_tasks.values():
            if _sandbox_run(task):
                yield task


def _describe(account: str, region: str, task: Any, backend: Any) -> dict[str, Any]:
    definition = backend.describe_task_definition(task.task_definition_arn)
    container = dict(definition.container_definitions[0])
    override = next((o for o in (task.overrides or {}).get("containerOverrides", []) if o.get("name") == container.get("name")), {})
    return {
        "account": account,
        "region": region,
        "cluster": task.cluster_name,
        "taskArn": task.task_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "family": definition.family,
        "desiredStatus": task.desired_status,
        "lastStatus": task.last_status,
        "container": {
            "name": container.get("name"),
            "image": container.get("image"),
            "command": override.get("command") or container.get("command") or [],
            "logConfiguration": container.get("logConfiguration"),
        },
    }


def _report(task: Any, body: dict[str, Any]) -> None:
    status = body.get("lastStatus")
    now = utcnow()
    if status == "RUNNING" and task.last_status != "STOPPED":
        task.last_status = "RUNNING"
        task.started_at = now
        for container in task.containers:
            container.last_status = "RUNNING"
    elif status == "STOPPED":
        task._sandbox_reported = True
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_at = now
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = body.get("exitCode")
            if body.get("reason"):
                container.reason = body["reason"]
        if not task.stopped_reason:
            task.stopped_reason = ESSENTIAL_EXITED
            task.stop_code = "EssentialContainerExited"
        else:
            task.stop_code = "UserInitiated"


def _json(start_response: Callable[..., Any], status: str, body: Any) -> list[bytes]:
    data = json.dumps(body, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
    """The launcher's hook for `/_sandbox/ecs/tasks`; None for any other path."""
    if environ.get("PATH_INFO", "") != "/_sandbox/ecs/tasks":
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "GET":
        found = []
        for account, regions in ecs_models.ecs_backends.items():
            for region, backend in regions.items():
                for task in _tasks(backend):
                    if not getattr(task, "_sandbox_reported", False):
                        found.append(_describe(account, region, task, backend))
        return _json(start_response, "200 OK", {"tasks": found})
    if method != "POST":
        return _json(start_response, "404 Not Found", {"error": f"no route {method} /_sandbox/ecs/tasks"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        backend = ecs_models.ecs_backends[body["account"]][body["region"]]
        task = backend.tasks[body["cluster"]][body["taskArn"]]
    except (ValueError, KeyError) as exc:
        return _json(start_response, "400 Bad Request", {"error": f"expected account, region, cluster and the taskArn of a task: {exc}"})
    _report(task, body)
    ecs_deployments._bump()
    return _json(start_response, "200 OK", {"ok": True})


def apply() -> None:
    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = property(  # type: ignore[attr-defined]
            lambda self: f"ip-{str(self.private_ip_address).replace('.', '-')}.ec2.internal"
        )
    backend = ecs_models.EC2ContainerServiceBackend
    wrap_once(backend, "run_task", _wrap_run_task, __name__)
    if not getattr(backend._calculate_task_resource_requirements, "__sandbox_patches__", None):
        wrapped = _wrap_resources(backend._calculate_task_resource_requirements)
        wrapped.__func__.__sandbox_patches__ = frozenset({__name__})  # type: ignore[attr-defined]
        backend._calculate_task_resource_requirements = wrapped
    _patch_last_status()
