"""Patches that close documented moto gaps the tenant-fleet product relies on.

Each module closes one gap and says why in its docstring; `apply_all()` registers
all of them (idempotent). Order matters where a module wraps another's
replacement (the ClientRequestToken patch wraps the CloudFormation engine and
change-set functions).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable

PATCHES = (
    "iam_enforcement",
    "cfn_templates",
    "cfn_engine",
    "cfn_resource_status",
    "cfn_change_sets",
    "cfn_change_set_details",
    "cfn_import",
    "cfn_client_request_token",
    "cfn_timing",
    "cfn_iam",
    "cfn_rds",
    "cfn_ecs",
    "cfn_ssm_tags",
    "ec2_peer_security_groups",
    "cfn_cloudwatch",
    "cfn_elbv2",
    "rds_restore",
    "rds_timing",
    "ecs_deployments",
    "ecs_run_task",
    "ecs_secrets",
    "acm_dns_validation",
    "acm_idempotency",
    "acm_in_use",
    "acm_renewal",
    "acm_quotas",
    "elbv2_quotas",
    "elbv2_target_health",
    "eventual_consistency",
    "sts_web_identity",
    "sts_presigned_caller_identity",
)


def handle_sandbox_route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    """Routes under `/_sandbox/` that applied patches serve (the emulator's own API); None if none does."""
    for name in _applied:
        handle = getattr(importlib.import_module(f"{__name__}.{name}"), "handle", None)
        if handle is not None:
            answer = handle(environ, start_response)
            if answer is not None:
                return answer
    return None


_applied: list[str] = []


def apply_all() -> list[str]:
    # Only for proving that the tests catch a missing patch:
    #   TENANT_FLEET_SANDBOX_SKIP_PATCHES=cfn_rds,acm_in_use
    # Skipped modules are not even imported (defining a CloudFormationModel
    # subclass is enough to register it with moto).
    from ._settings import current

    skip = set(current().skipPatches)
    applied = []
    for name in PATCHES:
        if name in skip:
            continue
        importlib.import_module(f"{__name__}.{name}").apply()
        applied.append(name)
    _applied[:] = applied
    return applied
