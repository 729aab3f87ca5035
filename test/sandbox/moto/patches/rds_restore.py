"""RestoreDBClusterFromSnapshot works for clusters whose password RDS manages, restores
no managed secret (as AWS), and a restored cluster's writer can take the replaced
writer's identifier.

moto gaps closed
----------------
`DBCluster.get_cfg` (used to copy the source cluster's settings when restoring a
snapshot) pops `_master_user_password`, `_enable_http_endpoint` and
`_vpc_security_group_ids` unconditionally. A cluster created with
`ManageMasterUserPassword` (the tenant stack's Aurora cluster: the password lives in
Secrets Manager, never in the stack) has no `_master_user_password`, so the restore
fails with HTTP 500 `KeyError: '_master_user_password'`.

Once that is fixed, moto copies `manage_master_user_password` into the restored
cluster and so creates it a managed secret. AWS does not: RestoreDBClusterFromSnapshot
has no ManageMasterUserPassword, the restored cluster has no MasterUserSecret and
keeps the password the snapshot holds, until ModifyDBCluster turns management on
(which creates a new secret). Without this, the sandbox would hide that the
product must do so (src/activities/rds.ts, manageMasterSecret).

moto also takes an automated DB snapshot `rds:<instance>-<minute>` of every new
instance, Aurora cluster members included (on AWS an Aurora instance has no backups
of its own: the cluster has). Creating an instance under an identifier that was
renamed away within the same minute then fails with DBSnapshotAlreadyExists.

moto finds a cluster's members by the cluster identifier each instance recorded at
creation, so renaming a cluster (ModifyDBCluster NewDBClusterIdentifier) leaves its
instances behind and hands them to whichever cluster takes the old name next; on
AWS the instances stay with the cluster they belong to.

Why the product relies on it
----------------------------
A release whose plan says `restoreDatabaseOnRollback` restores the tenant's
pre-release snapshot when it rolls back (src/activities/rds.ts,
restoreClusterFromSnapshot), renaming the old writer aside and creating the restored
cluster's writer under the identifier the tenant's stack owns.

How it hooks into moto
----------------------
Replaces `moto.rds.models.DBCluster.get_cfg` with one that treats those attributes
as optional and copies no password management, and `DBInstanceClustered.save_automated_backup` with a no-op; wraps
`RDSBackend.modify_db_cluster` to move the members' cluster identifier along with a
rename.
"""

from __future__ import annotations

from typing import Any

from moto.rds.models import DBCluster, DBInstanceClustered, RDSBackend


def get_cfg(self: Any) -> dict[str, Any]:  # replaces DBCluster.get_cfg
    # Sandbox bookkeeping (timed steps of this cluster, ...) must not be copied into the restored one.
    cfg = {key: value for key, value in self.__dict__.items() if not key.startswith("_sandbox")}
    cfg.pop("backend", None)
    cfg["master_user_password"] = cfg.pop("_master_user_password", None)
    cfg["enable_http_endpoint"] = cfg.pop("_enable_http_endpoint", None)
    cfg["vpc_security_group_ids"] = cfg.pop("_vpc_security_group_ids", None)
    # AWS restores no managed secret: the restored cluster manages none until modified to, and keeps
    # the password the snapshot holds (which no API returns; moto only needs one to be there).
    if cfg.pop("master_user_secret", None) is not None and not cfg["master_user_password"]:
        cfg["master_user_password"] = "held-by-the-snapshot"
    cfg["manage_master_user_password"] = False
    cfg.pop("master_user_secret_kms_key_id", None)
    return cfg


def no_instance_backup(self: Any) -> None:  # replaces DBInstanceClustered.save_automated_backup
    return None


_original_modify_db_cluster = RDSBackend.modify_db_cluster


def modify_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:  # wraps RDSBackend.modify_db_cluster
    renamed_to = kwargs.get("new_db_cluster_identifier")
    cluster = self.clusters.get(kwargs["db_cluster_identifier"])
    members = list(cluster.members) if renamed_to and cluster is not None else []
    result = _original_modify_db_cluster(self, kwargs)
    for member in members:
        member.db_cluster_identifier = renamed_to
    return result


def apply() -> None:
    if getattr(DBCluster, "__sandbox_rds_restore__", False):
        return
    DBCluster.__sandbox_rds_restore__ = True  # type: ignore[attr-defined]
    DBCluster.get_cfg = get_cfg  # type: ignore[method-assign]
    DBInstanceClustered.save_automated_backup = no_instance_backup  # type: ignore[method-assign]
    RDSBackend.modify_db_cluster = modify_db_cluster  # type: ignore[method-assign]
