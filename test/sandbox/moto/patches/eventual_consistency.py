"""Reads right after a create may briefly not see what was created (eventual consistency).

moto gap closed
---------------
moto is strongly consistent: a resource is visible to every read the moment the create
returns. AWS's control planes are not: right after CreateDBClusterSnapshot or
RestoreDBClusterFromSnapshot a Describe by identifier may answer NotFound for a moment,
and ACM generates a certificate's DNS validation records a few seconds after
RequestCertificate (DescribeCertificate shows DomainValidationOptions without
ResourceRecord meanwhile).

Why the product relies on it
----------------------------
The RDS activities poll for the snapshot / restored cluster and treat "not found yet" as
"not ready yet"; the ACM activity polls until every validation record is there. Code
that read once after a create and took NotFound (or a missing record) as final would pass
against moto and fail on AWS.

Behaviour
---------
For `eventualConsistencySeconds` (real seconds, not scaled: AWS's windows are seconds
whatever the operation) after the API call that created it:
* DescribeDBClusterSnapshots naming the new snapshot answers DBClusterSnapshotNotFoundFault
  (404), and listings leave it out;
* DescribeDBClusters naming a cluster restored from a snapshot answers
  DBClusterNotFoundFault (404), and listings leave it out;
* DescribeCertificate of a new certificate shows its DomainValidationOptions without
  ResourceRecord.
0 turns this off.

How it hooks into moto
----------------------
Wraps `RDSResponse.create_db_cluster_snapshot/copy_db_cluster_snapshot/
restore_db_cluster_from_snapshot` and `AWSCertificateManagerResponse.request_certificate`
(to note the creation time), `RDSBackend.describe_db_cluster_snapshots/
describe_db_clusters` and `CertBundle.describe` (these only for API reads: moto's own
internal calls pass through `_internal` untouched).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from moto.acm import models as acm_models
from moto.acm import responses as acm_responses
from moto.rds import models as rds_models
from moto.rds import responses as rds_responses
from moto.rds.exceptions import DBClusterNotFoundError, DBClusterSnapshotNotFoundError

from ._common import action_result, wrap_once
from ._settings import current

_BORN = "_sandbox_created_monotonic"


def _mark(obj: Any) -> None:
    if obj is not None and current().eventualConsistencySeconds > 0:
        obj.__dict__[_BORN] = time.monotonic()


def young(obj: Any) -> bool:
    born = obj.__dict__.get(_BORN)
    if born is None:
        return False
    if time.monotonic() - born < current().eventualConsistencySeconds:
        return True
    obj.__dict__.pop(_BORN, None)
    return False


def _marking(key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        def create(self: Any) -> Any:
            result = original(self)
            _mark(action_result(result, key))
            return result

        return create

    return factory


def _wrap_request_certificate(original: Callable[..., Any]) -> Callable[..., Any]:
    def request_certificate(self: Any) -> Any:
        result = original(self)
        arn = action_result(result, "CertificateArn")
        cert = self.acm_backend._certificates.get(arn) if arn else None
        if cert is not None and _BORN not in cert.__dict__ and not getattr(cert, "_sandbox_consistency_seen", False):
            cert._sandbox_consistency_seen = True  # an idempotent repeat of the request is not a new certificate
            _mark(cert)
        return result

    return request_certificate


def _wrap_describe_snapshots(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_db_cluster_snapshots(self: Any, db_cluster_identifier: Any = None, db_snapshot_identifier: Any = None,
                                      *args: Any, **kwargs: Any) -> Any:
        snapshots = original(self, db_cluster_identifier, db_snapshot_identifier, *args, **kwargs)
        visible = [s for s in snapshots if not young(s)]
        if db_snapshot_identifier and snapshots and not visible:
            raise DBClusterSnapshotNotFoundError(db_snapshot_identifier)
        return visible

    return describe_db_cluster_snapshots


def _wrap_describe_clusters(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_db_clusters(self: Any, db_cluster_identifier: Any = None, *args: Any, **kwargs: Any) -> Any:
        clusters = original(self, db_cluster_identifier, *args, **kwargs)
        visible = [c for c in clusters if not young(c)]
        if db_cluster_identifier and clusters and not visible:
            raise DBClusterNotFoundError(db_cluster_identifier)
        return visible

    return describe_db_clusters


def _api_only(method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Applies the backend wrapper only while the response layer's `method` runs."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        def response_method(self: Any) -> Any:
            self.backend.__dict__["_sandbox_consistent_reads"] = False
            try:
                return original(self)
            finally:
                self.backend.__dict__.pop("_sandbox_consistent_reads", None)

        return response_method

    return factory


def _only_for_api(wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        eventual = wrapper(original)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.__dict__.get("_sandbox_consistent_reads", True):
                return original(self, *args, **kwargs)
            return eventual(self, *args, **kwargs)

        return method

    return factory


def _wrap_cert_describe(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: Any) -> dict[str, Any]:
        result = original(self)
        if young(self):
            for option in result.get("Certificate", {}).get("DomainValidationOptions", []) or []:
                option.pop("ResourceRecord", None)
        return result

    return describe


def apply() -> None:
    response = rds_responses.RDSResponse
    wrap_once(response, "create_db_cluster_snapshot", _marking("DBClusterSnapshot"), __name__)
    wrap_once(response, "copy_db_cluster_snapshot", _marking("DBClusterSnapshot"), __name__)
    wrap_once(response, "restore_db_cluster_from_snapshot", _marking("DBCluster"), __name__)
    wrap_once(response, "describe_db_cluster_snapshots", _api_only("describe_db_cluster_snapshots"), __name__)
    wrap_once(response, "describe_db_clusters", _api_only("describe_db_clusters"), __name__)
    backend = rds_models.RDSBackend
    wrap_once(backend, "describe_db_cluster_snapshots", _only_for_api(_wrap_describe_snapshots), __name__)
    wrap_once(backend, "describe_db_clusters", _only_for_api(_wrap_describe_clusters), __name__)
    wrap_once(acm_responses.AWSCertificateManagerResponse, "request_certificate", _wrap_request_certificate, __name__)
    wrap_once(acm_models.CertBundle, "describe", _wrap_cert_describe, __name__)
