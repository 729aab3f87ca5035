"""ECS service deployments with a rollout state machine (and the `-broken` image fault).

moto gap closed
---------------
moto's `UpdateService` only overwrites the service's task definition: no new
deployment is started (the single deployment keeps its id and task definition,
`forceNewDeployment` just renames it), runningCount jumps to desiredCount at
once, and a deployment can never fail. `CreateService` reports its first
deployment as IN_PROGRESS forever unless MOTO_ECS_SERVICE_RUNNING is set, and
the service's taskDefinition becomes whatever string the caller passed (not the
ARN).

Why the product relies on it
----------------------------
Releases on the ECS runtime call UpdateService with a new task definition and
poll DescribeServices until the PRIMARY deployment's rolloutState is COMPLETED
(healthy) or FAILED (circuit breaker -> roll the wave back). The sandbox fault
convention "an image tag ending in `-broken` never becomes healthy" needs the
FAILED path.

Behaviour
---------
* CreateService, and UpdateService when the task definition changes or
  forceNewDeployment is true, start a new PRIMARY deployment (rolloutState
  IN_PROGRESS, runningCount 0, pendingCount = desiredCount); the previous
  PRIMARY becomes ACTIVE and keeps its running tasks.
* Evaluated lazily on DescribeServices (no threads): once
  `ROLLOUT_AWS_SECONDS` times the time scale setting have passed, the deployment becomes
  COMPLETED with runningCount = desiredCount and the ACTIVE deployments
  disappear -- unless any container image of its task definition has a tag
  ending in `-broken`: then it becomes FAILED with rolloutStateReason
  "ECS deployment circuit breaker: tasks failed to start.", runningCount 0 and
  failedTasks > 0; the old deployment keeps serving. If the service's
  deploymentConfiguration.deploymentCircuitBreaker has `rollback: true`, ECS's
  automatic rollback is emulated: a new PRIMARY deployment of the last
  deployment's task definition is started (and completes as above).
* Service `events` carry ECS-style messages (newest first).
* A desiredCount-only change updates the PRIMARY deployment (no new deployment).
* ListTasks with `serviceName` lists that service's tasks only (moto listed every task of the
  cluster): those recorded below, in the group `service:<name>`.
* Every service is run by the sandbox's ECS task controller (test/sandbox/data-plane/ecs-tasks.ts)
  once it has announced itself: its deployments leave IN_PROGRESS only when the controller
  reports it, which it does from real tenant app processes (with a load balancer: and the
  target health the load balancer emulator decided, new tasks healthy in the target group,
  old ones drained). The timer above stays for sandboxes without the controller:

      POST /_sandbox/ecs/controller   {}   (the controller runs: stop timing services with load balancers)
      GET  /_sandbox/ecs/generation   -> {"generation": n}: bumped by every ECS write (clusters, services,
                                         and these reports), so the controller re-reads ECS only when it changed
      POST /_sandbox/ecs/deployments
      {"account": "123456789012", "region": "us-east-1", "cluster": "<name>", "service": "<name>",
       "deployments": [{"id": "ecs-svc/...", "runningCount": 2, "pendingCount": 0, "failedTasks": 0,
                        "rolloutState": "COMPLETED" | "FAILED" | "IN_PROGRESS", "rolloutStateReason": "..."}]}
      POST /_sandbox/ecs/stopped-tasks
      {"account", "region", "cluster", "service", "deploymentId": "ecs-svc/...", "taskDefinition": "<ARN>",
       "stoppedReason": "ResourceInitializationError: ..."}: a task of the deployment that stopped before
       its containers ran (its secrets, ecs_secrets.py): STOPPED, stopCode TaskFailedToStart,
       startedBy the deployment's ID as ECS sets it, listed by ListTasks and DescribeTasks

How it hooks into moto
----------------------
Wraps `EC2ContainerServiceBackend.create_service/update_service/
describe_services` and `EC2ContainerServiceResponse.create_service` (to keep
`deploymentConfiguration`, which moto drops on create). State lives on moto's
`Service` objects (`deployments`, `events`, `running_count`, `pending_count`).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.moto_api._internal import mock_random

from ._common import wrap_once
from ._settings import scaled

# A rolling deployment behind a load balancer: new tasks healthy, old ones drained (deregistration delay).
ROLLOUT_AWS_SECONDS = 400.0
BROKEN_SUFFIX = "-broken"
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def rollout_seconds() -> float:
    return scaled(ROLLOUT_AWS_SECONDS)


def image_tag(image: str) -> str:
    name = (image or "").split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _task_definition(backend: Any, ref: str | None) -> Any | None:
    if not ref:
        return None
    try:
        return backend.describe_task_definition(ref)
    except Exception:  # noqa: BLE001
        return None


def is_broken(backend: Any, task_definition_ref: str | None) -> bool:
    task_definition = _task_definition(backend, task_definition_ref)
    if task_definition is None:
        return False
    return any(
        image_tag(str(container.get("image") or container.get("Image") or "")).endswith(BROKEN_SUFFIX)
        for container in task_definition.container_definitions
    )


def _meta(service: Any) -> dict[str, dict[str, Any]]:
    meta = getattr(service, "_sandbox_rollouts", None)
    if meta is None:
        meta = service._sandbox_rollouts = {}
    return meta


def _event(service: Any, message: str) -> None:
    service.events.insert(0, {"id": str(mock_random.uuid4()), "createdAt": utcnow(), "message": message})
    del service.events[100:]


def _refresh_counts(service: Any) -> None:
    service.running_count = sum(int(d.get("runningCount") or 0) for d in service.deployments)
    service.pending_count = sum(int(d.get("pendingCount") or 0) for d in service.deployments)


def _managed(service: Any) -> bool:
    return (getattr(service, "deployment_controller", None) or {}).get("type", "ECS") == "ECS"


def start_deployment(service: Any, backend: Any, *, rollback_of: str | None = None) -> dict[str, Any]:
    now = utcnow()
    task_definition = _task_definition(backend, service.task_definition)
    if task_definition is not None:
        service.task_definition = task_definition.arn
    deployment_id = f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}"
    template = service.deployments[0] if service.deployments else {}
    deployment = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": service.desired_count,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": template.get("platformVersion", service.platform_version),
        "platformFamily": template.get("platformFamily"),
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
    for other in service.deployments:
        if other.get("status") == "PRIMARY":
            other["status"] = "ACTIVE"
            other["updatedAt"] = now
    service.deployments.insert(0, deployment)
    _meta(service)[deployment_id] = {
        "due": time.monotonic() + rollout_seconds(),
        "broken": is_broken(backend, service.task_definition),
        "rollback_of": rollback_of,
    }
    _refresh_counts(service)
    return deployment


def _circuit_breaker_rollback(service: Any) -> bool:
    config = getattr(service, "deployment_configuration", None) or {}
    breaker = config.get("deploymentCircuitBreaker") or config.get("deployment_circuit_breaker") or {}
    return bool(breaker.get("enable")) and bool(breaker.get("rollback"))


# Set once the sandbox's ECS task controller announced itself: from then on it decides every
# service's rollouts (from real processes and, behind a load balancer, target health), not a timer.
_controller = {"running": False}


# Bumped by every write to clusters or services (and by the controller's reports): the controller
# polls this counter (unsigned, outside moto's request lock) instead of describing every service.
_generation_lock = threading.Lock()
_generation = {"n": 0}
_WRITES = ("create_cluster", "delete_cluster", "create_service", "update_service", "delete_service")


def _bump() -> None:
    with _generation_lock:
        _generation["n"] += 1


def _wrap_write(original: Callable[..., Any]) -> Callable[..., Any]:
    def write(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            _bump()

    return write


def controlled(service: Any) -> bool:
    return _controller["running"]


def advance(service: Any, backend: Any) -> None:
    """Move deployments whose rollout time has passed to their final state."""
    if not _managed(service) or controlled(service):
        return
    meta = _meta(service)
    now_mono = time.monotonic()
    for deployment in list(service.deployments):
        info = meta.get(deployment.get("id"))
        if info is None or deployment.get("rolloutState") != "IN_PROGRESS" or info["due"] > now_mono:
            continue
        if deployment.get("status") != "PRIMARY":
            continue  # superseded before it finished: ECS scales it in with the next completion
        now = utcnow()
        deployment["updatedAt"] = now
        name = service.name
        if info["broken"]:
            deployment["rolloutState"] = "FAILED"
            deployment["rolloutStateReason"] = CIRCUIT_BREAKER_REASON
            deployment["runningCount"] = 0
            deployment["pendingCount"] = 0
            deployment["failedTasks"] = max(3, int(deployment.get("desiredCount") or 0))
            _event(service, f"(service {name}) has started {deployment['desiredCount']} tasks.")
            _event(service, f"(service {name}) (deployment {deployment['id']}) deployment failed: tasks failed to start.")
            previous = next((d for d in service.deployments if d is not deployment and d.get("status") == "ACTIVE"), None)
            if _circuit_breaker_rollback(service) and previous is not None and deployment.get("status") == "PRIMARY":
                _event(service, f"(service {name}) rolling back to deployment {previous['id']}.")
                service.task_definition = previous["taskDefinition"]
                deployment["status"] = "ACTIVE"
                start_deployment(service, backend, rollback_of=deployment["id"])
        else:
            deployment["rolloutState"] = "COMPLETED"
            deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
            deployment["runningCount"] = deployment.get("desiredCount") or 0
            deployment["pendingCount"] = 0
            if deployment.get("status") == "PRIMARY":
                service.deployments[:] = [deployment]
            _event(service, f"(service {name}) has started {deployment['desiredCount']} tasks.")
            _event(service, f"(service {name}) (deployment {deployment['id']}) deployment completed.")
            _event(service, f"(service {name}) has reached a steady state.")
    _refresh_counts(service)


# ------------------------------------------------------------------ wrappers


def _wrap_create_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        if _managed(service):
            start_deployment(service, self)  # moto's own deployment is the template
            service.deployments[:] = service.deployments[:1]
            _refresh_counts(service)
        return service

    return create_service


def _wrap_update_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        props = dict(service_properties)
        force = props.pop("force_new_deployment", False)
        if isinstance(force, str):
            force = force.lower() == "true"
        cluster_str = props.get("cluster", "default")
        service_str = str(props.get("service", "")).split("/")[-1]
        before = self._get_service(cluster_str, service_str)
        advance(before, self)
        previous_td = _task_definition(self, before.task_definition)
        previous_arn = previous_td.arn if previous_td is not None else before.task_definition
        service = original(self, props)
        if not _managed(service):
            return service
        current = _task_definition(self, service.task_definition)
        if current is not None:
            service.task_definition = current.arn
        if force or service.task_definition != previous_arn:
            start_deployment(service, self)
        else:
            primary = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
            if primary is not None:
                primary["desiredCount"] = service.desired_count
                primary["updatedAt"] = utcnow()
                if primary.get("rolloutState") == "COMPLETED":
                    primary["runningCount"] = service.desired_count
                    primary["pendingCount"] = 0
                elif primary.get("rolloutState") == "IN_PROGRESS":
                    primary["pendingCount"] = service.desired_count
        _refresh_counts(service)
        return service

    return update_service


def _wrap_describe_services(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_services(self: Any, cluster_str: str, service_names_or_arns: list[str]) -> Any:
        services, failures = original(self, cluster_str, service_names_or_arns)
        for service in services:
            advance(service, self)
        return services, failures

    return describe_services


def _wrap_response_create_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_service(self: Any) -> Any:
        result = original(self)
        config = self._get_param("deploymentConfiguration")
        service = getattr(result, "result", {}).get("service") if hasattr(result, "result") else None
        if config and service is not None:
            service.deployment_configuration = config
        return result

    return create_service


def report(service: Any, reports: list[dict[str, Any]]) -> None:
    """The controller's view of the service's deployments (counts and, when decided, the outcome)."""
    name = service.name
    by_id = {r.get("id"): r for r in reports}
    for deployment in list(service.deployments):
        r = by_id.get(deployment.get("id"))
        if r is None:
            continue
        for key in ("runningCount", "pendingCount", "failedTasks"):
            if key in r:
                deployment[key] = int(r[key])
        state = r.get("rolloutState")
        if deployment.get("rolloutState") != "IN_PROGRESS" or state in (None, "IN_PROGRESS"):
            continue
        deployment["updatedAt"] = utcnow()
        deployment["rolloutState"] = state
        if state == "FAILED":
            deployment["rolloutStateReason"] = r.get("rolloutStateReason") or CIRCUIT_BREAKER_REASON
            _event(service, f"(service {name}) (deployment {deployment['id']}) deployment failed: tasks failed to start.")
        elif state == "COMPLETED":
            deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
            if deployment.get("status") == "PRIMARY":
                service.deployments[:] = [deployment]
            _event(service, f"(service {name}) (deployment {deployment['id']}) deployment completed.")
            _event(service, f"(service {name}) has reached a steady state.")
    _refresh_counts(service)


def record_stopped_task(backend: Any, service: Any, deployment_id: str, task_definition_ref: str, reason: str) -> Any:
    """A service task that stopped before its containers ran, as DescribeTasks shows it (ECS keeps it listed an hour at least)."""
    cluster = backend._get_cluster(service.cluster_name)
    definition = backend.describe_task_definition(task_definition_ref)
    network = service.network_configuration or None
    task = ecs_models.Task(cluster, definition, None, None, backend, group=f"service:{service.name}", launch_type=service.launch_type or "FARGATE",
                           started_by=deployment_id, networking_configuration=network)
    # ECS releases a stopped task's network interface: it must not keep the service's security groups in use.
    ec2 = ec2_backends[backend.account_id][cluster.region_name]
    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail.get("name") == "networkInterfaceId":
                ec2.delete_network_interface(detail["value"])
        attachment["status"] = "DELETED"
    now = utcnow()
    task._sandbox_status = "STOPPED"  # ecs_run_task.py: a status of the sandbox's, not moto's state machine
    task._sandbox_reported = True
    task.desired_status = "STOPPED"
    task.created_at = task.stopping_at = task.stopped_at = now
    task.stopped_reason = reason
    task.stop_code = "TaskFailedToStart"
    for container in task.containers:
        container.last_status = "STOPPED"
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    return task


def _wrap_list_tasks(original: Callable[..., Any]) -> Callable[..., Any]:
    # moto ignores `serviceName` (it lists every task of the cluster, migrations included); ECS lists
    # the service's own, which are in its group `service:<name>` (record_stopped_task).
    def list_tasks(self: Any, *args: Any, **kwargs: Any) -> Any:
        names = ("cluster_str", "container_instance", "family", "started_by", "service_name", "desiredStatus")
        bound = {**dict(zip(names, args)), **kwargs}
        tasks = original(self, *args, **kwargs)
        service_name = bound.get("service_name")
        if not service_name:
            return tasks
        return [t for t in tasks if getattr(t, "group", None) == f"service:{str(service_name).split('/')[-1]}"]

    return list_tasks


def _json(start_response: Callable[..., Any], status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
    """The launcher's hook for `/_sandbox/ecs/*`; None for any other path."""
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    if not path.startswith("/_sandbox/ecs/") or path in ("/_sandbox/ecs/tasks", "/_sandbox/ecs/secrets"):
        return None  # one-off tasks: ecs_run_task.py; secrets: ecs_secrets.py
    if method == "GET" and path == "/_sandbox/ecs/generation":
        with _generation_lock:
            return _json(start_response, "200 OK", {"generation": _generation["n"]})
    if method != "POST" or path not in ("/_sandbox/ecs/controller", "/_sandbox/ecs/deployments", "/_sandbox/ecs/stopped-tasks"):
        return _json(start_response, "404 Not Found", {"error": f"no route {method} {path}"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except (ValueError, KeyError) as exc:
        return _json(start_response, "400 Bad Request", {"error": f"expected a JSON body: {exc}"})
    if path == "/_sandbox/ecs/controller":
        _controller["running"] = True
        return _json(start_response, "200 OK", {"running": True})
    if path == "/_sandbox/ecs/stopped-tasks" and not all(k in body for k in ("deploymentId", "taskDefinition", "stoppedReason")):
        return _json(start_response, "400 Bad Request", {"error": "expected account, region, cluster, service, deploymentId, taskDefinition and stoppedReason"})
    try:
        backend = ecs_models.ecs_backends[body["account"]][body["region"]]
        service = backend._get_service(body["cluster"], body["service"])
        if path == "/_sandbox/ecs/stopped-tasks":
            record_stopped_task(backend, service, body["deploymentId"], body["taskDefinition"], body["stoppedReason"])
        else:
            report(service, list(body["deployments"]))
        _bump()
    except KeyError as exc:
        return _json(start_response, "400 Bad Request", {"error": f"expected account, region, cluster, service and deployments: missing {exc}"})
    except Exception as exc:  # noqa: BLE001 - a service deleted meanwhile
        return _json(start_response, "404 Not Found", {"error": str(exc)})
    return _json(start_response, "200 OK", {"ok": True})


def apply() -> None:
    backend = ecs_models.EC2ContainerServiceBackend
    wrap_once(backend, "create_service", _wrap_create_service, __name__)
    wrap_once(backend, "update_service", _wrap_update_service, __name__)
    wrap_once(backend, "describe_services", _wrap_describe_services, __name__)
    wrap_once(backend, "list_tasks", _wrap_list_tasks, __name__)
    wrap_once(ecs_responses.EC2ContainerServiceResponse, "create_service", _wrap_response_create_service, __name__)
    for name in _WRITES:
        wrap_once(backend, name, _wrap_write, f"{__name__}.generation")
