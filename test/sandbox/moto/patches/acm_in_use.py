"""ACM: an in-use certificate cannot be deleted; InUseBy reflects real listeners.

moto gap closed
---------------
moto's `DeleteCertificate` deletes any certificate, even one that an ELBv2
listener serves (AWS: `ResourceInUseException`). moto's `InUseBy` is only
appended to when a listener is *created* with a default certificate
(AddListenerCertificates, ModifyListener and deletions are not reflected).

Why the product relies on it
----------------------------
Certificate rotation attaches the new certificate (AddListenerCertificates or
as the listener default), detaches the old one and only then deletes it; the
order matters in AWS and must matter in the sandbox.

How it hooks into moto
----------------------
Wraps `AWSCertificateManagerBackend.delete_certificate` and
`CertBundle.describe`; "in use" is computed from the ELBv2 listeners
(`listener.certificates`, which includes the default certificate) and classic
ELB listeners (`ssl_certificate_id`) of the same account and region.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.acm import models as acm_models
from moto.core.exceptions import AWSError
from moto.elb.models import elb_backends
from moto.elbv2.models import elbv2_backends

from ._common import wrap_once


class ResourceInUseException(AWSError):
    TYPE = "ResourceInUseException"


def users_of(account_id: str, region: str, arn: str) -> list[str]:
    users: list[str] = []
    for load_balancer in list(elbv2_backends[account_id][region].load_balancers.values()):
        for listener in list(load_balancer.listeners.values()):
            certificates = list(getattr(listener, "certificates", None) or [])
            if getattr(listener, "certificate", None):
                certificates.append(listener.certificate)
            if arn in certificates and load_balancer.arn not in users:
                users.append(load_balancer.arn)
    for load_balancer in list(elb_backends[account_id][region].load_balancers.values()):
        for listener in load_balancer.listeners:
            if getattr(listener, "ssl_certificate_id", None) == arn:
                users.append(
                    f"arn:aws:elasticloadbalancing:{region}:{account_id}:loadbalancer/{load_balancer.name}"
                )
                break
    return users


def _wrap_delete(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_certificate(self: Any, arn: str) -> None:
        if arn in self._certificates and users_of(self.account_id, self.region_name, arn):
            raise ResourceInUseException(f"Certificate {arn} in account {self.account_id} is in use.")
        return original(self, arn)

    return delete_certificate


def _wrap_describe(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: Any) -> dict[str, Any]:
        result = original(self)
        parts = self.arn.split(":")
        result["Certificate"]["InUseBy"] = users_of(parts[4], parts[3], self.arn)
        return result

    return describe


def apply() -> None:
    wrap_once(acm_models.AWSCertificateManagerBackend, "delete_certificate", _wrap_delete, __name__)
    wrap_once(acm_models.CertBundle, "describe", _wrap_describe, __name__)
