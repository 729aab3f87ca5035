"""RestoreDBClusterFromSnapshot works for clusters whose password RDS manages.

moto gap closed
---------------
`DBCluster.get_cfg` (used to copy the source cluster's settings when restoring a
snapshot) pops `_master_user_password`, `_enable_http_endpoint` and
`_vpc_security_group_ids` unconditionally. A cluster created with
`ManageMasterUserPassword` (the tenant stack's Aurora cluster: the password lives in
Secrets Manager, never in the stack) has no `_master_user_password`, so the restore
fails with HTTP 500 `KeyError: '_master_user_password'`.

Why the product relies on it
----------------------------
A release whose plan says `restoreDatabaseOnRollback` restores the tenant's
pre-release snapshot when it rolls back (src/activities/rds.ts,
restoreClusterFromSnapshot).

How it hooks into moto
----------------------
Replaces `moto.rds.models.DBCluster.get_cfg` with one that treats those attributes
as optional.
"""

from __future__ import annotations

from typing import Any

from moto.rds.models import DBCluster


def get_cfg(self: Any) -> dict[str, Any]:  # replaces DBCluster.get_cfg
    # Sandbox bookkeeping (timed steps of this cluster, ...) must not be copied into the restored one.
    cfg = {key: value for key, value in self.__dict__.items() if not key.startswith("_sandbox")}
    cfg.pop("backend", None)
    cfg["master_user_password"] = cfg.pop("_master_user_password", None)
    cfg["enable_http_endpoint"] = cfg.pop("_enable_http_endpoint", None)
    cfg["vpc_security_group_ids"] = cfg.pop("_vpc_security_group_ids", None)
    return cfg


def apply() -> None:
    if getattr(DBCluster, "__sandbox_rds_restore__", False):
        return
    DBCluster.__sandbox_rds_restore__ = True  # type: ignore[attr-defined]
    DBCluster.get_cfg = get_cfg  # type: ignore[method-assign]
