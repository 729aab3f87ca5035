"""ACM DNS validation that looks at Route53.

moto gap closed
---------------
moto flips every AMAZON_ISSUED certificate to ISSUED once
`MOTO_ACM_VALIDATION_WAIT` seconds have passed, without looking at DNS, and
returns the *same* validation CNAME (name prefix and value) for every domain of
every certificate. It also ignores `ValidationMethod`.

Why the product relies on it
----------------------------
The certificate workflow requests a certificate, reads
`DomainValidationOptions[].ResourceRecord` from DescribeCertificate, UPSERTs
those CNAMEs into the tenant's Route53 hosted zone and waits for ISSUED before
attaching the certificate to a load balancer. The sandbox has to notice when the
product forgets (or mis-writes) a record.

Behaviour
---------
For certificates requested with `ValidationMethod=DNS`:
* `ResourceRecord` is deterministic per (account, domain): name
  `_<32 hex>.<domain>.`, value `_<32 hex>.<10 letters>.acm-validations.aws.`
  (a wildcard `*.example.com` shares the record of `example.com`, as in ACM).
* The certificate stays PENDING_VALIDATION until, for every domain, a CNAME
  with exactly that name and value is what DNS would answer: it exists in the
  *authoritative* Route53 hosted zone for the record name, i.e. the zone with
  the longest name containing it, in any (moto) account -- DNS is global, so a
  certificate in the load balancer's account is validated by a record in the
  tenant account's zone, as in AWS (delegation from parent zones is assumed).
  A record written into a parent zone that has a more specific child zone does
  not count, as a resolver would never see it. `VALIDATION_SECONDS` times the time
  scale after the first read that finds every record, it becomes ISSUED (on the next
  DescribeCertificate/ListCertificates/GetCertificate) and stays ISSUED.
  Per-domain `ValidationStatus` is SUCCESS / PENDING_VALIDATION accordingly.
Other certificates (EMAIL validation, private CA, imported) keep moto's behaviour.

How it hooks into moto
----------------------
Wraps `CertBundle.check` and `CertBundle.describe` and
`AWSCertificateManagerResponse.request_certificate` (to record ValidationMethod
on the CertBundle); reads `moto.route53.models.route53_backends`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from moto.acm import models as acm_models
from moto.acm import responses as acm_responses
from moto.core.utils import utcnow
from moto.route53.models import route53_backends

from ._common import wrap_once
from ._timing import later

# AWS-like seconds from the last validation record being in DNS to ISSUED (times the time scale).
VALIDATION_SECONDS = 120.0


def _norm(name: str) -> str:
    return (name or "").strip().lower().rstrip(".")


def _base_domain(domain: str) -> str:
    domain = _norm(domain)
    return domain[2:] if domain.startswith("*.") else domain


def validation_record(account_id: str, domain: str) -> dict[str, str]:
    base = _base_domain(domain)
    digest = hashlib.sha256(f"sandbox-acm:{account_id}:{base}".encode()).hexdigest()
    letters = "".join("abcdefghijklmnop"[int(c, 16)] for c in digest[:10])
    return {
        "Name": f"_{digest[:32]}.{base}.",
        "Type": "CNAME",
        "Value": f"_{digest[32:64]}.{letters}.acm-validations.aws.",
    }


def _record_values(rrset: Any) -> list[str]:
    values = []
    for record in getattr(rrset, "records", None) or []:
        if isinstance(record, dict):
            record = record.get("Value", "")
        values.append(_norm(str(record)))
    return values


def _authoritative_zones(name: str) -> list[Any]:
    """Hosted zones (any account) with the longest name that contains `name`."""
    best: list[Any] = []
    best_len = -1
    for per_account in list(route53_backends.values()):
        for backend in list(per_account.values()):
            for zone in list(backend.zones.values()):
                zone_name = _norm(zone.name)
                if name != zone_name and not name.endswith("." + zone_name):
                    continue
                if len(zone_name) > best_len:
                    best, best_len = [zone], len(zone_name)
                elif len(zone_name) == best_len:
                    best.append(zone)
    return best


def record_exists(record: dict[str, str]) -> bool:
    name = _norm(record["Name"])
    value = _norm(record["Value"])
    for zone in _authoritative_zones(name):
        for rrset in list(zone.rrsets):
            if (getattr(rrset, "type", None) or getattr(rrset, "type_", None)) != "CNAME":
                continue
            if _norm(rrset.name) == name and value in _record_values(rrset):
                return True
    return False


def _account(cert: Any) -> str:
    return cert.arn.split(":")[4]


def domains_of(cert: Any) -> list[str]:
    """DomainName first, then the SANs in request order (moto keeps them in a set)."""
    ordered: list[str] = []
    requested = getattr(cert, "_sandbox_requested_domains", None) or []
    for domain in list(requested) + [cert.common_name] + list(cert.sans or []):
        if domain and domain not in ordered:
            ordered.append(domain)
    return ordered


def _dns_managed(cert: Any) -> bool:
    return cert.type == "AMAZON_ISSUED" and getattr(cert, "_sandbox_validation_method", None) == "DNS"


def domain_validated(cert: Any, domain: str) -> bool:
    return record_exists(validation_record(_account(cert), domain))


def _wrap_check(original: Callable[..., Any]) -> Callable[..., Any]:
    def check(self: Any) -> None:
        if not _dns_managed(self):
            return original(self)
        if self._not_valid_after(self._cert) <= utcnow():
            self.status = "EXPIRED"
            return None
        if self.status == "PENDING_VALIDATION" and all(domain_validated(self, d) for d in domains_of(self)):
            # ACM notices the records and issues some time later, not at the next read.
            seen = self.__dict__.setdefault("_sandbox_records_seen_at", utcnow())
            if utcnow() >= later(seen, VALIDATION_SECONDS):
                self.status = "ISSUED"
                self._sandbox_issued_at = utcnow()
        return None

    return check


def _wrap_describe(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: Any) -> dict[str, Any]:
        result = original(self)
        if self.type == "AMAZON_ISSUED" and getattr(self, "_sandbox_validation_method", None) == "EMAIL":
            status = "SUCCESS" if self.status == "ISSUED" else self.status
            result["Certificate"]["DomainValidationOptions"] = [
                {
                    "DomainName": domain,
                    "ValidationDomain": _base_domain(domain),
                    "ValidationStatus": status,
                    "ValidationMethod": "EMAIL",
                    "ValidationEmails": [f"{box}@{_base_domain(domain)}" for box in ("admin", "hostmaster", "postmaster", "webmaster", "administrator")],
                }
                for domain in domains_of(self)
            ]
            return result
        if not _dns_managed(self):
            return result
        certificate = result["Certificate"]
        issued = self.status == "ISSUED"
        options = []
        for domain in domains_of(self):
            ok = issued or domain_validated(self, domain)
            options.append({
                "DomainName": domain,
                "ValidationDomain": domain,
                "ValidationStatus": "SUCCESS" if ok else "PENDING_VALIDATION",
                "ValidationMethod": "DNS",
                "ResourceRecord": validation_record(_account(self), domain),
            })
        certificate["DomainValidationOptions"] = options
        certificate["SubjectAlternativeNames"] = domains_of(self)
        if issued:
            issued_at = getattr(self, "_sandbox_issued_at", None)
            if issued_at is not None:
                certificate["IssuedAt"] = acm_models.datetime_to_epoch(issued_at)
        else:
            certificate.pop("IssuedAt", None)
        return result

    return describe


def _wrap_request_certificate(original: Callable[..., Any]) -> Callable[..., Any]:
    def request_certificate(self: Any) -> Any:
        result = original(self)
        arn = result.result.get("CertificateArn") if hasattr(result, "result") else None
        cert = self.acm_backend._certificates.get(arn) if arn else None
        if cert is not None and not hasattr(cert, "_sandbox_validation_method"):
            # AWS's default ValidationMethod is EMAIL.
            cert._sandbox_validation_method = (self._get_param("ValidationMethod") or "EMAIL").upper()
            cert._sandbox_requested_domains = [self._get_param("DomainName")] + list(
                self._get_param("SubjectAlternativeNames") or []
            )
        return result

    return request_certificate


def apply() -> None:
    wrap_once(acm_models.CertBundle, "check", _wrap_check, __name__)
    wrap_once(acm_models.CertBundle, "describe", _wrap_describe, __name__)
    wrap_once(acm_responses.AWSCertificateManagerResponse, "request_certificate", _wrap_request_certificate, __name__)
