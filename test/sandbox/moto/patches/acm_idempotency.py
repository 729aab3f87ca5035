"""ACM RequestCertificate IdempotencyToken scoped like AWS.

moto gap closed
---------------
moto keys idempotency tokens by the token alone and only reuses the earlier
certificate when the *tags* of the two requests are equal: a retry that sends
the same token and domain but different (or no) tags gets a second certificate,
and a different domain with a reused token gets the first domain's ARN.
AWS: the same token for the same domain within one hour returns the same
certificate ARN.

Why the product relies on it
----------------------------
The certificate activity derives the IdempotencyToken from the tenant and
domain so that a retried activity does not request a second certificate.

How it hooks into moto
----------------------
Wraps `AWSCertificateManagerBackend.request_certificate`; tokens are kept per
backend (account + region) in `_sandbox_idempotency` keyed by (token, domain),
expiring after one hour. moto's own token handling is bypassed.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable

from moto.acm import models as acm_models
from moto.core.utils import utcnow

from ._common import wrap_once

TOKEN_LIFETIME = datetime.timedelta(hours=1)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def request_certificate(
        self: Any,
        domain_name: str,
        idempotency_token: str | None,
        subject_alt_names: list[str] | None,
        tags: list[dict[str, str]] | None,
        cert_authority_arn: str | None = None,
        cert_options: dict[str, Any] | None = None,
    ) -> str:
        store = self.__dict__.setdefault("_sandbox_idempotency", {})
        key = (idempotency_token, (domain_name or "").lower()) if idempotency_token else None
        now = utcnow()
        if key is not None and key in store:
            arn, expires = store[key]
            if expires > now and arn in self._certificates:
                return arn
            store.pop(key, None)
        arn = original(self, domain_name, None, subject_alt_names, tags, cert_authority_arn, cert_options)
        if key is not None:
            store[key] = (arn, now + TOKEN_LIFETIME)
        return arn

    return request_certificate


def apply() -> None:
    wrap_once(acm_models.AWSCertificateManagerBackend, "request_certificate", _wrap, __name__)
