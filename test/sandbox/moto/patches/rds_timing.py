"""RDS snapshots and restores take time, can fail, and snapshots count against AWS's quota.

moto gap closed
---------------
* A cluster snapshot is `available` the moment CreateDBClusterSnapshot returns; it can
  never fail.
* A cluster restored from a snapshot (and a new DB instance) is `creating` for exactly
  one read, however soon that read comes, then `available`; a restore from a snapshot
  that is still being created is accepted.
* The snapshot quota counts automated snapshots too, defaults to 1000 and is read from
  MOTO_RDS_SNAPSHOT_LIMIT; AWS allows 100 manual DB cluster snapshots (and, separately,
  100 manual DB instance snapshots) per account and region, automated ones not counted.

Why the product relies on it
----------------------------
Releases snapshot each tenant's cluster before deploying and wait (with heartbeats) for
`available`, treating `failed` as a permanent failure; a rollback restores the snapshot
and waits for the restored cluster; snapshots that pile up hit the quota on AWS
(SnapshotQuotaExceeded), which the sandbox must be able to show.

Behaviour
---------
* CreateDBClusterSnapshot / CopyDBClusterSnapshot: the snapshot is `creating`
  (PercentProgress 0) for `SNAPSHOT_SECONDS` x time scale, then `available` (100) --
  or `failed` when the snapshot's own tags or its cluster's tags hold
  `sandbox:fail-snapshot` = `true` (fault convention).
* RestoreDBClusterFromSnapshot: refused with InvalidDBClusterSnapshotStateFault unless
  the snapshot is `available`; the new cluster is `creating` for `RESTORE_SECONDS` x time
  scale. CreateDBInstance: the instance is `creating` for `INSTANCE_SECONDS` x time scale.
* Quota: a manual cluster snapshot (or manual instance snapshot) beyond the
  `snapshotQuota` setting (default 100, AWS's) in the account and region is refused with
  `SnapshotQuotaExceeded` (HTTP 400), as AWS does.

How it hooks into moto
----------------------
`DBClusterSnapshot.status`, `DBCluster.status` and `DBInstance.status` become
properties that apply due steps (`_timing`) first; `RDSResponse.create_db_cluster_snapshot/
copy_db_cluster_snapshot/restore_db_cluster_from_snapshot/create_db_instance` are
wrapped (API calls only: CloudFormation's own resources take their time in the stack);
`RDSBackend.SNAPSHOT_QUOTA` (moto's all-snapshot count) is lifted and
`RDSBackend.create_db_cluster_snapshot/copy_db_cluster_snapshot/create_db_snapshot/
copy_db_snapshot` count manual snapshots against the setting instead.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from moto.core.utils import utcnow
from moto.rds import models as rds_models
from moto.rds import responses as rds_responses
from moto.rds.exceptions import InvalidDBClusterSnapshotStateFault, SnapshotQuotaExceededFault

from . import _timing
from ._common import action_result, wrap_once
from ._settings import current

FAIL_SNAPSHOT_TAG = "sandbox:fail-snapshot"
SNAPSHOT_SECONDS = 240.0  # AWS-like: a small Aurora cluster's manual snapshot
RESTORE_SECONDS = 600.0
INSTANCE_SECONDS = 480.0


def _timed_status(cls: Any) -> None:
    """Makes `status` a property whose reads apply the object's due steps first."""
    inherited = cls.__dict__.get("status")
    if isinstance(inherited, property) and getattr(inherited.fget, "__sandbox__", False):
        return

    def fget(self: Any) -> str:
        _timing.advance(self)
        if isinstance(inherited, property):
            # DBCluster's own property flips "creating" to "available" on the first read: only
            # let it do that when no timed step is still to come.
            return self.__dict__.get("_status", "available") if _timing.pending(self) else inherited.fget(self)
        return self.__dict__.get("_sandbox_status", "available")

    def fset(self: Any, value: str) -> None:
        if isinstance(inherited, property):
            inherited.fset(self, value)
        else:
            self.__dict__["_sandbox_status"] = value

    fget.__sandbox__ = True  # type: ignore[attr-defined]
    setattr(cls, "status", property(fget, fset))


def _tag_true(tags: Any) -> bool:
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("Key") == FAIL_SNAPSHOT_TAG:
            return str(tag.get("Value", "")).strip().lower() == "true"
    return False


def _take_time(obj: Any, aws_seconds: float, final: str, *, progress: bool = False) -> None:
    if current().timeScale == 0:
        obj.status = final
        return
    obj.status = "creating"
    if progress:
        obj.percent_progress = 0

    def done(_at: Any) -> None:
        obj.status = final
        if progress:
            obj.percent_progress = 100 if final == "available" else 0

    _timing.schedule(obj, _timing.later(utcnow(), aws_seconds), done)


