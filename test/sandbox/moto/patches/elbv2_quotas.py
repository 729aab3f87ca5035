"""Application Load Balancer quotas: certificates and rules per load balancer.

moto gap closed
---------------
moto refuses a 26th certificate per *listener*, counting the listener's default
certificate and counting a certificate added twice twice; it has no rule quota at all
(`TODO: check for error 'TooManyRules'`). AWS's quotas are per Application Load
Balancer, excluding default certificates and default rules: 25 certificates, 100 rules
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html),
refused with `TooManyCertificates` / `TooManyRules` (HTTP 400); adding a certificate
the listener already has changes nothing.

Why the product relies on it
----------------------------
The certificate planner packs tenant hostnames into at most `maxCertificatesPerListener`
certificates per listener (default 25); on AWS the 26th AddListenerCertificates fails,
and the sandbox must fail it the same way.

How it hooks into moto
----------------------
Replaces `ELBv2Backend.add_listener_certificates` and wraps `ELBv2Backend.create_rule`.
The quotas are the settings `albCertificatesQuota` and `albRulesQuota`.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.elbv2 import models as elbv2_models
from moto.elbv2.exceptions import ELBClientError, ListenerNotFoundError, TooManyCertificatesError

from ._common import wrap_once
from ._settings import current


class TooManyRulesError(ELBClientError):
    code = "TooManyRules"
    message = "You've reached the limit on the number of rules per load balancer"


def _listener(backend: Any, arn: str) -> Any:
    listeners = backend.describe_listeners(load_balancer_arn=None, listener_arns=[arn])
    if not listeners:
        raise ListenerNotFoundError()
    return listeners[0]


def _siblings(backend: Any, listener: Any) -> list[Any]:
    balancer = backend.load_balancers.get(listener.load_balancer_arn)
    return list(balancer.listeners.values()) if balancer is not None else [listener]


def _extra_certificates(listener: Any) -> set[str]:
    return {arn for arn in listener.certificates if arn and arn != listener.certificate}


def add_listener_certificates(self: Any, arn: str, certificates: list[dict[str, Any]]) -> list[str]:
    listener = _listener(self, arn)
    new = [c["CertificateArn"] for c in certificates if c["CertificateArn"] not in listener.certificates]
    new = list(dict.fromkeys(new))
    in_use = set().union(*(_extra_certificates(other) for other in _siblings(self, listener)))
    if len(in_use | set(new)) > current().albCertificatesQuota:
        raise TooManyCertificatesError()
    listener.certificates.extend(new)
    return listener.certificates


def _wrap_create_rule(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_rule(self: Any, listener_arn: str, *args: Any, **kwargs: Any) -> Any:
        listener = _listener(self, listener_arn)
        rules = sum(len(other._non_default_rules) for other in _siblings(self, listener))
        if rules >= current().albRulesQuota:
            raise TooManyRulesError()
        return original(self, listener_arn, *args, **kwargs)

    return create_rule


def apply() -> None:
    backend = elbv2_models.ELBv2Backend
    if not getattr(backend.add_listener_certificates, "__sandbox_patched__", False):
        add_listener_certificates.__sandbox_patched__ = True  # type: ignore[attr-defined]
        backend.add_listener_certificates = add_listener_certificates
    wrap_once(backend, "create_rule", _wrap_create_rule, __name__)
