"""ACM's quota on domain names per certificate.

moto gap closed
---------------
moto issues a certificate for any number of names. ACM allows 10 domain names per
certificate by default (DomainName plus SubjectAlternativeNames; adjustable up to 100)
and refuses RequestCertificate beyond that with `LimitExceededException: Certificate
has too many domains.` (HTTP 400).

Why the product relies on it
----------------------------
The certificate planner packs tenant hostnames into certificates of at most
`maxNamesPerCertificate` names (default 10); a planner that packed more would fail on
AWS, so it must fail in the sandbox.

How it hooks into moto
----------------------
Wraps `AWSCertificateManagerBackend.request_certificate`; the quota is the setting
`acmDomainsQuota`.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.acm import models as acm_models
from moto.core.exceptions import JsonRESTError

from ._common import wrap_once
from ._settings import current


class LimitExceededException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("LimitExceededException", message)


def _wrap_request_certificate(original: Callable[..., Any]) -> Callable[..., Any]:
    def request_certificate(self: Any, domain_name: str, idempotency_token: str, subject_alt_names: list[str],
                            *args: Any, **kwargs: Any) -> Any:
        names = {name.lower() for name in [domain_name, *(subject_alt_names or [])] if name}
        if len(names) > current().acmDomainsQuota:
            raise LimitExceededException("Certificate has too many domains.")
        return original(self, domain_name, idempotency_token, subject_alt_names, *args, **kwargs)

    return request_certificate


def apply() -> None:
    wrap_once(acm_models.AWSCertificateManagerBackend, "request_certificate", _wrap_request_certificate, __name__)