def _snapshot_created(snapshot: Any, backend: Any) -> None:
    cluster = backend.clusters.get(snapshot.db_cluster_identifier)
    failing = _tag_true(snapshot.tags) or _tag_true(getattr(cluster, "tags", None) if cluster else None)
    _take_time(snapshot, SNAPSHOT_SECONDS, "failed" if failing else "available", progress=True)


def _wrap_response_snapshot(original: Callable[..., Any]) -> Callable[..., Any]:
    def create(self: Any) -> Any:
        result = original(self)
        snapshot = action_result(result, "DBClusterSnapshot")
        if snapshot is not None:
            _snapshot_created(snapshot, self.backend)
        return result

    return create


def _wrap_response_restore(original: Callable[..., Any]) -> Callable[..., Any]:
    def restore(self: Any) -> Any:
        identifier = self.params.get("SnapshotIdentifier") or ""
        snapshot = self.backend.cluster_snapshots.get(identifier.split(":")[-1].lower())
        if snapshot is not None and snapshot.status != "available":
            raise InvalidDBClusterSnapshotStateFault(
                f"Cannot restore from DB cluster snapshot {identifier} because it is in {snapshot.status} state."
            )
        result = original(self)
        cluster = action_result(result, "DBCluster")
        if cluster is not None:
            _take_time(cluster, RESTORE_SECONDS, "available")
        return result

    return restore


def _wrap_response_instance(original: Callable[..., Any]) -> Callable[..., Any]:
    def create(self: Any) -> Any:
        result = original(self)
        instance = action_result(result, "DBInstance")
        if instance is not None:
            _take_time(instance, INSTANCE_SECONDS, "available")
        return result

    return create


# ------------------------------------------------------------------ quota


def _manual(snapshots: dict[str, Any]) -> int:
    return sum(1 for s in snapshots.values() if getattr(s, "snapshot_type", "manual") == "manual")


def _check_quota(snapshots: dict[str, Any]) -> None:
    if _manual(snapshots) >= current().snapshotQuota:
        raise SnapshotQuotaExceededFault()


def _wrap_cluster_snapshot(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_db_cluster_snapshot(self: Any, db_cluster_identifier: str, db_cluster_snapshot_identifier: str,
                                   snapshot_type: str = "manual", *args: Any, **kwargs: Any) -> Any:
        # moto checks existence and the cluster before the quota: keep that order of errors.
        if (snapshot_type == "manual" and db_cluster_snapshot_identifier not in self.cluster_snapshots
                and db_cluster_identifier in self.clusters):
            _check_quota(self.cluster_snapshots)
        return original(self, db_cluster_identifier, db_cluster_snapshot_identifier, snapshot_type, *args, **kwargs)

    return create_db_cluster_snapshot


def _wrap_copy(snapshots_attr: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy(self: Any, *args: Any, **kwargs: Any) -> Any:
            _check_quota(getattr(self, snapshots_attr))
            return original(self, *args, **kwargs)

        return copy

    return factory


def _wrap_db_snapshot(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_db_snapshot(self: Any, db_instance_identifier: str, db_snapshot_identifier: str,
                           snapshot_type: str = "manual", *args: Any, **kwargs: Any) -> Any:
        if (snapshot_type == "manual" and db_snapshot_identifier not in self.database_snapshots
                and db_instance_identifier in self.databases):
            _check_quota(self.database_snapshots)
        return original(self, db_instance_identifier, db_snapshot_identifier, snapshot_type, *args, **kwargs)

    return create_db_snapshot


def apply() -> None:
    for cls in (rds_models.DBClusterSnapshot, rds_models.DBCluster, rds_models.DBInstance):
        _timed_status(cls)
    response = rds_responses.RDSResponse
    wrap_once(response, "create_db_cluster_snapshot", _wrap_response_snapshot, __name__)
    wrap_once(response, "copy_db_cluster_snapshot", _wrap_response_snapshot, __name__)
    wrap_once(response, "restore_db_cluster_from_snapshot", _wrap_response_restore, __name__)
    wrap_once(response, "create_db_instance", _wrap_response_instance, __name__)

    backend = rds_models.RDSBackend
    backend.SNAPSHOT_QUOTA = sys.maxsize  # type: ignore[assignment]  # the wrappers below count instead
    wrap_once(backend, "create_db_cluster_snapshot", _wrap_cluster_snapshot, __name__)
    wrap_once(backend, "copy_db_cluster_snapshot", _wrap_copy("cluster_snapshots"), __name__)
    wrap_once(backend, "create_db_snapshot", _wrap_db_snapshot, __name__)
    wrap_once(backend, "copy_db_snapshot", _wrap_copy("database_snapshots"), __name__)
