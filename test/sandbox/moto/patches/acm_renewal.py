"""ACM expiry and renewal state that a test can steer.

moto gap closed
---------------
moto's certificates are valid for 365 days from the request and a test cannot
move that date, so nothing ever becomes due for renewal within a test run.
moto also reports `RenewalEligibility: INELIGIBLE` for every certificate and
never returns a `RenewalSummary`.

Why the product relies on it
----------------------------
The certificates workflow reads NotAfter, RenewalEligibility and
RenewalSummary.RenewalStatus to decide when a certificate must be reissued
(imported ones, ones ACM's managed renewal has not renewed in time, failed
renewals). The integration tests must be able to make a renewal due.

Behaviour
---------
* Test-only tag `sandbox:not-after` = an ISO-8601 timestamp (`2024-01-31T00:00:00Z`;
  no zone means UTC) replaces the certificate's NotAfter in DescribeCertificate /
  ListCertificates. A timestamp in the past makes the certificate `EXPIRED`
  (moto's own expiry check then applies). An unparsable value is ignored. The tag
  exists only in the sandbox; the product never writes `sandbox:` tags.
* `RenewalEligibility`: `ELIGIBLE` for an AMAZON_ISSUED certificate that is
  ISSUED and in use (InUseBy not empty, see acm_in_use.py), as in ACM; otherwise
  `INELIGIBLE` (imported certificates always).
* `RenewalSummary` for an eligible certificate within 60 days of NotAfter (when
  ACM starts managed renewal): `RenewalStatus: PENDING_AUTO_RENEWAL` with the
  domains' validation options and `UpdatedAt`. The sandbox never completes a
  managed renewal (a renewal ACM cannot finish is what the product must notice),
  so the certificate keeps its NotAfter until the product replaces it.

How it hooks into moto
----------------------
Wraps `CertBundle._not_valid_after` (used by moto's `check()` for EXPIRED and by
`describe()` for NotAfter) and `CertBundle.describe`; registered after
acm_in_use so `InUseBy` is already live when eligibility is computed.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable

from moto.acm import models as acm_models
from moto.core.utils import utcnow

from ._common import wrap_once

NOT_AFTER_TAG = "sandbox:not-after"
RENEWAL_WINDOW = datetime.timedelta(days=60)


def _tag_not_after(cert: Any) -> datetime.datetime | None:
    tags = getattr(cert, "tags", None) or {}
    text = tags.get(NOT_AFTER_TAG) if isinstance(tags, dict) else None
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def _wrap_not_valid_after(original: Callable[..., Any]) -> Callable[..., Any]:
    def _not_valid_after(self: Any, _cert: Any) -> datetime.datetime:
        return _tag_not_after(self) or original(self, _cert)

    return _not_valid_after


def _wrap_describe(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: Any) -> dict[str, Any]:
        result = original(self)
        certificate = result["Certificate"]
        eligible = self.type == "AMAZON_ISSUED" and self.status == "ISSUED" and bool(certificate.get("InUseBy"))
        certificate["RenewalEligibility"] = "ELIGIBLE" if eligible else "INELIGIBLE"
        certificate.pop("RenewalSummary", None)
        not_after = self._not_valid_after(self._cert)
        if eligible and not_after - utcnow() <= RENEWAL_WINDOW:
            certificate["RenewalSummary"] = {
                "RenewalStatus": "PENDING_AUTO_RENEWAL",
                "DomainValidationOptions": [
                    {**option, "ValidationStatus": "PENDING_VALIDATION"}
                    for option in certificate.get("DomainValidationOptions") or []
                ],
                "UpdatedAt": acm_models.datetime_to_epoch(utcnow()),
            }
        return result

    return describe


def apply() -> None:
    wrap_once(acm_models.CertBundle, "_not_valid_after", _wrap_not_valid_after, __name__)
    wrap_once(acm_models.CertBundle, "describe", _wrap_describe, __name__)
